"""``watchd``: a WatchEvent's own JSON form, as one watchd forwards it to another.

A second watchd that receives the first one's events (over syslog, say) gets
each back as it was: same fields, same ``source`` and ``origin``, same ``extra``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchd.core.event import Cursor, WatchEvent, normalize_level, set_time
from watchd.core.fields import as_text
from watchd.core.interfaces import RecordSource
from watchd.core.timestamps import READ_TIME_KEY
from watchd.watchers.dialects.base import stamped

_FIXED = ("ts", "source", "action", "container")
_TEXT = ("dest", "detail", "actor", "origin", "worktree")
_KEYS = frozenset((*_FIXED, *_TEXT, "level", "extra"))


class WatchdDialect:
    """The JSON form of :class:`~watchd.WatchEvent`: its four fixed keys and nothing unknown."""

    name = "watchd"
    matches_by_keys = True

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Return True when every fixed key is there and no key is foreign."""
        # Tried first on every record: "source" alone rules out every producer's own shape.
        return "source" in record and record.keys() <= _KEYS and all(k in record for k in _FIXED)

    def to_event(
        self, record: dict[str, Any], where: RecordSource, cursor: Cursor | None
    ) -> WatchEvent:
        """Return the event *record* is the JSON form of."""
        extra = record.get("extra")
        extra = dict(extra) if isinstance(extra, dict) else {}
        level = record.get("level")
        ts, timed = stamped(record.get("ts"), extra)
        if extra.get(READ_TIME_KEY) is True:  # the first watchd's read time is no record's time
            timed = False
        event = WatchEvent(
            ts=ts,
            source=as_text(record.get("source")) or where.source,
            action=as_text(record.get("action")) or "unknown",
            container=as_text(record.get("container")),
            dest=as_text(record.get("dest")),
            detail=as_text(record.get("detail")),
            level=(normalize_level(level) if isinstance(level, str) else None) or "info",
            actor=as_text(record.get("actor")),
            origin=as_text(record.get("origin")) or where.origin,
            extra=extra,
            worktree=as_text(record.get("worktree")) or where.worktree,
        )
        return event if timed else set_time(event, None)
