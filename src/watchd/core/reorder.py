"""Merging several trails into one stream in timestamp order, within a small window.

Each event is held for at most the window after it arrived. When some events
have waited that long, they are released together with every held event whose
time is not later than the latest of them, all sorted by the events' own time:
trails whose clocks or delivery differ by less than the window come out in
time order, and the stream stays live, late by the window at most.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from watchd.core.event import WatchEvent


class _Batch:
    __slots__ = ("ack", "arrived", "remaining")

    def __init__(self, arrived: float, remaining: int, ack: Callable[[], None] | None) -> None:
        self.arrived = arrived
        self.remaining = remaining
        self.ack = ack


class Reorderer:
    """Holds events for *window* seconds and releases them merged by event time."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._batches: deque[_Batch] = deque()
        # (event time, arrival order, event, its batch)
        self._held: list[tuple[float, int, WatchEvent, _Batch]] = []
        self._count = 0

    def hold(self, events: list[WatchEvent], on_released: Callable[[], None] | None) -> None:
        """Take a batch (possibly empty: its acknowledgement still waits its turn)."""
        now_wall, now = time.time(), time.monotonic()
        batch = _Batch(now, len(events), on_released)
        self._batches.append(batch)
        for event in events:
            self._count += 1
            stamp = event.time.timestamp() if event.time is not None else now_wall
            self._held.append((stamp, self._count, event, batch))

    def timeout(self) -> float | None:
        """Return the seconds until the oldest batch is due, None when nothing is held."""
        if not self._batches:
            return None
        return max(self._batches[0].arrived + self.window - time.monotonic(), 0.0)

    def release(
        self, *, everything: bool = False
    ) -> tuple[list[WatchEvent], list[Callable[[], None]]]:
        """Return the events due (in time order) and the acknowledgements they complete."""
        due_before = time.monotonic() - self.window
        if everything:
            take, self._held = self._held, []
        else:
            due = [entry for entry in self._held if entry[3].arrived <= due_before]
            if not due and not (self._batches and self._batches[0].remaining == 0):
                return [], []
            cutoff = max((entry[0] for entry in due), default=float("-inf"))
            take = [e for e in self._held if e[3].arrived <= due_before or e[0] <= cutoff]
            kept = [e for e in self._held if not (e[3].arrived <= due_before or e[0] <= cutoff)]
            self._held = kept
        take.sort(key=lambda entry: (entry[0], entry[1]))
        for entry in take:
            entry[3].remaining -= 1
        acks: list[Callable[[], None]] = []
        while self._batches and self._batches[0].remaining == 0:
            batch = self._batches.popleft()
            if batch.ack is not None:
                acks.append(batch.ack)
        return [entry[2] for entry in take], acks
