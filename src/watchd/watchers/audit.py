"""The ``audit:PATH`` source: a JSON Lines audit trail, followed live."""

from __future__ import annotations

import time

import structlog

from watchd import hookimpl
from watchd.core.context import RunContext, StartAt
from watchd.core.errors import UsageError
from watchd.core.event import Cursor, WatchEvent
from watchd.core.protocols import Dialect, RecordSource, SourceFactory
from watchd.core.registry import TypeTable
from watchd.core.spec import Options, Spec
from watchd.watchers.inotify import InotifyHub, shared_hub
from watchd.watchers.records import Skip, decode_record
from watchd.watchers.skips import SkipCounter
from watchd.watchers.tail import FileTail

#: How much one poll reads at most, so one busy file cannot starve the others.
READ_BUDGET = 1024 * 1024
DEFAULT_MAX_LINE_BYTES = 1024 * 1024
DEFAULT_RESCAN_SECONDS = 10.0


class AuditWatcher:
    """Follows one JSON Lines file and turns each complete line into a WatchEvent.

    Selects on the run's shared inotify descriptor; falls back to stat polling
    every *poll_interval* where inotify cannot watch the file's directory. A
    rescan every *rescan_interval* backs inotify up either way.
    """

    def __init__(
        self,
        tail: FileTail,
        dialect: Dialect,
        where: RecordSource,
        *,
        hub: InotifyHub | None,
        poll_interval: float,
        rescan_interval: float,
    ) -> None:
        self.name = f"audit:{tail.path}"
        self._tail = tail
        self._dialect = dialect
        self._where = where
        self._hub = hub
        self._poll_interval = poll_interval
        self._rescan_interval = rescan_interval
        now = time.monotonic()
        self._next_poll = now + poll_interval
        self._next_rescan = now + rescan_interval
        self._log = structlog.get_logger("watchd").bind(source=self.name)
        self._skips = SkipCounter(self._log, tail.path)
        self._too_long_seen = 0

    def fileno(self) -> int:
        """Return the shared inotify descriptor, or -1 where files are polled."""
        return self._hub.fileno() if self._hub is not None else -1

    def timeout(self) -> float | None:
        """Return 0 during a backlog, else the time to the next poll or rescan."""
        if self._tail.backlog:
            return 0.0
        due = self._next_poll if self._tail.polling else self._next_rescan
        return max(due - time.monotonic(), 0.0)

    def poll(self) -> list[WatchEvent]:
        """Read what was appended and return its records as events."""
        if self._hub is not None:
            self._hub.pump()
        now = time.monotonic()
        if self._tail.polling and now >= self._next_poll:
            self._tail.dirty = True
            self._next_poll = now + self._poll_interval
        if now >= self._next_rescan:
            self._tail.dirty = True
            if self._tail.polling:
                self._tail.request_rewatch()
            self._next_rescan = now + self._rescan_interval
        if not (self._tail.dirty or self._tail.backlog):
            return []
        return self._to_events(self._tail.read(READ_BUDGET))

    def _to_events(self, lines: list[tuple[bytes, int]]) -> list[WatchEvent]:
        events: list[WatchEvent] = []
        append = events.append
        to_event = self._dialect.to_event
        where, path = self._where, self._tail.path
        for line, end in lines:
            record = decode_record(line)
            if isinstance(record, Skip):
                self._skips.note(record.value, end - len(line) - 1)
                continue
            try:
                append(to_event(record, where, Cursor(path, end)))
            except Exception:  # noqa: BLE001 - one odd record must not stop the trail
                self._log.exception(
                    "dialect failed on a record, skipped",
                    dialect=self._dialect.name,
                    offset=end - len(line) - 1,
                )
        if self._tail.too_long != self._too_long_seen:
            self._skips.note_many("over-long line", self._tail.too_long - self._too_long_seen)
            self._too_long_seen = self._tail.too_long
        return events

    def close(self) -> None:
        """Close the file and report what was skipped."""
        self._tail.close()
        if self._skips.counts:
            self._log.info(
                "lines skipped while following", path=self._tail.path, **dict(self._skips.counts)
            )


def _start_for(options: Options, context: RunContext) -> StartAt:
    """Return where to start: the spec's ``from=``/``last=``, else the command line's."""
    has_from, has_last = "from" in options, "last" in options
    if has_from and has_last:
        raise UsageError(f"{options.where}: from= and last= exclude each other")
    count = options.number("last", 0, minimum=1)
    origin = options.choice("from", ("end", "beginning"), "end")
    if has_last:
        return StartAt("last", count)
    if has_from:
        return StartAt("beginning") if origin == "beginning" else StartAt("end")
    return context.start


def make_audit_watcher(spec: Spec, context: RunContext) -> AuditWatcher:
    """Build the watcher for ``audit:PATH[,from=end|beginning][,last=N][,schema=NAME]...``."""
    if not spec.target:
        raise UsageError(f"{spec.options.where}: audit needs a path, as in audit:/var/log/x.jsonl")
    options = spec.options
    start = _start_for(options, context)
    schema = options.text("schema", "terok")
    dialect = context.registry.dialects.get(schema, options.where)
    container = options.text("container", "")
    poll_ms = options.number("poll_interval", round(context.poll_interval * 1000), minimum=1)
    rescan = options.number("rescan", int(DEFAULT_RESCAN_SECONDS), minimum=1)
    max_line = options.number("max_line_bytes", DEFAULT_MAX_LINE_BYTES, minimum=64)
    options.finish()
    hub = shared_hub(context)
    log = structlog.get_logger("watchd").bind(source=f"audit:{spec.target}")
    tail = FileTail(spec.target, start=start, hub=hub, max_line_bytes=max_line, log=log)
    where = RecordSource(source="audit", origin=tail.path, container=container)
    return AuditWatcher(
        tail, dialect, where, hub=hub, poll_interval=poll_ms / 1000, rescan_interval=float(rescan)
    )


@hookimpl
def watchd_register_source_types(sources: TypeTable[SourceFactory]) -> None:
    """Register ``audit``."""
    sources.add(
        "audit",
        make_audit_watcher,
        "follow a JSON Lines audit trail: audit:PATH[,from=beginning][,last=N]"
        "[,schema=NAME][,container=NAME]",
    )
