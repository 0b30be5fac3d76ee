"""The ``syslog:udp://`` and ``syslog:tcp://`` sources: a syslog listener in the select loop.

Each message becomes one event. A body that is a JSON object is a record and
goes through the dialects (loki-mode's own forwarding arrives as loki events,
another watchd's as the events it sent); any other message becomes a ``syslog``
event with the header in ``extra``. Malformed messages are counted and
reported, never fatal. A TCP listener keeps its connections in an epoll set of
its own, whose descriptor is what the loop selects on.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
from typing import Any

import structlog

from watchd.core.context import RunContext
from watchd.core.errors import UsageError
from watchd.core.event import WatchEvent
from watchd.core.protocols import Dialect, RecordSource
from watchd.core.skips import SkipCounter
from watchd.core.spec import Spec, parse_address, peer_name
from watchd.core.timestamps import record_ts
from watchd.watchers.dialects.generic import fallback_event
from watchd.watchers.records import decode_record
from watchd.watchers.syslog_parse import (
    FACILITIES,
    LEVEL_OF_SEVERITY,
    FrameSplitter,
    MalformedError,
    SyslogMessage,
    parse_message,
)

#: Messages one poll takes at most, so a flood cannot starve the other watchers.
POLL_BUDGET = 2048
_RECV = 65_536
_FACILITY_NAMES = {number: name for name, number in FACILITIES.items()}
_AGAIN = (BlockingIOError, InterruptedError)
_ANCILLARY = socket.CMSG_SPACE(4)


class MessageMapper:
    """Turns parsed messages into events: JSON bodies through a dialect, others as ``syslog``."""

    def __init__(self, dialect: Dialect, skips: SkipCounter, name: str) -> None:
        self._dialect = dialect
        self._skips = skips
        self._name = name
        self._log = structlog.get_logger("watchd").bind(source=name)

    def map(self, data: bytes, peer: str, out: list[WatchEvent]) -> None:
        """Append the event of the message *data* from *peer*, or count it as malformed."""
        try:
            message = parse_message(data)
        except MalformedError as exc:
            self._skips.note(f"malformed message ({exc})", peer, -1)
            return
        # The sender's own name; else its address (the port is the sender's socket, noise here).
        origin = message.hostname or peer.rpartition(":")[0].strip("[]") or peer
        body = message.message.strip()
        if body.startswith("{"):
            record = decode_record(body.encode())
            if isinstance(record, dict):
                where = RecordSource(source="syslog", origin=origin)
                try:
                    event = self._dialect.to_event(record, where, None)
                except Exception:  # noqa: BLE001 - one odd record must not stop the listener
                    self._log.exception("dialect failed on a record, mapped by the common keys")
                    event = fallback_event(self._dialect.name, record, where, None)
                out.append(event)
                return
        out.append(plain_event(message, origin, peer))


def plain_event(message: SyslogMessage, origin: str, peer: str) -> WatchEvent:
    """Return the event of a message whose body is text, not a record."""
    extra: dict[str, Any] = {
        "facility": _FACILITY_NAMES[message.facility],
        "severity": message.severity,
        "protocol": message.protocol,
        "peer": peer,
    }
    for key in ("hostname", "app_name", "procid", "msgid"):
        value = getattr(message, key)
        if value:
            extra[key] = value
    if message.structured_data:
        extra["structured_data"] = message.structured_data
    return WatchEvent(
        ts=record_ts(message.timestamp),
        source="syslog",
        action=message.msgid or "message",
        container=message.app_name,
        detail=message.message,
        level=LEVEL_OF_SEVERITY[message.severity],
        origin=origin,
        extra=extra,
    )


#: Linux socket options the socket module does not name (asm-generic/socket.h).
SO_RCVBUFFORCE = 33
SO_RXQ_OVFL = 40
_DROPS = struct.Struct("=I")


class UdpListener:
    """A bound UDP socket: one message per datagram.

    UDP has no flow control: a burst larger than the socket's receive buffer is
    dropped by the kernel. The buffer is sized for bursts (``rcvbuf=``, 8 MiB by
    default; past ``net.core.rmem_max`` only with CAP_NET_ADMIN), and what the
    kernel still drops is counted from ``SO_RXQ_OVFL`` and reported, so loss is
    at least visible.
    """

    def __init__(
        self,
        name: str,
        address: tuple[str, int],
        mapper: MessageMapper,
        skips: SkipCounter,
        *,
        rcvbuf: int = 8 * 1024 * 1024,
    ) -> None:
        self.name = name
        self._mapper = mapper
        self._skips = skips
        self._log = structlog.get_logger("watchd").bind(source=name)
        self._sock = _bound(socket.SOCK_DGRAM, address, name)
        self._size_buffer(rcvbuf)
        self._drops = 0  # the kernel's count for this socket, as last seen
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
        except OSError:
            self._log.warning("the kernel cannot count dropped datagrams here")
        self._more = False

    def _size_buffer(self, wanted: int) -> None:
        """Ask for *wanted* bytes of receive buffer, past the system's cap where permitted."""
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, wanted)
        except OSError:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, wanted)
        got = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2  # Linux doubles it
        if got < wanted:
            self._log.warning(
                "receive buffer smaller than asked; bursts may be dropped",
                rcvbuf=got,
                wanted=wanted,
                hint="raise net.core.rmem_max, or run with CAP_NET_ADMIN",
            )

    def fileno(self) -> int:
        """Return the socket."""
        return self._sock.fileno()

    def timeout(self) -> float | None:
        """Return 0 while datagrams were left for the next poll."""
        return 0.0 if self._more else None

    def poll(self) -> list[WatchEvent]:
        """Read the datagrams that arrived (up to the poll budget)."""
        events: list[WatchEvent] = []
        self._more = False
        for _ in range(POLL_BUDGET):
            try:
                data, ancillary, _, address = self._sock.recvmsg(_RECV, _ANCILLARY)
            except _AGAIN:
                return events
            except OSError:
                continue  # an ICMP error queued on the socket; nothing to read
            if ancillary:
                self._count_drops(ancillary)
            self._mapper.map(data, peer_name(address), events)
        self._more = True
        return events

    def _count_drops(self, ancillary: list[tuple[int, int, bytes]]) -> None:
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(value) >= _DROPS.size:
                (total,) = _DROPS.unpack_from(value)
                if total > self._drops:
                    dropped = total - self._drops
                    self._drops = total
                    self._log.warning(
                        "datagrams dropped by the kernel: the receive buffer was full",
                        dropped=dropped,
                        total=total,
                    )

    def close(self) -> None:
        """Close the socket; report what was skipped, and what the kernel dropped."""
        self._sock.close()
        self._skips.summarize()
        if self._drops:
            self._log.warning("datagrams dropped by the kernel while listening", total=self._drops)


