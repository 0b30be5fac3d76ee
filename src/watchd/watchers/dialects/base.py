"""What every dialect shares: building a WatchEvent from a record and a few keys."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from watchd.core.event import WatchEvent, normalize_level, set_time
from watchd.core.fields import as_text
from watchd.core.interfaces import Dialect, RecordSource
from watchd.core.timestamps import READ_TIME_KEY, own_ts, utc_now_iso

#: Maps a block of records to their events, in order (see BatchDialect).
ToEvents = Callable[[list[dict[str, Any]], RecordSource], list[WatchEvent]]


def batch_mapper(dialect: Dialect) -> ToEvents:
    """Return *dialect*'s ``to_events``, or one that calls its ``to_event`` per record."""
    to_events: ToEvents | None = getattr(dialect, "to_events", None)  # a BatchDialect
    if to_events is not None:
        return to_events
    to_event = dialect.to_event

    def each(records: list[dict[str, Any]], where: RecordSource) -> list[WatchEvent]:
        return [to_event(record, where, None) for record in records]

    return each


def build_event(
    record: dict[str, Any],
    where: RecordSource,
    *,
    ts: object,
    mapped: Collection[str],
    action: str,
    container: str,
    dest: str = "",
    detail: str = "",
    level: str = "info",
    actor: str = "",
    origin: str | None = None,
) -> WatchEvent:
    """Return the event for *record*: the record's keys not in *mapped* go to ``extra``.

    ``ts`` is the record's own (see ``own_ts``); the event parses it when its
    time is asked for. A record without one gets the read time, marked in
    ``extra``, and no event time: it sorts where it stands in its file and is
    in every time window, for a read time says nothing of when it happened.
    """
    extra = record.copy()  # a copy and a few pops beat a filtering comprehension
    for key in mapped:
        extra.pop(key, None)
    stamp, timed = stamped(ts, extra)
    event = WatchEvent(
        stamp,
        where.source,
        action or "unknown",
        container,
        dest,
        detail,
        level,
        actor,
        where.origin if origin is None else origin,
        extra,
        where.worktree,
    )
    return event if timed else set_time(event, None)


def stamped(ts: object, extra: dict[str, Any]) -> tuple[str, bool]:
    """Return the ``ts`` of a record whose own time is *ts*, and whether that is its time.

    The record's own ``ts`` (see ``own_ts``), its time parsed when asked for;
    or, when it has none, the read time, marked in *extra*: no event time.
    """
    if type(ts) is str and ts:  # nearly every record: one call per record, not two
        return ts, True
    own = own_ts(ts)
    if own is not None:
        return own, True
    extra[READ_TIME_KEY] = True
    return utc_now_iso(), False


def text(record: Mapping[str, Any], key: str) -> str:
    """Return ``record[key]`` as text; absent and ``null`` are empty."""
    value = record.get(key)
    return value if type(value) is str else as_text(value)


def record_level(record: Mapping[str, Any], default: str) -> str:
    """Return the record's own ``level`` when it names one, else *default*."""
    level = record.get("level")
    if isinstance(level, str):
        return normalize_level(level) or default
    return default
