"""What the fault suite checks after every scenario: the exact multiset delivered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable

import pytest

from conftest import clean_env


def seq_line(n: int, pad: int = 0, **fields: object) -> bytes:
    """Return record *n* as one JSON line (about 70 bytes, plus *pad*)."""
    body = {"ts": "2026-01-01T00:00:00+00:00", "action": "w", "container": "c", "seq": n}
    if pad:
        body["pad"] = "x" * pad
    body.update(fields)
    return json.dumps(body).encode() + b"\n"


def seq_lines(first: int, last: int, pad: int = 0) -> bytes:
    return b"".join(seq_line(n, pad) for n in range(first, last))


def seqs_of(lines: Iterable[bytes | str]) -> list[int]:
    """Return the ``extra.seq`` of each JSON event line (a torn line fails the test)."""
    return [json.loads(line)["extra"]["seq"] for line in lines if line.strip()]


def gaps(delivered: Iterable[int], expected: Iterable[int]) -> tuple[list[int], list[int]]:
    """Return (missing, invented): what must never happen, whatever the fault."""
    counts, wanted = Counter(delivered), set(expected)
    return sorted(wanted - set(counts)), sorted(set(counts) - wanted)


def out_of_order(delivered: Iterable[int]) -> list[tuple[int, int]]:
    """Return (earlier, later) pairs where a record came first after a later one (R39).

    Only first deliveries count (a re-send after a crash repeats what came
    before); the trails of the storms write seq in file order, rotations
    included, so first deliveries must rise.
    """
    seen: set[int] = set()
    highest, wrong = -1, []
    for seq in delivered:
        if seq in seen:
            continue
        seen.add(seq)
        if seq < highest:
            wrong.append((highest, seq))
        highest = max(highest, seq)
    return wrong[:10]


def duplicated(delivered: Iterable[int]) -> list[int]:
    return sorted(n for n, c in Counter(delivered).items() if c > 1)


def needs_root(what: str) -> None:
    """Skip (locally) or fail (under CI=true) a test that needs root for *what*."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"needs root for {what}, and CI runs as root")
        pytest.skip(f"needs root for {what}")


class Follower:
    """A ``watchd run`` whose stdout is read at a bounded pace (a slow reader), or freely.

    Whatever reached the pipe before the process died is delivered: it is what
    the reader got. :meth:`kill` is kill -9.
    """

    def __init__(self, args: list[str], *, bytes_per_second: int | None = None) -> None:

        self.process = subprocess.Popen(
            [sys.executable, "-m", "watchd", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(),
        )
        self._pace = bytes_per_second
        self._data = bytearray()
        self._err = bytearray()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_out(self) -> None:

        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        block = 65536 if self._pace is None else max(self._pace // 100, 1)
        while True:
            data = os.read(fd, block)
            if not data:
                return
            with self._lock:
                self._data += data
            if self._pace is not None:
                time.sleep(len(data) / self._pace)

    def _read_err(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._err += line

    @property
    def stderr(self) -> str:
        return self._err.decode("utf-8", "replace")

    def seqs(self) -> list[int]:
        """Return the seq of every complete line read so far."""
        with self._lock:
            complete = bytes(self._data[: self._data.rfind(b"\n") + 1])
        return seqs_of(complete.splitlines())

    def wait_for(self, count: int, timeout: float = 60.0) -> list[int]:

        deadline = time.monotonic() + timeout
        while len(self.seqs()) < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(
                    f"{len(self.seqs())} of {count} events; stderr:\n{self.stderr[-3000:]}"
                )
            time.sleep(0.02)
        return self.seqs()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until watchd (run with -v) says its loop is turning: every source started."""
        deadline = time.monotonic() + timeout
        while not any(
            line.startswith("{") and json.loads(line).get("event") == "ready"
            for line in self.stderr.splitlines()
        ):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"watchd did not get ready; stderr:\n{self.stderr[-3000:]}")
            time.sleep(0.02)

    def settle(self, quiet: float = 1.5, timeout: float = 120.0) -> list[int]:
        """Return what was read once nothing more came for *quiet* seconds."""

        deadline = time.monotonic() + timeout
        count, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now = len(self.seqs())
            if now != count:
                count, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
            time.sleep(0.05)
        return self.seqs()

    def kill(self) -> list[int]:
        """kill -9; return what the reader got, all of it."""

        self.process.send_signal(signal.SIGKILL)
        return self._finish()

    def stop(self) -> tuple[int, list[int]]:
        """SIGTERM; return the exit status and what the reader got."""

        self.process.send_signal(signal.SIGTERM)
        seqs = self._finish()
        return self.process.returncode, seqs

    def _finish(self) -> list[int]:
        self._pace = None  # read what is left at once
        self.process.wait(timeout=30)
        for thread in self._threads:
            thread.join(timeout=30)
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()
        return self.seqs()
