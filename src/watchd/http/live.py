"""The live events, for ``/api/events/stream``: a bounded buffer the loop writes and clients read.

The loop's side is :meth:`LiveFeed.observe`: it appends the batch it was
handed, as it is, and goes on; it never encodes, never waits for a client.
Everything else happens off the loop's thread (the stream writer's, or a
request's), once per batch for all clients: the first to need a batch
encodes it (one msgspec call) and makes its server-sent frames, which every
other client then sends as they are. Each client reads from its own place
in the buffer; one that falls further behind than the buffer holds has lost
events, so it is dropped (and counted), never waited for. An event's id
on the stream is its cursor (``SOURCE@OFFSET``): a client that reconnects
with ``Last-Event-ID`` gets every held event after it.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence
from typing import TypeAlias
from urllib.parse import quote

import msgspec

from watchd.core.event import WatchEvent
from watchd.core.interfaces import EventFilter

_ENCODER = msgspec.json.Encoder()


class Held:
    """One event in the buffer: its number, the event and its JSON form.

    It does not point back at its batch: a batch and its events in a cycle
    would wait for the garbage collector to be freed, not for the last client.
    """

    __slots__ = ("_frames", "event", "frame", "seq")

    def __init__(self, seq: int, event: WatchEvent, frame: bytes) -> None:
        self.seq = seq
        self.event = event
        self.frame = frame
        self._frames: dict[bool, bytes] = {}

    def sse(self, *, with_record: bool = False) -> bytes:
        """Return the event as one server-sent event: its id, then its data (made once)."""
        made = self._frames.get(with_record)
        if made is None:  # two clients may both make it: the same bytes, and no lock
            data = self.with_record() if with_record else self.frame
            made = self._frames[with_record] = b"id: %s\ndata: %s\n\n" % (self.id.encode(), data)
        return made

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


class Batch:
    """The events the loop handed over in one call, numbered from *first*."""

    __slots__ = ("_frames", "_held", "_lock", "events", "first", "unencodable")

    def __init__(self, first: int, events: list[WatchEvent]) -> None:
        self.first = first
        self.events = events
        self.unencodable = 0
        self._held: list[Held | None] | None = None
        self._frames: dict[bool, bytes] = {}
        self._lock = threading.Lock()

    @property
    def end(self) -> int:
        """Return the number after the batch's last event."""
        return self.first + len(self.events)

    def held(self) -> list[Held | None]:
        """Return the batch's events encoded, made by the first client that asks.

        The batch is encoded in one call; should that fail, each event alone,
        and one that cannot be is None (left out of the stream and counted),
        so the live view never costs the run an event or a sink.
        """
        with self._lock:  # made once, whichever client comes first
            if self._held is None:
                self._held = self._encode()
            return self._held

    def _encode(self) -> list[Held | None]:
        first, events = self.first, self.events
        try:
            lines = _ENCODER.encode_lines(events).split(b"\n")
        except Exception:  # noqa: BLE001 - a plugin's value msgspec cannot write
            return [self._alone(first + n, event) for n, event in enumerate(events)]
        return [
            Held(first + n, event, line)
            for n, (event, line) in enumerate(zip(events, lines, strict=False))
        ]

    def _alone(self, seq: int, event: WatchEvent) -> Held | None:
        try:
            return Held(seq, event, _ENCODER.encode(event))
        except Exception:  # noqa: BLE001 - left out and counted, as held() says
            self.unencodable += 1
            return None

    def sse(self, *, with_record: bool = False) -> bytes:
        """Return every event of the batch as server-sent events, made the first time asked."""
        made = self._frames.get(with_record)
        if made is None:  # two clients may both make it: the same bytes, and no lock
            made = b"".join(h.sse(with_record=with_record) for h in self.held() if h is not None)
            self._frames[with_record] = made
        return made


#: What stands in the list for a batch let go, until the list is shortened.
_GONE = Batch(-1, [])


class Dropped(Exception):  # noqa: N818 - a state of the client, not an error of the program
    """The client fell behind by more than the buffer holds."""


