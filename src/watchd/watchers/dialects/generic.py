"""``generic``: any JSON object, by the key names audit records commonly use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from watchd.core.event import Cursor, WatchEvent, set_record
from watchd.core.interfaces import Dialect, RecordSource
from watchd.watchers.dialects.base import build_event, record_level, text

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

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

    def matches(self, record: Mapping[str, Any]) -> bool:
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
    dialect: str,
    record: dict[str, Any],
    where: RecordSource,
    log: FilteringBoundLogger | None = None,
    **context: object,
) -> WatchEvent:
    """Return *record*'s event by the common key names, when *dialect* failed on it.

    A dialect (a third party's, say) that raises on one odd record must not
    lose that record: it goes on with ``extra.dialect_failed`` naming the
    dialect. Called while the exception is handled: *log* reports it (its
    type and where, with *context*; never the record).
    """
    if log is not None:
        log.exception(
            "dialect failed on a record, mapped by the common keys", dialect=dialect, **context
        )
    event = _GENERIC.to_event(record, where, None)
    event.extra["dialect_failed"] = dialect
    return event


def event_from(
    dialect: Dialect,
    record: dict[str, Any],
    where: RecordSource,
    log: FilteringBoundLogger | None = None,
) -> WatchEvent:
    """Return the event *dialect* makes of *record*, the record attached (see fallback_event)."""
    try:
        event = dialect.to_event(record, where, None)
    except Exception:  # noqa: BLE001 - one odd record must not stop a source, nor be lost
        event = fallback_event(dialect.name, record, where, log)
    set_record(event, record)
    return event
