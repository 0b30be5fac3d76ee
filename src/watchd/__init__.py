"""watchd: follow audit trails live and route every record to where it is read.

The public API for plugins: implement hooks with :data:`hookimpl`; sources return
:class:`Watcher` objects, sinks :class:`Sink` objects, and everything flows as
:class:`WatchEvent`. :class:`AuditWriter` writes trails the way the tools do.
"""

from watchd._version import __version__
from watchd.core.context import (
    Checking,
    FilterFactory,
    ResourceKey,
    RunContext,
    RunSettings,
    SinkFactory,
    SourceFactory,
    StartAt,
)
from watchd.core.errors import UsageError
from watchd.core.event import LEVELS, Cursor, WatchEvent, set_time
from watchd.core.hookspecs import hookimpl
from watchd.core.interfaces import (
    Acknowledging,
    AsyncSink,
    BatchDialect,
    BatchFormatter,
    Dialect,
    EventFilter,
    FormatContext,
    FormatFactory,
    Formatter,
    HangupAware,
    HeaderedFormatter,
    KeyedDialect,
    Merging,
    RecordSource,
    SelectsMany,
    Sink,
    Watcher,
)
from watchd.core.option_kinds import (
    Choice,
    Duration,
    Flag,
    Number,
    Option,
    OptionalText,
    Secret,
    Size,
    Text,
)
from watchd.core.options import OptionSet
from watchd.core.registry import Parsed, TypeTable
from watchd.core.routes import Answer, BadRequestError, Handler, RoutesFactory, RunTrails
from watchd.core.spec import Spec
from watchd.writer import AuditWriter

__all__ = [
    "LEVELS",
    "Acknowledging",
    "Answer",
    "AsyncSink",
    "AuditWriter",
    "BadRequestError",
    "BatchDialect",
    "BatchFormatter",
    "Checking",
    "Choice",
    "Cursor",
    "Dialect",
    "Duration",
    "EventFilter",
    "FilterFactory",
    "Flag",
    "FormatContext",
    "FormatFactory",
    "Formatter",
    "Handler",
    "HangupAware",
    "HeaderedFormatter",
    "KeyedDialect",
    "Merging",
    "Number",
    "Option",
    "OptionSet",
    "OptionalText",
    "Parsed",
    "RecordSource",
    "ResourceKey",
    "RoutesFactory",
    "RunContext",
    "RunSettings",
    "RunTrails",
    "Secret",
    "SelectsMany",
    "Sink",
    "SinkFactory",
    "Size",
    "SourceFactory",
    "Spec",
    "StartAt",
    "Text",
    "TypeTable",
    "UsageError",
    "WatchEvent",
    "Watcher",
    "__version__",
    "hookimpl",
    "set_time",
]
