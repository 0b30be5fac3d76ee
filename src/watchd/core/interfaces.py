"""The shapes a plugin implements: watchers, sinks, formats, dialects and filters.

They are ``typing.Protocol``s: a plugin's classes satisfy them by having the
methods, without importing or subclassing anything from watchd.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from watchd.core.event import Cursor, WatchEvent


@runtime_checkable
class Watcher(Protocol):
    """A source of events, driven by the select() loop.

    The loop calls :meth:`poll` when :meth:`fileno` is readable, or when
    :meth:`timeout` seconds have passed, whichever comes first. Several watchers
    may return the same descriptor (all file watchers share one inotify
    instance); the loop then polls each of them when it is readable.

    .. versionadded:: 0.1.0
    """

    name: str

    def fileno(self) -> int:
        """Return the descriptor to select on, or -1 to be driven by :meth:`timeout` alone."""
        ...

    def timeout(self) -> float | None:
        """Return the seconds until :meth:`poll` is due without readiness, None for never.

        Return 0 while work is pending (a backlog read in bounded slices). A
        watcher with nothing more to give returns -1 from :meth:`fileno` and None
        here; the loop then closes it.
        """
        ...

    def poll(self) -> list[WatchEvent]:
        """Return what is ready now, without blocking; an empty list when nothing is."""
        ...

    def close(self) -> None:
        """Release descriptors and resources; the loop calls it exactly once."""
        ...


@runtime_checkable
class SelectsMany(Protocol):
    """A watcher with several descriptors (a listener and its connections), each selected on.

    Before each wait the loop registers every descriptor :meth:`filenos`
    gives (a connection accepted in the last poll is selected on at once)
    and calls :meth:`poll_ready` with those found readable; ``poll()`` is
    still called when its ``timeout()`` is due. Its ``fileno()`` is not used.
    A watcher never nests a selector of its own. A descriptor it gives up
    (a connection it drops) stays open until its next poll: the loop lets it
    go from the selector before then, so a new descriptor cannot take its
    number while the old one is still registered.

    .. versionadded:: 0.1.0
    """

    def filenos(self) -> Sequence[int]:
        """Return every descriptor to select on now."""
        ...

    def poll_ready(self, ready: Sequence[int]) -> list[WatchEvent]:
        """Return what the readable descriptors *ready* hold, without blocking."""
        ...


@runtime_checkable
class Acknowledging(Protocol):
    """A watcher that keeps checkpoints: told when its events have been delivered.

    .. versionadded:: 0.1.0
    """

    def acknowledge(self) -> None:
        """Record that every sink has the events of the oldest poll not yet acknowledged.

        Called once per ``poll()``, in order, after that poll's events (possibly
        none: all were filtered or skipped) reached every sink; never for a poll
        whose events a sink failed to take.
        """
        ...


@runtime_checkable
class Sink(Protocol):
    """A destination for events; it receives them in batches.

    .. versionadded:: 0.1.0
    """

    name: str

    def emit_batch(self, events: Sequence[WatchEvent]) -> None:
        """Deliver *events*, in order; when this returns they are delivered."""
        ...

    def flush(self) -> None:
        """Push out anything buffered (called at shutdown)."""
        ...

    def close(self) -> None:
        """Release resources; called exactly once, after the last flush."""
        ...


class Observer(Protocol):
    """Sees every delivered batch without being a sink (the HTTP API's live feed).

    It never holds up the run: it is not waited for, what it raises is logged
    and ignored, and a run whose sinks are all gone ends whatever it watches.
    """

    name: str

    def observe(self, events: Sequence[WatchEvent]) -> None:
        """Look at *events*, just delivered to the sinks; must not block."""
        ...

    def close(self) -> None:
        """Release what it holds; called once, when the run ends."""
        ...


@dataclass(frozen=True)
class SourceMeasures:
    """What a source tells ``/metrics`` of itself, besides the events it gave."""

    bytes_read: int = 0
    #: Bytes the files followed hold past what was read.
    bytes_behind: int = 0
    files: int = 0
    integrity_breaks: int = 0
    #: Lines skipped so far, by reason.
    skipped: Mapping[str, int] = field(default_factory=dict)


@runtime_checkable
class MeasuredSource(Protocol):
    """A source that reports :class:`SourceMeasures`; called from another thread, cheaply."""

    def measures(self) -> SourceMeasures:
        """Return the counts as they are now."""
        ...


@dataclass(frozen=True)
class SinkMeasures:
    """What a sink tells ``/metrics`` of itself, besides the events it delivered."""

    queued_events: int = 0
    queued_bytes: int = 0
    #: None: not a connection.
    connected: bool | None = None
    reconnects: int = 0
    dead_lettered: int = 0


@runtime_checkable
class MeasuredSink(Protocol):
    """A sink that reports :class:`SinkMeasures`; called from another thread, cheaply."""

    def measures(self) -> SinkMeasures:
        """Return the counts as they are now."""
        ...


@runtime_checkable
class AsyncSink(Sink, Protocol):
    """A sink that writes from the loop without ever blocking it (a socket, say).

    ``emit_batch`` only queues; the loop selects on :meth:`fileno` (for reading
    always, so a peer that closes is noticed at once, and for writing while
    :meth:`wants_write`), and calls back. While :meth:`has_room` is False the
    loop stops reading sources: the files are the buffer, nothing is dropped.

    .. versionadded:: 0.1.0
    """

    def fileno(self) -> int:
        """Return the socket's descriptor, or -1 while there is no connection."""
        ...

    def wants_write(self) -> bool:
        """Return True while queued bytes wait for the socket."""
        ...

    def on_readable(self) -> None:
        """Read from the socket: the peer sent something, closed, or reset."""
        ...

    def on_writable(self) -> None:
        """Write queued bytes (or finish a connect): the socket takes them."""
        ...

    def timeout(self) -> float | None:
        """Return the seconds until :meth:`on_timeout` is due (a reconnect), or None."""
        ...

    def on_timeout(self) -> None:
        """Act on an expired timer of the sink (reconnect)."""
        ...

    def has_room(self) -> bool:
        """Return False while the queue is full."""
        ...

    def delivered(self) -> int:
        """Return how many events so far were written out in full, in order."""
        ...

    def accepted(self) -> int:
        """Return how many events :meth:`emit_batch` took so far."""
        ...


#: Turns one event into one frame of output (no trailing newline).
Formatter = Callable[[WatchEvent], bytes]

#: Takes a batch and returns the events to pass on (dropping, changing or adding).
EventFilter = Callable[[list[WatchEvent]], list[WatchEvent]]


def delivering(sink: object) -> bool:
    """Return False for a sink that cannot deliver now: its connection is not up.

    Connecting (a TCP connect or a TLS handshake under way) is not up, nor is
    an outage. A sink that is no connection (a file, stdout) always can.
    ``/readyz`` and the status systemd shows both ask this.
    """
    if isinstance(sink, MeasuredSink):
        return sink.measures().connected is not False
    return not (isinstance(sink, AsyncSink) and sink.fileno() < 0)


@dataclass(frozen=True, slots=True)
class RecordSource:
    """Where a record was read: what a dialect needs besides the record itself.

    .. versionadded:: 0.1.0
    """

    source: str
    origin: str
    container: str = ""
    worktree: str = ""


@runtime_checkable
class Dialect(Protocol):
    """Maps one producer's record shape onto :class:`~watchd.WatchEvent`.

    A dialect that decides by the record's keys alone says so: see :class:`KeyedDialect`.

    .. versionadded:: 0.1.0
    """

    name: str

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Return True when *record* has this dialect's shape (used by ``schema=auto``)."""
        ...

    def to_event(
        self, record: dict[str, Any], where: RecordSource, cursor: Cursor | None
    ) -> WatchEvent:
        """Return the event for *record*; fields it does not map go into ``extra``.

        *cursor* says where the record was read (None where it has no place in
        a file). The dialect need not keep it: the source attaches the cursor,
        the record and the line as read to the event it returns.
        """
        ...


@dataclass(frozen=True, slots=True)
class FormatContext:
    """What a format may adapt to: where its output goes, and whether events come from many files.

    With *own_lines* the output is a stream people read (stdout, a file, a
    query), not one framed an event a line (a syslog message, a TCP peer): a
    format may put lines of its own between events (a day, a file's name).
    With *several_origins* the run reads more than one file (several sources,
    a directory, a glob), so a format for people says which file each event
    is from, as ``tail -F a b`` does.

    .. versionadded:: 0.1.0
    """

    color: bool = False
    several_origins: bool = False
    own_lines: bool = False


#: A format's build function: its parsed options (an OptionSet) and where its output goes.
FormatFactory = Callable[[Any, FormatContext], Formatter]

# What the host may also ask of a plugin's objects. Each is optional: the host
# checks for it with isinstance(), and an object without it works as before.


@runtime_checkable
class Merging(Protocol):
    """A watcher that reads several files at once (a directory, a glob).

    With ``merges`` True its events are put in time order across its files
    (``--reorder-window``) even when it is the run's only source.

    .. versionadded:: 0.1.0
    """

    merges: bool


@runtime_checkable
class HangupAware(Sink, Protocol):
    """A sink whose reader can go away (a pipe, a socket on stdout).

    The loop selects on :meth:`hangup_fileno` and stops the run when the reader
    hangs up, instead of waiting for the next write to fail.

    .. versionadded:: 0.1.0
    """

    def hangup_fileno(self) -> int:
        """Return the descriptor whose hangup ends the run, or -1 for none."""
        ...


@runtime_checkable
class HeaderedFormatter(Protocol):
    """A format whose output starts with a line of its own (CSV's column names).

    The sink writes :attr:`header` (bytes, no newline) once, at the start of a
    new output: an empty file or a fresh stream, not after a reload.

    .. versionadded:: 0.1.0
    """

    header: bytes

    def __call__(self, event: WatchEvent) -> bytes:
        """Return the frame of *event*."""
        ...


@runtime_checkable
class BatchDialect(Dialect, Protocol):
    """A dialect that maps a whole block of records in one call.

    :meth:`to_events` returns exactly what :meth:`Dialect.to_event` returns
    for each record, in order; it may raise, and the source then maps the
    block record by record. A dialect without it is called once per record.

    .. versionadded:: 0.1.0
    """

    def to_events(self, records: list[dict[str, Any]], where: RecordSource) -> list[WatchEvent]:
        """Return the event of each of *records*, in order."""
        ...


@runtime_checkable
class BatchFormatter(Protocol):
    """A format that writes a whole batch in one call (the JSON form, encoded in C).

    :meth:`encode_lines` returns the frames of *events*, each ended by a
    newline, exactly as calling the format on each would; it may raise where
    some event is one it cannot write that way, and the sink then writes the
    batch event by event.

    .. versionadded:: 0.1.0
    """

    def __call__(self, event: WatchEvent) -> bytes:
        """Return the frame of *event*."""
        ...

    def encode_lines(self, events: Sequence[WatchEvent]) -> bytes:
        """Return the frames of *events*, each newline-terminated, in one piece."""
        ...


@runtime_checkable
class KeyedDialect(Dialect, Protocol):
    """A dialect whose :meth:`matches` looks at the record's keys alone.

    ``auto`` then remembers its choice for each set of keys instead of asking
    every record.

    .. versionadded:: 0.1.0
    """

    matches_by_keys: ClassVar[bool]


class Supervisor(Protocol):
    """What the loop tells the process's supervisor (systemd): see :mod:`watchd.core.notify`."""

    def started(self) -> None:
        """Learn that every source was polled a first time."""
        ...

    def deadline(self) -> float | None:
        """Return when :meth:`tick` is next due (``time.monotonic``), None for never."""
        ...

    def tick(self, now: float) -> None:
        """Do what is due at *now*; called by the loop between two rounds."""
        ...

    def stopping(self) -> None:
        """Learn that the loop begins to stop."""
        ...
