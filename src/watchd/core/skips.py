"""Counting lines that yield no record, with warnings that stay readable under a flood."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

_ALWAYS_TOLD = 10


class SkipCounter:
    """Counts skipped lines (or refused events) per file and reason, and warns about them.

    The first ten of each reason in a file are each reported; after that only
    the 100th, 1000th, ... so a file full of garbage cannot flood the log. The
    line itself is never logged (it may hold secrets): its offset is.
    """

    def __init__(
        self,
        log: FilteringBoundLogger,
        *,
        message: str = "skipped {reason}",
        summary: str = "lines skipped while following",
    ) -> None:
        self._log = log
        self._message = message
        self._summary = summary
        self.counts: Counter[tuple[str, str]] = Counter()

    def note(self, reason: str, path: str, offset: int) -> None:
        """Count one skipped line of *reason* in *path* that starts at *offset* (-1: unknown)."""
        self.counts[path, reason] += 1
        count = self.counts[path, reason]
        if count <= _ALWAYS_TOLD or _is_power_of_ten(count):
            fields = {"offset": offset} if offset >= 0 else {}
            message = self._message.format(reason=reason)
            self._log.warning(message, path=path, count=count, **fields)
            if count == _ALWAYS_TOLD:
                self._log.warning(
                    f"{message}: further ones are reported at every power of ten", path=path
                )

    def note_many(self, reason: str, path: str, count: int) -> None:
        """Count *count* skipped lines of *reason* whose offsets are not known."""
        for _ in range(count):
            self.note(reason, path, -1)

    def summarize(self) -> None:
        """Log the totals, once, when the source closes."""
        for (path, reason), count in sorted(self.counts.items()):
            self._log.info(self._summary, path=path, reason=reason, count=count)


def _is_power_of_ten(number: int) -> bool:
    while number >= 10 and number % 10 == 0:
        number //= 10
    return number == 1
