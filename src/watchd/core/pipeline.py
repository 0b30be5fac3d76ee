"""The per-batch path from watchers to sinks: filters, then every sink in turn."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import structlog

from watchd.core.event import WatchEvent
from watchd.core.interfaces import AsyncSink, EventFilter, Observer, Sink
from watchd.core.reorder import Reorderer

log = structlog.get_logger("watchd")

#: Called once a batch is delivered to every sink.
Delivered = Callable[[], None]


class Pipeline:
    """Runs each batch through the filters and hands what is left to every sink.

    A batch counts as delivered when every synchronous sink returned from
    ``emit_batch`` and every :class:`AsyncSink` reports it written out; the
    batch's callback (the source's checkpoint) runs then, in batch order.

    A sink that raises is logged and detached; the others go on. A reader that
    went away (``BrokenPipeError``, as with ``watchd run | head``) is not an
    error. Once a sink is lost, no batch is acknowledged again in this run, so
    a restart delivers again what that sink missed. When no sink is left,
    :attr:`alive` turns False and the run ends.

    *observers* see each batch after the sinks took it; they are neither
    waited for nor counted as sinks, and their failures are only logged.
    """

    def __init__(
        self,
        filters: Sequence[EventFilter],
        sinks: Sequence[Sink],
        reorderer: Reorderer | None = None,
        observers: Sequence[Observer] = (),
    ) -> None:
        self.filters = list(filters)
        self.sinks = list(sinks)
        self.observers = list(observers)
        # Sorted out once: isinstance() against a runtime-checkable protocol is slow.
        self._async = [sink for sink in self.sinks if isinstance(sink, AsyncSink)]
        self.reorderer = reorderer
        self.failed = False
        self.lost = False
        #: Some sink still held events it took when it was closed (a peer down at exit).
        self.undelivered = False
        #: Events each synchronous sink took, by sink name (async sinks count their own).
        self.emitted: dict[str, int] = {}
        #: Sinks detached because they failed, by name.
        self.detached: dict[str, int] = {}
        self._waiting: deque[tuple[list[tuple[AsyncSink, int]], Delivered]] = deque()

    @property
    def alive(self) -> bool:
        """Return True while at least one sink takes events."""
        return bool(self.sinks)

    def async_sinks(self) -> list[AsyncSink]:
        """Return the sinks the loop must drive."""
        return self._async

    def has_room(self) -> bool:
        """Return False while some sink's queue is full: sources must wait."""
        return all(sink.has_room() for sink in self._async)

    def dispatch(self, events: list[WatchEvent], on_delivered: Delivered | None = None) -> None:
        """Filter *events*, hand what is left to every sink, and acknowledge when delivered.

        With a reorderer, the batch is held first; :meth:`release` sends it on.
        """
        for event_filter in self.filters:
            events = event_filter(events)
            if not events:
                break
        if self.reorderer is not None:
            self.reorderer.hold(events, on_delivered)
            return
        self._deliver(events, [on_delivered] if on_delivered is not None else [])

    def release(self, *, everything: bool = False) -> None:
        """Send on what the reorderer has held long enough (everything, at shutdown)."""
        if self.reorderer is not None:
            events, acks = self.reorderer.release(everything=everything)
            if events or acks:
                self._deliver(events, acks)

    def _driven(self, sink: Sink) -> AsyncSink | None:
        """Return *sink* as the AsyncSink it is, or None."""
        return next((driven for driven in self._async if driven is sink), None)

    def _deliver(self, events: list[WatchEvent], acks: list[Delivered]) -> None:
        targets: list[tuple[AsyncSink, int]] = []
        if events:
            for sink in list(self.sinks):
                try:
                    sink.emit_batch(events)
                except BrokenPipeError:
                    log.debug("output closed by its reader", sink=sink.name)
                    self.detach(sink)
                except OSError as exc:  # a full disk, an I/O error: the reason says it all
                    log.error("sink failed and was detached", sink=sink.name, reason=str(exc))  # noqa: TRY400
                    self.failed = True
                    self.detach(sink)
                except Exception:
                    log.exception("sink failed and was detached", sink=sink.name)
                    self.failed = True
                    self.detach(sink)
                else:
                    driven = self._driven(sink)
                    if driven is not None:
                        targets.append((driven, driven.accepted()))
                    else:
                        self.emitted[sink.name] = self.emitted.get(sink.name, 0) + len(events)
            self._observe(events)
        if not self.lost:
            self._waiting.extend((targets, ack) for ack in acks)
            self.collect()

    def _observe(self, events: list[WatchEvent]) -> None:
        for observer in self.observers:
            try:
                observer.observe(events)
            except Exception:  # an observer never stops delivery: it is told, and goes on
                log.exception("observer failed on a batch", observer=observer.name)

    def collect(self) -> None:
        """Acknowledge, in order, every batch that every sink has written out."""
        while self._waiting and not self.lost:
            targets, on_delivered = self._waiting[0]
            if any(sink.delivered() < target for sink, target in targets):
                return
            self._waiting.popleft()
            on_delivered()

    def detach(self, sink: Sink) -> None:
        """Remove *sink* (it failed); nothing is acknowledged from now on."""
        self.lost = True
        self._waiting.clear()
        self.detached[sink.name] = self.detached.get(sink.name, 0) + 1
        if sink in self.sinks:
            self.sinks.remove(sink)
            driven = self._driven(sink)
            if driven is not None:
                self._async.remove(driven)
            _close_quietly(sink)

    def close(self) -> None:
        """Flush and close every sink still attached."""
        for sink in self.sinks:
            try:
                sink.flush()
            except BrokenPipeError:
                pass
            except Exception:
                log.exception("sink failed to flush", sink=sink.name)
                self.failed = True
            _close_quietly(sink)  # the sink says how many it could not deliver
            driven = self._driven(sink)
            if driven is not None and driven.delivered() < driven.accepted():
                self.undelivered = True
        self.sinks.clear()
        self._async.clear()
        for observer in self.observers:
            try:
                observer.close()
            except Exception:
                log.exception("observer failed to close", observer=observer.name)
        self.observers.clear()


def _close_quietly(sink: Sink) -> None:
    try:
        sink.close()
    except Exception:  # closing is best effort, and logged
        log.exception("sink failed to close", sink=sink.name)
