"""Events over a byte stream (TCP, or TLS over TCP), written from the loop without blocking it.

The sink queues framed events, writes them when the socket takes bytes, and
counts an event delivered once its last byte was written to the socket. When
the peer closes or resets the connection (noticed at once: the socket is also
selected for reading), the frame being written is sent again, whole, on the
next connection; reconnects back off exponentially with jitter and never give
up. A full queue pauses the sources instead of dropping anything. TLS is
negotiated on the same non-blocking socket, the handshake driven by readiness
like everything else.

What plain TCP cannot promise: bytes the kernel accepted just before the
connection died may never reach the peer; they count as delivered.
"""

from __future__ import annotations

import errno
import os
import random
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice

import structlog

from watchd import hookimpl
from watchd.core.context import RunContext
from watchd.core.deadletters import DeadLetters, dead_letters
from watchd.core.errors import UsageError
from watchd.core.event import WatchEvent
from watchd.core.protocols import Formatter, SinkFactory
from watchd.core.registry import TypeTable
from watchd.core.spec import Options, Spec, parse_address, peer_name
from watchd.plugins.stdout import formatter_for

#: Turns one formatted event into the bytes of one frame on the wire.
Framer = Callable[[bytes], bytes]

_SEND_CHUNK = 256 * 1024


def newline_frame(payload: bytes) -> bytes:
    """Frame *payload* as one line (newlines inside were escaped by the format)."""
    return payload + b"\n"


def tls_context(options: Options) -> ssl.SSLContext:
    """Return the client TLS context of ``ca=``, ``cert=``, ``key=`` and ``verify=``."""
    where = options.where
    ca, cert, key = options.optional("ca"), options.optional("cert"), options.optional("key")
    verify = options.flag("verify", default=True)
    if key is not None and cert is None:
        raise UsageError(f"{where}: key= needs cert=, the client certificate it belongs to")
    for option, path in (("ca", ca), ("cert", cert), ("key", key)):
        if path is not None and not os.path.isfile(path):
            raise UsageError(f"{where}: {option}={path}: no such file")
    try:
        context = ssl.create_default_context(cafile=ca)
        if cert is not None:
            context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        # The reason only: never the key's content, nor a passphrase.
        raise UsageError(f"{where}: cannot load the TLS files: {exc.strerror or exc}") from None
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class Backoff:
    """Exponential delays with jitter: base, 2x, 4x, ... up to *cap*, each 50-100%."""

    def __init__(self, base: float = 0.1, cap: float = 30.0) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0

    def next_delay(self) -> float:
        """Return the delay before the next attempt, and count a failure."""
        delay = min(self.cap, self.base * 2**self.failures)
        self.failures = min(self.failures + 1, 32)
        return random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not a secret

    def reset(self) -> None:
        """Start again from the base delay (a connection succeeded)."""
        self.failures = 0


class Outage:
    """A connection's down time: when to try again, and saying so once per outage."""

    def __init__(
        self, log: structlog.typing.FilteringBoundLogger, peer: str, backoff: Backoff
    ) -> None:
        self._log = log
        self.peer = peer
        self._backoff = backoff
        self._next_attempt = 0.0
        self._down_since: float | None = None

    def failed(self, reason: str, queued: int) -> None:
        """Schedule the next attempt; warn when this starts an outage."""
        delay = self._backoff.next_delay()
        self._next_attempt = time.monotonic() + delay
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._log.warning(
                "connection lost, retrying with backoff",
                address=self.peer,
                reason=reason,
                queued=queued,
            )
        else:
            self._log.debug(
                "reconnect failed", address=self.peer, reason=reason, retry_in=round(delay, 3)
            )

    def restored(self) -> None:
        """Start the backoff again; say how long the outage lasted, if there was one."""
        self._backoff.reset()
        if self._down_since is not None:
            self._log.info(
                "connection restored",
                address=self.peer,
                down_seconds=round(time.monotonic() - self._down_since, 3),
            )
            self._down_since = None
        else:
            self._log.debug("connected", address=self.peer)

    def wait(self) -> float:
        """Return the seconds until the next attempt is due (0 when it is)."""
        return max(self._next_attempt - time.monotonic(), 0.0)


def warn_undelivered(log: structlog.typing.FilteringBoundLogger, count: int) -> None:
    """Say, at exit, how many events a sink could not deliver (and what becomes of them)."""
    log.warning(
        "events not delivered at exit; with --state-dir they are read again on restart",
        count=count,
    )


@dataclass(frozen=True)
class QueueBounds:
    """How much a sink holds before the sources pause: events, and bytes.

    Events alone do not bound memory: 10,000 records of 100 KB are a gigabyte.
    A batch is taken whole while there is room, so one record larger than the
    byte bound is still sent, alone.
    """

    events: int = 10_000
    bytes: int = 16 * 1024 * 1024


