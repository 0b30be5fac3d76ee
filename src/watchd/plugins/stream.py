"""Events over a byte stream (TCP), written from the loop without ever blocking it.

The sink queues framed events, writes them when the socket takes bytes, and
counts an event delivered once its last byte was written to the socket. When
the peer closes or resets the connection (noticed at once: the socket is also
selected for reading), the frame being written is sent again, whole, on the
next connection; reconnects back off exponentially with jitter and never give
up. A full queue pauses the sources instead of dropping anything.

What plain TCP cannot promise: bytes the kernel accepted just before the
connection died may never reach the peer; they count as delivered.
"""

from __future__ import annotations

import errno
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import structlog

from watchd import hookimpl
from watchd.core.context import RunContext
from watchd.core.errors import UsageError
from watchd.core.event import WatchEvent
from watchd.core.protocols import Formatter, SinkFactory
from watchd.core.registry import TypeTable
from watchd.core.spec import Spec
from watchd.plugins.stdout import formatter_for

#: Turns one formatted event into the bytes of one frame on the wire.
Framer = Callable[[bytes], bytes]

_SEND_CHUNK = 256 * 1024


def newline_frame(payload: bytes) -> bytes:
    """Frame *payload* as one line (newlines inside were escaped by the format)."""
    return payload + b"\n"


def parse_address(target: str, where: str, default_port: int | None = None) -> tuple[str, int]:
    """Return (host, port) of ``//HOST:PORT`` (``[v6]:PORT`` too)."""
    parts = urlsplit(f"x:{target}" if target.startswith("//") else f"x://{target}")
    try:
        port = parts.port or default_port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise UsageError(f"{where}: expected //HOST:PORT, as in tcp://127.0.0.1:5170")
    return parts.hostname, port


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


class StreamSink:
    """Framed events over TCP, queued, written as the socket takes them."""

    def __init__(
        self,
        name: str,
        address: tuple[str, int],
        formatter: Formatter,
        framer: Framer = newline_frame,
        *,
        max_queue: int = 10_000,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self._address = address
        self._format = formatter
        self._frame = framer
        self._max_queue = max_queue
        self._backoff = backoff or Backoff()
        self._queue: deque[bytes] = deque()
        self._head_sent = 0  # bytes of the first queued frame already written
        self._accepted = 0
        self._delivered = 0
        self._sock: socket.socket | None = None
        self._connecting = False
        self._next_attempt = 0.0
        self._down_since: float | None = None
        self._log = structlog.get_logger("watchd").bind(sink=name)

    # -- what the pipeline and the loop call -------------------------------------

    def emit_batch(self, events: Sequence[WatchEvent]) -> None:
        """Queue *events*; write at once what the socket takes."""
        frame, fmt = self._frame, self._format
        self._queue.extend(frame(fmt(event)) for event in events)
        self._accepted += len(events)
        if self._sock is not None and not self._connecting:
            self._send()

    def accepted(self) -> int:
        """Return how many events were queued so far."""
        return self._accepted

    def delivered(self) -> int:
        """Return how many events were written out in full so far."""
        return self._delivered

    def has_room(self) -> bool:
        """Return False while the queue is full (the sources wait)."""
        return len(self._queue) < self._max_queue

    def fileno(self) -> int:
        """Return the socket, or -1 between connections."""
        return self._sock.fileno() if self._sock is not None else -1

    def wants_write(self) -> bool:
        """Return True while connecting or while frames wait."""
        return self._sock is not None and (self._connecting or bool(self._queue))

    def timeout(self) -> float | None:
        """Return the time until the next connection attempt, between connections."""
        if self._sock is not None:
            return None
        return max(self._next_attempt - time.monotonic(), 0.0)

    def on_timeout(self) -> None:
        """Try to connect when it is time."""
        if self._sock is None and time.monotonic() >= self._next_attempt:
            self._connect()

    def on_readable(self) -> None:
        """Discard what the peer says; notice when it closes or resets."""
        if self._sock is None:
            return
        try:
            data = self._sock.recv(4096)
        except (BlockingIOError, InterruptedError):
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
        self._send()

    def flush(self) -> None:
        """Write what the socket takes now (the loop drains sinks before closing them)."""
        if self._sock is not None and not self._connecting:
            self._send()

    def close(self) -> None:
        """Close the connection; say how many events were not written."""
        if self._queue:
            self._log.warning(
                "events not delivered at exit; with --state-dir they are read again on restart",
                count=len(self._queue),
            )
        self._close_socket()

    # -- the connection ------------------------------------------------------------

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
        self._backoff.reset()
        if self._down_since is not None:
            self._log.info(
                "connection restored",
                address=self._peer(),
                down_seconds=round(time.monotonic() - self._down_since, 3),
            )
            self._down_since = None
        else:
            self._log.debug("connected", address=self._peer())

    def _send(self) -> None:
        sock = self._sock
        assert sock is not None  # noqa: S101 - callers check
        while self._queue:
            head = self._queue[0]
            batch = [head[self._head_sent :]]
            size = len(batch[0])
            for frame in list(self._queue)[1:64]:
                if size >= _SEND_CHUNK:
                    break
                batch.append(frame)
                size += len(frame)
            try:
                written = sock.send(b"".join(batch))
            except (BlockingIOError, InterruptedError):
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
            self._queue.popleft()
            self._head_sent = 0
            self._delivered += 1

    def _lost(self, reason: str) -> None:
        self._close_socket()
        self._head_sent = 0  # the frame in progress goes again, whole
        delay = self._backoff.next_delay()
        self._next_attempt = time.monotonic() + delay
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._log.warning(
                "connection lost, retrying with backoff",
                address=self._peer(),
                reason=reason,
                queued=len(self._queue),
            )
        else:
            self._log.debug(
                "reconnect failed", address=self._peer(), reason=reason, retry_in=round(delay, 3)
            )

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._connecting = None, False

    def _peer(self) -> str:
        host, port = self._address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def make_tcp_sink(spec: Spec, context: RunContext) -> StreamSink:
    """Build ``tcp://HOST:PORT[,format=NAME][,queue=N][,backoff_max=S]``."""
    address = parse_address(spec.target, spec.options.where)
    max_queue = spec.options.number("queue", 10_000, minimum=1)
    cap = spec.options.number("backoff_max", 30, minimum=1)
    formatter = formatter_for(spec.options, context, tty=False)
    spec.options.finish()
    return StreamSink(
        f"tcp:{spec.target}",
        address,
        formatter,
        max_queue=max_queue,
        backoff=Backoff(cap=float(cap)),
    )


@hookimpl
def watchd_register_sink_types(sinks: TypeTable[SinkFactory]) -> None:
    """Register ``tcp``."""
    sinks.add(
        "tcp",
        make_tcp_sink,
        "newline-delimited events over TCP: tcp://HOST:PORT[,format=json][,queue=N]",
    )
