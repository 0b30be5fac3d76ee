"""``watchd summary``: counts by action, level, actor and container, and the range covered."""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

import orjson

from watchd.commands.reading import Reading, select
from watchd.commands.selection import configured, progress, selection
from watchd.core.context import Registry
from watchd.core.errors import EXIT_FAILURE, EXIT_OK
from watchd.core.event import WatchEvent
from watchd.core.plugins import PluginHost
from watchd.core.printable import printable
from watchd.core.spec import Spec
from watchd.plugins.sinks.stdout import silence


@dataclass(slots=True)
class Summary:
    """Counts by action, level, actor and container, and the time range covered."""

    events: int = 0
    first: datetime | None = None
    last: datetime | None = None
    counts: dict[str, Counter[str]] = field(
        default_factory=lambda: {k: Counter() for k in ("action", "level", "actor", "container")}
    )

    def add(self, event: WatchEvent) -> None:
        """Count *event*."""
        self.events += 1
        counts = self.counts
        counts["action"][event.action] += 1
        counts["level"][event.level] += 1
        counts["actor"][event.actor or "-"] += 1
        counts["container"][event.container or "-"] += 1
        when = event.time
        if when is not None:
            if self.first is None or when < self.first:
                self.first = when
            if self.last is None or when > self.last:
                self.last = when

    def as_dict(self) -> dict[str, object]:
        """Return the summary for ``--json``."""
        return {
            "events": self.events,
            "from": self.first.isoformat() if self.first else None,
            "to": self.last.isoformat() if self.last else None,
            **{f"by_{k}": dict(c.most_common()) for k, c in self.counts.items()},
        }

    def render(self, top: int = 20) -> str:
        """Return the human tables, the most frequent first, *top* rows each."""
        out = [f"{self.events} event" if self.events == 1 else f"{self.events} events"]
        if self.first and self.last:
            out.append(f"from {_shown(self.first)} to {_shown(self.last)}")
        for kind, counter in self.counts.items():
            if not counter:
                continue
            rows = [(printable(name), number) for name, number in counter.most_common(top)]
            width = max(len(kind), *(len(name) for name, _ in rows))
            out += ["", f"{kind.ljust(width)}  count"]
            out += [f"{name.ljust(width)}  {number:>5}" for name, number in rows]
            if len(counter) > top:
                out.append(f"(+{len(counter) - top} more)")
        return "\n".join(out) + "\n"


def _shown(when: datetime) -> str:
    """Return *when* in local time, as query shows events, with the zone's name (``CET``)."""
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def run_summary(
    host: PluginHost,
    registry: Registry,
    ns: argparse.Namespace,
    filters: list[Spec],
    stdout: BinaryIO,
) -> int:
    """Print the counts of the matching events; return the exit status."""
    with configured(host, registry, ns, stdout) as context:
        sources, event_filters, window = selection(ns, filters, context)
        reading = Reading(progress(sources))
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