class TcpListener:
    """A listening TCP socket and its connections, each framed on its own."""

    def __init__(
        self,
        name: str,
        address: tuple[str, int],
        mapper: MessageMapper,
        skips: SkipCounter,
        *,
        limit: int,
        max_connections: int,
    ) -> None:
        self.name = name
        self._mapper = mapper
        self._skips = skips
        self._limit = limit
        self._max_connections = max_connections
        self._log = structlog.get_logger("watchd").bind(source=name)
        self._listener = _bound(socket.SOCK_STREAM, address, name)
        self._listener.listen(128)
        self._epoll = select.epoll()
        self._epoll.register(self._listener.fileno(), select.EPOLLIN)
        self._connections: dict[int, tuple[socket.socket, FrameSplitter, str]] = {}
        self._more = False

    def fileno(self) -> int:
        """Return the epoll descriptor of the listener and its connections."""
        return self._epoll.fileno()

    def timeout(self) -> float | None:
        """Return 0 while messages were left for the next poll."""
        return 0.0 if self._more else None

    def poll(self) -> list[WatchEvent]:
        """Accept connections and read what they sent."""
        events: list[WatchEvent] = []
        self._more = False
        for fd, _ in self._epoll.poll(0):
            if fd == self._listener.fileno():
                self._accept()
            else:
                self._read(fd, events)
            if len(events) >= POLL_BUDGET:
                self._more = True
                break
        return events

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, address = self._listener.accept()
            except _AGAIN:
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    self._log.warning("cannot accept a connection", reason=exc.strerror)
                return
            peer = peer_name(address)
            if len(self._connections) >= self._max_connections:
                self._log.warning(
                    "connection refused: too many open", peer=peer, limit=self._max_connections
                )
                sock.close()
                continue
            sock.setblocking(False)
            self._connections[sock.fileno()] = (sock, FrameSplitter(self._limit), peer)
            self._epoll.register(sock.fileno(), select.EPOLLIN | select.EPOLLRDHUP)

    def _read(self, fd: int, events: list[WatchEvent]) -> None:
        sock, splitter, peer = self._connections[fd]
        try:
            data = sock.recv(_RECV)
        except _AGAIN:
            return
        except OSError:
            data = b""
        try:
            frames = splitter.feed(data) if data else [splitter.rest()]
        except MalformedError as exc:
            self._skips.note(f"malformed framing ({exc}), connection closed", peer, -1)
            self._drop(fd)
            return
        for frame in frames:
            if frame:
                self._mapper.map(frame, peer, events)
        if splitter.too_long:
            self._skips.note_many(f"message over {self._limit} bytes", peer, splitter.too_long)
            splitter.too_long = 0
        if not data:
            self._drop(fd)

    def _drop(self, fd: int) -> None:
        sock, _, _ = self._connections.pop(fd)
        self._epoll.unregister(fd)
        sock.close()

    def close(self) -> None:
        """Close every connection, the listener and the epoll set; report what was skipped."""
        for fd in list(self._connections):
            self._drop(fd)
        self._listener.close()
        self._epoll.close()
        self._skips.summarize()


