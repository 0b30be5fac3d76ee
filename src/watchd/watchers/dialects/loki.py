"""``loki``: loki-mode's dashboard audit trail, and its agent action trail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchd.codecs.loki import loki_warns
from watchd.core.event import Cursor, WatchEvent
from watchd.core.interfaces import RecordSource
from watchd.watchers.dialects.base import build_event, record_level, text

_DASHBOARD = frozenset(
    (
        "timestamp",
        "action",
        "resource_type",
        "resource_id",
        "user_id",
        "ip_address",
        "error",
        "level",
    )
)
_AGENT = frozenset(("timestamp", "action", "agent"))


def loki_level(record: Mapping[str, Any]) -> str:
    """Return the level loki-mode gives a dashboard record."""
    default = "info"
    if loki_warns(record):
        default = "warning"
    return record_level(record, default)


class LokiDialect:
    """loki-mode: dashboard records (``resource_type``...) and agent records (``agent``)."""

    name = "loki"
    matches_by_keys = True

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Return True for either of loki-mode's shapes."""
        if "timestamp" not in record or "action" not in record:
            return False
        return "resource_type" in record or "agent" in record

    def to_event(
        self, record: dict[str, Any], where: RecordSource, cursor: Cursor | None
    ) -> WatchEvent:
        """Map a dashboard record, or an agent record."""
        if "resource_type" not in record:
            agent = text(record, "agent")
            return build_event(
                record,
                where,
                ts=record.get("timestamp"),
                mapped=_AGENT,
                action=text(record, "action"),
                container=agent or where.container,
                actor=agent,
            )
        kind, resource = text(record, "resource_type"), text(record, "resource_id")
        return build_event(
            record,
            where,
            ts=record.get("timestamp"),
            mapped=_DASHBOARD,
            action=text(record, "action"),
            container=f"{kind}/{resource}" if resource else kind or where.container,
            dest=text(record, "ip_address"),
            detail=text(record, "error"),
            level=loki_level(record),
            actor=text(record, "user_id"),
        )
