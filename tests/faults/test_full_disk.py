"""R22 and R23: full file systems, for the output and for the state.

R22: a sink's file system fills up. The checkpoint may only cover bytes the
sink's ``write()`` took; after space is freed, a restart delivers the rest:
no gap, and no frame cut in half in the output.
R23: the state directory cannot be written from the start: watchd refuses to
start with one clear line, instead of losing its first checkpoint to a later
kill -9.

They mount small tmpfs file systems, so they need root (CI runs as root).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger import duplicated, gaps, needs_root, seq_lines, seqs_of

from conftest import clean_env

RECORDS = 20_000


@pytest.fixture
def small_fs(tmp_path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted at the end."""
    needs_root("mounting a small tmpfs")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    yield mount
    with contextlib.suppress(subprocess.CalledProcessError):
        subprocess.run(["umount", "-l", str(mount)], check=True)


def run_to_the_end(args: list[str], stdout, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run watchd until it stops by itself (a failed sink), or until it has read everything."""
    process = subprocess.Popen(
        [sys.executable, "-m", "watchd", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    return subprocess.CompletedProcess(args, process.returncode, None, err.decode())


@pytest.mark.parametrize("sink", ["stdout", "file"])
def test_r22_a_full_output_disk_leaves_no_gap_and_no_torn_frame(tmp_path, small_fs, sink):
    trail, state = tmp_path / "audit.jsonl", tmp_path / "state"
    trail.write_bytes(seq_lines(0, RECORDS, pad=40))
    out = small_fs / "out.jsonl"
    args = ["run", "--source", f"audit:{trail},from=beginning", "--state-dir", str(state)]
    if sink == "file":
        first = run_to_the_end([*args, "--sink", f"file:{out}"], subprocess.DEVNULL)
    else:
        with out.open("wb") as stdout:
            first = run_to_the_end([*args, "--json"], stdout)
    assert first.returncode == 1, first.stderr
    failure = [json.loads(x) for x in first.stderr.splitlines() if "sink failed" in x]
    assert len(failure) == 1
    assert "No space left on device" in failure[0]["reason"]
    assert "exception" not in failure[0]
    written = out.read_bytes()
    assert written.endswith(b"\n")  # whole frames only: the cut one was taken back
    before = seqs_of(written.splitlines())
    assert 1000 < len(before) < RECORDS
    # Space is freed (the output moved away), and watchd is started again.
    shutil.move(out, tmp_path / "first.jsonl")
    rest = tmp_path / "rest.jsonl"
    with rest.open("wb") as stdout:
        second = run_to_the_end([*args, "--json"], stdout, timeout=10)
    after = seqs_of(rest.read_bytes().splitlines())
    assert gaps(before + after, range(RECORDS)) == ([], [])
    # Duplicates are only what was written after the last checkpoint of the first run.
    assert len(duplicated(before + after)) < 2000, second.stderr


def test_r23_a_state_directory_that_cannot_be_written_stops_watchd_at_once(tmp_path, small_fs):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(seq_lines(0, 10))
    state = small_fs / "state"
    state.mkdir()
    (small_fs / "filler").write_bytes(b"\0" * (1024 * 1024))  # nothing left for a checkpoint
    result = run_to_the_end(
        ["run", "--source", f"audit:{trail}", "--state-dir", str(state)], subprocess.PIPE, 10
    )
    assert result.returncode == 1, result.stderr  # a disk may be emptied: a restart may start
    (line,) = result.stderr.splitlines()
    assert f"--state-dir {state}" in line
    assert "No space left on device" in line


def test_r23_a_read_only_state_directory_stops_watchd_at_once(tmp_path):
    needs_root("a read-only bind mount")
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(seq_lines(0, 10))
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["mount", "--bind", str(state), str(state)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(state)], check=True)
        result = run_to_the_end(
            ["run", "--source", f"audit:{trail}", "--state-dir", str(state)], subprocess.PIPE, 10
        )
    finally:
        subprocess.run(["umount", str(state)], check=True)
    assert result.returncode == 2, result.stderr  # stays wrong until the configuration changes
    (line,) = result.stderr.splitlines()
    assert f"--state-dir {state}" in line
    assert "Read-only file system" in line
