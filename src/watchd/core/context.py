"""What a run shares with the plugins it builds: its settings, its tables, shared resources.

The factory types live here, beside the context they are handed: a factory
takes a :class:`RunContext`, and the context holds the :class:`Registry` of
factories, so the two are one module and nothing below imports either.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Generic, Literal, TypeVar

import structlog

from watchd.core.clock import Clock, monotonic
from watchd.core.interfaces import Dialect, EventFilter, FormatFactory, Sink, Watcher
from watchd.core.registry import TypeTable
from watchd.core.routes import RoutesFactory
from watchd.core.terminal import isatty

T = TypeVar("T")


@dataclass(frozen=True)
class StartAt:
    """Where a source starts in what already exists: the end, the beginning, N back, or a time.

    .. versionadded:: 0.1.0
    """

    mode: Literal["end", "beginning", "last", "since"] = "end"
    count: int = 0
    since: datetime | None = None


@dataclass(frozen=True, eq=False)
class ResourceKey(Generic[T]):
    """Names a resource that the watchers of one run share (say, one inotify instance).

    .. versionadded:: 0.1.0
    """

    name: str


@dataclass(frozen=True)
class RunSettings:
    """How a run reads and keeps state: the command line's settings, parsed.

    .. versionadded:: 0.1.0
    """

    start: StartAt = StartAt()
    poll_interval: float = 0.25
    default_format: str | None = None
    state_dir: str | None = None
    checkpoint_interval: float = 1.0
    state_ttl: float = 86400.0
    durable_state: bool = True
    reorder_window: float = 0.25
    #: True in the process a reload started: its standard output already has
    #: the previous process's output (a CSV header, say).
    continued: bool = False
    #: The run may read more than one file (see FormatContext).
    several_origins: bool = False


# A type's build function takes its parsed options (its OptionSet) and the run.
SourceFactory = Callable[[Any, "RunContext"], Watcher]
SinkFactory = Callable[[Any, "RunContext"], Sink]
FilterFactory = Callable[[Any, "RunContext"], EventFilter]


@dataclass
class Registry:
    """Every table a run looks things up in."""

    builtins: frozenset[str] = frozenset()
    sources: TypeTable[SourceFactory] = field(init=False)
    sinks: TypeTable[SinkFactory] = field(init=False)
    formats: TypeTable[FormatFactory] = field(init=False)
    dialects: TypeTable[Dialect] = field(init=False)
    filters: TypeTable[FilterFactory] = field(init=False)
    routes: TypeTable[RoutesFactory] = field(init=False)

    def __post_init__(self) -> None:
        self.sources = TypeTable("source type", self.builtins)
        self.sinks = TypeTable("sink type", self.builtins)
        self.formats = TypeTable("format", self.builtins)
        self.dialects = TypeTable("dialect", self.builtins)
        self.filters = TypeTable("filter", self.builtins)
        self.routes = TypeTable("route set", self.builtins)

    def tables(self) -> dict[str, TypeTable[Any]]:
        """Return the tables by the plural a listing shows them under."""
        return {
            "sources": self.sources,
            "sinks": self.sinks,
            "formats": self.formats,
            "dialects": self.dialects,
            "filters": self.filters,
            "routes": self.routes,
        }


@dataclass(frozen=True)
class Checking:
    """What parsing a spec may consult: the run's tables and settings. It opens nothing.

    Handed to :meth:`~watchd.core.options.OptionSet.check`.

    .. versionadded:: 0.1.0
    """

    registry: Registry
    settings: RunSettings = field(default_factory=RunSettings)
    #: The run's standard output is a terminal (stdout's format defaults to human then).
    tty: bool = False


@dataclass
class RunContext:
    """Handed to every factory and to the configure hooks.

    ``options`` is the parsed command line, including the options plugins added
    through ``watchd_addoption``; ``settings`` what watchd made of it
    (``context.settings.start``, ``context.settings.state_dir``, ...).

    .. versionadded:: 0.1.0
    """

    options: argparse.Namespace
    registry: Registry
    stdout: BinaryIO
    settings: RunSettings = field(default_factory=RunSettings)
    request_stop: Callable[[int], None] = field(default=lambda _status: None)
    #: The monotonic clock the run's timing rules read (a test injects its own).
    clock: Clock = field(default=monotonic)
    _resources: dict[ResourceKey[object], object] = field(default_factory=dict)
    _closers: list[Callable[[], None]] = field(default_factory=list)
    _ids: dict[str, int] = field(default_factory=dict)

    @property
    def checking(self) -> Checking:
        """Return what parsing consults in this run."""
        return Checking(self.registry, self.settings, isatty(self.stdout))

    def claim_id(self, base: str) -> str:
        """Return a name for a source that no other source of this run has.

        The first source with *base* gets *base*, later ones ``base#2``, ... in
        command-line order, so the name is the same on every run (checkpoints
        are kept under it).
        """
        count = self._ids.get(base, 0) + 1
        self._ids[base] = count
        return base if count == 1 else f"{base}#{count}"

    def existing(self, key: ResourceKey[T]) -> T | None:
        """Return the run's instance of *key* if some part made it, else None."""
        return self._resources.get(key)  # type: ignore[arg-type, return-value]

    def shared(self, key: ResourceKey[T], make: Callable[[], T], close: Callable[[T], None]) -> T:
        """Return the run's one instance of *key*, making it on first use.

        *close* is called once for it when the run ends, after every watcher closed.
        """
        if key not in self._resources:
            resource = make()
            self._resources[key] = resource  # type: ignore[index]
            self._closers.append(lambda: close(resource))
        return self._resources[key]  # type: ignore[index, return-value]

    def close_shared(self) -> None:
        """Close the shared resources, newest first."""
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:  # noqa: BLE001 - one failing close must not skip the others
                structlog.get_logger("watchd").exception("closing a shared resource failed")
