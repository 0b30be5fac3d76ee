"""``watchd demo``: four tools append to their audit trails in a temp directory; watchd follows.

Everything but the writer is the real thing: the audit source, inotify, the
dialect, the pipeline and the stdout sink, exactly as ``watchd run`` builds them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import threading
from datetime import UTC, datetime
from typing import Any

from watchd.codecs.integrity import GENESIS, link_hash
from watchd.core.context import Registry, RunContext, RunSettings, StartAt
from watchd.core.event import WatchEvent
from watchd.core.plugins import PluginHost
from watchd.core.run import Running, RunPlan, execute
from watchd.core.spec import parse_spec

# The four producers watchd reads natively, as they write their trails.
SAMPLES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("terok", {"container": "agent-7", "action": "setup", "detail": "ruleset applied"}),
    (
        "lokt",
        {
            "event": "acquire",
            "name": "build",
            "owner": "claude-1",
            "host": "ci-7",
            "pid": 4120,
            "ttl_sec": 300,
        },
    ),
    (
        "ito",
        {
            "v": 1,
            "entity": "task",
            "entity_id": "1.1",
            "scope": "add-auth",
            "op": "status_change",
            "from": "pending",
            "to": "in-progress",
            "actor": "cli",
            "by": "@ana",
            "ctx": {"session_id": "demo"},
        },
    ),
    (
        "terok",
        {
            "container": "agent-7",
            "action": "allowed",
            "dest": "140.82.121.4",
            "detail": "target=github.com",
        },
    ),
    (
        "lokt",
        {
            "event": "deny",
            "name": "build",
            "owner": "claude-2",
            "host": "ci-7",
            "pid": 4188,
            "extra": {"holder_owner": "claude-1", "holder_host": "ci-7", "holder_pid": 4120},
        },
    ),
    (
        "loki",
        {
            "action": "login",
            "resource_type": "session",
            "resource_id": None,
            "user_id": "ana",
            "token_id": None,
            "ip_address": "127.0.0.1",
            "user_agent": None,
            "success": True,
            "error": None,
            "details": {},
        },
    ),
    (
        "terok",
        {
            "container": "agent-7",
            "action": "denied",
            "dest": "203.0.113.9",
            "detail": "target=paste.example",
        },
    ),
    (
        "ito",
        {
            "v": 1,
            "entity": "task",
            "entity_id": "1.1",
            "scope": "add-auth",
            "op": "status_change",
            "from": "in-progress",
            "to": "done",
            "actor": "cli",
            "by": "@ana",
            "ctx": {"session_id": "demo"},
        },
    ),
    (
        "loki",
        {
            "action": "delete",
            "resource_type": "task",
            "resource_id": "42",
            "user_id": "ana",
            "token_id": None,
            "ip_address": "127.0.0.1",
            "user_agent": None,
            "success": True,
            "error": None,
            "details": {},
        },
    ),
    (
        "lokt",
        {"event": "release", "name": "build", "owner": "claude-1", "host": "ci-7", "pid": 4120},
    ),
    ("terok", {"container": "agent-7", "action": "shield_down", "detail": "allow_all=True"}),
    (
        "loki",
        {
            "action": "create_token",
            "resource_type": "token",
            "resource_id": "tok_1",
            "user_id": "ana",
            "token_id": None,
            "ip_address": "127.0.0.1",
            "user_agent": None,
            "success": False,
            "error": "quota exceeded",
            "details": {},
        },
    ),
)
FILES = {
    "terok": "terok-audit.jsonl",
    "lokt": "audit.log",
    "ito": "events.jsonl",
    "loki": "audit-{day}.jsonl",
}


def _write_records(directory: str, count: int, interval: float, stop: threading.Event) -> None:
    chain = GENESIS
    for tool, body in itertools.islice(itertools.cycle(SAMPLES), count):
        if stop.wait(interval):
            return
        now = datetime.now(UTC)
        if tool == "loki":
            record: dict[str, Any] = {"timestamp": now.isoformat(), **body}
            chain = link_hash(chain, record)
            record["_integrity_hash"] = chain
            data = json.dumps(record)  # loki-mode's own separators, as it hashes them
        else:
            stamp = now.isoformat().replace("+00:00", "Z")
            data = json.dumps({"ts": stamp, **body}, separators=(",", ":"))
        name = FILES[tool].format(day=now.strftime("%Y-%m-%d"))
        with open(os.path.join(directory, name), "a", encoding="utf-8") as trail:
            trail.write(data + "\n")


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


def _records(count: int) -> str:
    return "1 record" if count == 1 else f"{count} records"


def run_demo(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:
    """Write ``--count`` records to four tools' trails and follow them until all are shown."""
    with tempfile.TemporaryDirectory(prefix="watchd-demo-") as directory:
        print(
            f"watchd demo: terok-shield, lokt, loki-mode and ito append {_records(ns.count)} "
            f"to their trails in {directory}\n"
            f"  the same as: watchd run --source audit:{directory}\n",
            file=sys.stderr,
        )
        stop = threading.Event()
        writer = threading.Thread(
            target=_write_records,
            daemon=True,
            args=(directory, ns.count, ns.interval, stop),
        )
        until_shown = _StopWhenShown(ns.count)

        def start_writer(running: Running) -> None:
            until_shown.context = running.context
            writer.start()

        plan = RunPlan(
            sources=[parse_spec(f"audit:{directory}", "demo")],
            sinks=[parse_spec("stdout", "demo")],
            filters=[],
            settings=RunSettings(start=StartAt("beginning"), default_format=ns.format),
            extra_filters=[until_shown],
        )
        try:
            return execute(host, registry, ns, plan, sys.stdout.buffer, on_ready=start_writer)
        finally:
            stop.set()
            if writer.is_alive():
                writer.join()
