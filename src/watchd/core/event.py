"""WatchEvent, the one normalized record every source produces and every sink reads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import msgspec

from watchd.core.jsonform import ascii_json, dumps_compact
from watchd.core.timestamps import parse_timestamp

#: Severity levels, lowest first. Aliases map what producers write onto them.
LEVELS: tuple[str, ...] = ("debug", "info", "notice", "warning", "error", "critical")
LEVEL_RANK: dict[str, int] = {name: rank for rank, name in enumerate(LEVELS)}
LEVEL_ALIASES: dict[str, str] = {
    "warn": "warning",
    "err": "error",
    "crit": "critical",
    "fatal": "critical",
    "alert": "critical",
    "emerg": "critical",
    "emergency": "critical",
    "information": "info",
    "informational": "info",
}


def normalize_level(value: str) -> str | None:
    """Return the canonical level for *value* (case-insensitive, aliases allowed), or None."""
    lowered = value.strip().lower()
    lowered = LEVEL_ALIASES.get(lowered, lowered)
    return lowered if lowered in LEVEL_RANK else None


class Cursor(NamedTuple):
    """Where an event's record ends in its source (what a sink acknowledges), and starts.

    .. versionadded:: 0.1.0
    """

    source: str
    offset: int
    start: int = -1


class Positions(Protocol):
    """Where the events of one read came from: cursor, line as read and record, by index."""

    def cursor(self, index: int) -> Cursor:
        """Return the cursor of the *index*-th line."""
        ...

    def line(self, index: int) -> bytes:
        """Return the *index*-th line's bytes as read (without its newline)."""
        ...

    def record(self, index: int) -> dict[str, Any] | None:
        """Return the record of the *index*-th line, if they were kept here."""
        ...


class _Internal:
    """An event's state that is not part of its JSON form (slots a Struct does not encode).

    Left unset until needed: ``_time`` is parsed from ``ts`` when first asked
    for. The source that read the record attaches it: ``_block`` and
    ``_index`` (where it was read; a block decoded whole also holds its
    records, so that is the one store) and, where the record is not kept
    there, ``_record``. Two slots, not a ``(block, index)`` tuple: a tuple is
    an object the garbage collector tracks, and events the live feed holds
    would give it one each to walk (the loop was a third slower for it).
    """

    __slots__ = ("_block", "_index", "_record", "_time")
    _block: Positions
    _index: int
    _record: dict[str, Any]
    _time: datetime | None


