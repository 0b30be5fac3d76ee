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

    def to_events(self, records: list[dict[str, Any]], where: RecordSource) -> list[WatchEvent]:
        """Map a block of records, each as :meth:`to_event` does (a test holds them equal).

        The usual record's mapped values are text (the optional ones may be
        absent): it is mapped here; any other goes through :meth:`to_event`.
        """
        source, origin, worktree = where.source, where.origin, where.worktree
        fallback = where.container
        events: list[WatchEvent] = []
        append = events.append
        for record in records:
            get = record.get
            ts, entity, op, actor = get("ts"), get("entity"), get("op"), get("actor")
            scope, entity_id = get("scope", ""), get("entity_id", "")
            before, after = get("from", ""), get("to", "")
            if not (
                type(ts) is str
                and ts
                and type(entity) is str
                and type(op) is str
                and type(actor) is str
                and type(scope) is str
                and type(entity_id) is str
                and type(before) is str
                and type(after) is str
            ):
                append(self.to_event(record, where, None))
                continue
            extra = record.copy()
            pop = extra.pop
            del extra["ts"], extra["entity"], extra["op"], extra["actor"]
            pop("scope", None)
            pop("entity_id", None)
            pop("from", None)
            pop("to", None)
            append(
                WatchEvent(
                    ts,
                    source,
                    f"{entity}.{op}",
                    f"{scope}/{entity_id}" if scope else entity_id or fallback,
                    "",
                    f"{before} -> {after}" if before else f"-> {after}" if after else "",
                    "info",
                    actor,
                    origin,
                    extra,
                    worktree,
                )
            )
        return events
