"""``watchd query``: the matching events of the trails, in any format."""

from __future__ import annotations

import argparse
from typing import BinaryIO

from watchd.commands.reading import Reading, select
from watchd.commands.selection import configured, progress, selection
from watchd.core.context import Registry
from watchd.core.deadletters import DeadLetters
from watchd.core.errors import EXIT_FAILURE, EXIT_OK
from watchd.core.event import WatchEvent
from watchd.core.interfaces import FormatContext
from watchd.core.plugins import PluginHost
from watchd.core.spec import Options, Spec
from watchd.core.terminal import isatty
from watchd.plugins.sinks.stdout import silence
from watchd.plugins.sinks.text import header_of, wants_color


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
        factory = registry.formats.get(name, "--format")
        formatter = factory(
            Options({}, "--format"), FormatContext(color=wants_color("auto", tty=tty))
        )
        sources, event_filters, window = selection(ns, filters, context)
        # Events on the terminal show progress themselves; a line under them would be torn.
        reading = Reading(progress(sources, shown=not tty))
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


def _write(stdout: BinaryIO, frames: list[bytes]) -> None:
    if frames:
        stdout.write(b"\n".join(frames) + b"\n")
