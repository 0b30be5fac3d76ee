"""What every dialect shares: building a WatchEvent from a record and a few keys."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from watchd.core.event import Cursor, WatchEvent, normalize_level
from watchd.core.fields import as_text
from watchd.core.protocols import RecordSource
from watchd.core.timestamps import record_time


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

    ``ts`` is kept verbatim when it is a non-empty string (the read time stands
    in otherwise); its parsed UTC time orders events and serves time filters.
    """
    ts_text, parsed = record_time(ts)
    return WatchEvent(
        ts=ts_text,
        source=where.source,
        action=action or "unknown",
        container=container,
        dest=dest,
        detail=detail,
        level=level,
        actor=actor,
        origin=where.origin if origin is None else origin,
        extra={k: v for k, v in record.items() if k not in mapped},
        worktree=where.worktree,
        time=parsed,
        cursor=cursor,
        record=record,
    )


def text(record: dict[str, Any], key: str) -> str:
    """Return ``record[key]`` as text; absent and ``null`` are empty."""
    return as_text(record.get(key))


def record_level(record: dict[str, Any], default: str) -> str:
    """Return the record's own ``level`` when it names one, else *default*."""
    level = record.get("level")
    if isinstance(level, str):
        return normalize_level(level) or default
    return default
