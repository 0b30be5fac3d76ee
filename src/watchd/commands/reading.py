"""``watchd query`` and ``watchd summary``: read what the trails hold now, filter it, and exit.

Records stream from the files one line at a time (memory stays flat on a
gigabyte of trail); several files are merged by event time. A time window is
a stretch of each file, found by bisection as ``run --since`` finds where to
start (``watchers.files.since``): from the first record at or after
``--since`` to the last before the first one after ``--until``, each record
in it whatever its own time, as ``run`` delivers them. ``--last N`` reads each
file backwards from the end of that stretch until it has N matching records.
Both cost the same on a large file as on a small one. Lines are split as
``run`` splits them (``max_line_bytes=``); every line that is not a record is
a reported skip, as in ``run``.
"""

from __future__ import annotations

import errno
import glob
import heapq
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from watchd.codecs.lines import (
    MAX_LINE_BYTES,
    LineBlock,
    LineSplitter,
    end_of_last_line,
    lines_backward_at,
    lines_forward_at,
)
from watchd.codecs.records import Skip, decode_record
from watchd.core.context import RunContext
from watchd.core.errors import UsageError
from watchd.core.event import WatchEvent, set_position
from watchd.core.interfaces import Dialect, EventFilter, RecordSource
from watchd.core.progress import Progress
from watchd.core.skips import SkipCounter
from watchd.core.spec import Spec
from watchd.core.timestamps import parse_when
from watchd.watchers.audit import AuditOptions, scope_of
from watchd.watchers.dialects.generic import event_from
from watchd.watchers.files.copies import UNREADABLE, compression_of, open_rotated
from watchd.watchers.files.identity import file_kind
from watchd.watchers.files.scope import Scope
from watchd.watchers.files.since import offset_after, offset_since
from watchd.watchers.files.symlinks import INSIDE

_log = structlog.get_logger("watchd")
_BLOCK = 1 << 16
_BATCH = 1024
_PROGRESS_EVERY = 4096  # lines between two looks at the clock
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """The time range asked for; an event without a parsed time is in it."""

    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def of(cls, since: str | None, until: str | None, now: datetime | None = None) -> Window:
        """Return the window ``--since`` and ``--until`` name; UsageError when it is empty."""
        now = now or datetime.now(UTC)  # one now for both, so 1h..1h is one instant
        window = cls(
            parse_when(since, "--since", now) if since else None,
            parse_when(until, "--until", now) if until else None,
        )
        if window.since is not None and window.until is not None and window.since > window.until:
            raise UsageError(
                f"--since {since} is later than --until {until}: no time is in between"
            )
        return window

    @property
    def bounded(self) -> bool:
        """Return True when the window leaves some time out."""
        return self.since is not None or self.until is not None

    def span(self, fd: int, end: int) -> tuple[int, int]:
        """Return where the window's stretch of a file (its complete lines end at *end*) lies."""
        start = offset_since(fd, end, self.since) if self.since is not None else 0
        stop = offset_after(fd, end, self.until) if self.until is not None else end
        return start, max(start, stop)

    def holds(self, event: WatchEvent) -> bool:
        """Return True when *event*'s own time falls in the window (or it has none)."""
        when = event.time
        if when is None:
            return True
        return (self.since is None or when >= self.since) and (
            self.until is None or when <= self.until
        )


@dataclass(slots=True)
class FileSource:
    """One ``audit:`` spec of a query: its files and how their records are read."""

    files: list[str]
    dialect: Dialect
    container: str
    max_line_bytes: int = MAX_LINE_BYTES


def files_of(target: str, where: str) -> list[str]:
    """Return the files a target names (path, glob with ``a|b`` names, directory), oldest first.

    One rule for what is not there: a file or directory named that does not
    exist, and the fixed directory of a glob, are usage errors; a glob that
    matches nothing in a directory that exists is no files.
    """
    expanded = os.path.abspath(scope_of(target))  # origin is absolute, as run gives it
    scope = Scope(expanded, INSIDE)  # what run's source makes of it: a path, or a glob
    directory, name = os.path.split(expanded)
    explicit = not scope.is_glob
    fixed = _fixed_part(directory)
    if not os.path.isdir(fixed):
        missing = "no such file or directory" if explicit else f"no such directory {fixed}"
        raise UsageError(f"{where}: {target}: {missing}")
    links = scope.links
    found: dict[tuple[int, int], tuple[bool, str]] = {}  # a file once, by its own name if listed
    for alternative in name.split("|"):
        for path in glob.glob(os.path.join(directory, alternative)):
            link = os.path.islink(path)
            if link and not links.allows(path):
                _log.warning("symbolic link out of the source's directory, not read", path=path)
                continue
            try:
                info = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                key = (info.st_dev, info.st_ino)
                found[key] = min(found.get(key, (link, path)), (link, path))
    if not found and explicit:
        try:
            why = f"not a regular file but {file_kind(os.stat(expanded).st_mode)}"
        except OSError:
            why = "no such file or directory"
        raise UsageError(f"{where}: {target}: {why}")
    return sorted((p for _, p in found.values()), key=lambda p: (os.stat(p).st_mtime_ns, p))


