"""``terok``: terok-shield's ``audit.jsonl`` records.

Mapped exactly as terok-shield's own ``AuditLogWatcher`` does (``ts``,
``action``, ``container``, ``dest``, ``detail``), so the JSON form is the one
terok-shield prints; every other key (``port``, ``proto``, ``domain``,
``dossier`` on ``blocked`` records) is kept in ``extra`` instead of dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchd.core.event import Cursor, WatchEvent
from watchd.core.interfaces import RecordSource
from watchd.watchers.dialects.base import build_event, text

_MAPPED = frozenset(("ts", "action", "container", "dest", "detail"))


class TerokDialect:
    """terok-shield: ``ts, container, action, dest?, detail?`` and extras."""

    name = "terok"
    matches_by_keys = True

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Return True for records with terok-shield's keys."""
        return "action" in record and "container" in record

    def to_event(
        self, record: dict[str, Any], where: RecordSource, cursor: Cursor | None
    ) -> WatchEvent:
        """Map *record*; ``null`` counts as absent, a missing container falls back."""
        return build_event(
            record,
            where,
            ts=record.get("ts"),
            mapped=_MAPPED,
            action=text(record, "action"),
            container=text(record, "container") or where.container,
            dest=text(record, "dest"),
            detail=text(record, "detail"),
        )

    def to_events(self, records: list[dict[str, Any]], where: RecordSource) -> list[WatchEvent]:
        """Map a block of records, each as :meth:`to_event` does (a test holds them equal).

        The usual record's mapped values are text (``dest`` and ``detail``
        may be absent), taken as they are; any other goes through :meth:`to_event`.
        """
        source, origin, worktree = where.source, where.origin, where.worktree
        fallback = where.container
        events: list[WatchEvent] = []
        append = events.append
        for record in records:
            get = record.get
            ts, action, container = get("ts"), get("action"), get("container")
            dest, detail = get("dest", ""), get("detail", "")
            if not (
                type(ts) is str
                and ts
                and type(action) is str
                and action
                and type(container) is str
                and type(dest) is str
                and type(detail) is str
            ):
                append(self.to_event(record, where, None))
                continue
            extra = record.copy()
            pop = extra.pop
            del extra["ts"], extra["action"], extra["container"]
            pop("dest", None)
            pop("detail", None)
            append(
                WatchEvent(
                    ts,
                    source,
                    action,
                    container or fallback,
                    dest,
                    detail,
                    "info",
                    "",
                    origin,
                    extra,
                    worktree,
                )
            )
        return events
