"""Helpers for tests that follow real trails: records, writer processes, a watchd in place."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

WRITER = Path(__file__).resolve().parent / "writer.py"


def record(n: int) -> bytes:
    body = {"ts": "2026-01-01T00:00:00+00:00", "action": "w", "container": "c", "seq": n}
    return json.dumps(body).encode() + b"\n"


def records(first: int, last: int) -> bytes:
    return b"".join(record(n) for n in range(first, last))


def write(*steps: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WRITER), *steps])


def finish(process: subprocess.Popen) -> None:
    assert process.wait(timeout=30) == 0


def wait_for(path: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


def run(cmd: str, *args: object) -> None:
    subprocess.run([cmd, *map(str, args)], check=True)


def follow(
    watchd,
    scope: Path | str,
    *options: str,
    state: Path | None = None,
    source_options: str = "",
    env=None,
):
    """Start watchd on *scope* (JSON out, debug logs) and wait until it is in place."""
    args = [
        "run",
        "--source",
        f"audit:{scope}{source_options}",
        "--json",
        "-v",
        "--poll-interval",
        "100",
        *options,
    ]
    if state is not None:
        args += ["--state-dir", str(state)]
    process = watchd(*args, env=env) if env is not None else watchd(*args)
    process.wait_log("ready")
    return process


def delivered(process, count: int, timeout: float = 30.0) -> list[int]:
    """Return the seq of exactly *count* events; fail on fewer, or on more after them."""
    deadline = time.monotonic() + timeout
    seqs = []
    while len(seqs) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(seqs)} of {count} events; stderr:\n{process.stderr[-3000:]}"
        event = json.loads(process.read_line(timeout=left))
        seqs.append(event["extra"]["seq"])
    extra = []
    while not process.quiet_for(0.7):
        extra.append(json.loads(process.read_line())["extra"]["seq"])
    assert not extra, f"more than {count} events: {sorted(Counter(extra).items())[:20]}"
    return seqs


def exactly_once(seqs: list[int], expected: range | list[int]) -> None:
    counts = Counter(seqs)
    missing = sorted(set(expected) - set(counts))
    doubled = sorted(n for n, c in counts.items() if c > 1)
    invented = sorted(set(counts) - set(expected))
    assert (missing, doubled, invented) == ([], [], [])
