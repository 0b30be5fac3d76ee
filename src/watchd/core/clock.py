"""The clocks the engine reads, as values a test can replace.

Every timing rule (a rotation's grace, a checkpoint's interval, a reconnect's
backoff) takes its clock as an argument defaulting to the real one, so a test
drives it by setting the time instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Seconds on some clock: ``time.monotonic`` for intervals, ``time.time`` for wall time.
Clock = Callable[[], float]

monotonic: Clock = time.monotonic
wall: Clock = time.time


class ManualClock:
    """A clock that moves only when told to: for tests and the model checker."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        """Return the time it was set to."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock on by *seconds*."""
        self.now += seconds
