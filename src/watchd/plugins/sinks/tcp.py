"""Events over a byte stream (TCP, or TLS over TCP), written from the loop without blocking it.

The sink queues framed events and writes them when the socket takes bytes.
Over plain TCP an event counts as delivered once the peer's kernel has
acknowledged its last byte: the socket's send queue (``SIOCOUTQ``) says how
many written bytes are not acknowledged yet. When the peer closes or resets the
connection (noticed at once: the socket is also selected for reading), every
frame not acknowledged, and the one being written, is sent again, whole, on
the next connection; reconnects back off exponentially with jitter and never
give up. A full queue pauses the sources instead of dropping anything. TLS is
negotiated on the same non-blocking socket, the handshake driven by readiness
like everything else.

What plain TCP cannot promise: bytes the peer's kernel acknowledged that its
process never read (it died with them in its receive buffer) are lost, and
count as delivered; RELP (``syslog:relp://``) acknowledges what the peer
took. Over TLS the send queue holds records, not frames: an event counts once
written to the socket, so a whole send buffer is the window there.
"""

from __future__ import annotations

import errno
import fcntl
import socket
import ssl
import struct
import termios
from collections import deque
from collections.abc import Sequence
from itertools import islice

from watchd.codecs.syslog.framing import Framer
from watchd.core.context import Checking, RunContext, SinkFactory
from watchd.core.deadletters import DeadLettered, DeadLetters, dead_letters
from watchd.core.event import WatchEvent
from watchd.core.hookspecs import hookimpl
from watchd.core.interfaces import Formatter
from watchd.core.registry import TypeTable
from watchd.core.spec import parse_address, peer_name
from watchd.plugins.sinks.network import Delivered, Delivery, QueuedSink, warn_undelivered
from watchd.plugins.sinks.text import Formatted, formatter_for

_SEND_CHUNK = 256 * 1024
#: Seconds between two looks at the send queue while written bytes wait for their ACK.
ACK_POLL = 0.05


def unacknowledged(sock: socket.socket) -> int:
    """Return the bytes written to *sock* that its peer has not acknowledged (SIOCOUTQ)."""
    raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    return int(struct.unpack("i", raw)[0])


def newline_frame(payload: bytes) -> bytes:
    """Frame *payload* as one line (newlines inside were escaped by the format)."""
    return payload + b"\n"


