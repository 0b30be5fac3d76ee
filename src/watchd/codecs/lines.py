"""Splitting a byte stream into complete lines, with a bound on their length."""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from watchd.core.event import Cursor

_PLUS_NEWLINE = (1).__add__
#: The longest line a trail reads as a record (its newline included), unless told.
MAX_LINE_BYTES = 1024 * 1024
#: Bytes read at a time by :func:`lines_backward`.
BACKWARD_BLOCK = 64 * 1024


class LineSplitter:
    """Turns chunks of a file into complete lines and the offset each one ends at.

    A trailing fragment waits for its newline. A CRLF line keeps its CR: JSON
    takes it as whitespace, and a line's start stays ``end - len(line) - 1``
    (which ECS ``log.offset`` and the skip reports name). A line of
    *max_line_bytes* or more (its newline included) is dropped whole (where it
    starts is kept in :attr:`too_long_at`), and the lines after it flow; memory
    stays bounded by *max_line_bytes*.
    """

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        #: Where each over-long line dropped since :meth:`take_too_long` starts.
        self.too_long_at: list[int] = []
        self.too_long = 0  # over-long lines dropped in all
        #: Offset just past the last newline seen: where a restart resumes.
        self.safe_offset = 0
        self._fragment = b""
        self._discarding = False

    @property
    def pending(self) -> int:
        """Return the bytes of the trailing fragment held back (or being discarded)."""
        return len(self._fragment)

    def take_too_long(self) -> list[int]:
        """Return where each over-long line dropped since the last call starts."""
        news, self.too_long_at = self.too_long_at, []
        return news

    def _dropped(self, start: int) -> None:
        self.too_long += 1
        self.too_long_at.append(start)

    def reset(self, offset: int = 0) -> None:
        """Forget the fragment and resume at *offset* (truncation, or a new start)."""
        self._fragment = b""
        self._discarding = False
        self.safe_offset = offset

    def feed(self, data: bytes, end_offset: int) -> list[tuple[bytes, int]]:
        """Return the lines completed by *data* (which ends at *end_offset*) and where each ends."""
        block = self.feed_block(data, end_offset)
        return list(zip(block.lines, block.ends, strict=True))

    def feed_block(self, data: bytes, end_offset: int, key: str = "") -> LineBlock:
        """Return the lines completed by *data*, which ends at *end_offset* in file *key*."""
        if self._fragment:
            data = self._fragment + data
        cut = data.rfind(b"\n") + 1  # just past the last newline: the complete lines end there
        offset = end_offset - len(data)  # where data begins
        limit = self.max_line_bytes - 1  # room for the newline
        tail = data[cut:]
        if cut and not self._discarding and cut <= limit + 1:
            # The usual read: every line is short enough, for all of them are. The
            # lines are counted, not split: a block decoded whole needs no more.
            whole = data[:cut] if tail else data
            block = LineBlock(key, offset, whole.count(b"\n"), whole)
        else:
            block = self._lines(key, data[:cut], offset, limit)
        if cut:
            self.safe_offset = offset + cut
        if len(tail) > limit:
            if not self._discarding:
                self._dropped(offset + cut)
            self._discarding = True
            tail = b""
        self._fragment = tail
        return block

    def _lines(self, key: str, whole: bytes, offset: int, limit: int) -> LineBlock:
        """Return the lines of *whole* (complete lines from *offset*), each looked at."""
        pieces = whole.split(b"\n")
        pieces.pop()  # what follows the last newline: nothing
        if not self._discarding and max(map(len, pieces), default=0) <= limit:
            return LineBlock(key, offset, len(pieces), whole, pieces)
        lines: list[bytes] = []
        ends: list[int] = []
        for piece in pieces:
            start, offset = offset, offset + len(piece) + 1
            if self._discarding:
                self._discarding = False
                continue
            if len(piece) > limit:
                self._dropped(start)
                continue
            lines.append(piece)
            ends.append(offset)
        return LineBlock(key, -1, len(lines), None, lines, ends)


