"""The check of a source: stopped part way and started again, every record once."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Sequence

from watchd.core.context import RunContext
from watchd.core.event import WatchEvent
from watchd.core.interfaces import Watcher
from watchd.testing.hostile import ConformanceError

_MARKER = re.compile(r"n=\d+")


class _Until:
    """A sink that keeps the markers it gets and stops the run once it has *stop_after*."""

    name = "kit-collector"

    def __init__(self, stop: Callable[[], None], stop_after: int) -> None:
        self.got: list[str] = []
        self._stop, self._stop_after = stop, stop_after

    def emit_batch(self, events: Sequence[WatchEvent]) -> None:
        for event in events:
            for value in (event.detail, event.action, event.container):
                found = _MARKER.search(value)
                if found:
                    self.got.append(found.group())
                    break
        if len(self.got) >= self._stop_after:
            self._stop()

    def flush(self) -> None:
        """Nothing is held."""

    def close(self) -> None:
        """Nothing to release."""


class _Deadline:
    """A timer that ends the run after *seconds*: a source that never gives its records fails."""

    name = "kit-deadline"

    def __init__(self, seconds: float, stop: Callable[[], None]) -> None:
        self._end = time.monotonic() + seconds
        self._stop = stop
        self.expired = False

    def fileno(self) -> int:
        return -1

    def timeout(self) -> float | None:
        return max(self._end - time.monotonic(), 0.0)

    def poll(self) -> list[WatchEvent]:
        if time.monotonic() >= self._end:
            self.expired = True
            self._stop()
        return []

    def close(self) -> None:
        """Nothing to release."""


def _run(
    make: Callable[[RunContext], Watcher], state_dir: str, stop_after: int, deadline: float
) -> tuple[list[str], bool]:
    """Run the source until *stop_after* records came (or the deadline); return them."""
    from watchd.core.loop import EventLoop  # noqa: PLC0415 - the loop only for this check
    from watchd.core.pipeline import Pipeline  # noqa: PLC0415
    from watchd.testing import run_context  # noqa: PLC0415 - the package imports this module

    context = run_context(state_dir)
    try:
        loop: EventLoop | None = None

        def stop() -> None:
            if loop is not None:
                loop.stop()

        sink = _Until(stop, stop_after)
        loop = EventLoop(Pipeline([], [sink]))
        timer = _Deadline(deadline, stop)
        loop.add(make(context))
        loop.add(timer)
        loop.run()
    finally:
        context.close_shared()  # checkpoints written, as at the end of a run
    return sink.got, timer.expired


def check_source(
    make: Callable[[RunContext], Watcher],
    append: Callable[[Sequence[str]], None],
    *,
    name: str = "source",
    count: int = 200,
    deadline: float = 30.0,
) -> None:
    """Check a source across a restart: what it acknowledged is not given again, nothing is skipped.

    *make(context)* builds the source in a run's context (its state directory
    is the kit's own, kept across the two runs); *append(markers)* adds one
    record per marker (``n=0``, ``n=1``, ...) to what the source reads, with
    the marker in the record's action, container or detail. The check appends
    half, stops the run after a third, appends the rest, starts again, and
    wants every marker exactly once, in order.
    """
    markers = [f"n={n}" for n in range(count)]
    with tempfile.TemporaryDirectory(prefix="watchd-kit-") as state_dir:
        append(markers[: count // 2])
        first, _ = _run(make, state_dir, count // 3, deadline)
        append(markers[count // 2 :])
        second, expired = _run(make, state_dir, count - len(first), deadline)
    got = first + second
    if expired and len(got) < count:
        missing = [m for m in markers if m not in set(got)]
        raise ConformanceError(
            f"source {name!r}: {len(missing)} records never came after the restart: {missing[:3]}"
        )
    repeated = sorted({m for m in got if got.count(m) > 1}, key=markers.index)
    if repeated:
        raise ConformanceError(
            f"source {name!r}: {len(repeated)} records came again after the restart: "
            f"{repeated[:3]} (the acknowledgement did not reach its checkpoint)"
        )
    if got != markers:
        raise ConformanceError(f"source {name!r}: records came out of order")