def _bound(kind: int, address: tuple[str, int], name: str) -> socket.socket:
    host, port = address
    try:
        family, _, proto, _, sockaddr = socket.getaddrinfo(host, port, type=kind)[0]
        sock = socket.socket(family, kind, proto)
        if kind == socket.SOCK_STREAM:  # past TIME_WAIT; for UDP it would share the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
    except OSError as exc:
        raise UsageError(f"{name}: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def make_syslog_source(spec: Spec, context: RunContext) -> UdpListener | TcpListener:
    """Build ``syslog:udp|tcp://HOST:PORT[,dialect=auto][,limit=N][,connections=N][,rcvbuf=B]``.

    Without a host (``syslog:udp``, ``syslog:tcp://:5514``) it listens on
    loopback only; other interfaces are asked for by naming them (``0.0.0.0``).
    The port defaults to 5514: 514 needs privileges watchd should not have.
    """
    options = spec.options
    transport, sep, rest = (spec.target or "udp").partition("://")
    if transport not in ("udp", "tcp"):
        raise UsageError(f"{options.where}: expected udp:// or tcp://, as in udp://127.0.0.1:5514")
    if not sep or rest.startswith(":") or not rest:  # no host named: loopback only
        rest = f"127.0.0.1{rest}"
    host, port = parse_address(rest, options.where, 5514)
    dialect = context.registry.dialects.get(options.text("dialect", "auto"), options.where)
    limit = options.number("limit", 65_536, minimum=480)
    connections = options.number("connections", 256, minimum=1)
    rcvbuf = options.number("rcvbuf", 8 * 1024 * 1024, minimum=4096) if transport == "udp" else 0
    options.finish()
    name = f"syslog:{transport}://{host}:{port}"
    log = structlog.get_logger("watchd").bind(source=name)
    skips = SkipCounter(log)
    mapper = MessageMapper(dialect, skips, name)
    listener: UdpListener | TcpListener
    if transport == "udp":
        listener = UdpListener(name, (host, port), mapper, skips, rcvbuf=rcvbuf)
    else:
        listener = TcpListener(
            name, (host, port), mapper, skips, limit=limit, max_connections=connections
        )
    log.debug("listening", address=f"{host}:{port}")
    return listener
