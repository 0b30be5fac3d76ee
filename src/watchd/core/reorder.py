"""Merging several trails into one stream in timestamp order, within a small window.

Each event is held for at most the window after it arrived. When some events
have waited that long, they are released together with every held event whose
time is not later than the latest of them, all sorted by the events' own time:
trails whose clocks or delivery differ by less than the window come out in
time order, and the stream stays live, late by the window at most.

The held events are a heap by (time, arrival), so a release costs what it
releases, not what is held: batches arrive in order, so the events that waited
the window are those of the oldest batches, and the latest time among them is
kept per batch.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable

from watchd.core.clock import Clock, monotonic, wall
from watchd.core.event import WatchEvent


class _Batch:
    __slots__ = ("ack", "arrived", "latest", "remaining")

    def __init__(self, arrived: float, remaining: int, ack: Callable[[], None] | None) -> None:
        self.arrived = arrived
        self.remaining = remaining
        self.ack = ack
        self.latest = float("-inf")  # the latest event time in the batch


class Reorderer:
    """Holds events for *window* seconds and releases them merged by event time."""

    def __init__(self, window: float, *, clock: Clock = monotonic, now: Clock = wall) -> None:
        self.window = window
        self._clock = clock  # when batches arrived: the window is measured on it
        self._now = now  # the time given to an event without one
        self._batches: deque[_Batch] = deque()
        # (event time, arrival order, event, its batch), a heap
        self._held: list[tuple[float, int, WatchEvent, _Batch]] = []
        self._count = 0

    def hold(self, events: list[WatchEvent], on_released: Callable[[], None] | None) -> None:
        """Take a batch (possibly empty: its acknowledgement still waits its turn)."""
        now_wall = self._now()
        batch = _Batch(self._clock(), len(events), on_released)
        self._batches.append(batch)
        for event in events:
            self._count += 1
            stamp = event.time.timestamp() if event.time is not None else now_wall
            batch.latest = max(batch.latest, stamp)
            heapq.heappush(self._held, (stamp, self._count, event, batch))

    def timeout(self) -> float | None:
        """Return the seconds until the oldest batch is due, None when nothing is held."""
        if not self._batches:
            return None
        return max(self._batches[0].arrived + self.window - self._clock(), 0.0)

    def release(
        self, *, everything: bool = False
    ) -> tuple[list[WatchEvent], list[Callable[[], None]]]:
        """Return the events due (in time order) and the acknowledgements they complete."""
        if everything:
            take = sorted(self._held)
            self._held = []
        else:
            due_before = self._clock() - self.window
            cutoff = float("-inf")
            for batch in self._batches:  # oldest first: the due ones are a prefix
                if batch.arrived > due_before:
                    break
                cutoff = max(cutoff, batch.latest)
            take = []
            while self._held and self._held[0][0] <= cutoff:
                take.append(heapq.heappop(self._held))
        for entry in take:
            entry[3].remaining -= 1
        acks: list[Callable[[], None]] = []
        while self._batches and self._batches[0].remaining == 0:
            batch = self._batches.popleft()
            if batch.ack is not None:
                acks.append(batch.ack)
        return [entry[2] for entry in take], acks
