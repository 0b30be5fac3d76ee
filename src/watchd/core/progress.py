"""A progress line for long batch work (``query``, ``summary``, ``verify``) on a terminal.

Shown on stderr once the work has taken a second, redrawn a few times a
second, and erased when the work ends, so the output and the last word on
stderr are what stays. Never shown when stderr is not a terminal: a log
collector or a pipe gets no carriage returns.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import TextIO

from watchd.core.terminal import isatty

#: Wait this long before showing anything: quick work stays silent.
DELAY = 1.0
#: Redraw at most this often.
REFRESH = 0.25


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"  # pragma: no cover - the loop returns at GB


class Progress:
    """Counts files, bytes and records as they are read, and draws the line when it is due.

    *stream* is where the line goes (stderr); *clock* is injectable for tests.
    """

    def __init__(
        self,
        stream: TextIO | None,
        total_bytes: int,
        total_files: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream if stream is not None and isatty(stream) else None
        self._clock = clock
        self._started = clock()
        self._next = self._started + DELAY
        self.total_bytes, self.total_files = total_bytes, total_files
        self.bytes = self.records = 0
        self._shown = False

    @classmethod
    def over(cls, paths: Iterable[str], stream: TextIO | None) -> Progress:
        """Return the progress of reading *paths* (their sizes taken now)."""
        sizes = []
        for path in paths:
            try:
                sizes.append(os.stat(path).st_size)
            except OSError:
                sizes.append(0)
        return cls(stream, sum(sizes), len(sizes))

    def advance(self, records: int, read: int) -> None:
        """Count *records* more, and *read* bytes more; draw the line when it is due."""
        self.records += records
        self.bytes += read
        stream = self._stream
        if stream is not None and self._clock() >= self._next:
            self._draw(stream)

    def line(self) -> str:
        """Return the progress line as it reads now."""
        elapsed = max(self._clock() - self._started, 1e-9)
        rate = self.records / elapsed
        files = "1 file" if self.total_files == 1 else f"{self.total_files} files"
        return (
            f"reading {files}: {_size(self.bytes)} of {_size(self.total_bytes)}, "
            f"{self.records:,} records ({rate:,.0f}/s)"
        )

    def _draw(self, stream: TextIO) -> None:
        self._next = self._clock() + REFRESH
        stream.write("\r\x1b[K" + self.line())
        stream.flush()
        self._shown = True

    def finish(self) -> None:
        """Erase the line, if it was shown."""
        if self._shown and self._stream is not None:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False
