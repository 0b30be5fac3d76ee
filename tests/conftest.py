"""Shared fixtures: a real ``watchd`` process under test, and the example plugin installed."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
PLUGIN_PKG = TESTS / "plugin_pkg"

# Variables that would change what watchd prints.
_SCRUBBED = ("NO_COLOR", "WATCHD_DISABLE_PLUGIN_AUTOLOAD", "PYTHONPATH", "FORCE_COLOR")


def clean_env(**overrides: str) -> dict[str, str]:
    """Return the environment watchd runs in under test: UTC, no colour switches."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env["TZ"] = "UTC"
    env.update(overrides)
    return env


class Watchd:
    """A running ``python -m watchd``: stdout lines and stderr log records, read by threads."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "watchd", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env if env is not None else clean_env(),
        )
        self._out: queue.Queue[bytes] = queue.Queue()
        self._peeked: list[bytes] = []
        self.stderr_lines: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump_out, daemon=True),
            threading.Thread(target=self._pump_err, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _pump_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._out.put(line)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode("utf-8", "replace"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def logs(self) -> list[dict[str, Any]]:
        """Return watchd's own log records so far (JSON lines on stderr)."""
        records = []
        for line in list(self.stderr_lines):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records

    def wait_log(self, event: str, timeout: float = 10.0, **fields: object) -> dict[str, Any]:
        """Wait until watchd logs *event* (with *fields*); return the record."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.logs():
                if record.get("event") == event and all(
                    record.get(k) == v for k, v in fields.items()
                ):
                    return record
            if self.proc.poll() is not None and not self._threads[1].is_alive():
                break
            time.sleep(0.01)
        raise AssertionError(f"watchd did not log {event!r} {fields}; stderr:\n{self.stderr}")

    def read_line(self, timeout: float = 5.0) -> bytes:
        """Return the next stdout line (with its newline) or fail after *timeout*."""
        if self._peeked:
            return self._peeked.pop()
        try:
            return self._out.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output within {timeout}s; stderr:\n{self.stderr}") from None

    def read_json(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Return the next *count* stdout lines, parsed."""
        return [json.loads(self.read_line(timeout)) for _ in range(count)]

    def quiet_for(self, seconds: float) -> bool:
        """Return True when nothing more is printed within *seconds*."""
        if self._peeked:
            return False
        try:
            self._peeked.append(self._out.get(timeout=seconds))
        except queue.Empty:
            return True
        return False

    def remaining_output(self) -> list[bytes]:
        """Return what is left on stdout (after the process ended)."""
        self._threads[0].join(timeout=5)
        lines, self._peeked = self._peeked, []
        while not self._out.empty():
            lines.append(self._out.get_nowait())
        return lines

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send *sig* and return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        status = self.proc.wait(timeout=timeout)
        self._threads[1].join(timeout=5)
        return status

    def close(self) -> None:
        """Kill the process if it still runs, and close its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def watchd() -> Iterator[Any]:
    """Start watchd processes; any still running at the end of the test are killed."""
    started: list[Watchd] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Watchd:
        process = Watchd(list(args), env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


def run_watchd(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> Any:
    """Run watchd to completion; return the CompletedProcess (text mode)."""
    return subprocess.run(
        [sys.executable, "-m", "watchd", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(),
        timeout=timeout,
        check=False,
    )


def append(path: Path, data: bytes) -> None:
    """Append *data* to *path* with one write, as an audit writer does."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def record(n: int, **fields: object) -> dict[str, object]:
    """Return a terok-shaped record numbered *n*."""
    return {
        "ts": f"2026-04-01T12:00:{n:02d}+00:00",
        "container": "c1",
        "action": "allowed",
        "detail": f"n={n}",
        **fields,
    }


def line(n: int, **fields: object) -> bytes:
    """Return record *n* as one JSON line."""
    return json.dumps(record(n, **fields)).encode() + b"\n"


@pytest.fixture(scope="session")
def example_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the example plugin package (tests/plugin_pkg) and return its site directory.

    It is a real installation, with its entry point metadata; putting the
    directory on PYTHONPATH makes it part of the environment of the watchd
    processes that should see it, and of no other.
    """
    site = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(PLUGIN_PKG),
        ],
        check=True,
        capture_output=True,
    )
    return site
