"""``terok``: terok-shield's ``audit.jsonl`` records.

Mapped as terok-shield's own ``AuditLogWatcher`` does (``ts``, ``action``,
``container``, ``dest``, ``detail``; a ``container`` the record holds, even
``""``, wins over the source's ``container=``), so the JSON form is the bytes
terok-shield prints; every other key (``port``, ``proto``, ``domain``,
``dossier`` on ``blocked`` records) is kept in ``extra`` instead of dropped.
Where watchd differs, on purpose: a record's ``level`` is the event's level
(terok-shield has none, and ``--level`` must see it); every field is text, so
epoch seconds in ``ts`` become UTC ISO 8601 and a number in ``dest`` its JSON
text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchd.core.event import Cursor, WatchEvent
from watchd.core.interfaces import RecordSource
from watchd.watchers.dialects.base import build_event, record_level, text

_MAPPED = frozenset(("ts", "action", "container", "dest", "detail", "level"))


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
        container = record.get("container")
        return build_event(
            record,
            where,
            ts=record.get("ts"),
            mapped=_MAPPED,
            action=text(record, "action"),
            container=where.container if container is None else text(record, "container"),
            dest=text(record, "dest"),
            detail=text(record, "detail"),
            level=record_level(record, "info"),
        )

    def to_events(self, records: list[dict[str, Any]], where: RecordSource) -> list[WatchEvent]:
        """Map a block of records, each as :meth:`to_event` does (a test holds them equal).

        The usual record's mapped values are text (``dest`` and ``detail``
        may be absent) and it names no level, taken as they are; any other
        goes through :meth:`to_event`.
        """
        source, origin, worktree = where.source, where.origin, where.worktree
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
                and "level" not in record
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
                    container,
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
