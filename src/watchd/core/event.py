"""WatchEvent, the one normalized record every source produces and every sink reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

import orjson

from watchd.core.jsonform import dumps_compact
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
    """Where an event's record ends in its source (what a sink acknowledges), and starts."""

    source: str
    offset: int
    start: int = -1


#: Stands in for an event's time until something asks for it (parsed from ``ts`` then).
LAZY_TIME: Any = object()


@dataclass(frozen=True, slots=True, init=False)
class WatchEvent:
    """One audit record, normalized.

    ``time`` (the parsed UTC time, None when ``ts`` could not be parsed),
    ``cursor`` and ``record`` are internal: they order events, acknowledge
    delivery, and keep the record as it was read (for formats that reproduce a
    producer's own bytes); they are not part of the JSON form. ``time`` is
    parsed from ``ts`` when first asked for: following one file to a JSON sink
    never needs it.
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
    extra: dict[str, Any] = field(default_factory=dict)
    worktree: str = ""
    cursor: Cursor | None = field(default=None, compare=False, repr=False)
    record: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    _time: datetime | None = field(default=LAZY_TIME, init=False, compare=False, repr=False)

    def __init__(  # noqa: PLR0917 - the fields, in order, as the generated one
        self,
        ts: str,
        source: str,
        action: str,
        container: str,
        dest: str = "",
        detail: str = "",
        level: str = "info",
        actor: str = "",
        origin: str = "",
        extra: dict[str, Any] | None = None,
        worktree: str = "",
        time: datetime | None = LAZY_TIME,
        cursor: Cursor | None = None,
        record: dict[str, Any] | None = None,
    ) -> None:
        # An event is built for every record read. A frozen dataclass's own
        # __init__ stores each field through object.__setattr__; storing through
        # the slots' descriptors directly takes half the time.
        _set_ts(self, ts)
        _set_source(self, source)
        _set_action(self, action)
        _set_container(self, container)
        _set_dest(self, dest)
        _set_detail(self, detail)
        _set_level(self, level)
        _set_actor(self, actor)
        _set_origin(self, origin)
        _set_extra(self, {} if extra is None else extra)
        _set_worktree(self, worktree)
        _set_cursor(self, cursor)
        _set_record(self, record)
        _set_time(self, time)

    @property
    def time(self) -> datetime | None:
        """Return ``ts`` as an aware UTC datetime, or None when it is not a timestamp."""
        when = self._time
        if when is LAZY_TIME:
            when = parse_timestamp(self.ts)
            _set_time(self, when)
        return when

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form as a dict: fixed keys always, others only when not empty.

        ``level`` is left out when it is ``info``, the default, so that a record
        carrying only terok-shield's fields serializes exactly as terok-shield's
        own ``WatchEvent.to_json()`` does.
        """
        out: dict[str, Any] = {
            "ts": self.ts,
            "source": self.source,
            "action": self.action,
            "container": self.container,
        }
        # Spelled out rather than looped over: this runs for every event a sink writes.
        if self.dest:
            out["dest"] = self.dest
        if self.detail:
            out["detail"] = self.detail
        if self.level != "info" and self.level:
            out["level"] = self.level
        if self.actor:
            out["actor"] = self.actor
        if self.origin:
            out["origin"] = self.origin
        if self.extra:
            out["extra"] = self.extra
        if self.worktree:
            out["worktree"] = self.worktree
        return out

    def to_json(self) -> bytes:
        """Return the compact JSON form (UTF-8 bytes, no trailing newline)."""
        form = self.to_dict()
        try:
            return orjson.dumps(form)
        except TypeError:  # what orjson refuses; the common case must not pay a second call
            return dumps_compact(form)


class _Assembly:
    """WatchEvent's storage without its frozen ``__setattr__``: where events are assembled.

    A frozen dataclass can only store through ``object.__setattr__`` (or, as in
    ``WatchEvent.__init__``, through each slot's descriptor): a call per field.
    This class has the same slots, so plain attribute stores fill them (CPython
    specializes those to a direct write), and then the object becomes the
    WatchEvent it was laid out as: ``__class__`` may change between classes of
    one layout. The result is an ordinary, frozen WatchEvent, built in less
    than half the time. ``tests/test_hot_path_units.py`` keeps the two equal.
    """

    __slots__ = WatchEvent.__slots__

    def __init__(  # noqa: PLR0917 - WatchEvent.__init__'s order, for build_event
        self,
        ts: str,
        source: str,
        action: str,
        container: str,
        dest: str,
        detail: str,
        level: str,
        actor: str,
        origin: str,
        extra: dict[str, Any],
        worktree: str,
        time: datetime | None,
        cursor: Cursor | None,
        record: dict[str, Any] | None,
    ) -> None:
        self.ts = ts
        self.source = source
        self.action = action
        self.container = container
        self.dest = dest
        self.detail = detail
        self.level = level
        self.actor = actor
        self.origin = origin
        self.extra = extra
        self.worktree = worktree
        self._time = time
        self.cursor = cursor
        self.record = record
        self.__class__ = WatchEvent  # type: ignore[assignment]


#: Build a WatchEvent from every field, positionally (``time`` may be LAZY_TIME):
#: for the per-record path; elsewhere ``WatchEvent(...)`` reads better.
assemble_event = cast(
    "Callable[[str, str, str, str, str, str, str, str, str, dict[str, Any], str, "
    "datetime | None, Cursor | None, dict[str, Any] | None], WatchEvent]",
    _Assembly,
)


def _setter(name: str) -> Callable[[WatchEvent, Any], None]:
    descriptor: Any = WatchEvent.__dict__[name]
    setter: Callable[[WatchEvent, Any], None] = descriptor.__set__
    return setter


_set_ts = _setter("ts")
_set_source = _setter("source")
_set_action = _setter("action")
_set_container = _setter("container")
_set_dest = _setter("dest")
_set_detail = _setter("detail")
_set_level = _setter("level")
_set_actor = _setter("actor")
_set_origin = _setter("origin")
_set_extra = _setter("extra")
_set_worktree = _setter("worktree")
_set_cursor = _setter("cursor")
_set_record = _setter("record")
_set_time = _setter("_time")


def event_time(event: WatchEvent) -> datetime:
    """Return the event's time in UTC, or now for an event whose ``ts`` could not be parsed.

    Converted even though the dialects give UTC: a plugin's event may carry another zone.
    """
    return (event.time or datetime.now(UTC)).astimezone(UTC)
