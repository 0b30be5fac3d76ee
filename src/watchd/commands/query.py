"""``watchd query``: the matching events of the trails, in any format.

:func:`formatted` is the one path from matching events to output bytes; the
command line and the HTTP API's ``/api/events`` both write through it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from watchd.commands.reading import Reading, select
from watchd.commands.selection import configured, progress, selection
from watchd.core.context import Checking, Registry
from watchd.core.deadletters import DeadLetters
from watchd.core.errors import EXIT_FAILURE, EXIT_OK
from watchd.core.event import WatchEvent
from watchd.core.interfaces import FormatContext, Formatter
from watchd.core.plugins import PluginHost
from watchd.core.spec import Spec
from watchd.core.terminal import isatty
from watchd.plugins.sinks.stdout import silence
from watchd.plugins.sinks.text import header_of, wants_color

_BATCH = 512


def formatter_named(
    registry: Registry, name: str, *, color: bool = False, several_origins: bool = False
) -> Formatter:
    """Return the format *name* (``--format``'s value) with its default options."""
    entry = registry.formats.entry(name, "--format")
    options = entry.options.parse(checking=Checking(registry))
    return entry.item(options, FormatContext(color, several_origins, own_lines=True))


def formatted(events: Iterable[WatchEvent], formatter: Formatter, name: str) -> Iterator[bytes]:
    """Yield the output of *events* in *formatter*: its header line, then batches of lines.

    An event the format cannot write is left out and reported, as a sink does.
    """
    header = header_of(formatter)
    if header is not None:
        yield header + b"\n"
    refused = DeadLetters(f"--format {name}")
    batch: list[WatchEvent] = []
    try:
        for event in events:
            batch.append(event)
            if len(batch) >= _BATCH:
                yield _lines(refused.encode(batch, formatter))
                batch = []
        yield _lines(refused.encode(batch, formatter))
    finally:
        refused.close()


def run_query(
    host: PluginHost,
    registry: Registry,
    ns: argparse.Namespace,
    filters: list[Spec],
    stdout: BinaryIO,
) -> int:
    """Print the matching events of the sources in the chosen format; return the exit status."""
    with configured(host, registry, ns, stdout) as context:
        tty = isatty(stdout)
        name = ns.format or ("human" if tty else "json")
        registry.formats.get(name, "--format")  # a wrong name is said before any file's trouble
        sources, event_filters, window = selection(ns, filters, context)
        several = sum(len(source.files) for source in sources) > 1
        color = wants_color("auto", tty=tty)
        formatter = formatter_named(registry, name, color=color, several_origins=several)
        # Events on the terminal show progress themselves; a line under them would be torn.
        reading = Reading(progress(sources, shown=not tty))
        events = select(sources, event_filters, window, ns.last, reading)
        try:
            for chunk in formatted(events, formatter, name):
                if chunk:
                    stdout.write(chunk)
            stdout.flush()
        except BrokenPipeError:
            silence(stdout)
        finally:
            reading.progress.finish()  # erased before any last word, an interruption's too
    return EXIT_OK if reading.finish() else EXIT_FAILURE


def _lines(frames: list[bytes]) -> bytes:
    return b"\n".join(frames) + b"\n" if frames else b""
