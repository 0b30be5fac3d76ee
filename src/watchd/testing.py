"""``watchd.testing``: the kit a plugin's own tests certify its types with, one line each.

Installed with watchd as a pytest plugin (the ``pytest11`` entry point), so a
plugin package's tests have its fixtures without importing anything:

- ``watchd_hostile_events``: events whose every field holds what breaks frames
  and parsers (controls, format characters, separators, huge values, text
  that was invalid UTF-8 as read);
- ``watchd_clock``: a :class:`~watchd.core.clock.ManualClock` to inject, so a
  test sets the time instead of sleeping;
- ``watchd_cli``: runs ``watchd`` (``run``, ``validate``, ``plugins``, ...) as
  a user would, the plugin loaded as installed, and returns the finished process.

And the conformance checks, each one call, each failing with a line that
names what broke:

- :func:`check_format`: one frame an event, whatever the values hold;
- :func:`check_dialect`: any JSON object maps to an event, nothing raised;
- :func:`check_sink`: through the real loop, every event delivered exactly
  once and in order, and acknowledged only once delivered.

watchd's own types pass them (``tests/test_testing_kit.py``).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest

from watchd.core.clock import ManualClock
from watchd.core.event import WatchEvent
from watchd.core.interfaces import (
    Dialect,
    FormatContext,
    FormatFactory,
    RecordSource,
    Sink,
)
from watchd.core.options import NoOptions, OptionSet

__all__ = [
    "HOSTILE_TEXT",
    "ConformanceError",
    "check_dialect",
    "check_format",
    "check_sink",
    "hostile_events",
    "hostile_records",
]

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


_STAMP = "2026-02-15T14:30:00Z"


class ConformanceError(AssertionError):
    """A type broke a rule of the kit: the message names the rule, the type and the value."""


def hostile_events() -> Iterator[WatchEvent]:
    """Yield events with each hostile value in every text field, with and without a time."""
    for value in HOSTILE_TEXT:
        for ts, source, level in ((value or "t", "audit", "info"), (_STAMP, value, "warning")):
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


def _say(kind: str, name: str, rule: str, value: object) -> ConformanceError:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return ConformanceError(f"{kind} {name!r}: {rule}, for {shown}")


def check_format(
    factory: FormatFactory,
    options: OptionSet | None = None,
    *,
    name: str = "format",
    framing: str = "line",
) -> None:
    """Check a format: bytes for every event, one frame each, whatever the values hold.

    *framing* is ``line`` (no reader splits a frame: CR, LF, VT, FF, FS-RS,
    U+0085, U+2028, U+2029 all absent), ``crlf`` (no CR or LF: a format that
    keeps another tool's bytes, as ``cef,compat=loki`` keeps loki-mode's) or
    ``csv`` (a CSV reader reads one row).
    A format may refuse an event it cannot write (TypeError, ValueError: the
    sink sets it aside as a dead letter); it may not raise anything else.
    *options* are the format's parsed options (``CefOptions.parse(compat="loki")``);
    without them the format gets none, which suits a format that declares none.
    """
    formatter = factory(options if options is not None else NoOptions(), FormatContext())
    for event in hostile_events():
        try:
            frame = formatter(event)
        except (TypeError, ValueError, RecursionError):
            continue  # refused: a dead letter, not a broken output
        except Exception as exc:
            raise _say("format", name, f"raised {type(exc).__name__}", event) from exc
        if not isinstance(frame, bytes):
            raise _say("format", name, f"gave {type(frame).__name__}, not bytes", event)
        text = frame.decode("utf-8", "replace")
        if framing == "csv":
            csv.field_size_limit(max(csv.field_size_limit(), 1 << 24))  # the megabyte value
            if len(list(csv.reader(io.StringIO(text, newline="")))) != 1:
                raise _say("format", name, "gave more than one CSV row", event)
        elif framing == "crlf":
            if "\n" in text or "\r" in text:
                raise _say("format", name, "let a CR or LF through", event)
        elif text.splitlines() not in ([text], []):
            raise _say("format", name, "let a line end through (one frame became several)", event)


def check_dialect(dialect: Dialect, *, name: str = "dialect") -> None:
    """Check a dialect: every JSON object a trail can hold maps to an event of text fields."""
    where = RecordSource("audit", "/var/log/audit.jsonl")
    for record in hostile_records():
        try:
            event = dialect.to_event(dict(record), where, None)
        except Exception as exc:
            raise _say("dialect", name, f"raised {type(exc).__name__}", record) from exc
        for field in ("ts", "source", "action", "container", "dest", "detail", "level", "actor"):
            if not isinstance(getattr(event, field), str):
                raise _say("dialect", name, f"gave a {field} that is not text", record)
        try:
            json.loads(event.to_json())
        except ValueError as exc:
            raise _say(
                "dialect", name, "gave an event whose JSON form does not read", record
            ) from exc


def check_sink(
    make: Callable[[], Sink],
    delivered: Callable[[], Sequence[str]],
    *,
    name: str = "sink",
    count: int = 300,
    batch: int = 7,
) -> None:
    """Check a sink through watchd's own loop: every event once, in order, acknowledged only then.

    *make* builds the sink; *delivered* returns the marker (``n=0``,
    ``n=1``, ...) of each event the sink's peer (its file, its collector)
    has, in order, once the run has ended: each event carries it as its
    action, its container and its detail, so any of them will do. The
    events go through a real :class:`~watchd.core.loop.EventLoop` in batches
    of *batch*: an asynchronous sink is driven as in a run.
    """
    from watchd.core.loop import EventLoop  # noqa: PLC0415 - the loop only for this check
    from watchd.core.pipeline import Pipeline  # noqa: PLC0415

    sent = [f"n={n}" for n in range(count)]
    source = _Batches(sent, batch)
    sink = make()
    loop = EventLoop(Pipeline([], [sink]))
    loop.add(source)
    status = loop.run()
    got = list(delivered())
    if status != 0:
        raise ConformanceError(f"sink {name!r}: the run ended with exit status {status}")
    unique = set(got)
    missing = [detail for detail in sent if detail not in unique]
    if missing:
        raise ConformanceError(
            f"sink {name!r}: {len(missing)} events never delivered: {missing[:3]}"
        )
    if len(got) != len(unique):
        raise ConformanceError(f"sink {name!r}: events delivered twice")
    if got != sent:
        raise ConformanceError(f"sink {name!r}: events delivered out of order")
    if source.acknowledged != source.polls:
        raise ConformanceError(
            f"sink {name!r}: {source.polls - source.acknowledged} batches never acknowledged"
        )


class _Batches:
    """A source that gives *sent* in batches, then finishes; counts its acknowledgements."""

    name = "conformance"

    def __init__(self, sent: list[str], size: int) -> None:
        self._left = list(sent)
        self._size = size
        self.polls = 0
        self.acknowledged = 0

    def fileno(self) -> int:
        return -1

    def timeout(self) -> float | None:
        return 0.0 if self._left else None

    def poll(self) -> list[WatchEvent]:
        taken, self._left = self._left[: self._size], self._left[self._size :]
        if taken:
            self.polls += 1
        stamp = _STAMP
        # The marker in every field a sink may write: action, container and detail.
        return [WatchEvent(ts=stamp, source="audit", action=m, container=m, detail=m)
                for m in taken]  # fmt: skip

    def acknowledge(self) -> None:
        self.acknowledged += 1

    def close(self) -> None:
        self._left = []


# -- the pytest plugin -----------------------------------------------------------------


@pytest.fixture
def watchd_hostile_events() -> list[WatchEvent]:
    """Return events whose every field holds what breaks frames and parsers."""
    return list(hostile_events())


@pytest.fixture
def watchd_clock() -> ManualClock:
    """Return a clock that moves only when the test says (``clock.advance(5)``)."""
    return ManualClock()


@pytest.fixture
def watchd_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Return a runner of ``watchd ARGS...``: as installed, to its end, the finished process."""

    def run(
        *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "watchd", *args],
            capture_output=True,
            text=True,
            env=environment,
            timeout=timeout,
            check=False,
        )

    return run
