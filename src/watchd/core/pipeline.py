"""The per-batch path from watchers to sinks: filters, then every sink in turn."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from watchd.core.event import WatchEvent
from watchd.core.protocols import EventFilter, Sink

log = structlog.get_logger("watchd")


class Pipeline:
    """Runs each batch through the filters and hands what is left to every sink.

    A sink that raises is logged and detached; the others go on. A reader that
    went away (``BrokenPipeError``, as with ``watchd run | head``) is not an
    error. When no sink is left, :attr:`alive` turns False and the run ends.
    """

    def __init__(self, filters: Sequence[EventFilter], sinks: Sequence[Sink]) -> None:
        self.filters = list(filters)
        self.sinks = list(sinks)
        self.failed = False

    @property
    def alive(self) -> bool:
        """Return True while at least one sink takes events."""
        return bool(self.sinks)

    def dispatch(self, events: list[WatchEvent]) -> None:
        """Filter *events* and deliver what is left to every sink."""
        for event_filter in self.filters:
            events = event_filter(events)
            if not events:
                return
        for sink in list(self.sinks):
            try:
                sink.emit_batch(events)
            except BrokenPipeError:
                log.debug("output closed by its reader", sink=sink.name)
                self._detach(sink)
            except Exception:
                log.exception("sink failed and was detached", sink=sink.name)
                self.failed = True
                self._detach(sink)

    def _detach(self, sink: Sink) -> None:
        self.sinks.remove(sink)
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
            _close_quietly(sink)
        self.sinks.clear()


def _close_quietly(sink: Sink) -> None:
    try:
        sink.close()
    except Exception:
        log.exception("sink failed to close", sink=sink.name)
