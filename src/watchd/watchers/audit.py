"""The ``audit:PATH`` source: JSON Lines audit trails (a file or a glob), followed live."""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from itertools import count, repeat
from typing import Any

import msgspec
import structlog

from watchd.codecs.integrity import (
    BROKEN,
    HASH_KEY,
    SHAPE_KEY,
    Chain,
    any_chained,
    is_chained,
)
from watchd.codecs.lines import LineBlock
from watchd.codecs.records import RECORD_DECODER, Skip, decode_block, decode_record
from watchd.core.checkpoints import CheckpointStore
from watchd.core.context import Checking, ResourceKey, RunContext, SourceFactory, StartAt
from watchd.core.errors import UsageError
from watchd.core.event import Cursor, WatchEvent, set_block, set_index, set_position, set_record
from watchd.core.hookspecs import hookimpl
from watchd.core.interfaces import Dialect, RecordSource, SourceMeasures
from watchd.core.option_kinds import Choice, Duration, Number, Size, Text
from watchd.core.options import OptionSet
from watchd.core.registry import TypeTable
from watchd.core.skips import SkipCounter
from watchd.core.timestamps import record_ts
from watchd.watchers.dialects.base import batch_mapper
from watchd.watchers.dialects.generic import fallback_event
from watchd.watchers.files.inotify import InotifyHub, shared_hub
from watchd.watchers.files.scope import DIRECTORY_SCOPE, shown_scope
from watchd.watchers.files.settings import TrailOptions
from watchd.watchers.files.symlinks import MODES
from watchd.watchers.files.tail import Tail
from watchd.watchers.files.trail import Trail

#: Runs an iterator to its end in C, keeping nothing.
_drain: Callable[[Iterable[object]], object] = partial(deque, maxlen=0)
#: How much one poll reads at most, so one busy file cannot starve the others.
READ_BUDGET = 64 * 1024


