"""The live events, for ``/api/events/stream``: a bounded buffer the loop writes and clients read.

The loop's side is :meth:`LiveFeed.observe`: it encodes the batch once and
appends it; it never waits for a client. Each client reads from its own place
in the buffer on its own thread; one that falls further behind than the buffer
holds has lost events, so it is dropped (and counted), never waited for.
An event's id on the stream is its cursor (``SOURCE@OFFSET``): a client that
reconnects with ``Last-Event-ID`` gets every held event after it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import msgspec

from watchd.core.event import WatchEvent
from watchd.core.interfaces import EventFilter

_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Held:
    """One event in the buffer: its number, the event and its JSON form."""

    seq: int
    event: WatchEvent
    frame: bytes

    def with_record(self) -> bytes:
        """Return the event's JSON form and its record's line as read, as one JSON object."""
        raw = self.event.raw
        record = b"null" if raw is None else _ENCODER.encode(raw.decode("utf-8", "replace"))
        return b'{"event":%s,"record":%s}' % (self.frame, record)

    @property
    def id(self) -> str:
        """Return the event's id on the stream: its cursor, or its number without one."""
        cursor = self.event.cursor
        if cursor is None:
            return f"#{self.seq}"
        return f"{quote(cursor.source, safe='')}@{cursor.offset}"


class Dropped(Exception):  # noqa: N818 - a state of the client, not an error of the program
    """The client fell behind by more than the buffer holds."""


class LiveFeed:
    """The newest *size* events of the run, held for the clients by an observer of the pipeline."""

    name = "http-live"

    def __init__(self, size: int) -> None:
        self._size = size
        # A ring: event number n is at n % size; the newest *size* are held.
        self._ring: list[Held | None] = [None] * size
        self._changed = threading.Condition()
        self._next = 0
        self._closed = False
        #: Clients dropped because they fell behind.
        self.dropped = 0
        #: Clients reading now.
        self.clients = 0
        #: Events left out of the stream because they could not be encoded.
        self.unencodable = 0

    @property
    def size(self) -> int:
        """Return how many events the buffer holds at most."""
        return self._size

    # -- the loop's side ------------------------------------------------------

    def observe(self, events: Sequence[WatchEvent]) -> None:
        """Hold *events* (encoded once here) and wake the clients; never raises.

        The batch is encoded in one call; should that fail, each event is
        encoded alone and one that cannot be is left out of the stream (and
        counted), so the live view never costs the run an event or a sink.
        """
        if not events:
            return
        try:
            pairs = list(zip(events, _ENCODER.encode_lines(events).split(b"\n"), strict=False))
        except Exception:  # noqa: BLE001 - a plugin's value msgspec cannot write
            pairs = list(_one_by_one(events, self))
        with self._changed:
            seq = self._next
            ring, size = self._ring, self._size
            for event, frame in pairs:
                ring[seq % size] = Held(seq, event, frame)
                seq += 1
            self._next = seq
            self._changed.notify_all()

    def close(self) -> None:
        """End every stream."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    # -- the clients' side ----------------------------------------------------

    def joined(self, change: int) -> None:
        """Count a client that started (+1) or stopped (-1) reading."""
        with self._changed:
            self.clients += change

    def start_after(self, last_id: str | None) -> int:
        """Return the number of the first event a client sends.

        Without *last_id*, what comes next; with it, the event after that one
        when it is still held, else the oldest held (what was missed before it
        is gone).
        """
        with self._changed:
            if last_id is None:
                return self._next
            first = self._first()
            held = self._take(first, self._next)
        for one in reversed(held):  # ids are worked out here, on the client's thread
            if one.id == last_id:
                return one.seq + 1
        return first

    def start_back(self, count: int) -> int:
        """Return the number of the first event a client sends that asks for *count* held ones."""
        with self._changed:
            return max(self._first(), self._next - count)

    def wait(
        self, seq: int, filters: Sequence[EventFilter], timeout: float
    ) -> tuple[int, list[Held]] | None:
        """Return the held events from *seq* on that pass *filters*, and the next *seq*.

        Waits up to *timeout* for one; None once the feed is closed;
        :class:`Dropped` when *seq* is no longer held.
        """
        with self._changed:
            if not self._closed and seq >= self._next:
                self._changed.wait(timeout)
            if self._closed:
                return None
            if seq >= self._next:
                return seq, []
            if seq < self._first():
                self.dropped += 1
                raise Dropped
            upto = self._next
            taken = self._take(seq, upto)
        # Filtered on the client's thread: the loop never waits for it.
        kept = [held.event for held in taken]
        for event_filter in filters:
            kept = event_filter(kept)
        chosen = {id(event) for event in kept}
        return upto, [held for held in taken if id(held.event) in chosen]

    def _first(self) -> int:
        return max(self._next - self._size, 0)

    def _take(self, start: int, end: int) -> list[Held]:
        """Return the held events *start* to *end* (held, and the lock taken)."""
        ring, size = self._ring, self._size
        low, high = start % size, (end - 1) % size + 1
        if end - start <= 0:
            return []
        part = ring[low:high] if low < high else ring[low:] + ring[:high]
        return [held for held in part if held is not None]


def _one_by_one(events: Sequence[WatchEvent], feed: LiveFeed) -> Iterator[tuple[WatchEvent, bytes]]:
    for event in events:
        try:
            yield event, _ENCODER.encode(event)
        except Exception:  # noqa: BLE001 - left out and counted, as the docstring says
            feed.unencodable += 1
