"""``loki``: loki-mode's dashboard audit trail, and its agent action trail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchd.codecs.loki import SECURITY_ACTIONS, loki_warns
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

    def to_events(self, records: list[dict[str, Any]], where: RecordSource) -> list[WatchEvent]:
        """Map a block of records, each as :meth:`to_event` does (a test holds them equal).

        The usual dashboard record's mapped values are text (the optional ones
        may be absent) and it names no level of its own: it is mapped here;
        any other record, agent records included, goes through :meth:`to_event`.
        """
        source, origin, worktree = where.source, where.origin, where.worktree
        fallback = where.container
        events: list[WatchEvent] = []
        append = events.append
        for record in records:
            get = record.get
            ts, action, kind = get("timestamp"), get("action"), get("resource_type")
            resource, user = get("resource_id", ""), get("user_id", "")
            dest, error = get("ip_address", ""), get("error", "")
            if not (
                type(ts) is str
                and ts
                and type(action) is str
                and action
                and type(kind) is str
                and type(resource) is str
                and type(user) is str
                and type(dest) is str
                and type(error) is str
                and "level" not in record
            ):
                append(self.to_event(record, where, None))
                continue
            extra = record.copy()
            pop = extra.pop
            del extra["timestamp"], extra["action"], extra["resource_type"]
            pop("resource_id", None)
            pop("user_id", None)
            pop("ip_address", None)
            pop("error", None)
            warns = get("success") is False or action in SECURITY_ACTIONS
            append(
                WatchEvent(
                    ts,
                    source,
                    action,
                    f"{kind}/{resource}" if resource else kind or fallback,
                    dest,
                    error,
                    "warning" if warns else "info",
                    user,
                    origin,
                    extra,
                    worktree,
                )
            )
        return events