class AuditWatcher:
    """Turns the complete lines of a :class:`Trail` into events, record by record.

    Selects on the run's shared inotify descriptor (or is driven by timers where
    files are polled); acknowledges a poll's progress once every sink has it.
    """

    def __init__(
        self,
        trail: Trail,
        dialect: Dialect,
        container: str,
        hub: InotifyHub | None,
        *,
        integrity: bool = True,
        worktree: str = "",
        source: str = "audit",
    ) -> None:
        self.name = f"{source}:{shown_scope(trail.pattern)}"
        #: Whether this source can follow several files (their events are merged).
        self.merges = trail.is_glob
        self._worktree = worktree
        self._source = source
        self._trail = trail
        self._chain: Chain | None = None
        if integrity:
            head = trail.store.source_state(trail.source_id).get("chain") if trail.store else None
            self._chain = Chain(head if isinstance(head, str) else None)
        self._in_break = False
        self._chained_files: set[str] = set()  # keys of files that held a dashboard record
        self._heads: deque[str | None] = deque()  # the chain's head after each poll
        self._dialect = dialect
        self._to_events = batch_mapper(dialect)
        self._container = container
        self._hub = hub
        self._log = structlog.get_logger("watchd").bind(source=self.name)
        self._skips = SkipCounter(self._log)
        self._bytes_read = 0
        self._breaks = 0

    def fileno(self) -> int:
        """Return the shared inotify descriptor, or -1 where files are polled."""
        return self._hub.fileno() if self._hub is not None else -1

    def timeout(self) -> float | None:
        """Return the time until the trail must be looked at without an event."""
        return self._trail.timeout()

    def poll(self) -> list[WatchEvent]:
        """Read what was appended and return its records as events."""
        if self._hub is not None:
            self._hub.pump()
        events: list[WatchEvent] = []
        for tail, blocks in self._trail.poll(READ_BUDGET):
            for block in blocks:
                self._bytes_read += block.size()
                self._decode(tail, block, events)
            for start in tail.splitter.take_too_long():
                self._skips.note("over-long line", tail.path, start)
        self._heads.append(self._chain.head if self._chain is not None else None)
        return events

    def _decode(self, tail: Tail, block: LineBlock, events: list[WatchEvent]) -> None:
        """Turn *block*'s lines into events: decoded whole, or line by line where it must be."""
        where = RecordSource(
            source=self._source,
            origin=self._worktree or tail.path,
            container=self._container,
            worktree=self._worktree,
        )
        data = block.data
        records = None if data is None else decode_block(data, len(block))
        if records is None:  # a line is not a record: each is decoded, or skipped, alone
            self._decode_lines(tail, block, where, events)
            return
        # The common case: one call decoded the block, one call maps it.
        links = self._links(tail, block, records) if self._may_chain(block.key, records) else []
        try:
            made = self._to_events(records, where)
        except Exception:  # noqa: BLE001 - the dialect failed on some record: find which
            made = [self._event_of(record, where, block, n) for n, record in enumerate(records)]
        block.records = records
        # Where each event was read, stored in C: its block, and its index there.
        _drain(map(set_block, made, repeat(block)))
        _drain(map(set_index, made, count()))
        for index, status, broken in reversed(links):  # from the end: indexes stay right
            made[index].extra["integrity"] = status
            if broken is not None:
                made.insert(index + 1, broken)
        events += made

    def _links(
        self, tail: Tail, block: LineBlock, records: list[dict[str, Any]]
    ) -> list[tuple[int, str, WatchEvent | None]]:
        """Check the block's links of the chain in order: (index, verdict, alert) of each."""
        chain = self._chain
        links: list[tuple[int, str, WatchEvent | None]] = []
        if chain is None:
            return links
        begun = chain.begun
        for index, record in enumerate(records):
            if not begun and SHAPE_KEY not in record:
                continue  # before the chain begins only loki's own records are links of it
            status, broken = self._link(chain, tail, record, block, index)
            if status:
                links.append((index, status, broken))
            begun = chain.begun
        return links

    def _link(
        self, chain: Chain, tail: Tail, record: dict[str, Any], block: LineBlock, index: int
    ) -> tuple[str, WatchEvent | None]:
        """Return a record's verdict as a link of the chain ("" if it is none) and any alert."""
        key = block.key
        chained = is_chained(record)
        if chained:
            self._chained_files.add(key)
        # A record not of loki's shape is a link too, in a file of the chain.
        if not (chained or chain.binds(key in self._chained_files)):
            return "", None
        status, expected = chain.check(record)
        broken = None
        if status == BROKEN and not self._in_break:
            broken = self._broken_event(tail, record, block.cursor(index).start, expected)
        self._in_break = status == BROKEN
        return status, broken

    def _event_of(
        self, record: dict[str, Any], where: RecordSource, block: LineBlock, index: int
    ) -> WatchEvent:
        """Return the event of one record, by the common keys where the dialect fails on it."""
        try:
            return self._dialect.to_event(record, where, None)
        except Exception:  # noqa: BLE001 - one odd record must not stop the trail
            return self._fallback(record, where, block.cursor(index))

    def _may_chain(self, key: str, records: list[dict[str, Any]]) -> bool:
        """Return True when a record of the block may be a link of the integrity chain."""
        if self._chain is None:
            return False
        return key in self._chained_files or any_chained(records)

    def _fallback(self, record: dict[str, Any], where: RecordSource, cursor: Cursor) -> WatchEvent:
        """Return the event of a record the dialect failed on, mapped by the common keys."""
        name, path = self._dialect.name, where.origin
        return fallback_event(name, record, where, self._log, path=path, offset=cursor.start)

    def _decode_lines(
        self, tail: Tail, block: LineBlock, where: RecordSource, events: list[WatchEvent]
    ) -> None:
        """Decode *block* line by line: each bad line skipped and reported, chain links checked."""
        append = events.append
        path, key, chain = tail.path, tail.key, self._chain
        loads = RECORD_DECODER.decode  # wide integers stay integers (orjson made them floats)
        for index, (line, end) in enumerate(zip(block.lines, block.ends, strict=True)):
            start = end - len(line) - 1
            try:
                record = loads(line)
            except (msgspec.DecodeError, RecursionError):
                record = None
            if type(record) is not dict:  # rare: decode_record recovers it, or says why not
                record = decode_record(line)
                if isinstance(record, Skip):
                    self._skips.note(record.value, path, start)
                    in_chain = chain is not None and chain.binds(key in self._chained_files)
                    if record is not Skip.BLANK and in_chain:
                        self._unreadable_link(tail, start, events)
                    continue
            status, broken = "", None
            if chain is not None:
                status, broken = self._link(chain, tail, record, block, index)
            event = self._event_of(record, where, block, index)
            set_record(event, record)
            set_position(event, block, index)
            if status:  # watchd's verdict goes with the event, not into the record as read
                event.extra["integrity"] = status
            append(event)
            if broken is not None:
                append(broken)

    def _unreadable_link(self, tail: Tail, start: int, events: list[WatchEvent]) -> None:
        """Break the chain at a line that does not parse, once the chain has begun."""
        if not self._in_break:
            # In time where the line stands: with the record before it.
            ts = events[-1].ts if events else record_ts(None)
            events.append(self._broken_event(tail, {"timestamp": ts}, start, "", readable=False))
        self._in_break = True

    def _broken_event(
        self,
        tail: Tail,
        record: dict[str, object],
        offset: int,
        expected: str,
        *,
        readable: bool = True,
    ) -> WatchEvent:
        """Return the alert for the first broken link of the chain (of a run of them)."""
        line = line_number(tail.fd, offset)
        self._breaks += 1
        self._log.error("integrity chain broken", path=tail.path, line=line)
        stated, ts = record.get(HASH_KEY), record_ts(record.get("timestamp"))
        why = "the record does not match its integrity hash"
        if not readable:
            why = "the line is not a record"
        elif stated is None:
            why = "the record has no integrity hash"
        return WatchEvent(
            ts=ts,
            source=self._source,
            action="integrity.broken",
            container=tail.path,
            detail=f"{tail.path}:{line}: {why}",
            level="critical",
            origin=tail.path,
            extra={"file": tail.path, "line": line, "stated": stated, "expected": expected},
        )

    def measures(self) -> SourceMeasures:
        """Return what was read, what is left to read and what was skipped (any thread)."""
        behind = 0
        tails = list(self._trail.tails.values())
        for tail in tails:
            with contextlib.suppress(OSError):  # let go of meanwhile
                behind += max(tail.size() - tail.offset, 0)
        skipped: dict[str, int] = {}
        for (_, reason), number in self._skips.counts.copy().items():
            skipped[reason] = skipped.get(reason, 0) + number
        return SourceMeasures(self._bytes_read, behind, len(tails), self._breaks, skipped)

    def acknowledge(self) -> None:
        """Every sink has the events of the oldest unacknowledged poll: checkpoint them."""
        self._trail.acknowledge()
        head = self._heads.popleft() if self._heads else None
        if head is not None and self._trail.store is not None:
            self._trail.store.set_source_state(self._trail.source_id, "chain", head)

    def close(self) -> None:
        """Close every file and report what was skipped."""
        self._trail.close()
        self._skips.summarize()


