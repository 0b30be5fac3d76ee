"""The ``terok`` dialect: terok-shield's ``audit.jsonl`` records.

Mapped exactly as terok-shield's own ``AuditLogWatcher`` does (``ts``,
``action``, ``container``, ``dest``, ``detail``), so the JSON form is the one
terok-shield prints; every other key (``port``, ``proto``, ``domain``,
``dossier`` on ``blocked`` records) is kept in ``extra`` instead of dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchd import hookimpl
from watchd.core.event import Cursor, WatchEvent
from watchd.core.fields import as_text
from watchd.core.protocols import Dialect, RecordSource
from watchd.core.registry import TypeTable
from watchd.core.timestamps import parse_timestamp, utc_now_iso

_MAPPED = frozenset(("ts", "action", "container", "dest", "detail"))


class TerokDialect:
    """terok-shield: ``ts, container, action, dest?, detail?`` and extras."""

    name = "terok"

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Return True for records with terok-shield's keys."""
        return "action" in record and "container" in record and "ts" in record

    def to_event(
        self, record: dict[str, Any], where: RecordSource, cursor: Cursor | None
    ) -> WatchEvent:
        """Map *record*; ``null`` counts as absent, a missing container falls back."""
        ts = record.get("ts")
        ts_text = ts if isinstance(ts, str) and ts else utc_now_iso()
        return WatchEvent(
            ts=ts_text,
            source=where.source,
            action=as_text(record.get("action")) or "unknown",
            container=as_text(record.get("container")) or where.container,
            dest=as_text(record.get("dest")),
            detail=as_text(record.get("detail")),
            origin=where.origin,
            extra={k: v for k, v in record.items() if k not in _MAPPED},
            time=parse_timestamp(ts_text),
            cursor=cursor,
        )


@hookimpl
def watchd_register_dialects(dialects: TypeTable[Dialect]) -> None:
    """Register ``terok``."""
    dialects.add("terok", TerokDialect(), "terok-shield audit.jsonl records")
