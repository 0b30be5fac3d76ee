"""What a command reads: plugins configured as in run; sources, filters, a window.

``run``, ``query`` and ``summary`` name them on their command lines the same
way, and the HTTP API in its parameters.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import BinaryIO

from watchd.commands.reading import FileSource, Window, file_sources
from watchd.core.context import Registry, RunContext
from watchd.core.interfaces import EventFilter
from watchd.core.plugins import PluginHost
from watchd.core.progress import Progress
from watchd.core.spec import Options, Spec, parse_spec


def _shortcut(kind: str, target: str, flag: str) -> Spec:
    """Build a filter spec from a command-line shortcut (the value is taken verbatim)."""
    return Spec(kind, target, Options({}, f"{flag} {target!r}"), f"{kind}:{target}")


def filter_specs(ns: argparse.Namespace) -> list[Spec]:
    """Return the filters of ``--apply`` and the shortcut options, in that order."""
    filters = [parse_spec(text, "--apply") for text in ns.apply]
    if ns.name:
        filters.append(_shortcut("name", ",".join(ns.name), "--name"))
    if ns.action:
        filters.append(_shortcut("action", ",".join(ns.action), "--action"))
    if ns.level is not None:
        filters.append(_shortcut("level", ns.level, "--level"))
    filters.extend(_shortcut("field", text, "--filter") for text in ns.filter)
    if ns.change is not None:
        filters.append(_shortcut("change", ns.change, "--change"))
    return filters


@contextlib.contextmanager
def configured(
    host: PluginHost, registry: Registry, ns: argparse.Namespace, stdout: BinaryIO
) -> Iterator[RunContext]:
    """Configure the plugins for a batch command (as run does); unconfigure them after."""
    context = RunContext(options=ns, registry=registry, stdout=stdout)
    host.configure(context)
    try:
        yield context
    finally:
        context.close_shared()
        host.unconfigure(context)


def selection(
    ns: argparse.Namespace, filters: list[Spec], context: RunContext
) -> tuple[list[FileSource], list[EventFilter], Window]:
    """Return the sources, filters and time window the command line asks for."""
    window = Window.of(ns.since, ns.until)
    built = build_filters(filters, context)
    specs = [parse_spec(text, "--source") for text in ns.source]
    return file_sources(specs, context), built, window


def build_filters(specs: list[Spec], context: RunContext) -> list[EventFilter]:
    """Parse every filter spec (all of them, before any is built), then build each."""
    parsed = [context.registry.filters.parse(spec, context.checking) for spec in specs]
    return [part.build(context) for part in parsed]


def progress(sources: list[FileSource], *, shown: bool = True) -> Progress:
    """Return the progress line of reading *sources*, on stderr when it is a terminal."""
    paths = [path for source in sources for path in source.files]
    return Progress.over(paths, sys.stderr if shown else None)