class TcpSink(QueuedSink):
    """Framed events over TCP, queued, written as the socket takes them."""

    def __init__(
        self,
        name: str,
        address: tuple[str, int],
        formatter: Formatter,
        framer: Framer = newline_frame,
        *,
        delivery: Delivery | None = None,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
        letters: DeadLetters | None = None,
    ) -> None:
        super().__init__(name, peer_name(address), delivery, letters)
        self._address = address
        self._tls = tls
        self._server_name = server_name or address[0]
        self._format = formatter
        self._frame = framer
        self._head_sent = 0  # bytes of the first queued frame already written
        #: Frames written whole, not yet acknowledged by the peer: (frame, where it ends).
        self._unacked: deque[tuple[bytes, int]] = deque()
        self._written = 0  # bytes written on this connection
        self._sock: socket.socket | None = None
        self._connecting = False
        self._handshake_wants: int | None = None  # while TLS negotiates: 0 read, 1 write

    # -- what the pipeline and the loop call -------------------------------------

    def emit_batch(self, events: Sequence[WatchEvent]) -> None:
        """Queue *events*; write at once what the socket takes."""
        frames = self._letters.encode(events, self._format)
        self._enqueue(list(map(self._frame, frames)))
        if self._ready():
            self._send()

    def fileno(self) -> int:
        """Return the socket, or -1 between connections."""
        return self._sock.fileno() if self._sock is not None else -1

    def connected(self) -> bool:
        """Return True once connected (and TLS negotiated): connecting is not connected."""
        return self._sock is not None and not self._connecting and self._handshake_wants is None

    def wants_write(self) -> bool:
        """Return True while connecting, while a TLS handshake must write, or frames wait."""
        if self._sock is None:
            return False
        if self._connecting:
            return True
        if self._handshake_wants is not None:
            return self._handshake_wants == 1
        return bool(self._queue)

    def timeout(self) -> float | None:
        """Return the time until the next connection attempt, or the next look for ACKs."""
        if self._sock is None:
            return self._outage.wait()
        return ACK_POLL if self._unacked else None

    def on_timeout(self) -> None:
        """Try to connect when it is time; count what the peer acknowledged meanwhile."""
        if self._sock is None:
            if self._outage.wait() == 0:
                self._connect()
        elif self._ready():
            self._settle()

    def on_readable(self) -> None:
        """Take what the peer says; notice when it closes or resets."""
        if self._sock is None or self._connecting:
            return
        if self._handshake_wants is not None:
            self._handshake()
            return
        try:
            data = self._sock.recv(65536)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError as exc:
            self._lost(exc.strerror or str(exc))
            return
        if not data:
            self._lost("closed by the peer")
            return
        self._heard(data)

    def _heard(self, data: bytes) -> None:
        """Take bytes the peer sent: a plain stream's peer says nothing we need."""

    def on_writable(self) -> None:
        """Finish a connect, or write queued frames."""
        if self._sock is None:
            return
        if self._connecting:
            error = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                self._lost(errno.errorcode.get(error, str(error)))
                return
            self._connected()
        elif self._handshake_wants is not None:
            self._handshake()
        if self._ready():
            self._send()

    def flush(self) -> None:
        """Write what the socket takes now (the loop drains sinks before closing them)."""
        if self._ready():
            self._send()

    def close(self) -> None:
        """Close the connection; say how many events were not delivered."""
        if self._queue or self._unacked:
            warn_undelivered(self._log, len(self._queue) + len(self._unacked))
        self._close_socket()
        self._letters.close()

    # -- the connection ------------------------------------------------------------

    def _ready(self) -> bool:
        return self._sock is not None and not self._connecting and self._handshake_wants is None

    def _connect(self) -> None:
        host, port = self._address
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )[0]
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            self._lost(exc.strerror or str(exc))
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._connecting = sock, True
        code = sock.connect_ex(address)
        if code == 0:
            self._connected()
        elif code not in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            self._lost(errno.errorcode.get(code, str(code)))

    def _connected(self) -> None:
        self._connecting = False
        if self._tls is not None and not isinstance(self._sock, ssl.SSLSocket):
            assert self._sock is not None  # noqa: S101 - a connect just finished on it
            try:
                self._sock = self._tls.wrap_socket(
                    self._sock, server_hostname=self._server_name, do_handshake_on_connect=False
                )
            except (OSError, ValueError) as exc:
                self._lost(str(exc))
                return
            self._handshake_wants = 1
            self._handshake()
            return
        self._outage.restored()

    def _handshake(self) -> None:
        sock = self._sock
        assert isinstance(sock, ssl.SSLSocket)  # noqa: S101 - only while TLS negotiates
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._handshake_wants = 0
            return
        except ssl.SSLWantWriteError:
            self._handshake_wants = 1
            return
        except ssl.SSLCertVerificationError as exc:
            self._lost(f"TLS certificate not accepted: {exc.verify_message}")
            return
        except (OSError, ValueError) as exc:
            self._lost(f"TLS handshake failed: {exc}")
            return
        self._handshake_wants = None
        self._connected()

    def _send(self) -> None:
        sock = self._sock
        assert sock is not None  # noqa: S101 - callers check
        while self._queue:
            head = self._queue[0]
            batch = [head[self._head_sent :]]
            size = len(batch[0])
            # Up to _SEND_CHUNK bytes per send; islice, not a copy of a queue
            # that may hold tens of thousands of frames during a burst.
            for frame in islice(self._queue, 1, None):
                if size >= _SEND_CHUNK:
                    break
                batch.append(frame)
                size += len(frame)
            try:
                written = sock.send(b"".join(batch))
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return
            except OSError as exc:
                self._lost(exc.strerror or str(exc))
                return
            self._account(written)
            if written < size:
                break
        self._settle()

    def _account(self, written: int) -> None:
        """Advance past *written* bytes: whole frames wait for the peer's acknowledgement."""
        self._written += written
        while written and self._queue:
            left = len(self._queue[0]) - self._head_sent
            if written < left:
                self._head_sent += written
                return
            written -= left
            self._head_sent = 0
            frame = self._queue.popleft()
            self._unacked.append((frame, self._written - written))

    def _settle(self) -> None:
        """Count delivered the frames whose every byte the peer's kernel acknowledged."""
        if not self._unacked or self._sock is None:
            return
        if self._tls is not None:
            acknowledged = self._written  # the send queue counts records: see the module
        else:
            try:
                acknowledged = self._written - unacknowledged(self._sock)
            except OSError:
                return
        while self._unacked and self._unacked[0][1] <= acknowledged:
            self._confirm(self._unacked.popleft()[0])

    def _lost(self, reason: str) -> None:
        self._close_socket()
        self._head_sent = 0  # the frame in progress goes again, whole
        # What the peer did not acknowledge goes again too, first and in order.
        self._queue.extendleft(frame for frame, _ in reversed(self._unacked))
        self._unacked.clear()
        self._written = 0
        self._outage.failed(reason, len(self._queue))

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._connecting, self._handshake_wants = None, False, None


class TcpOptions(Formatted, Delivered, DeadLettered):
    """Newline-delimited events over TCP."""

    target_form = "HOST:PORT"
    target_required = True
    example = "tcp:127.0.0.1:5170"

    def check(self, checking: Checking) -> None:
        """Read the address."""
        super().check(checking)
        self.address = parse_address(self.target, self.where)


def build_tcp_sink(options: TcpOptions, context: RunContext) -> TcpSink:
    """Build ``tcp:HOST:PORT``: connects in the background, so nothing here can block."""
    name = f"tcp:{options.target}"
    formatter = formatter_for(options, context, tty=False)
    letters = dead_letters(options, name)
    return TcpSink(
        name,
        options.address,
        formatter,
        delivery=options.delivery(clock=context.clock),
        letters=letters,
    )


@hookimpl
def watchd_register_sink_types(sinks: TypeTable[SinkFactory]) -> None:
    """Register ``tcp``."""
    sinks.add("tcp", build_tcp_sink, TcpOptions)
