"""What every dialect shares: building a WatchEvent from a record and a few keys."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from watchd.core.event import LAZY_TIME, Cursor, WatchEvent, assemble_event, normalize_level
from watchd.core.fields import as_text
from watchd.core.interfaces import RecordSource
from watchd.core.timestamps import READ_TIME_KEY, own_ts, utc_now_iso


def build_event(
    record: dict[str, Any],
    where: RecordSource,
    cursor: Cursor | None,
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
    stamp, when = stamped(ts, extra)
    return assemble_event(
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
        when,
        cursor,
        record,
    )


def stamped(ts: object, extra: dict[str, Any]) -> tuple[str, Any]:
    """Return the ``ts`` and event time of a record whose own time is *ts*.

    The record's own ``ts`` (see ``own_ts``), its time left to parse lazily;
    or, when it has none, the read time with no event time, marked in *extra*.
    """
    if type(ts) is str and ts:  # nearly every record: one call per record, not two
        return ts, LAZY_TIME
    own = own_ts(ts)
    if own is not None:
        return own, LAZY_TIME
    extra[READ_TIME_KEY] = True
    return utc_now_iso(), None


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