class LineBlock:
    """The complete lines of one read of a file: each line, where it ends, and all of them whole.

    *data* is the lines with their newlines, contiguous as read from *start*
    (a single buffer to decode in one call), or None when a line was left out
    between them (one too long). The lines themselves and where each ends are
    worked out when first asked for: a block decoded whole needs neither. It
    is the :class:`~watchd.core.event.Positions` of the events made from its
    lines, and holds their records once decoded (:attr:`records`).
    """

    __slots__ = ("_ends", "_lines", "count", "data", "key", "records", "start")

    def __init__(  # noqa: PLR0917 - a block is these, whichever way it was cut
        self,
        key: str,
        start: int,
        count: int,
        data: bytes | None,
        lines: list[bytes] | None = None,
        ends: list[int] | None = None,
    ) -> None:
        self.key = key
        self.start = start
        self.count = count
        self.data = data
        self._lines = lines
        self._ends = ends
        #: The record of each line, when every line is one (set by whoever decoded them).
        self.records: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return self.count

    def size(self) -> int:
        """Return how many bytes the block's lines take in the file, newlines included."""
        if self.data is not None:
            return len(self.data)
        ends = self.ends
        return ends[-1] - self.start if ends else 0

    @property
    def lines(self) -> list[bytes]:
        """Return each line, without its newline."""
        if self._lines is None:
            data = self.data or b""
            self._lines = data.split(b"\n")
            self._lines.pop()  # after the last newline: nothing
        return self._lines

    @property
    def ends(self) -> list[int]:
        """Return where each line ends in the file (just past its newline)."""
        if self._ends is None:
            sums = accumulate(map(_PLUS_NEWLINE, map(len, self.lines)), initial=self.start)
            next(sums)
            self._ends = list(sums)
        return self._ends

    def cursor(self, index: int) -> Cursor:
        """Return the cursor of line *index*: the file, where the line ends, and where it starts."""
        end = self.ends[index]
        return Cursor(self.key, end, end - len(self.lines[index]) - 1)

    def line(self, index: int) -> bytes:
        """Return line *index* as read, without its newline."""
        return self.lines[index]

    def record(self, index: int) -> dict[str, Any] | None:
        """Return the record decoded from line *index*, if the block's records were kept."""
        return None if self.records is None else self.records[index]


def lines_forward_at(
    fd: int, start: int, end: int | None, splitter: LineSplitter, block: int = BACKWARD_BLOCK
) -> Iterator[tuple[int, bytes]]:
    """Yield (start, line) for each complete line from *start* (a line's start) on.

    Lines that end by *end* (None: what the file holds, however long it grows
    as it is read), split by *splitter*: a line it finds too long is passed
    over, and where it starts is in its ``take_too_long()``; a last line
    without its newline is left in its fragment (``pending``).
    """
    splitter.reset(start)
    offset = start
    while end is None or offset < end:
        chunk = os.pread(fd, block if end is None else min(block, end - offset), offset)
        if not chunk:
            return
        offset += len(chunk)
        for line, line_end in splitter.feed(chunk, offset):
            yield line_end - len(line) - 1, line


def lines_backward(fd: int, end: int) -> Iterator[bytes]:
    """Yield the non-blank lines of the file's first *end* bytes, the last one first.

    Blocks are read from *end* towards the start, so finding something near the
    end of a large file costs the same as in a small one. The bytes after the
    last newline before *end* count as a line.
    """
    for _, line in lines_backward_at(fd, end, partial=True):
        if line:
            yield line


def lines_backward_at(fd: int, end: int, *, partial: bool = False) -> Iterator[tuple[int, bytes]]:
    """Yield (start, line) for each line of the file's first *end* bytes, the last one first.

    A line is what ends in a newline; with *partial*, the bytes after the last
    newline are one too.
    """
    position, buf = end, b""
    stop: int | None = None  # buf[:stop] is not yet yielded and ends in a newline; None: none seen
    while position > 0:
        size = min(position, BACKWARD_BLOCK)
        position -= size
        buf = os.pread(fd, size, position) + (buf if stop is None else buf[:stop])
        if stop is None:
            if partial:
                buf += b"\n"  # as if the last line had its newline
            elif (newline := buf.rfind(b"\n")) >= 0:
                buf = buf[: newline + 1]
            else:
                continue  # no newline yet: nothing is a line so far
        stop = len(buf)
        while (previous := buf.rfind(b"\n", 0, stop - 1)) >= 0:
            yield position + previous + 1, buf[previous + 1 : stop - 1]
            stop = previous + 1
    if stop is not None:
        yield 0, buf[: stop - 1]


def end_of_last_line(fd: int, size: int) -> int:
    """Return where the first *size* bytes' complete lines end: after the last newline (0: none)."""
    end = size
    while end > 0:
        start = max(0, end - BACKWARD_BLOCK)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0
