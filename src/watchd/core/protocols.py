"""Deprecated: the plugin protocols are :mod:`watchd.core.interfaces` (and :mod:`watchd`)."""

from watchd._moved import warn_moved
from watchd.core.context import FilterFactory, SinkFactory, SourceFactory
from watchd.core.interfaces import (
    Acknowledging,
    AsyncSink,
    Dialect,
    EventFilter,
    FormatContext,
    FormatFactory,
    Formatter,
    RecordSource,
    Sink,
    Watcher,
)

warn_moved(__name__, "watchd.core.interfaces")

__all__ = [
    "Acknowledging",
    "AsyncSink",
    "Dialect",
    "EventFilter",
    "FilterFactory",
    "FormatContext",
    "FormatFactory",
    "Formatter",
    "RecordSource",
    "Sink",
    "SinkFactory",
    "SourceFactory",
    "Watcher",
]