class LiveFeed:
    """The newest *size* events of the run (and the rest of the oldest batch), for the clients."""

    name = "http-live"

    def __init__(self, size: int) -> None:
        self._size = size
        # The held batches, oldest first, from _batches[_head]; their first numbers for bisect.
        self._batches: list[Batch] = []
        self._firsts: list[int] = []
        self._head = 0
        self._held = 0
        self._lock = threading.Lock()
        self._next = 0
        self._closed = False
        self._unencodable_gone = 0
        #: Clients dropped because they fell behind.
        self.dropped = 0
        #: Clients reading now.
        self.clients = 0
        #: Called on the loop's thread after each batch (the stream writer's wakeup).
        self.on_new: Callable[[], None] | None = None

    @property
    def size(self) -> int:
        """Return how many events the buffer holds at least, once it is full."""
        return self._size

    @property
    def unencodable(self) -> int:
        """Return how many events were left out of the stream: they could not be encoded."""
        with self._lock:
            held = self._batches[self._head :]
            return self._unencodable_gone + sum(batch.unencodable for batch in held)

    # -- the loop's side ------------------------------------------------------

    def observe(self, events: Sequence[WatchEvent]) -> None:
        """Hold *events* as they are and wake the readers; never raises, never encodes."""
        if not events:
            return
        with self._lock:
            batch = Batch(self._next, list(events))
            self._batches.append(batch)
            self._firsts.append(batch.first)
            self._next = batch.end
            self._held += len(batch.events)
            self._evict()
        if self.on_new is not None:
            self.on_new()

    def _evict(self) -> None:
        """Let the oldest batches go while the rest still hold *size* events (lock held)."""
        batches = self._batches
        while self._held - len(batches[self._head].events) >= self._size:
            gone = batches[self._head]
            self._held -= len(gone.events)
            self._unencodable_gone += gone.unencodable
            batches[self._head] = _GONE  # its events freed now (a client reading it has it)
            self._head += 1
        if self._head >= 64:  # the list itself shortened now and then, not every batch
            del batches[: self._head]
            del self._firsts[: self._head]
            self._head = 0

    def close(self) -> None:
        """End every stream (each is told at its next read)."""
        with self._lock:
            self._closed = True

    # -- the clients' side ----------------------------------------------------

    def joined(self, change: int) -> None:
        """Count a client that started (+1) or stopped (-1) reading."""
        with self._lock:
            self.clients += change

    def start_after(self, last_id: str | None) -> int:
        """Return the number of the first event a client sends.

        Without *last_id*, what comes next; with it, the event after that one
        when it is still held, else the oldest held (what was missed before it
        is gone).
        """
        with self._lock:
            if last_id is None:
                return self._next
            first = self._first()
            batches = self._batches[self._head :]
        for batch in reversed(batches):  # ids are worked out here, on the request's thread
            for one in reversed(batch.held()):
                if one is not None and one.id == last_id:
                    return one.seq + 1
        return first

    def start_back(self, count: int) -> int:
        """Return the number of the first event a client sends that asks for *count* held ones."""
        with self._lock:
            return max(self._first(), self._next - count)

    def read(self, seq: int, filters: Sequence[EventFilter]) -> tuple[int, list[Piece]] | None:
        """Return the held events from *seq* on that pass *filters*, and the next *seq*.

        The events come as pieces: a whole batch where every event of it is
        sent (its frames are made once for all clients), else events one by
        one. Never waits (the stream writer is woken by :attr:`on_new`); None
        once the feed is closed; :class:`Dropped` when *seq* is no longer held.
        """
        with self._lock:
            if self._closed:
                return None
            if seq >= self._next:
                return seq, []
            self._keep(seq)
            upto = self._next
            at = bisect.bisect_right(self._firsts, seq, lo=self._head) - 1
            batches = self._batches[at:]
        # Encoded and filtered on the reader's thread: the loop never waits for it.
        pieces: list[Piece] = list(batches)
        if seq > batches[0].first:  # the first batch from the middle: event by event
            pieces[:1] = [
                one for one in batches[0].held()[seq - batches[0].first :] if one is not None
            ]
        if not filters:
            return upto, pieces
        taken = held_of(pieces)
        kept = [held.event for held in taken]
        for event_filter in filters:
            kept = event_filter(kept)
        chosen = {id(event) for event in kept}
        return upto, [held for held in taken if id(held.event) in chosen]

    def check(self, seq: int) -> None:
        """Raise :class:`Dropped` (and count the client) when *seq* is no longer held."""
        with self._lock:
            self._keep(seq)

    def _keep(self, seq: int) -> None:
        if seq < self._first():
            self.dropped += 1
            raise Dropped

    def _first(self) -> int:
        return self._firsts[self._head] if self._head < len(self._firsts) else self._next


#: What a client is sent at once: a whole batch, or one event.
Piece: TypeAlias = Batch | Held


def frames(pieces: Sequence[Piece], *, with_record: bool = False) -> bytes:
    """Return *pieces* as server-sent events, in one piece of bytes."""
    return b"".join(piece.sse(with_record=with_record) for piece in pieces)


def held_of(pieces: Sequence[Piece]) -> list[Held]:
    """Return the events *pieces* hold, in order (those JSON could not hold left out)."""
    return [
        one
        for piece in pieces
        for one in (piece.held() if isinstance(piece, Batch) else (piece,))
        if one is not None
    ]


#: How many of the newest events the page shows first (its script asks the stream for as many).
PAGE_ROWS = 500
#: What would end a script element, or start markup, inside it: escaped as JSON escapes them.
_SCRIPT_SAFE = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"))


def held_island(feed: LiveFeed, count: int = PAGE_ROWS) -> bytes:
    """Return the newest *count* held events as a JSON script element the page draws first.

    So the page's first paint has its rows, not "no events yet" until the
    stream's first bytes arrive; the page then follows the stream from the
    last of them (its id). Only ever put in a page that needs no token.
    """
    try:
        found = feed.read(feed.start_back(count), ())
    except Dropped:  # let go between the two calls: the stream sends what is held
        found = None
    held = [] if found is None else held_of(found[1])
    body = b"[%s]" % b",".join(
        b'{"id":%s,%s' % (_ENCODER.encode(one.id), one.with_record()[1:]) for one in held
    )
    for char, escape in _SCRIPT_SAFE:
        body = body.replace(char, escape)
    return b'<script type="application/json" id="held">%s</script>' % body