def _fixed_part(directory: str) -> str:
    """Return the leading directories of *directory* that hold no glob characters."""
    parts = directory.split(os.sep)
    for index, part in enumerate(parts):
        if glob.has_magic(part):
            return os.sep.join(parts[:index]) or os.sep
    return directory or "."


def file_sources(specs: list[Spec], context: RunContext) -> list[FileSource]:
    """Return what each ``audit:`` spec reads; other source types cannot be queried."""
    sources = []
    for spec in specs:
        where = spec.options.where
        context.registry.sources.get(spec.type, where)  # blocked with -p no:audit
        if spec.type != "audit" or not spec.target:
            raise UsageError(f"{where}: query reads audit trails: audit:PATH|GLOB|DIR")
        # The audit source's own declaration: a spec run takes, query takes (timings unused).
        options = context.registry.sources.parse(spec, context.checking).options
        if not isinstance(options, AuditOptions):  # a plugin's audit: not a file query reads
            raise UsageError(f"{where}: query reads the built-in audit source's trails")
        files = files_of(spec.target, options.where)
        sources.append(
            FileSource(files, options.dialect, options.container, options.max_line_bytes)
        )
    return sources


class Reading:
    """What a batch command met while reading: files it could not open, lines it skipped.

    Both are reported on stderr as ``run`` reports them (file and offset, never
    the line; counts at the end), so a query never hides a problem behind an
    empty result.
    """

    def __init__(self, progress: Progress | None = None) -> None:
        self.unreadable: list[str] = []
        self.skips = SkipCounter(_log, summary="lines skipped while reading")
        self.progress = progress if progress is not None else Progress(None, 0, 0)

    def cannot_open(self, path: str, exc: OSError) -> None:
        """Say, once, that *path* could not be read."""
        self.unreadable.append(path)
        _log.error("cannot read file", path=path, reason=exc.strerror or str(exc))

    def finish(self) -> bool:
        """Report the totals; return True when every file was read."""
        self.skips.summarize()
        return not self.unreadable


def _events_of(
    lines: Iterable[tuple[bytes, int]], path: str, source: FileSource, reading: Reading
) -> Iterator[WatchEvent]:
    where = RecordSource(source="audit", origin=path, container=source.container)
    dialect = source.dialect
    progress, records, read = reading.progress, 0, 0
    for line, offset in lines:
        records += 1
        read += len(line) + 1  # its newline too: the progress is of the file's bytes
        if records == _PROGRESS_EVERY:
            progress.advance(records, read)
            records = read = 0
        record = decode_record(line)
        if isinstance(record, Skip):
            reading.skips.note(record.value, path, offset)  # a blank line too, as run says it
            continue
        event = event_from(dialect, record, where)
        # Where it was read, for formats that quote the line (ECS event.original) or its offset.
        set_position(event, LineBlock(path, offset, 1, None, [line], [offset + len(line) + 1]), 0)
        yield event
    progress.advance(records, read)


#: Why an unfinished last line yields no record (yet): said, never dropped silently.
UNFINISHED = "unfinished last line (no newline yet)"


def open_trail(path: str) -> int:
    """Open a trail file to read its lines; OSError says why it cannot be read.

    A compressed rotation named directly (``audit.jsonl.1.gz``) is read
    decompressed, as ``run`` finishes one; a compression the standard library
    does not read is refused in one line, never read as garbage or as nothing.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    compression = compression_of(os.path.basename(path))
    if not compression:
        return fd
    os.close(fd)
    if compression in UNREADABLE:
        why = f"compressed as {compression}, which watchd does not read: decompress it first"
        raise OSError(errno.EINVAL, why)
    opened = open_rotated(path, follow=True)
    if opened is None:
        raise OSError(errno.EINVAL, f"not readable {compression} data")
    os.lseek(opened.fd, 0, os.SEEK_SET)  # the engine reads by offset; a file object reads on
    return opened.fd


OVER_LONG = "over-long line"


def _span(fd: int, path: str, window: Window, reading: Reading) -> tuple[int, int]:
    """Return the window's stretch of the file; an unfinished last line in it is said."""
    size = os.fstat(fd).st_size
    complete = size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        complete = end_of_last_line(fd, size)
        if window.until is None:  # else it lies after the window, if anywhere
            reading.skips.note(UNFINISHED, path, complete)
    return window.span(fd, complete)


