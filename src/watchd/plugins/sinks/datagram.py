"""Events as datagrams (UDP, or a local Unix socket such as ``/dev/log``), one event each.

Sent from the loop on a non-blocking socket: when the kernel has no room
(EAGAIN), the datagram waits for write readiness; while the queue is full the
sources pause. A datagram is bounded (``limit``): a longer message is cut by its
format, which flags it where the format has a place for that.

What a datagram cannot promise: UDP has no delivery receipt, so a datagram the
kernel sent is counted delivered. When the peer is known to be absent (a Unix
socket with no reader, or an ICMP "port unreachable" already reported for UDP),
the datagram is kept and sent again after a backoff, not dropped.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Sequence
from typing import Protocol

from watchd.core.deadletters import DeadLetters
from watchd.core.event import WatchEvent
from watchd.core.spec import peer_name
from watchd.plugins.sinks.network import Delivery, QueuedSink, warn_undelivered

_AGAIN = (BlockingIOError, InterruptedError)
#: How long datagrams must flow without a refusal before a UDP outage is over.
PROBATION = 1.0


class Cutter(Protocol):
    """A message format that can also cut a message to a size (see ``syslog_messages``)."""

    def __call__(self, event: WatchEvent) -> bytes:
        """Return the whole message for *event*."""
        ...

    def cut(self, event: WatchEvent, limit: int) -> bytes:
        """Return the message for *event* in at most *limit* bytes."""
        ...


class DatagramSink(QueuedSink):
    """One datagram per event, to a UDP address or a Unix datagram socket path."""

    def __init__(
        self,
        name: str,
        address: tuple[str, int] | str,
        message: Cutter,
        *,
        limit: int,
        delivery: Delivery | None = None,
        letters: DeadLetters | None = None,
    ) -> None:
        super().__init__(name, peer_name(address), delivery, letters)
        self._address = address
        self._message = message
        self._limit = limit
        self._cut = 0
        self._sock: socket.socket | None = None
        self._flowing_since: float | None = None  # UDP after an outage: sent, none refused yet
        self._open()

    # -- what the pipeline and the loop call -------------------------------------

    def emit_batch(self, events: Sequence[WatchEvent]) -> None:
        """Queue one datagram per event; send at once what the socket takes."""
        self._enqueue(self._letters.encode(events, self._datagram))
        if self._sock is not None:
            self._send()

    def _datagram(self, event: WatchEvent) -> bytes:
        data = self._message(event)
        if len(data) > self._limit:
            data = self._message.cut(event, self._limit)
            self._note_cut(len(data))
        return data

    def fileno(self) -> int:
        """Return the socket, or -1 while waiting to try again."""
        return self._sock.fileno() if self._sock is not None else -1

    def wants_write(self) -> bool:
        """Return True while datagrams wait for room in the socket."""
        return self._sock is not None and bool(self._queue)

    def timeout(self) -> float | None:
        """Return the time until the next attempt, while the peer is away."""
        return None if self._sock is not None else self._outage.wait()

    def on_timeout(self) -> None:
        """Open the socket again when it is time, and send what waits."""
        if self._sock is None and self._outage.wait() == 0 and self._open():
            self._send()

    def on_readable(self) -> None:
        """Collect a pending error (UDP's port unreachable); nothing is expected to arrive."""
        if self._sock is None:
            return
        try:
            self._sock.recv(65536)
        except _AGAIN:
            return
        except OSError as exc:
            self._away(exc)

    def on_writable(self) -> None:
        """Send what waits."""
        if self._sock is not None:
            self._send()

    def flush(self) -> None:
        """Send what the socket takes now."""
        if self._sock is not None:
            self._send()

    def close(self) -> None:
        """Close the socket; say how many events were not sent and how many were cut."""
        if self._queue:
            warn_undelivered(self._log, len(self._queue))
        if self._cut:
            self._log.info("messages cut to the datagram limit", count=self._cut, limit=self._limit)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._letters.close()

    # -- the socket ------------------------------------------------------------------

    def _open(self) -> bool:
        try:
            address: object
            if isinstance(self._address, str):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                address = self._address
            else:
                family, kind, proto, _, address = socket.getaddrinfo(
                    *self._address, type=socket.SOCK_DGRAM
                )[0]
                sock = socket.socket(family, kind, proto)
        except OSError as exc:
            self._away(exc)
            return False
        sock.setblocking(False)
        try:
            sock.connect(address)
        except OSError as exc:
            sock.close()
            self._away(exc)
            return False
        self._sock = sock
        if isinstance(self._address, str) or not self._outage.down:
            # A Unix socket's connect() finds its reader; UDP's proves nothing (no
            # handshake): a closed port answers the first datagram with a refusal,
            # so the outage ends once datagrams have flowed for a while (_sent).
            self._outage.restored()
        return True

    def _send(self) -> None:
        sock = self._sock
        assert sock is not None  # noqa: S101 - callers check
        while self._queue:
            try:
                sock.send(self._queue[0])
            except _AGAIN:
                return
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:  # the socket's own bound is below limit=
                    self._log.error(
                        "datagram refused as too long, skipped; lower limit=",
                        size=len(self._dequeue()),
                    )
                    continue
                self._away(exc)
                return
            self._dequeue()
            self._sent()

    def _sent(self) -> None:
        """End a UDP outage once datagrams have gone out for a while with no refusal."""
        if not self._outage.down:
            return
        now = self._outage.now()
        if self._flowing_since is None:
            self._flowing_since = now
        elif now - self._flowing_since >= PROBATION:
            self._flowing_since = None
            self._outage.restored()

    def _away(self, exc: OSError) -> None:
        """Close the socket, keep the queue, and try again after a backoff (the peer is away)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._flowing_since = None
        self._outage.failed(exc.strerror or os.strerror(exc.errno or 0), len(self._queue))

    def _note_cut(self, size: int) -> None:
        if not self._cut:
            self._log.warning("message longer than a datagram may be, cut", limit=size)
        self._cut += 1
