"""Shared fixtures: a real ``watchd`` process under test, and the example plugin installed."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

TESTS = Path(__file__).resolve().parent
PLUGIN_PKG = TESTS / "plugin_pkg"

# Variables that would change what watchd prints.
_SCRUBBED = ("NO_COLOR", "WATCHD_DISABLE_PLUGIN_AUTOLOAD", "PYTHONPATH", "FORCE_COLOR")


def missing(reason: str) -> NoReturn:
    """A real part a test needs is not here: skip locally, fail under ``CI=true`` (CI has it)."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


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


def wait_for_lines(path: Path, count: int, timeout: float = 10.0) -> bytes:
    """Wait until *path* holds at least *count* complete lines; return what it holds."""
    deadline = time.monotonic() + timeout
    while not path.exists() or path.read_bytes().count(b"\n") < count:
        assert time.monotonic() < deadline, f"{path} has not {count} lines"
        time.sleep(0.02)
    return path.read_bytes()


def checkpointed(state: Path) -> list[dict[str, Any]]:
    """Return the file entries of the checkpoints in *state* (none before the first write)."""
    try:
        return list(json.loads((state / "checkpoints.json").read_bytes())["files"])
    except (FileNotFoundError, ValueError):
        return []


def wait_checkpointed(
    state: Path, offsets: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Wait until the checkpoints in *state* satisfy *offsets*; return their file entries.

    What a test waits for instead of sleeping past a timer: the checkpoint is
    where the engine says what it has finished.
    """
    deadline = time.monotonic() + timeout
    while not offsets(files := checkpointed(state)):
        assert time.monotonic() < deadline, f"checkpoints never got there: {files}"
        time.sleep(0.02)
    return files


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


def _free_port_below_ephemeral_range() -> int:
    """Return a free loopback port that no outgoing connection can take as its own.

    A client reconnecting to a port in the ephemeral range may be given that same
    port as its source and connect to itself while the server is down.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in range(max(low - 2000, 1024), low):
        with contextlib.suppress(OSError), socket.create_server(("127.0.0.1", port)):
            return port
    raise RuntimeError("no free port below the ephemeral range")


class LineServer:
    """A real TCP server on loopback collecting lines; it can go down and come back."""

    def __init__(self) -> None:
        self.port = _free_port_below_ephemeral_range()
        self.lines: list[bytes] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self.connections_seen = 0

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self._connections.append(conn)
            self.connections_seen += 1
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        buffer = b""
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return  # an unfinished line of a dead connection is not a line
            buffer += data
            *complete, buffer = buffer.split(b"\n")
            with self._lock:
                self.lines.extend(complete)

    def stop(self) -> None:
        """Go down hard: stop listening and cut every connection."""
        if self._listener is not None:
            # shutdown() wakes the accept() blocked in the other thread; close()
            # alone would leave the socket listening until accept() returned.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for conn in self._connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._connections.clear()

    def seqs(self) -> list[int]:
        with self._lock:
            return [json.loads(line)["extra"]["seq"] for line in self.lines]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while len(self.seqs()) < count:
            assert time.monotonic() < deadline, f"collector has {len(self.seqs())} of {count}"
            time.sleep(0.02)
        time.sleep(0.3)
        return self.seqs()


@pytest.fixture
def collector() -> Iterator[LineServer]:
    server = LineServer()
    server.start()
    yield server
    server.stop()


def through_head(
    command: list[str], then: Callable[[], object] | None = None, timeout: float = 60
) -> tuple[int, bytes, bytes]:
    """Run watchd into ``head -1``: read its first line, close the pipe, call *then*.

    Return its exit status, that line and what it wrote on stderr; a watchd
    still running after *timeout* is killed and the test fails.
    """
    with subprocess.Popen(
        [sys.executable, "-m", "watchd", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    ) as watchd:
        assert watchd.stdout is not None
        first = watchd.stdout.readline()
        watchd.stdout.close()  # as head does after its line
        if then is not None:
            then()
        try:
            _, stderr = watchd.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            watchd.kill()
            raise
        return watchd.returncode, first, stderr