def queue_bounds(options: Options) -> QueueBounds:
    """Take a sink spec's ``queue=`` (events) and ``queue_bytes=`` options."""
    default = QueueBounds()
    return QueueBounds(
        events=options.number("queue", default.events, minimum=1),
        bytes=options.number("queue_bytes", default.bytes, minimum=1024),
    )


class QueuedSink:
    """A bounded queue of frames and its counts: what the pipeline asks every socket sink."""

    def __init__(self, bounds: QueueBounds, letters: DeadLetters) -> None:
        self._bounds = bounds
        self._letters = letters
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._accepted = 0
        self._delivered = 0

    def _enqueue(self, frames: list[bytes]) -> None:
        """Queue *frames*, each one event."""
        self._queue.extend(frames)
        self._queued_bytes += sum(map(len, frames))
        self._accepted += len(frames)

    def _dequeue(self) -> bytes:
        """Drop the first frame (written, or given up on) and count it delivered."""
        frame = self._queue.popleft()
        self._queued_bytes -= len(frame)
        self._delivered += 1
        return frame

    def accepted(self) -> int:
        """Return how many events were queued so far."""
        return self._accepted

    def delivered(self) -> int:
        """Return how many events were written out in full so far."""
        return self._delivered

    def has_room(self) -> bool:
        """Return False while the queue is full, in events or bytes (the sources wait)."""
        return len(self._queue) < self._bounds.events and self._queued_bytes < self._bounds.bytes


class StreamSink(QueuedSink):
    """Framed events over TCP, queued, written as the socket takes them."""

    def __init__(
        self,
        name: str,
        address: tuple[str, int],
        formatter: Formatter,
        framer: Framer = newline_frame,
        *,
        bounds: QueueBounds | None = None,
        backoff: Backoff | None = None,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
        letters: DeadLetters | None = None,
    ) -> None:
        super().__init__(bounds or QueueBounds(), letters or DeadLetters(name))
        self.name = name
        self._address = address
        self._tls = tls
        self._server_name = server_name or address[0]
        self._format = formatter
        self._frame = framer
        self._head_sent = 0  # bytes of the first queued frame already written
        self._sock: socket.socket | None = None
        self._connecting = False
        self._handshake_wants: int | None = None  # while TLS negotiates: 0 read, 1 write
        self._log = structlog.get_logger("watchd").bind(sink=name)
        self._outage = Outage(self._log, peer_name(address), backoff or Backoff())

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
        """Return the time until the next connection attempt, between connections."""
        return None if self._sock is not None else self._outage.wait()

    def on_timeout(self) -> None:
        """Try to connect when it is time."""
        if self._sock is None and self._outage.wait() == 0:
            self._connect()

    def on_readable(self) -> None:
        """Discard what the peer says; notice when it closes or resets."""
        if self._sock is None or self._connecting:
            return
        if self._handshake_wants is not None:
            self._handshake()
            return
        try:
            data = self._sock.recv(4096)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError as exc:
            self._lost(exc.strerror or str(exc))
            return
        if not data:
            self._lost("closed by the peer")

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
        """Close the connection; say how many events were not written."""
        if self._queue:
            warn_undelivered(self._log, len(self._queue))
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
                return

    def _account(self, written: int) -> None:
        """Advance past *written* bytes: whole frames count as delivered."""
        while written and self._queue:
            left = len(self._queue[0]) - self._head_sent
            if written < left:
                self._head_sent += written
                return
            written -= left
            self._dequeue()
            self._head_sent = 0

    def _lost(self, reason: str) -> None:
        self._close_socket()
        self._head_sent = 0  # the frame in progress goes again, whole
        self._outage.failed(reason, len(self._queue))

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._connecting, self._handshake_wants = None, False, None


def make_tcp_sink(spec: Spec, context: RunContext) -> StreamSink:
    """Build ``tcp://HOST:PORT[,format=NAME][,queue=N][,backoff_max=S]``."""
    address = parse_address(spec.target, spec.options.where)
    bounds = queue_bounds(spec.options)
    cap = spec.options.number("backoff_max", 30, minimum=1)
    formatter = formatter_for(spec.options, context, tty=False)
    letters = dead_letters(spec.options, f"tcp:{spec.target}")
    spec.options.finish()
    return StreamSink(
        f"tcp:{spec.target}",
        address,
        formatter,
        bounds=bounds,
        backoff=Backoff(cap=float(cap)),
        letters=letters,
    )


@hookimpl
def watchd_register_sink_types(sinks: TypeTable[SinkFactory]) -> None:
    """Register ``tcp``."""
    sinks.add(
        "tcp",
        make_tcp_sink,
        "newline-delimited events over TCP: tcp://HOST:PORT[,format=json][,queue=N][,queue_bytes=B]"
        "[,dead_letter=FILE]",
    )
