"""The ``syslog:udp://`` and ``syslog:tcp://`` sources: a syslog listener in the select loop.

Each message becomes one event. A body that is a JSON object is a record and
goes through the dialects (loki-mode's own forwarding arrives as loki events,
another watchd's as the events it sent); any other message becomes a ``syslog``
event with the header in ``extra``. Malformed messages are counted and
reported, never fatal. A TCP listener gives the loop its own descriptor and
each connection's (``SelectsMany``): the loop selects on all of them and says
which are readable, so no selector is nested in another.
"""

from __future__ import annotations

import errno
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from watchd.codecs.syslog.framing import FrameSplitter
from watchd.codecs.syslog.parse import MalformedError
from watchd.core.context import Checking, RunContext, SourceFactory
from watchd.core.errors import UsageError, setup_error
from watchd.core.event import WatchEvent
from watchd.core.hookspecs import hookimpl
from watchd.core.option_kinds import Duration, Number, Size, Text
from watchd.core.options import OptionSet
from watchd.core.registry import TypeTable
from watchd.core.skips import SkipCounter
from watchd.core.spec import parse_address, peer_name
from watchd.watchers.syslog_messages import MessageMapper

#: Messages one poll takes at most, so a flood cannot starve the other watchers.
POLL_BUDGET = 2048
_RECV = 65_536
_AGAIN = (BlockingIOError, InterruptedError)
_ANCILLARY = socket.CMSG_SPACE(4)


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


@dataclass(slots=True)
class _Connection:
    """One sender's connection: its framing, and when it last completed a message."""

    sock: socket.socket
    splitter: FrameSplitter
    peer: str  # address:port, as logged
    host: str  # the address alone, what per_peer counts
    progress_at: float


