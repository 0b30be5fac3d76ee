"""Splitting a byte stream into complete lines, with a bound on their length."""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import accumulate

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
    *max_line_bytes* or more (its newline included) is dropped whole (counted
    in :attr:`too_long`), and the lines after it flow; memory stays bounded by
    *max_line_bytes*.
    """

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self.too_long = 0
        self._too_long_told = 0
        #: Offset just past the last newline seen: where a restart resumes.
        self.safe_offset = 0
        self._fragment = b""
        self._discarding = False

    @property
    def pending(self) -> int:
        """Return the bytes of the trailing fragment held back (or being discarded)."""
        return len(self._fragment)

    def take_too_long(self) -> int:
        """Return how many over-long lines were dropped since the last call."""
        news, self._too_long_told = self.too_long - self._too_long_told, self.too_long
        return news

    def reset(self, offset: int = 0) -> None:
        """Forget the fragment and resume at *offset* (truncation, or a new start)."""
        self._fragment = b""
        self._discarding = False
        self.safe_offset = offset

    def feed(self, data: bytes, end_offset: int) -> list[tuple[bytes, int]]:
        """Return the lines completed by *data*, which ends at *end_offset* in the file."""
        if self._fragment:
            data = self._fragment + data
        pieces = data.split(b"\n")
        tail = pieces.pop()
        offset = end_offset - len(data)  # where data begins
        limit = self.max_line_bytes - 1  # room for the newline
        if pieces and not self._discarding and max(map(len, pieces)) <= limit:
            # The usual chunk, every line plain and short enough: the offsets are summed in C.
            ends = accumulate(map(_PLUS_NEWLINE, map(len, pieces)), initial=offset)
            next(ends)
            lines = list(zip(pieces, ends, strict=True))
        else:
            lines = self._lines(pieces, offset, limit)
        if pieces:
            self.safe_offset = end_offset - len(tail)  # just past the last newline
        if len(tail) > limit:
            if not self._discarding:
                self.too_long += 1
            self._discarding = True
            tail = b""
        self._fragment = tail
        return lines

    def _lines(self, pieces: list[bytes], offset: int, limit: int) -> list[tuple[bytes, int]]:
        """Return the lines of *pieces* (which start at *offset*), one by one."""
        lines: list[tuple[bytes, int]] = []
        for piece in pieces:
            offset += len(piece) + 1
            if self._discarding:
                self._discarding = False
                continue
            if len(piece) > limit:
                self.too_long += 1
                continue
            lines.append((piece, offset))
        return lines


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