class WatchEvent(_Internal, msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """One audit record, normalized; encoded by msgspec in C, a batch in one call.

    The JSON form is the fields in this order, defaults left out: ``level`` is
    left out when it is ``info``, so that a record carrying only
    terok-shield's fields serializes exactly as terok-shield's own
    ``WatchEvent.to_json()`` does. ``time`` (the parsed UTC time, None when
    ``ts`` could not be parsed), ``cursor``, ``record`` and ``raw`` are internal:
    they order events, acknowledge delivery and keep the record as it was read
    (for formats that reproduce it); they are not part of the JSON form and do
    not take part in comparisons.

    .. versionadded:: 0.1.0
    """

    ts: str
    source: str
    action: str
    container: str
    dest: str = ""
    detail: str = ""
    level: str = "info"
    actor: str = ""
    origin: str = ""
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
    worktree: str = ""

    @property
    def time(self) -> datetime | None:
        """Return ``ts`` as an aware UTC datetime, or None when it is not a timestamp."""
        when: datetime | None = getattr(self, "_time", _UNSET)  # cheaper than try/except
        if when is _UNSET:  # not parsed yet: following one file to JSON never needs it
            when = parse_timestamp(self.ts)
            _set_time(self, when)
        return when

    @property
    def record(self) -> dict[str, Any] | None:
        """Return the record the event was read from (None for an event no record made)."""
        record: dict[str, Any] | None = getattr(self, "_record", None)
        if record is None:  # a block decoded whole holds its records
            block = self._position()
            return None if block is None else block.record(self._index)
        return record

    @property
    def cursor(self) -> Cursor | None:
        """Return where the record ends and starts in its file (None: not read from one)."""
        block = self._position()
        return None if block is None else block.cursor(self._index)

    @property
    def raw(self) -> bytes | None:
        """Return the record's line as read, without its newline (None if not read from a file)."""
        block = self._position()
        return None if block is None else block.line(self._index)

    def _position(self) -> Positions | None:
        """Return the block the event was read in (its place there is ``_index``), or None."""
        return getattr(self, "_block", None)

    def replace(self, **changes: object) -> WatchEvent:
        """Return a copy with *changes*, its record kept, and its time unless ``ts`` changed."""
        copy = msgspec.structs.replace(self, **changes)
        for name in ("_record", "_block", "_index") if "ts" in changes else _Internal.__slots__:
            with suppress(AttributeError):  # not set on this event
                _SETTERS[name](copy, getattr(self, name))
        return copy

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form as a dict: the fixed keys always, the others unless defaults."""
        form: dict[str, Any] = {name: getattr(self, name) for name in _FIXED}
        for name, default in _DEFAULTS:
            value = getattr(self, name)
            if value != default:
                form[name] = value
        return form

    def to_json(self) -> bytes:
        """Return the compact JSON form: ASCII, as ``json.dumps`` writes it, no newline."""
        try:
            return ascii_json(_ENCODER.encode(self))
        except UnicodeEncodeError:  # a lone surrogate, as Python's json reads one
            return ascii_json(dumps_compact(self.to_dict()))


_ENCODER = msgspec.json.Encoder()
_UNSET: Any = object()
_FIXED = ("ts", "source", "action", "container")
_DEFAULTS = tuple(
    (field.name, {} if field.default_factory is dict else field.default)
    for field in msgspec.structs.fields(WatchEvent)
    if field.name not in _FIXED
)


def _setter(name: str) -> Callable[[WatchEvent, Any], None]:
    descriptor: Any = _Internal.__dict__[name]
    setter: Callable[[WatchEvent, Any], None] = descriptor.__set__
    return setter


_SETTERS = {name: _setter(name) for name in _Internal.__slots__}
_set_time = _SETTERS["_time"]
#: Attach the record an event was made from (for formats that reproduce it).
set_record = _SETTERS["_record"]
#: Attach the block an event's record was read in, and its index there (both are needed).
set_block = _SETTERS["_block"]
set_index = _SETTERS["_index"]


def set_position(event: WatchEvent, block: Positions, index: int) -> None:
    """Attach where *event*'s record was read: the *index*-th record of *block*."""
    set_block(event, block)
    set_index(event, index)


def set_time(event: WatchEvent, when: datetime | None) -> WatchEvent:
    """Give *event* its time (None: it has none, as for a record stamped with the read time).

    .. versionadded:: 0.1.0
    """
    _set_time(event, when)
    return event


def with_record(event: WatchEvent, record: dict[str, Any]) -> WatchEvent:
    """Attach *record*, the record *event* was made from (for formats that reproduce it)."""
    set_record(event, record)
    return event


def encode_lines(events: Sequence[WatchEvent]) -> bytes:
    """Return the JSON form of *events*, one line each, newline-terminated, in one call.

    Raises UnicodeEncodeError when some event holds a lone surrogate: the
    caller then writes event by event (``to_json`` writes those too).
    """
    return ascii_json(_ENCODER.encode_lines(events))


def event_time(event: WatchEvent) -> datetime:
    """Return the event's time in UTC, or now for an event whose ``ts`` could not be parsed.

    Converted even though the dialects give UTC: a plugin's event may carry another zone.
    """
    when = event.time
    if when is None:
        return datetime.now(UTC)
    return when if when.tzinfo is UTC else when.astimezone(UTC)
