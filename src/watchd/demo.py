"""``watchd demo``: a writer appends sample audit records to a temporary file, watchd follows it.

Everything but the writer is the real thing: the audit source, inotify, the
dialect, the pipeline and the stdout sink, exactly as ``watchd run`` builds them.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import threading
from datetime import UTC, datetime
from typing import Any

import orjson

from watchd.core.context import RunContext, StartAt
from watchd.core.event import WatchEvent
from watchd.core.plugins import PluginHost
from watchd.core.registry import Registry
from watchd.core.run import RunPlan, execute
from watchd.core.spec import parse_spec

# terok-shield's shapes, as a shield around an agent's container would write them.
SAMPLES: tuple[dict[str, Any], ...] = (
    {"container": "agent-7", "action": "setup", "detail": "ruleset applied"},
    {"container": "agent-7", "action": "shield_up", "detail": "profile=dev"},
    {
        "container": "agent-7",
        "action": "allowed",
        "dest": "140.82.121.4",
        "detail": "target=github.com",
    },
    {
        "container": "agent-7",
        "action": "allowed",
        "dest": "151.101.0.223",
        "detail": "target=pypi.org",
    },
    {
        "container": "agent-7",
        "action": "denied",
        "dest": "203.0.113.9",
        "detail": "target=paste.example",
    },
    {
        "container": "agent-7",
        "action": "blocked",
        "dest": "198.51.100.20",
        "port": 22,
        "proto": "tcp",
        "domain": "ssh.example.net",
    },
    {"container": "agent-7", "action": "note", "detail": "operator: investigating egress"},
    {"container": "agent-7", "action": "shield_down", "detail": "allow_all=True"},
    {
        "container": "agent-7",
        "action": "allowed",
        "dest": "93.184.215.14",
        "detail": "target=example.com",
    },
    {"container": "agent-7", "action": "shield_up", "detail": "profile=dev"},
    {"container": "agent-9", "action": "setup", "detail": "ruleset applied"},
    {"container": "agent-9", "action": "error", "detail": "nft: rule load failed"},
)


def _write_records(path: str, count: int, interval: float, stop: threading.Event) -> None:
    with open(path, "ab", buffering=0) as trail:
        for record in itertools.islice(itertools.cycle(SAMPLES), count):
            if stop.wait(interval):
                return
            line = {"ts": datetime.now(UTC).isoformat(), **record}
            trail.write(orjson.dumps(line) + b"\n")


class _StopWhenShown:
    """A filter that lets every event through and ends the run once *count* were shown."""

    def __init__(self, count: int) -> None:
        self.remaining = count
        self.context: RunContext | None = None

    def __call__(self, events: list[WatchEvent]) -> list[WatchEvent]:
        self.remaining -= len(events)
        if self.remaining <= 0 and self.context is not None:
            self.context.request_stop(0)
        return events


def run_demo(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:
    """Write ``--count`` records to a temporary trail and follow it until all are shown."""
    with tempfile.TemporaryDirectory(prefix="watchd-demo-") as directory:
        path = os.path.join(directory, "audit.jsonl")
        open(path, "wb").close()
        print(
            f"watchd demo: appending {ns.count} terok-shield records to {path}\n"
            f"  the same as: watchd run --source audit:{path}\n",
            file=sys.stderr,
        )
        stop = threading.Event()
        writer = threading.Thread(
            target=_write_records, daemon=True, args=(path, ns.count, ns.interval / 1000, stop)
        )
        until_shown = _StopWhenShown(ns.count)

        def start_writer(context: RunContext) -> None:
            until_shown.context = context
            writer.start()

        plan = RunPlan(
            sources=[parse_spec(f"audit:{path}", "demo")],
            sinks=[parse_spec("stdout", "demo")],
            filters=[],
            start=StartAt("beginning"),
            default_format=ns.format,
            extra_filters=[until_shown],
        )
        try:
            return execute(host, registry, ns, plan, sys.stdout.buffer, on_ready=start_writer)
        finally:
            stop.set()
            if writer.is_alive():
                writer.join()