CHECKPOINTS: ResourceKey[CheckpointStore | None] = ResourceKey("checkpoints")


def shared_store(context: RunContext) -> CheckpointStore | None:
    """Return the run's checkpoint store (None without ``--state-dir``)."""

    def make() -> CheckpointStore | None:
        if context.settings.state_dir is None:
            return None
        return CheckpointStore(
            context.settings.state_dir,
            interval=context.settings.checkpoint_interval,
            ttl=context.settings.state_ttl,
            durable=context.settings.durable_state,
        )

    return context.shared(CHECKPOINTS, make, lambda store: store.close() if store else None)


def line_number(fd: int, offset: int) -> int:
    """Return the number of the line that starts at *offset* (counting newlines before it)."""
    count, position = 0, 0
    while position < offset:
        chunk = os.pread(fd, min(1 << 20, offset - position), position)
        if not chunk:
            break
        count += chunk.count(b"\n")
        position += len(chunk)
    return count + 1


class Tailing(OptionSet):
    """The options of a source that follows files: its timings and bounds.

    Every timing is a duration (``250ms``, ``5s``, ``2m``); a bare number keeps
    the unit the option always had: milliseconds for ``poll_interval=``,
    ``rotate_wait=`` and ``copy_wait=``, seconds for ``rescan=`` and ``hold_removed=``.
    """

    max_line_bytes = Size(
        TrailOptions.max_line_bytes, "a longer line is skipped (and said), not held", minimum=64
    )
    poll_interval = Duration(
        0.25, "how often files are looked at where inotify cannot tell (--poll-interval)",
        unit="ms", minimum=0.001,
    )  # fmt: skip
    rescan = Duration(
        TrailOptions.rescan_interval, "how often the directories are listed again", minimum=1
    )
    rotate_wait = Duration(
        TrailOptions.rotate_wait, "how long a rotated file is read on for late writes", unit="ms"
    )
    hold_removed = Duration(
        TrailOptions.hold_removed, "how long a removed file stays open while it is read", unit="s"
    )
    copy_wait = Duration(
        TrailOptions.copy_wait, "how long a truncated file's copy is waited for", unit="ms"
    )
    follow_symlinks = Choice(
        MODES, TrailOptions.follow_symlinks, "symbolic links followed: no, inside the scope, yes"
    )

    def check(self, checking: Checking) -> None:
        """Take --poll-interval where poll_interval= is not given."""
        super().check(checking)
        if "poll_interval" not in self.given:
            self._values["poll_interval"] = checking.settings.poll_interval

    def trail_options(self) -> TrailOptions:
        """Return the trail's timings and bounds."""
        return TrailOptions(
            max_line_bytes=self.max_line_bytes,
            poll_interval=self.poll_interval,
            rescan_interval=self.rescan,
            rotate_wait=self.rotate_wait,
            hold_removed=self.hold_removed,
            copy_wait=self.copy_wait,
            follow_symlinks=self.follow_symlinks,
        )


