"""``--since T`` and ``--until T``: where in a file a time window begins and ends, by bisection.

One implementation for ``run``, ``query``, ``summary`` and the HTTP API.
Audit trails are appended in time order, so the first record at or after T
(or after T, for the window's end) is found by halving the file down to its
last 64 KiB: a few KiB read per halving, log2(size / 64 KiB) of them,
whatever the file's size. Lines
without a time of their own (or that are not records) say nothing of where
T falls; they are passed over.
In a file that is not in time order the search still ends at a line start,
one after which the records seen were all at or after T.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime

from watchd.codecs.lines import MAX_LINE_BYTES, LineSplitter, lines_forward_at
from watchd.codecs.records import Skip, decode_record
from watchd.core.timestamps import parse_timestamp
from watchd.watchers.dialects.generic import TIME_KEYS

_BLOCK = 64 * 1024  # the last stretch is read through, in blocks this size
_PROBE = 4096  # each halving reads about this much: a line or a few
_BOM = b"\xef\xbb\xbf"


def record_time(line: bytes) -> datetime | None:
    """Return the time of the record on *line*, or None when it has none (or is no record)."""
    if not line.lstrip(b" \t\r\0").removeprefix(_BOM).startswith(b"{"):
        return None  # no object: asked first, for a long stretch of such lines is read through
    record = decode_record(line)
    if isinstance(record, Skip):
        return None
    for key in TIME_KEYS:
        value = record.get(key)
        if value is not None:
            return parse_timestamp(value)
    return None


def _lines_from(fd: int, start: int, end: int, block: int = _BLOCK) -> Iterator[tuple[int, bytes]]:
    """Yield the complete lines that begin at *start* or later and end by *end*, with offsets.

    *start* is a line's start. A line too long to be a record is passed over,
    as the trail passes it over.
    """
    return lines_forward_at(fd, start, end, LineSplitter(MAX_LINE_BYTES), block)


def _line_start_after(fd: int, position: int, end: int) -> int:
    """Return where the first line that begins at or after *position* begins (*end* if none)."""
    if position == 0:
        return 0
    offset = position - 1  # a newline just before position makes position a line start
    while offset < end:
        chunk = os.pread(fd, min(_PROBE, end - offset), offset)
        if not chunk:
            break
        found = chunk.find(b"\n")
        if found >= 0:
            return offset + found + 1
        offset += len(chunk)
    return end


def _first_timed(fd: int, start: int, high: int, end: int) -> tuple[int, int, datetime] | None:
    """Return the first line from *start* with a time: its offset, its length, its time.

    Only a line that starts before *high* counts (it may end after it, by *end*).
    """
    for offset, line in _lines_from(fd, start, end, _PROBE):
        if offset >= high:
            break
        when = record_time(line)
        if when is not None:
            return offset, len(line), when
    return None


def offset_since(fd: int, end: int, since: datetime) -> int:
    """Return the start of the first timed record at or after *since* (*end* when none is).

    *end* is just past the file's last complete line.
    """
    return _first_reaching(fd, end, since.__le__)


def offset_after(fd: int, end: int, until: datetime) -> int:
    """Return the start of the first timed record after *until* (*end* when none is)."""
    return _first_reaching(fd, end, until.__lt__)


def _first_reaching(fd: int, end: int, reached: Callable[[datetime], bool]) -> int:
    """Return the start of the first timed record whose time has *reached* (*end* if none has).

    Every timed record that begins before *low* has not reached it; the one at
    *known* has (or *known* is *end*), and none begins in [*high*, *known*):
    so each stretch without a timed record is read through once at most.
    """
    low, high, known = 0, end, end
    while high - low > _BLOCK:
        middle = (low + high) // 2
        found = _first_timed(fd, _line_start_after(fd, middle, high), high, known)
        if found is None:
            high = middle
        elif reached(found[2]):
            high, known = middle, found[0]
        else:
            low = found[0] + found[1] + 1
    for offset, line in _lines_from(fd, low, known):
        if offset >= high:
            break  # no timed record from here to known
        when = record_time(line)
        if when is not None and reached(when):
            return offset
    return known
