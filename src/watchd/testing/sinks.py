"""The checks of a sink: every event once and in order, bounded on a stall, one line on failure."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from watchd.core.event import WatchEvent
from watchd.core.interfaces import Sink
from watchd.testing.hostile import STAMP, ConformanceError


def check_sink(
    make: Callable[[], Sink],
    delivered: Callable[[], Sequence[str]],
    *,
    name: str = "sink",
    count: int = 300,
    batch: int = 7,
) -> None:
    """Check a sink through watchd's own loop: every event once, in order, acknowledged only then.

    *make* builds the sink; *delivered* returns the marker (``n=0``,
    ``n=1``, ...) of each event the sink's peer (its file, its collector)
    has, in order, once the run has ended: each event carries it as its
    action, its container and its detail, so any of them will do. The
    events go through a real :class:`~watchd.core.loop.EventLoop` in batches
    of *batch*: an asynchronous sink is driven as in a run.
    """
    from watchd.core.loop import EventLoop  # noqa: PLC0415 - the loop only for this check
    from watchd.core.pipeline import Pipeline  # noqa: PLC0415

    sent = [f"n={n}" for n in range(count)]
    source = _Batches(sent, batch)
    sink = make()
    loop = EventLoop(Pipeline([], [sink]))
    loop.add(source)
    status = loop.run()
    got = list(delivered())
    if status != 0:
        raise ConformanceError(f"sink {name!r}: the run ended with exit status {status}")
    _same(name, sent, got)
    if source.acknowledged != source.polls:
        raise ConformanceError(
            f"sink {name!r}: {source.polls - source.acknowledged} batches never acknowledged"
        )


def _same(name: str, sent: list[str], got: list[str]) -> None:
    """Raise unless *got* is *sent*: nothing missing, nothing twice, in order."""
    unique = set(got)
    missing = [marker for marker in sent if marker not in unique]
    if missing:
        raise ConformanceError(
            f"sink {name!r}: {len(missing)} events never delivered: {missing[:3]}"
        )
    if len(got) != len(unique):
        raise ConformanceError(f"sink {name!r}: events delivered twice")
    if got != sent:
        raise ConformanceError(f"sink {name!r}: events delivered out of order")


class _Batches:
    """A source that gives *sent* in batches, then finishes; counts its acknowledgements."""

    name = "conformance"

    def __init__(self, sent: list[str], size: int, payload: str = "") -> None:
        self._left = list(sent)
        self._size = size
        self._payload = payload
        self.polls = 0
        self.acknowledged = 0

    def fileno(self) -> int:
        return -1

    def timeout(self) -> float | None:
        return 0.0 if self._left else None

    def poll(self) -> list[WatchEvent]:
        taken, self._left = self._left[: self._size], self._left[self._size :]
        if taken:
            self.polls += 1
        stamp = STAMP
        # The marker in every field a sink may write: action, container and detail; the
        # record's content beside it, which no log line may show.
        extra = {"content": CONTENT, "payload": self._payload}
        return [WatchEvent(ts=stamp, source="audit", action=m, container=m, detail=m,
                           dest=CONTENT, extra=extra) for m in taken]  # fmt: skip

    @property
    def left(self) -> int:
        """Return how many events are still to be given."""
        return len(self._left)

    def acknowledge(self) -> None:
        self.acknowledged += 1

    def close(self) -> None:
        self._left = []


#: What each event of the stall check carries: large, so a queue's byte bound matters.
_PAYLOAD = 64 * 1024
#: Record content planted in every event: no log line may hold it.
CONTENT = "kit-record-content-4f1d"


def check_sink_stall(
    make: Callable[[], Sink],
    delivered: Callable[[], Sequence[str]],
    *,
    stall: Callable[[], None],
    resume: Callable[[], None],
    max_bytes: int,
    name: str = "sink",
    deadline: float = 60.0,
) -> None:
    """Check a sink whose peer stops reading: it says it is full, within its bound, then catches up.

    *stall* makes the peer stop reading (before the run), *resume* makes it
    read again. The sink must be an :class:`~watchd.AsyncSink`: its
    ``has_room()`` is how the loop pauses the sources. While the peer stalls,
    the memory the run holds may grow by at most twice *max_bytes* (the byte
    bound the sink was made with) and a megabyte; then every event must come,
    once and in order.
    """
    import threading  # noqa: PLC0415 - the loop runs beside this check
    import tracemalloc  # noqa: PLC0415

    from watchd.core.loop import EventLoop  # noqa: PLC0415
    from watchd.core.pipeline import Pipeline  # noqa: PLC0415

    count = max(16 * max_bytes, 64 << 20) // _PAYLOAD
    sent = [f"n={n}" for n in range(count)]
    stall()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        sink = make()
        if not callable(getattr(sink, "has_room", None)):
            raise ConformanceError(
                f"sink {name!r}: has no has_room(), so nothing pauses the sources while its "
                "peer stalls; make it an AsyncSink with a bounded queue"
            )
        source = _Batches(sent, 4, payload="x" * _PAYLOAD)
        loop = EventLoop(Pipeline([], [sink]))
        loop.add(source)
        thread = threading.Thread(target=loop.run, name="kit-loop", daemon=True)
        thread.start()
        held = _held_when_paused(sink, source, deadline)
        if held is None:
            loop.stop(1)
            thread.join(deadline)
            raise ConformanceError(
                f"sink {name!r}: took all {count} events ({count * _PAYLOAD >> 20} MiB) while "
                "its peer stalled, never saying it was full"
            )
        grown = held - before
    finally:
        tracemalloc.stop()
    resume()
    thread.join(deadline)
    if thread.is_alive():
        loop.stop(1)
        thread.join(10)
        raise ConformanceError(f"sink {name!r}: did not catch up within {deadline:g}s of resuming")
    if grown > 2 * max_bytes + (1 << 20):
        raise ConformanceError(
            f"sink {name!r}: held {grown >> 10} KiB while its peer stalled, "
            f"above twice its bound of {max_bytes >> 10} KiB"
        )
    _same(name, sent, list(delivered()))


def _held_when_paused(sink: Sink, source: _Batches, deadline: float) -> int | None:
    """Wait until the loop paused the source for a full sink; return the memory traced then."""
    import time  # noqa: PLC0415
    import tracemalloc  # noqa: PLC0415

    end = time.monotonic() + deadline
    quiet_since, polls = time.monotonic(), source.polls
    while time.monotonic() < end and source.left:
        time.sleep(0.05)
        if source.polls != polls or sink.has_room():  # type: ignore[attr-defined]
            quiet_since, polls = time.monotonic(), source.polls
        elif time.monotonic() - quiet_since > 0.5:  # full, and the source left alone
            return tracemalloc.get_traced_memory()[0]
    return None


def check_sink_failure(
    make: Callable[[], Sink],
    *,
    fail: Callable[[], None],
    name: str = "sink",
) -> None:
    """Check a sink whose peer is lost for good: one log line says so, and the run ends failed.

    *fail* takes the peer away (before the run): a path that cannot be
    written, credentials refused. The sink's failure must come as an
    :class:`OSError` or a :class:`~watchd.core.errors.SinkStoppedError` with its
    reason, so watchd logs it in one line: no traceback, no newline in a
    value, and nothing of the records it carried.
    """
    import structlog  # noqa: PLC0415 - the log only for this check
    from structlog.testing import capture_logs  # noqa: PLC0415

    from watchd.core.loop import EventLoop  # noqa: PLC0415
    from watchd.core.pipeline import Pipeline  # noqa: PLC0415

    fail()
    sent = [f"n={n}" for n in range(50)]
    configured = structlog.is_configured()
    try:
        with capture_logs() as logs:
            sink = make()
            loop = EventLoop(Pipeline([], [sink]))
            loop.add(_Batches(sent, 7))
            status = loop.run()
    finally:
        if not configured:  # capturing configured structlog: leave it as it was found
            structlog.reset_defaults()
    errors = [entry for entry in logs if entry.get("log_level") in ("error", "critical")]
    if status == 0 or not errors:
        raise ConformanceError(f"sink {name!r}: its peer was lost and the run ended as if not")
    for entry in logs:
        if entry.get("exc_info"):
            raise ConformanceError(f"sink {name!r}: logged a traceback: {entry.get('event')!r}")
        values = [str(value) for value in entry.values()]
        if any("\n" in value for value in values):
            raise ConformanceError(f"sink {name!r}: logged more than one line: {entry!r}"[:200])
        if any(CONTENT in value for value in values):
            raise ConformanceError(f"sink {name!r}: logged what a record held")
