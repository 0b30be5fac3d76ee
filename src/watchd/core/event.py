"""WatchEvent, the one normalized record every source produces and every sink reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import orjson

#: Severity levels, lowest first. Aliases map what producers write onto them.
LEVELS: tuple[str, ...] = ("debug", "info", "notice", "warning", "error", "critical")
LEVEL_RANK: dict[str, int] = {name: rank for rank, name in enumerate(LEVELS)}
LEVEL_ALIASES: dict[str, str] = {
    "warn": "warning",
    "err": "error",
    "crit": "critical",
    "fatal": "critical",
    "alert": "critical",
    "emerg": "critical",
    "emergency": "critical",
    "information": "info",
    "informational": "info",
}


def normalize_level(value: str) -> str | None:
    """Return the canonical level for *value* (case-insensitive, aliases allowed), or None."""
    lowered = value.strip().lower()
    lowered = LEVEL_ALIASES.get(lowered, lowered)
    return lowered if lowered in LEVEL_RANK else None


class Cursor(NamedTuple):
    """Where an event's record ends in its source (what a sink acknowledges), and starts."""

    source: str
    offset: int
    start: int = -1


# The JSON form's optional keys, in terok-shield's order after the four fixed ones.
_OPTIONAL_KEYS = ("dest", "detail", "level", "actor", "origin")


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One audit record, normalized.

    ``time`` (the parsed UTC time, None when ``ts`` could not be parsed),
    ``cursor`` and ``record`` are internal: they order events, acknowledge
    delivery, and keep the record as it was read (for formats that reproduce a
    producer's own bytes); they are not part of the JSON form.
    """

    ts: str
    source: str
    action: str
    container: str
    dest: str = ""
    detail: str = ""
    level: str = "info"
    actor: str = ""
    origin: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    worktree: str = ""
    time: datetime | None = field(default=None, compare=False, repr=False)
    cursor: Cursor | None = field(default=None, compare=False, repr=False)
    record: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form as a dict: fixed keys always, others only when not empty.

        ``level`` is left out when it is ``info``, the default, so that a record
        carrying only terok-shield's fields serializes exactly as terok-shield's
        own ``WatchEvent.to_json()`` does.
        """
        out: dict[str, Any] = {
            "ts": self.ts,
            "source": self.source,
            "action": self.action,
            "container": self.container,
        }
        for key in _OPTIONAL_KEYS:
            value = getattr(self, key)
            if value and not (key == "level" and value == "info"):
                out[key] = value
        if self.extra:
            out["extra"] = self.extra
        if self.worktree:
            out["worktree"] = self.worktree
        return out

    def to_json(self) -> bytes:
        """Return the compact JSON form (UTF-8 bytes, no trailing newline)."""
        return dumps_compact(self.to_dict())


def dumps_compact(obj: object) -> bytes:
    """Serialize *obj* as compact JSON; fall back to the stdlib for what orjson refuses.

    orjson refuses integers wider than 64 bits and non-string keys; audit records
    parsed from JSON rarely have either, but one odd record must not stop a sink.
    """
    try:
        return orjson.dumps(obj)
    except TypeError:
        import json  # noqa: PLC0415 - only on the rare fallback path

        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str).encode()