def _forward(
    path: str, source: FileSource, window: Window, reading: Reading
) -> Iterator[tuple[bytes, int]]:
    """Yield the complete lines of the window's stretch of the file and where each starts.

    Split as ``run`` splits them: a line of ``max_line_bytes`` or more is
    passed over unread and said (memory stays bounded by it). Without a
    window the file is read to its end, whatever its size says (a file
    growing as it is read, or one of procfs).
    """
    try:
        fd = open_trail(path)
    except OSError as exc:
        reading.cannot_open(path, exc)
        return
    try:
        offset, end = _span(fd, path, window, reading) if window.bounded else (0, None)
        splitter = LineSplitter(source.max_line_bytes)
        for start, line in lines_forward_at(fd, offset, end, splitter, _BLOCK):
            _note_too_long(splitter, path, reading)
            yield line, start
        _note_too_long(splitter, path, reading)
        if end is None and splitter.pending:
            reading.skips.note(UNFINISHED, path, splitter.safe_offset)  # said, not dropped
    except OSError as exc:  # a directory given as a file, an I/O error
        reading.cannot_open(path, exc)
    finally:
        os.close(fd)


def _note_too_long(splitter: LineSplitter, path: str, reading: Reading) -> None:
    for start in splitter.take_too_long():
        reading.skips.note(OVER_LONG, path, start)


def _backward(
    path: str, source: FileSource, window: Window, reading: Reading
) -> Iterator[tuple[bytes, int]]:
    """Yield the lines of the window's stretch from the last to the first, and where each starts."""
    try:
        fd = open_trail(path)
    except OSError as exc:
        reading.cannot_open(path, exc)
        return
    try:
        start, end = _span(fd, path, window, reading)
        for line_start, line in lines_backward_at(fd, end):
            if line_start < start:
                break
            if len(line) >= source.max_line_bytes:  # its newline counts, as in run
                reading.skips.note(OVER_LONG, path, line_start)
                continue
            yield line, line_start
    except OSError as exc:
        reading.cannot_open(path, exc)
    finally:
        os.close(fd)


def _sort_key(event: WatchEvent) -> datetime:
    return event.time or _EPOCH


def _in_place(events: list[WatchEvent]) -> Iterator[tuple[datetime, WatchEvent]]:
    """Pair each event of one file with its time; one without sorts with the record before it."""
    when = _EPOCH
    for event in events:
        when = event.time or when
        yield when, event


def select(
    sources: list[FileSource],
    filters: list[EventFilter],
    window: Window,
    last: int | None = None,
    reading: Reading | None = None,
) -> Iterator[WatchEvent]:
    """Yield the events of *sources* that pass *window* and *filters*, merged by time."""
    reading = reading if reading is not None else Reading()
    keep = _keeper(filters)
    if last is not None:
        tails: list[tuple[datetime, WatchEvent]] = []
        for source in sources:
            for path in source.files:
                lines = _backward(path, source, window, reading)
                events = _events_of(lines, path, source, reading)
                tails.extend(_in_place(_last_of(events, keep, last)))
        tails.sort(key=lambda pair: pair[0])  # stable: a file's own order is kept
        for _, event in tails[-last:]:
            yield event
        return
    streams = [
        _kept(_events_of(_forward(path, source, window, reading), path, source, reading), keep)
        for source in sources
        for path in source.files
    ]
    yield from heapq.merge(*streams, key=_sort_key)


def _keeper(filters: list[EventFilter]) -> Callable[[list[WatchEvent]], list[WatchEvent]]:
    def keep(events: list[WatchEvent]) -> list[WatchEvent]:
        for event_filter in filters:
            if not events:
                break
            events = event_filter(events)
        return events

    return keep


def _kept(
    events: Iterator[WatchEvent], keep: Callable[[list[WatchEvent]], list[WatchEvent]]
) -> Iterator[WatchEvent]:
    batch: list[WatchEvent] = []
    for event in events:
        batch.append(event)
        if len(batch) >= _BATCH:
            yield from keep(batch)
            batch = []
    if batch:
        yield from keep(batch)


def _last_of(
    events: Iterable[WatchEvent],
    keep: Callable[[list[WatchEvent]], list[WatchEvent]],
    count: int,
) -> list[WatchEvent]:
    """Return the last *count* of *events* (read from the last) that *keep* takes, in file order."""
    found: list[WatchEvent] = []
    for event in events:
        if keep([event]):
            found.append(event)
            if len(found) == count:
                break
    found.reverse()
    return found
