"""``ito``: ito's per-worktree ``.ito/.state/audit/events.jsonl``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchd.core.event import Cursor, WatchEvent
from watchd.core.interfaces import RecordSource
from watchd.watchers.dialects.base import build_event, text

_MAPPED = frozenset(("ts", "entity", "entity_id", "scope", "op", "from", "to", "actor"))


class ItoDialect:
    """ito: ``v, ts, entity, entity_id, scope?, op, from?, to?, actor, by, meta?, ctx``."""

    name = "ito"
    matches_by_keys = True

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Return True for ito's keys."""
        return "entity" in record and "op" in record

    def to_event(
        self, record: dict[str, Any], where: RecordSource, cursor: Cursor | None
    ) -> WatchEvent:
        """Map *record*: ``entity.op``, ``scope/entity_id``, ``from -> to``."""
        scope, entity_id = text(record, "scope"), text(record, "entity_id")
        before, after = text(record, "from"), text(record, "to")
        detail = f"{before} -> {after}" if before else f"-> {after}" if after else ""
        return build_event(
            record,
            where,
            ts=record.get("ts"),
            mapped=_MAPPED,
            action=f"{text(record, 'entity')}.{text(record, 'op')}",
            container=f"{scope}/{entity_id}" if scope else entity_id or where.container,
            detail=detail,
            actor=text(record, "actor"),
        )