class TcpListener:
    """A listening TCP socket and its connections, each framed on its own.

    A connection must complete a message every *idle_timeout* seconds or be
    closed: one that sends nothing, or trickles a frame that never ends
    (slowloris), holds a slot no longer. When every slot is taken, the
    connection longest without a message makes room for the new one; one
    address holds at most *per_peer* connections.
    """

    def __init__(
        self,
        name: str,
        address: tuple[str, int],
        mapper: MessageMapper,
        skips: SkipCounter,
        *,
        limit: int,
        max_connections: int,
        per_peer: int = 32,
        idle_timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._mapper = mapper
        self._skips = skips
        self._limit = limit
        self._max_connections = max_connections
        self._per_peer = per_peer
        self._idle_timeout = idle_timeout
        self._clock = clock
        self._log = structlog.get_logger("watchd").bind(source=name)
        self._listener = _bound(socket.SOCK_STREAM, address, name)
        self._listener.listen(128)
        self._connections: dict[int, _Connection] = {}
        self._by_host: Counter[str] = Counter()
        self._refused_hosts: set[str] = set()  # said once, until the address drops below
        self._closing: list[socket.socket] = []  # dropped, closed at the next poll

    def fileno(self) -> int:
        """Return the listener's descriptor (the loop selects on :meth:`filenos`)."""
        return self._listener.fileno()

    def filenos(self) -> list[int]:
        """Return the listener's descriptor and each connection's: the loop selects on all."""
        return [self._listener.fileno(), *self._connections]

    def timeout(self) -> float | None:
        """Return when a connection expires (None: none open; 0: dropped ones to close)."""
        if self._closing or not self._connections:
            return 0.0 if self._closing else None
        oldest = min(c.progress_at for c in self._connections.values())
        return max(oldest + self._idle_timeout - self._clock(), 0.0)

    def poll_ready(self, ready: Sequence[int]) -> list[WatchEvent]:
        """Accept connections and read what the readable ones sent, then close stalled ones.

        Past the budget the rest wait: still readable, the loop selects them again.
        """
        self._close_dropped()
        events: list[WatchEvent] = []
        listener = self._listener.fileno()
        for fd in ready:
            if fd == listener:
                self._accept()
            elif fd in self._connections:
                self._read(fd, events)
            if len(events) >= POLL_BUDGET:
                break
        self._expire()
        return events

    def poll(self) -> list[WatchEvent]:
        """Close the connections that stalled (the loop calls it when one is due)."""
        self._close_dropped()
        self._expire()
        return []

    def _expire(self) -> None:
        """Close every connection that completed no message for idle_timeout."""
        cutoff = self._clock() - self._idle_timeout
        stalled = [fd for fd, c in self._connections.items() if c.progress_at <= cutoff]
        for fd in stalled:
            connection = self._connections[fd]
            partial = connection.splitter.pending()
            self._skips.note(
                "connection closed: no complete message for idle_timeout"
                + (", a partial one dropped" if partial else ""),
                connection.host,  # by address: a flood of connections is one line, counted
                -1,
            )
            self._drop(fd)

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
            host = str(address[0])
            if self._by_host[host] >= self._per_peer:
                if host not in self._refused_hosts:
                    self._refused_hosts.add(host)
                    self._log.warning(
                        "connections refused: too many from one address",
                        peer=host,
                        per_peer=self._per_peer,
                    )
                sock.close()
                continue
            if len(self._connections) >= self._max_connections:
                self._make_room()
            sock.setblocking(False)
            now = self._clock()
            self._connections[sock.fileno()] = _Connection(
                sock, FrameSplitter(self._limit), peer, host, now
            )
            self._by_host[host] += 1

    def _make_room(self) -> None:
        """Close the connection longest without a message, for a new one."""
        fd, oldest = min(self._connections.items(), key=lambda item: item[1].progress_at)
        self._skips.note("connection closed to make room: every slot was taken", oldest.host, -1)
        self._drop(fd)

    def _read(self, fd: int, events: list[WatchEvent]) -> None:
        connection = self._connections[fd]
        splitter, peer = connection.splitter, connection.peer
        try:
            data = connection.sock.recv(_RECV)
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
        if frames:
            connection.progress_at = self._clock()
        for frame in frames:
            if frame:
                self._mapper.map(frame, peer, events)
        if splitter.too_long:
            self._skips.note_many(f"message over {self._limit} bytes", peer, splitter.too_long)
            splitter.too_long = 0
        if not data:
            self._drop(fd)

    def _drop(self, fd: int) -> None:
        connection = self._connections.pop(fd)
        self._by_host[connection.host] -= 1
        if self._by_host[connection.host] <= 0:
            del self._by_host[connection.host]
            self._refused_hosts.discard(connection.host)
        # Closed at the next poll, not now: the loop lets the descriptor go first, so a
        # connection accepted meanwhile cannot take its number while it is still selected.
        self._closing.append(connection.sock)

    def _close_dropped(self) -> None:
        while self._closing:
            self._closing.pop().close()

    def close(self) -> None:
        """Close every connection and the listener; report what was skipped."""
        for fd in list(self._connections):
            self._drop(fd)
        self._close_dropped()
        self._listener.close()
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
        raise setup_error(f"{name}: cannot listen on {host}:{port}", exc) from None
    sock.setblocking(False)
    return sock


class SyslogSourceOptions(OptionSet):
    """Syslog listener: RFC 5424 and 3164 over UDP or TCP, JSON bodies read by dialects.

    Without a host (``syslog:udp``, ``syslog:tcp://:5514``) it listens on
    loopback only; other interfaces are asked for by naming them (``0.0.0.0``).
    The port defaults to 5514: 514 needs privileges watchd should not have.
    """

    target_form = "udp|tcp://[HOST][:PORT]"
    example = "syslog:udp://127.0.0.1:5514"
    dialect = Text("auto", "the dialect of JSON bodies", metavar="DIALECT")
    limit = Size(65_536, "longest message taken", minimum=480)
    connections = Number(256, "tcp://: most connections at once", minimum=1)
    per_peer = Number(32, "tcp://: most connections from one address", minimum=1)
    idle_timeout = Duration(60.0, "tcp://: a silent connection is closed after", minimum=1)
    rcvbuf = Size(8 * 1024 * 1024, "udp://: the socket's receive buffer", minimum=4096)

    def check(self, checking: Checking) -> None:
        """Read the address; refuse the options of the other transport."""
        super().check(checking)
        transport, sep, rest = (self.target or "udp").partition("://")
        if transport not in ("udp", "tcp"):
            raise UsageError(f"{self.where}: expected udp:// or tcp://, as in udp://127.0.0.1:5514")
        if not sep or rest.startswith(":") or not rest:  # no host named: loopback only
            rest = f"127.0.0.1{rest}"
        self.transport = transport
        self.address = parse_address(rest, self.where, 5514)
        other = ("connections", "per_peer", "idle_timeout") if transport == "udp" else ("rcvbuf",)
        self.refuse_given(other, f"applies to {'tcp' if transport == 'udp' else 'udp'}:// only")
        self.mapping_dialect = self.named(checking.registry.dialects, "dialect").item


def build_syslog_source(
    options: SyslogSourceOptions,
    context: RunContext,  # noqa: ARG001
) -> UdpListener | TcpListener:
    """Build ``syslog:udp|tcp://HOST:PORT``: the socket is bound now."""
    host, port = options.address
    name = f"syslog:{options.transport}://{host}:{port}"
    log = structlog.get_logger("watchd").bind(source=name)
    skips = SkipCounter(log)
    mapper = MessageMapper(options.mapping_dialect, skips, name)
    listener: UdpListener | TcpListener
    if options.transport == "udp":
        listener = UdpListener(name, (host, port), mapper, skips, rcvbuf=options.rcvbuf)
    else:
        listener = TcpListener(
            name,
            (host, port),
            mapper,
            skips,
            limit=options.limit,
            max_connections=options.connections,
            per_peer=options.per_peer,
            idle_timeout=options.idle_timeout,
        )
    log.debug("listening", address=f"{host}:{port}")
    return listener


@hookimpl
def watchd_register_source_types(sources: TypeTable[SourceFactory]) -> None:
    """Register ``syslog``."""
    sources.add("syslog", build_syslog_source, SyslogSourceOptions)
