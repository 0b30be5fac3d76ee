"""Counting lines that yield no record, with warnings that stay readable under a flood."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

_ALWAYS_TOLD = 10


class SkipCounter:
    """Counts skipped lines per reason and warns about them.

    The first ten of each reason are each reported; after that, only the 100th,
    1000th, ... so a file full of garbage cannot flood the log. The line itself
    is never logged (it may hold secrets): its offset is, so it can be found.
    """

    def __init__(self, log: FilteringBoundLogger, path: str) -> None:
        self._log = log
        self._path = path
        self.counts: Counter[str] = Counter()

    def note(self, reason: str, offset: int) -> None:
        """Count one skipped line of *reason* that starts at *offset*."""
        self.counts[reason] += 1
        count = self.counts[reason]
        if count <= _ALWAYS_TOLD or _is_power_of_ten(count):
            self._log.warning(f"skipped {reason}", path=self._path, offset=offset, count=count)
            if count == _ALWAYS_TOLD:
                self._log.warning(
                    f"further {reason} lines are reported at every power of ten", path=self._path
                )

    def note_many(self, reason: str, count: int) -> None:
        """Count *count* skipped lines of *reason* whose offsets are not known."""
        for _ in range(count):
            self.note(reason, -1)


def _is_power_of_ten(number: int) -> bool:
    while number >= 10 and number % 10 == 0:
        number //= 10
    return number == 1
