"""One open file, read line by line from an offset, and how it can change underneath."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from enum import Enum

from watchd.codecs.lines import LineBlock, LineSplitter, lines_backward_at
from watchd.codecs.records import Skip, decode_record
from watchd.watchers.files.identity import Fingerprint, file_key, mark_at
from watchd.watchers.files.since import offset_since

_CHUNK = 64 * 1024


class Change(Enum):
    """What a read found out about the file besides new lines."""

    NONE = "none"
    TRUNCATED = "truncated"  # size fell below the offset
    REWRITTEN = "rewritten"  # the bytes before the offset are not the ones read


class State(Enum):
    """Where a tail stands relative to the source's scope."""

    ACTIVE = "active"  # a path in scope names it
    ROTATED = "rotated"  # renamed out of scope: drained for a grace period
    REMOVED = "removed"  # deleted: drained, the descriptor held for a bounded time


class Tail:
    """An open file being read: identity, offset, and the fragment of a line in progress.

    The descriptor is held from the moment the file is found until it is let
    go, so a file renamed or deleted while being read is still read to its end.
    """

    def __init__(
        self,
        fd: int,
        path: str,
        offset: int,
        fingerprint: Fingerprint,
        max_line_bytes: int,
        *,
        identity: tuple[int, int] | None = None,
        compression: str = "",
        age: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        info = os.fstat(fd)
        self.fd = fd
        #: When it was last written as found (mtime, ns): rotated files are read oldest first.
        self.age = info.st_mtime_ns if age is None else age
        # A compressed file is read from a decompressed copy, but known by its own inode.
        self.dev, self.ino = identity or (info.st_dev, info.st_ino)
        self.compression = compression
        self.key = file_key(self.dev, self.ino)
        self.path = path
        self.offset = offset
        self.fingerprint = fingerprint
        self.splitter = LineSplitter(max_line_bytes)
        self.splitter.reset(offset)
        self.mark = mark_at(fd, offset)
        self.safe_mark = self.mark
        self.state = State.ACTIVE
        self.left_at = 0.0  # monotonic time it stopped being ACTIVE
        self._clock = clock
        self.last_growth = clock()
        self.backlog = False
        self.seq = 0  # order of opening, set by the trail
        self.prefix = b""  # first bytes, as the trail indexed them
        self.target = ""  # where the path led, when it is a symlink
        #: Where its first checkpoint stands when that is before *offset* (-1: at it).
        self.checkpoint_from = -1
        #: The key of the copy that finishes its previous generation: read before it.
        self.after = ""
        #: How far every sink acknowledged what it holds now (its checkpoint, as started).
        self.acked = offset

    @property
    def safe_offset(self) -> int:
        """Return the offset just past the last complete line: where a restart resumes."""
        return self.splitter.safe_offset

    def size(self) -> int:
        """Return the file's current size."""
        return os.fstat(self.fd).st_size

    def check(self) -> Change:
        """Compare the file with what was read: truncated, rewritten, or just grown."""
        size = self.size()
        if size < self.offset:
            return Change.TRUNCATED
        if self.offset and mark_at(self.fd, self.offset) != self.mark:
            return Change.REWRITTEN
        if not self.fingerprint.complete and size > self.fingerprint.length:
            self.fingerprint = Fingerprint.of(self.fd, size)
        return Change.NONE

    def restart(self) -> None:
        """Read again from offset 0 (after truncation or a rewrite)."""
        self.offset = self.acked = 0
        self.splitter.reset(0)
        self.mark = self.safe_mark = mark_at(self.fd, 0)
        self.fingerprint = Fingerprint.of(self.fd, self.size())

    def read(self, budget: int) -> list[LineBlock]:
        """Return the complete lines available (a block a read), reading about *budget* bytes."""
        blocks: list[LineBlock] = []
        consumed = 0
        while consumed < budget:
            chunk = os.pread(self.fd, _CHUNK, self.offset)
            if not chunk:
                break
            self.offset += len(chunk)
            consumed += len(chunk)
            block = self.splitter.feed_block(chunk, self.offset, self.key)
            if len(block):
                blocks.append(block)
        self.backlog = consumed >= budget
        if consumed:
            self.last_growth = self._clock()
            self.mark = mark_at(self.fd, self.offset)
            safe = self.safe_offset
            self.safe_mark = self.mark if safe == self.offset else mark_at(self.fd, safe)
        return blocks

    def close(self) -> int:
        """Close the descriptor; return the bytes of an incomplete last line left behind."""
        pending = self.splitter.pending
        os.close(self.fd)
        self.fd = -1
        return pending


def open_file(path: str, *, follow: bool = True) -> tuple[int, os.stat_result] | None:
    """Open *path* for reading without blocking on a FIFO; None if it is gone.

    With *follow* False a symbolic link at *path* is refused (ELOOP).
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        return None
    info = os.fstat(fd)
    return fd, info


def start_offset(fd: int, size: int, mode: str, count: int, since: datetime | None = None) -> int:
    """Return where to start in a file found at start-up: its end, its start, N back, or a time.

    "The end" is just past the last newline: a record still being written when
    watchd starts began before the end, and starting after it would lose it.
    """
    if mode == "beginning":
        return 0
    if mode == "since" and since is not None:
        return offset_since(fd, _offset_of_last_lines(fd, size, 0), since)
    return _offset_of_last_lines(fd, size, count if mode == "last" else 0)


def _offset_of_last_lines(fd: int, size: int, count: int) -> int:
    """Return where the last *count* records begin (0: just past the last newline).

    Read backwards, so the cost does not grow with the file. A record is a line
    that decodes as one: blank, malformed and other skipped lines are not
    counted, so ``--last 3`` shows three records whatever lies between them.
    """
    lines = lines_backward_at(fd, size)  # complete lines only, the last first
    if count == 0:
        last = next(lines, None)
        return 0 if last is None else last[0] + len(last[1]) + 1
    seen = 0
    for start, line in lines:
        if not isinstance(decode_record(line), Skip):
            seen += 1
            if seen == count:
                return start
    return 0