class AuditOptions(Tailing):
    """Follow JSON Lines audit trails: a file, a glob, or a directory's *.jsonl and *.log."""

    target_form = "PATH|GLOB|DIR"
    target_required = True
    example = "audit:/var/log/x.jsonl"
    origin = Choice(
        ("end", "beginning"), "end", "where to start (else the command line's)", key="from"
    )
    last = Number(0, "start N records back (else the command line's)", minimum=1)
    schema = Text("auto", "the records' dialect (auto recognises each record)", metavar="DIALECT")
    container = Text("", "the container of events whose record names none", metavar="NAME")
    integrity = Choice(("auto", "off"), "auto", "check loki-mode's hash chain where present")

    def check(self, checking: Checking) -> None:
        """Settle where to start and the dialect."""
        super().check(checking)
        if "from" in self.given and "last" in self.given:
            raise UsageError(f"{self.where}: from= and last= exclude each other")
        if "last" in self.given:
            self.start = StartAt("last", self.last)
            self.unused("from")
        elif "from" in self.given:
            self.start = StartAt("beginning") if self.origin == "beginning" else StartAt("end")
            self.unused("last")
        else:
            self.start = checking.settings.start
            self.unused("from", "last")  # the command line's start applies: the plan says which
        self.dialect = self.named(checking.registry.dialects, "schema").item


def scope_of(target: str) -> str:
    """Return the path or glob a target names: a directory means its ``*.jsonl`` and ``*.log``.

    loki-mode writes ``audit-YYYY-MM-DD.jsonl`` per UTC day and renames it to
    ``audit-YYYY-MM-DD.HHMMSS.jsonl`` at 10 MB: both match, and identity keeps a
    renamed file from being read twice.
    """
    expanded = os.path.expanduser(target)
    if target.endswith("/") or os.path.isdir(expanded):
        return os.path.join(expanded, DIRECTORY_SCOPE)
    return expanded


def build_audit_watcher(options: AuditOptions, context: RunContext) -> AuditWatcher:
    """Build ``audit:PATH|GLOB|DIR``: its trail shares the run's inotify and checkpoints."""
    hub = shared_hub(context)
    store = shared_store(context)
    source_id = context.claim_id(f"audit:{options.target}")
    trail = Trail(
        scope_of(options.target),
        source_id,
        start=options.start,
        hub=hub,
        store=store,
        options=options.trail_options(),
        log=structlog.get_logger("watchd").bind(source=source_id),
        clock=context.clock,
    )
    integrity = options.integrity == "auto"
    return AuditWatcher(trail, options.dialect, options.container, hub, integrity=integrity)


@hookimpl
def watchd_register_source_types(sources: TypeTable[SourceFactory]) -> None:
    """Register ``audit``."""
    sources.add("audit", build_audit_watcher, AuditOptions)
