"""Assembling a run from specs: sources, filters and sinks around one event loop."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple

from watchd.core.context import (
    Checking,
    FilterFactory,
    Registry,
    RunContext,
    RunSettings,
    SinkFactory,
    SourceFactory,
)
from watchd.core.interfaces import EventFilter, Merging, Observer, Sink, Watcher
from watchd.core.loop import EventLoop
from watchd.core.pipeline import Pipeline
from watchd.core.plugins import PluginHost
from watchd.core.registry import Parsed
from watchd.core.reorder import Reorderer
from watchd.core.spec import Spec


@dataclass
class RunPlan:
    """What to build: every spec is parsed, nothing is opened yet."""

    sources: list[Spec]
    sinks: list[Spec]
    filters: list[Spec]
    settings: RunSettings = field(default_factory=RunSettings)
    extra_filters: list[EventFilter] = field(default_factory=list)
    #: What sees every delivered batch besides the sinks (the HTTP API's live feed).
    observers: list[Observer] = field(default_factory=list)


@dataclass(frozen=True)
class Running:
    """A run as built, handed to ``on_ready`` before its loop starts."""

    context: RunContext
    loop: EventLoop
    watchers: list[Watcher]
    sinks: list[Sink]


class Parts(NamedTuple):
    """Every spec of a plan parsed by its type's declaration, in the plan's order."""

    sources: list[Parsed[SourceFactory]]
    sinks: list[Parsed[SinkFactory]]
    filters: list[Parsed[FilterFactory]]


def parse_plan(registry: Registry, plan: RunPlan, checking: Checking | None = None) -> Parts:
    """Parse every spec: an unknown type or a bad value is a usage error, and nothing is opened.

    What ``run`` does before it builds anything, and what a reload checks a new
    configuration by.
    """
    checking = checking or Checking(registry, plan.settings)
    return Parts(
        [registry.sources.parse(s, checking) for s in plan.sources],
        [registry.sinks.parse(s, checking) for s in plan.sinks],
        [registry.filters.parse(s, checking) for s in plan.filters],
    )


def execute(
    host: PluginHost,
    registry: Registry,
    options: argparse.Namespace,
    plan: RunPlan,
    stdout: BinaryIO,
    *,
    on_ready: Callable[[Running], None] | None = None,
    on_hup: Callable[[EventLoop], None] | None = None,
) -> int:
    """Build the run described by *plan*, run it to the end, and return its exit status.

    Unknown types are reported before any plugin is configured or anything
    opened; whatever was built is closed again if a later part fails to build.
    """
    context = RunContext(options, registry, stdout, plan.settings)
    parts = parse_plan(registry, plan, context.checking)
    host.configure(context)
    watchers: list[Watcher] = []
    sinks: list[Sink] = []
    started = False
    try:
        watchers.extend(part.build(context) for part in parts.sources)
        filters = [part.build(context) for part in parts.filters]
        sinks.extend(part.build(context) for part in parts.sinks)
        # Several trails are merged in time order; a single file pays no delay.
        merging = len(watchers) > 1 or any(isinstance(w, Merging) and w.merges for w in watchers)
        window = plan.settings.reorder_window
        reorderer = Reorderer(window) if merging and window else None
        pipeline = Pipeline([*filters, *plan.extra_filters], sinks, reorderer, plan.observers)
        loop = EventLoop(pipeline, on_hup=(lambda: on_hup(loop)) if on_hup else None)
        context.request_stop = loop.stop
        for watcher in watchers:
            loop.add(watcher)
        if on_ready is not None:
            on_ready(Running(context, loop, list(watchers), list(sinks)))
        started = True
        return loop.run()  # closes every watcher and sink
    finally:
        if not started:
            _close_all(watchers, sinks)
        context.close_shared()
        host.unconfigure(context)


def _close_all(watchers: Sequence[Watcher], sinks: Sequence[Sink]) -> None:
    # Cleanup after a failed build: the build's own error is what the user needs.
    closables: list[Watcher | Sink] = [*watchers, *sinks]
    for closable in closables:
        with contextlib.suppress(Exception):
            closable.close()
