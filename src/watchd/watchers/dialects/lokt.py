"""``lokt``: the lock manager's ``<root>/audit.log``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchd.core.event import Cursor, WatchEvent
from watchd.core.fields import as_text
from watchd.core.interfaces import RecordSource
from watchd.watchers.dialects.base import build_event, text

_MAPPED = frozenset(("ts", "event", "name", "owner"))
#: Events an operator should look at: someone was refused, or a lock was broken.
_WARNING = frozenset(
    ("deny", "force-break", "stale-break", "corrupt-break", "freeze-deny", "force-unfreeze")
)


def _who(extra: Mapping[str, Any], prefix: str) -> str:
    owner = as_text(extra.get(f"{prefix}_owner"))
    host = as_text(extra.get(f"{prefix}_host"))
    pid = as_text(extra.get(f"{prefix}_pid"))
    who = f"{owner}@{host}" if owner and host else owner or host
    return f"{who} (pid {pid})" if pid else who


def _summary(event: str, extra: object) -> str:
    """Return the short detail a record's ``extra`` supports, if any."""
    if not isinstance(extra, dict):  # a record read from JSON: not any Mapping (and faster)
        return ""
    if event in ("deny", "freeze-deny") and "holder_owner" in extra:
        return f"held by {_who(extra, 'holder')}"
    if "pruned_owner" in extra:
        reason = as_text(extra.get("sweep_reason"))
        return f"pruned {_who(extra, 'pruned')}" + (f": {reason}" if reason else "")
    return ""


class LoktDialect:
    """lokt: ``ts, event, name, lock_id?, owner, host, pid, agent_id?, ttl_sec?, extra?``."""

    name = "lokt"
    matches_by_keys = True

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Return True for lokt's keys."""
        return "event" in record and "name" in record and "owner" in record

    def to_event(
        self, record: dict[str, Any], where: RecordSource, cursor: Cursor | None
    ) -> WatchEvent:
        """Map *record*: the event verbatim, the lock as container, the owner as actor."""
        event = text(record, "event")
        return build_event(
            record,
            where,
            ts=record.get("ts"),
            mapped=_MAPPED,
            action=event,
            container=text(record, "name") or where.container,
            detail=_summary(event, record.get("extra")),
            level="warning" if event in _WARNING else "info",
            actor=text(record, "owner"),
        )

    def to_events(self, records: list[dict[str, Any]], where: RecordSource) -> list[WatchEvent]:
        """Map a block of records, each as :meth:`to_event` does (a test holds them equal).

        The usual record's four mapped values are text already, so they are
        taken as they are; any other goes through :meth:`to_event`.
        """
        source, origin, worktree = where.source, where.origin, where.worktree
        fallback = where.container
        events: list[WatchEvent] = []
        append = events.append
        for record in records:
            get = record.get
            ts, event, name, owner = get("ts"), get("event"), get("name"), get("owner")
            if not (
                type(ts) is str
                and ts
                and type(event) is str
                and event
                and type(name) is str
                and type(owner) is str
            ):
                append(self.to_event(record, where, None))
                continue
            extra = record.copy()
            del extra["ts"], extra["event"], extra["name"], extra["owner"]
            inner = extra.get("extra")
            append(
                WatchEvent(
                    ts,
                    source,
                    event,
                    name or fallback,
                    "",
                    "" if inner is None else _summary(event, inner),
                    "warning" if event in _WARNING else "info",
                    owner,
                    origin,
                    extra,
                    worktree,
                )
            )
        return events
