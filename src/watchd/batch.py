"""The batch commands' plumbing: plugins configured, specs built, output written, as in run."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import BinaryIO

import orjson

from watchd.core.context import RunContext
from watchd.core.deadletters import DeadLetters
from watchd.core.errors import EXIT_FAILURE, EXIT_OK
from watchd.core.event import WatchEvent
from watchd.core.plugins import PluginHost
from watchd.core.progress import Progress
from watchd.core.protocols import EventFilter, FormatContext
from watchd.core.registry import Registry
from watchd.core.spec import Options, Spec, parse_spec
from watchd.core.terminal import isatty
from watchd.plugins.stdout import header_of, silence, wants_color
from watchd.query import FileSource, Reading, Summary, Window, file_sources, select


@contextlib.contextmanager
def _configured(
    host: PluginHost, registry: Registry, ns: argparse.Namespace, stdout: BinaryIO
) -> Iterator[RunContext]:
    context = RunContext(options=ns, registry=registry, stdout=stdout)
    host.configure(context)
    try:
        yield context
    finally:
        context.close_shared()
        host.unconfigure(context)


def _selection(
    ns: argparse.Namespace, filters: list[Spec], context: RunContext
) -> tuple[list[FileSource], list[EventFilter], Window]:
    """Return the sources, filters and time window the command line asks for."""
    window = Window.of(ns.since, ns.until)
    built = [context.registry.filters.get(s.type, s.options.where)(s, context) for s in filters]
    specs = [parse_spec(text, "--source") for text in ns.source]
    return file_sources(specs, context), built, window


def run_query(
    host: PluginHost,
    registry: Registry,
    ns: argparse.Namespace,
    filters: list[Spec],
    stdout: BinaryIO,
) -> int:
    """Print the matching events of the sources in the chosen format; return the exit status."""
    with _configured(host, registry, ns, stdout) as context:
        tty = isatty(stdout)
        name = ns.format or ("human" if tty else "json")
        factory = registry.formats.get(name, "--format")
        formatter = factory(
            Options({}, "--format"), FormatContext(color=wants_color("auto", tty=tty))
        )
        sources, event_filters, window = _selection(ns, filters, context)
        # Events on the terminal show progress themselves; a line under them would be torn.
        reading = Reading(_progress(sources, shown=not tty))
        header = header_of(formatter)
        try:
            if header is not None:
                stdout.write(header + b"\n")
            refused = DeadLetters(f"--format {name}")
            batch: list[WatchEvent] = []
            for event in select(sources, event_filters, window, ns.last, reading):
                batch.append(event)
                if len(batch) >= 512:
                    _write(stdout, refused.encode(batch, formatter))
                    batch.clear()
            _write(stdout, refused.encode(batch, formatter))
            stdout.flush()
            refused.close()
        except BrokenPipeError:
            silence(stdout)
        finally:
            reading.progress.finish()  # erased before any last word, an interruption's too
    return EXIT_OK if reading.finish() else EXIT_FAILURE


def _progress(sources: list[FileSource], *, shown: bool = True) -> Progress:
    """Return the progress line of reading *sources*, on stderr when it is a terminal."""
    paths = [path for source in sources for path in source.files]
    return Progress.over(paths, sys.stderr if shown else None)


def _write(stdout: BinaryIO, frames: list[bytes]) -> None:
    if frames:
        stdout.write(b"\n".join(frames) + b"\n")


def run_summary(
    host: PluginHost,
    registry: Registry,
    ns: argparse.Namespace,
    filters: list[Spec],
    stdout: BinaryIO,
) -> int:
    """Print the counts of the matching events; return the exit status."""
    with _configured(host, registry, ns, stdout) as context:
        sources, event_filters, window = _selection(ns, filters, context)
        reading = Reading(_progress(sources))
        summary = Summary()
        try:
            for event in select(sources, event_filters, window, reading=reading):
                summary.add(event)
        finally:
            reading.progress.finish()
    text = orjson.dumps(summary.as_dict()) + b"\n" if ns.json else summary.render().encode()
    try:
        stdout.write(text)
        stdout.flush()
    except BrokenPipeError:
        silence(stdout)
    return EXIT_OK if reading.finish() else EXIT_FAILURE
