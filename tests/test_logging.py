"""watchd's own log lines: a traceback names frames, never their variables or a record's bytes."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from conftest import clean_env
from watchd.core.logging import configure_logging


@pytest.fixture
def stream():
    """watchd's logging configured onto a string, and the previous configuration restored."""
    configured, previous = structlog.is_configured(), structlog.get_config()
    out = io.StringIO()
    configure_logging(0, out)
    yield out
    structlog.reset_defaults()
    if configured:
        structlog.configure(**previous)


def test_a_logged_traceback_carries_no_locals(stream):
    token = "hec-token-5f1c"  # noqa: S105 - a stand-in for a secret in a frame

    def fail(line: bytes) -> None:
        raise ValueError("cannot decode")

    try:
        fail(b'{"password":"' + token.encode() + b'"}')
    except ValueError:
        structlog.get_logger("watchd").exception("source failed and was detached")
    logged = json.loads(stream.getvalue())
    assert logged["exception"][0]["frames"][-1]["name"] == "fail"
    assert token not in stream.getvalue()


LEAKY_PLUGIN = """
from watchd import hookimpl

class LeakyDialect:
    name = "leaky"
    matches_by_keys = False

    def matches(self, record):
        return True

    def to_event(self, record, where, cursor):
        raise ValueError(f"cannot map {record}")


class LeakySink:
    name = "leaky"

    def emit_batch(self, events):
        raise RuntimeError(f"cannot send {events[0].record}")

    def flush(self):
        pass

    def close(self):
        pass


@hookimpl
def watchd_register_dialects(dialects):
    dialects.add("leaky", LeakyDialect(), help="raises, quoting the record")


@hookimpl
def watchd_register_sink_types(sinks):
    sinks.add("leaky", lambda options, context: LeakySink(), help="raises, quoting the events")
"""


@pytest.mark.parametrize("where", ["json", "terminal", "journal"])
def test_no_byte_of_a_failing_record_reaches_stderr(tmp_path, where: str) -> None:
    secret = "hunter2-5f1c-secret"  # noqa: S105 - planted in a record, searched for in stderr
    (tmp_path / "leaky_plugin.py").write_text(LEAKY_PLUGIN)
    trail = tmp_path / "audit.jsonl"
    trail.write_text(
        json.dumps({"ts": "2026-01-01T00:00:00Z", "action": "login", "password": secret}) + "\n"
    )
    env = {**clean_env(), "PYTHONPATH": str(tmp_path)}
    command = [
        sys.executable, "-m", "watchd", "run", "-p", "leaky_plugin", "--from-beginning", "-v",
        "--source", f"audit:{trail},schema=leaky", "--sink", "leaky",
    ]  # fmt: skip
    if where == "terminal":  # where the console renderer writes the traceback
        primary, secondary = pty.openpty()
        proc = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=secondary,
            env=env,
            timeout=30,
            check=False,
        )
        os.close(secondary)
        stderr = _drain(primary)
    elif where == "journal":  # stderr is systemd's journal stream: priority-prefixed lines
        stderr, proc = _as_journald_sees_it(command, env, tmp_path / "journal")
        assert all(re.match(rb"<[0-7]>", text) for text in stderr.splitlines()), stderr
        assert re.search(rb"^<3>Traceback", stderr, re.MULTILINE)  # each line at its priority
    else:
        proc = subprocess.run(command, capture_output=True, env=env, timeout=30, check=False)
        stderr = proc.stderr
    assert proc.returncode == 1  # the sink failed: the run ends
    assert b"dialect failed on a record" in stderr
    assert b"Traceback" in stderr or b'"exception"' in stderr
    assert secret.encode() not in stderr
    assert b"hunter2" not in stderr


def _as_journald_sees_it(
    command: list[str], env: dict[str, str], path: Path
) -> tuple[bytes, subprocess.CompletedProcess[bytes]]:
    """Run *command* with stderr on a file that $JOURNAL_STREAM names, as systemd's stream."""
    with path.open("wb") as journal:
        info = os.fstat(journal.fileno())
        env = {**env, "JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        proc = subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=journal, env=env, timeout=30, check=False
        )
    return path.read_bytes(), proc


def test_under_journald_each_line_has_its_priority_and_no_json(tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(b'{"ts":"2026-01-01T00:00:00Z","action":"a","container":"c"}\nnot json\n')
    command = [sys.executable, "-m", "watchd", "query", "--source", f"audit:{trail}", "-v"]
    stderr, proc = _as_journald_sees_it(command, clean_env(), tmp_path / "journal")
    assert proc.returncode == 0
    lines = stderr.decode().splitlines()
    assert any(text.startswith("<4>skipped malformed JSON  path=") for text in lines), lines
    assert all(re.match(r"<[0-7]>[^{<]", text) for text in lines), lines
    # $JOURNAL_STREAM naming another stream (stderr redirected by hand): JSON, as before.
    other = subprocess.run(
        command, capture_output=True, env=clean_env(JOURNAL_STREAM="1:1"), timeout=30, check=True
    )
    assert json.loads(other.stderr.splitlines()[0])["level"] == "warning"


def _drain(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(fd)
    return out
