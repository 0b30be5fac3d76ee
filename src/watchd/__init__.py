"""watchd: follow audit trails live and route every record to where it is read.

The public API for plugins: implement hooks with :data:`hookimpl`; sources return
:class:`Watcher` objects, sinks :class:`Sink` objects, and everything flows as
:class:`WatchEvent`. :class:`AuditWriter` writes trails the way the tools do.
"""

import pluggy

from watchd._version import __version__
from watchd.core.context import ResourceKey, RunContext, StartAt
from watchd.core.errors import UsageError
from watchd.core.event import LEVELS, Cursor, WatchEvent
from watchd.core.protocols import (
    Acknowledging,
    AsyncSink,
    Dialect,
    EventFilter,
    FilterFactory,
    FormatContext,
    FormatFactory,
    Formatter,
    RecordSource,
    Sink,
    SinkFactory,
    SourceFactory,
    Watcher,
)
from watchd.core.registry import TypeTable
from watchd.core.spec import Options, Spec

#: Marks a function as an implementation of a ``watchd_*`` hook.
hookimpl = pluggy.HookimplMarker("watchd")

from watchd.writer import AuditWriter  # noqa: E402 - after hookimpl, which plugins import

__all__ = [
    "LEVELS",
    "Acknowledging",
    "AsyncSink",
    "AuditWriter",
    "Cursor",
    "Dialect",
    "EventFilter",
    "FilterFactory",
    "FormatContext",
    "FormatFactory",
    "Formatter",
    "Options",
    "RecordSource",
    "ResourceKey",
    "RunContext",
    "Sink",
    "SinkFactory",
    "SourceFactory",
    "Spec",
    "StartAt",
    "TypeTable",
    "UsageError",
    "WatchEvent",
    "Watcher",
    "__version__",
    "hookimpl",
]
