"""What the socket sinks share: TLS settings, retry backoff, outages, a bounded queue.

TCP, syslog (stream and datagram) and HEC each build their delivery from the
same options (:func:`delivery`) and report an outage the same way: one warning
when it starts, one line when it ends.
"""

from __future__ import annotations

import os
import random
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import ClassVar

import structlog

from watchd.core.clock import Clock
from watchd.core.deadletters import DeadLetters
from watchd.core.errors import UsageError
from watchd.core.interfaces import SinkMeasures
from watchd.core.option_kinds import Duration, Flag, Number, OptionalText, Size
from watchd.core.options import OptionSet


class TlsClient(OptionSet):
    """The options of a sink that may speak TLS: its CA, client certificate and key."""

    ca = OptionalText("CA bundle (PEM) the server's certificate is checked against", metavar="FILE")
    cert = OptionalText("client certificate (PEM), for a server that asks for one", metavar="FILE")
    key = OptionalText("the client certificate's private key (PEM)", metavar="FILE")
    verify = Flag(True, "check the server's certificate and name (no: for tests only)")

    #: The keys above, for a sink to refuse where it speaks no TLS.
    TLS_KEYS: ClassVar[frozenset[str]] = frozenset(("ca", "cert", "key", "verify"))

    def check_tls(self) -> ssl.SSLContext:
        """Return the client TLS context the options give; the files are read, nothing else."""
        if self.key is not None and self.cert is None:
            raise self.refuse("key", "needs cert=, the client certificate it belongs to")
        for option, path in (("ca", self.ca), ("cert", self.cert), ("key", self.key)):
            if path is not None and not os.path.isfile(path):
                raise self.refuse(option, "no such file")
        try:
            context = ssl.create_default_context(cafile=self.ca)
            if self.cert is not None:
                context.load_cert_chain(self.cert, self.key)
        except (ssl.SSLError, OSError) as exc:
            # The reason only: never the key's content, nor a passphrase.
            reason = exc.strerror or str(exc)
            raise UsageError(f"{self.where}: cannot load the TLS files: {reason}") from None
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


class Backoff:
    """Exponential delays with jitter: base, 2x, 4x, ... up to *cap*, each 50-100%."""

    def __init__(self, base: float = 0.1, cap: float = 30.0, clock: Clock = time.monotonic) -> None:
        self.base = base
        self.clock = clock  # the outage's clock too: a test drives both
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
        #: Connections made again after an outage.
        self.reconnects = 0

    def failed(self, reason: str, queued: int) -> None:
        """Schedule the next attempt; warn when this starts an outage."""
        delay = self._backoff.next_delay()
        self._next_attempt = self._backoff.clock() + delay
        if self._down_since is None:
            self._down_since = self._backoff.clock()
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
            self.reconnects += 1
            self._log.info(
                "connection restored",
                address=self.peer,
                down_seconds=round(self._backoff.clock() - self._down_since, 3),
            )
            self._down_since = None
        else:
            self._log.debug("connected", address=self.peer)

    @property
    def down(self) -> bool:
        """Return True during an outage (from the first failure to :meth:`restored`)."""
        return self._down_since is not None

    def now(self) -> float:
        """Return the time on the backoff's clock."""
        return self._backoff.clock()

    def wait(self) -> float:
        """Return the seconds until the next attempt is due (0 when it is)."""
        return max(self._next_attempt - self._backoff.clock(), 0.0)


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


@dataclass(frozen=True)
class Delivery:
    """What every socket sink takes from its spec: its queue and how it retries."""

    bounds: QueueBounds
    backoff: Backoff


class Delivered(OptionSet):
    """The options of a sink that queues for a peer: its bounds, and how long it waits at most."""

    queue = Number(
        QueueBounds.events, "events held for the peer before the sources pause", minimum=1
    )
    queue_bytes = Size(
        QueueBounds.bytes, "bytes held for the peer before the sources pause", minimum=1024
    )
    backoff_max = Duration(30.0, "longest wait between two attempts to reach the peer", minimum=1.0)

    def delivery(self, *, base: float = 0.1, clock: Clock = time.monotonic) -> Delivery:
        """Return the bounded queue and the backoff these options give, on *clock*."""
        bounds = QueueBounds(events=self.queue, bytes=self.queue_bytes)
        return Delivery(bounds, Backoff(base=base, cap=self.backoff_max, clock=clock))


class QueuedSink:
    """A bounded queue of frames and its counts: what the pipeline asks every socket sink.

    It also holds what each of them sets up alike: its name, its dead letters,
    its log and the outage of its peer (*peer*, as logs name it).
    """

    def __init__(
        self, name: str, peer: str, delivery: Delivery | None, letters: DeadLetters | None
    ) -> None:
        self.name = name
        self._delivery = delivery or Delivery(QueueBounds(), Backoff())
        self._bounds = self._delivery.bounds
        self._letters = letters or DeadLetters(name)
        self._log = structlog.get_logger("watchd").bind(sink=name)
        self._outage = Outage(self._log, peer, self._delivery.backoff)
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
        self._confirm(frame)
        return frame

    def _confirm(self, frame: bytes) -> None:
        """Count *frame*, taken off the queue, delivered: its bytes are held no more."""
        self._queued_bytes -= len(frame)
        self._delivered += 1

    def measures(self) -> SinkMeasures:
        """Return the queue, the connection and the counts, for ``/metrics``."""
        return SinkMeasures(
            queued_events=len(self._queue),
            queued_bytes=self._queued_bytes,
            connected=self.connected(),
            reconnects=self._outage.reconnects,
            dead_lettered=self._letters.refused,
        )

    def fileno(self) -> int:
        """Return the connection's descriptor, or -1 (each sink says it; see there)."""
        return -1

    def connected(self) -> bool:
        """Return True while the connection is up (a sink that connects says when it is)."""
        return self.fileno() >= 0

    def accepted(self) -> int:
        """Return how many events were queued so far."""
        return self._accepted

    def delivered(self) -> int:
        """Return how many events were written out in full so far."""
        return self._delivered

    def has_room(self) -> bool:
        """Return False while the queue is full, in events or bytes (the sources wait)."""
        return len(self._queue) < self._bounds.events and self._queued_bytes < self._bounds.bytes
