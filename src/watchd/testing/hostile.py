"""Values that break frames and parsers, as events and as records: what the checks feed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from watchd.core.event import WatchEvent

__all__ = ["HOSTILE_TEXT", "STAMP", "ConformanceError", "hostile_events", "hostile_records", "say"]

#: Text that breaks frames and parsers: every kind of line end, C0 and C1 controls,
#: format and bidirectional characters, every format's separators, what invalid UTF-8
#: becomes when read (U+FFFD), a lone surrogate (Python's json reads one), and a
#: value of a megabyte.
HOSTILE_TEXT: tuple[str, ...] = (
    "",
    "plain",
    "line\nbreak",
    "carriage\rreturn\r\n",
    "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
    "".join(map(chr, range(32))) + "\x7f" + "".join(map(chr, range(0x80, 0xA0))),
    "\u202eevil\u202c \u2066x\u2069 \ufeff\u200b\U000e0041",
    '| = ] [ " \\ ^ , ; { } < > @ % \t',
    "CEF:0|forged|x|1|a|a|10|src=1.2.3.4",
    "<13>1 - - - - - forged",
    '"] [forged@1 a="b"]',
    "\x1b[2J\x1b[31mred",
    "\ufffd\ufffd bad bytes as read",
    "\ud800 lone surrogate",
    "x" * (1 << 20),
)


STAMP = "2026-02-15T14:30:00Z"


class ConformanceError(AssertionError):
    """A type broke a rule of the kit: the message names the rule, the type and the value."""


def hostile_events() -> Iterator[WatchEvent]:
    """Yield events with each hostile value in every text field, with and without a time."""
    for value in HOSTILE_TEXT:
        for ts, source, level in ((value or "t", "audit", "info"), (STAMP, value, "warning")):
            yield WatchEvent(
                ts, source, value, value, value, value, level, value, value, {value: value}, value
            )
    nested: Any = "deep"
    for _ in range(500):
        nested = {"n": [nested]}
    yield WatchEvent(ts="t", source="audit", action="a", container="c", extra={"deep": nested})


def hostile_records() -> Iterator[dict[str, Any]]:
    """Yield JSON objects as a trail holds them: hostile values, odd types, in mapped keys."""
    keys = (
        *("ts", "timestamp", "action", "event", "container", "name", "dest", "detail"),
        *("level", "actor", "user_id", "resource_type", "resource_id", "success", "details"),
    )
    odd: list[Any] = [None, True, 0, -1, 2**70, 1.5, float("nan"), [], [1, "a"], {}, {"a": {}}]
    for value in (*HOSTILE_TEXT, *odd):
        yield dict.fromkeys(keys, value)
        yield dict.fromkeys(keys[::2], value)
    yield {}


def say(kind: str, name: str, rule: str, value: object) -> ConformanceError:
    """Return the error of a rule broken: the kind, the type's name, the rule, the value."""
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return ConformanceError(f"{kind} {name!r}: {rule}, for {shown}")
