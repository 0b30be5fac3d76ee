"""``generic``: any JSON object, by the key names audit records commonly use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchd.core.event import Cursor, WatchEvent
from watchd.core.interfaces import RecordSource
from watchd.watchers.dialects.base import build_event, record_level, text

#: Where records keep their time, first found wins.
TIME_KEYS = ("ts", "timestamp", "time", "@timestamp", "date")
# Each field, and the keys it is looked up under, first found wins.
_KEYS: dict[str, tuple[str, ...]] = {
    "ts": TIME_KEYS,
    "action": ("action", "event", "op", "type", "msg_type"),
    "container": ("container", "name", "resource", "target", "object"),
    "dest": ("dest", "destination", "ip", "ip_address", "addr"),
    "detail": ("detail", "message", "msg", "description", "error"),
    "actor": ("actor", "user", "user_id", "owner", "agent"),
}


def _first(record: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if record.get(key) is not None:
            return key
    return None


class GenericDialect:
    """Any object: the usual key names map to fields, the rest goes to ``extra``."""

    name = "generic"
    matches_by_keys = True

    def matches(self, record: Mapping[str, Any]) -> bool:  # noqa: ARG002 - the fallback
        """Return True: every object has this shape."""
        return True

    def to_event(
        self, record: dict[str, Any], where: RecordSource, cursor: Cursor | None
    ) -> WatchEvent:
        """Map whichever common keys *record* has."""
        found = {field: _first(record, keys) for field, keys in _KEYS.items()}
        mapped = {key for key in found.values() if key is not None} | {"level"}

        def value(field: str) -> str:
            key = found[field]
            return text(record, key) if key is not None else ""

        return build_event(
            record,
            where,
            cursor,
            ts=record.get(found["ts"]) if found["ts"] else None,
            mapped=mapped,
            action=value("action"),
            container=value("container") or where.container,
            dest=value("dest"),
            detail=value("detail"),
            level=record_level(record, "info"),
            actor=value("actor"),
        )


_GENERIC = GenericDialect()


def fallback_event(
    dialect: str, record: dict[str, Any], where: RecordSource, cursor: Cursor | None
) -> WatchEvent:
    """Return *record*'s event by the common key names, when *dialect* failed on it.

    A dialect (a third party's, say) that raises on one odd record must not
    lose that record: it goes on with ``extra.dialect_failed`` naming the dialect.
    """
    event = _GENERIC.to_event(record, where, cursor)
    event.extra["dialect_failed"] = dialect
    return event
