"""watchd-example: one of everything a watchd plugin can add."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from watchd import (
    Answer,
    BadRequestError,
    Cursor,
    Dialect,
    Duration,
    EventFilter,
    FilterFactory,
    FormatContext,
    FormatFactory,
    Formatter,
    Handler,
    Number,
    OptionSet,
    RecordSource,
    RoutesFactory,
    RunContext,
    RunTrails,
    SinkFactory,
    SourceFactory,
    Text,
    TypeTable,
    UsageError,
    WatchEvent,
    hookimpl,
    set_time,
)

__version__ = "1.2.0"
log = structlog.get_logger("watchd_example")


# -- options and configuration ------------------------------------------------


@hookimpl
def watchd_addoption(parser: argparse.ArgumentParser) -> None:
    """Add ``--example-action``."""
    parser.add_argument(
        "--example-action", default="tick", metavar="NAME", help="action of ticker events"
    )


@hookimpl
def watchd_configure(context: RunContext) -> None:
    """Say hello; options are parsed by now."""
    log.info("example plugin configured", action=context.options.example_action)


@hookimpl
def watchd_unconfigure(context: RunContext) -> None:
    """Say goodbye; every source and sink is closed by now."""
    log.info("example plugin unconfigured")


# -- a source: timer-driven, no file descriptor -------------------------------


class Ticker:
    """Emits *count* events, one every *interval* seconds, then finishes."""

    def __init__(self, label: str, interval: float, count: int, action: str) -> None:
        self.name = f"ticker:{label}"
        self._label = label
        self._interval = interval
        self._left = count
        self._action = action
        self._next = time.monotonic() + interval
        self.closed = 0

    def fileno(self) -> int:
        return -1  # nothing to select on: the loop's timer drives us

    def timeout(self) -> float | None:
        if self._left <= 0:
            return None  # with fileno() -1: finished, the loop closes us
        return max(self._next - time.monotonic(), 0.0)

    def poll(self) -> list[WatchEvent]:
        if self._left <= 0 or time.monotonic() < self._next:
            return []
        self._left -= 1
        self._next += self._interval
        now = datetime.now(UTC)
        return [
            set_time(
                WatchEvent(
                    ts=now.isoformat(),
                    source="ticker",
                    action=self._action,
                    container=self._label,
                    detail=f"{self._left} left",
                ),
                now,
            )
        ]

    def close(self) -> None:
        self.closed += 1


class TickerOptions(OptionSet):
    """Timed events, COUNT of them, one every INTERVAL."""

    target_form = "LABEL"
    example = "ticker:build,interval=250ms"
    interval = Duration(1.0, "time between two events", unit="ms", minimum=0.001)
    count = Number(3, "events to send before finishing", minimum=1)


def make_ticker(options: TickerOptions, context: RunContext) -> Ticker:
    return Ticker(
        options.target or "default", options.interval, options.count, context.options.example_action
    )


@hookimpl
def watchd_register_source_types(sources: TypeTable[SourceFactory]) -> None:
    """Register ``ticker``."""
    sources.add("ticker", make_ticker, TickerOptions)


# -- a sink -------------------------------------------------------------------


def _cell(text: str) -> str:
    # A tab or newline inside a value must not split a row or a column.
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")


class TsvSink:
    """Appends one tab-separated row per event to a file."""

    def __init__(self, path: str) -> None:
        self.name = f"tsv:{path}"
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run

    def emit_batch(self, events: Sequence[WatchEvent]) -> None:
        rows = (f"{_cell(e.ts)}\t{_cell(e.action)}\t{_cell(e.container)}\n" for e in events)
        self._file.write("".join(rows))
        self._file.flush()

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class TsvOptions(OptionSet):
    """Append ts, action and container as TSV rows."""

    target_form = "PATH"
    target_required = True
    example = "tsv:/tmp/out.tsv"


def make_tsv(options: TsvOptions, context: RunContext) -> TsvSink:
    try:
        return TsvSink(options.target)
    except OSError as exc:
        raise UsageError(f"{options.where}: {exc.strerror}") from None


@hookimpl
def watchd_register_sink_types(sinks: TypeTable[SinkFactory]) -> None:
    """Register ``tsv``."""
    sinks.add("tsv", make_tsv, TsvOptions)


# -- a format -----------------------------------------------------------------


def _logfmt_value(value: str) -> str:
    if value and all(c.isalnum() or c in "-._:/+@" for c in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    # Every character a terminal or a line reader acts on, escaped (watchd.testing checks it).
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


class LogfmtOptions(OptionSet):
    """key=value pairs of the fields named."""

    keys = Text("ts,action,container", "the fields written, in order")


def make_logfmt(options: LogfmtOptions, context: FormatContext) -> Formatter:
    keys = options.keys.split(",")

    def render(event: WatchEvent) -> bytes:
        pairs = (f"{key}={_logfmt_value(str(getattr(event, key, '')))}" for key in keys)
        return " ".join(pairs).encode()

    return render


@hookimpl
def watchd_register_formats(formats: TypeTable[FormatFactory]) -> None:
    """Register ``logfmt``."""
    formats.add("logfmt", make_logfmt, LogfmtOptions)


# -- a dialect ----------------------------------------------------------------


class ExampleDialect:
    """Records shaped ``{"when", "what", "who", "where", ...}``."""

    name = "example"

    def matches(self, record: Mapping[str, Any]) -> bool:
        return "what" in record and "when" in record

    def to_event(
        self, record: dict[str, Any], where: RecordSource, cursor: Cursor | None
    ) -> WatchEvent:
        mapped = {"when", "what", "who", "where"}
        return WatchEvent(
            ts=str(record.get("when", "")),
            source=where.source,
            action=str(record.get("what") or "unknown"),
            container=str(record.get("where") or where.container),
            actor=str(record.get("who") or ""),
            origin=where.origin,
            extra={k: v for k, v in record.items() if k not in mapped},
        )


@hookimpl
def watchd_register_dialects(dialects: TypeTable[Dialect]) -> None:
    """Register ``example``."""
    dialects.add("example", ExampleDialect(), help="records with when/what/who/where keys")


# -- a filter -----------------------------------------------------------------


class RedactOptions(OptionSet):
    """Replace the fields named with ***."""

    fields = Text("dest,detail", "the fields replaced")


def make_redact(options: RedactOptions, context: RunContext) -> EventFilter:
    fields = options.fields.split(",")
    blank = dict.fromkeys(fields, "***")

    def redact(events: list[WatchEvent]) -> list[WatchEvent]:
        return [event.replace(**blank) for event in events]

    return redact


@hookimpl
def watchd_register_filters(filters: TypeTable[FilterFactory]) -> None:
    """Register ``redact``."""
    filters.add("redact", make_redact, RedactOptions)


# -- an HTTP endpoint ---------------------------------------------------------


def example_routes(trails: RunTrails) -> Mapping[str, Handler]:
    """``GET /api/example/actions``: how many events of each action the run's trails hold."""

    def actions(query: str) -> Answer:
        if query:
            raise BadRequestError("/api/example/actions takes no parameter")
        counts: dict[str, int] = {}
        for event in trails.every_event():
            counts[event.action] = counts.get(event.action, 0) + 1
        return Answer("application/json", iter([json.dumps(counts).encode()]), {})

    return {"/api/example/actions": actions}


@hookimpl
def watchd_register_routes(routes: TypeTable[RoutesFactory]) -> None:
    """Register the ``example`` routes (``--http`` serves them)."""
    routes.add("example", example_routes, help="/api/example/actions: events by action")
