"""R38: kill -9 in the middle of a large write leaves no torn line once watchd is back.

The kernel cuts a write where the kill finds it (on a page boundary); the frame
cut is not acknowledged, so its events come again; the cut bytes are taken
back before anything is appended after them.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

from ledger import gaps, seq_line

from conftest import clean_env, wait_checkpointed

RECORDS = 400
PAD = 200_000  # each record a large write: a kill lands inside one often


def big_trail(path) -> None:
    with open(path, "wb") as out:
        for n in range(RECORDS):
            out.write(seq_line(n, pad=PAD))


def parsed(lines: list[bytes]) -> list[int]:
    """Return the seq of every line: a torn one fails to parse, and so fails the test."""
    return [json.loads(x)["extra"]["seq"] for x in lines]


def start(args: list[str], stdout, stderr=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "watchd", *args],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=clean_env(),
    )


def run_until_killed(args: list[str], stdout, seconds: float) -> None:
    process = start(args, stdout)
    time.sleep(seconds)  # paces the kills: somewhere inside the run, at random
    process.send_signal(signal.SIGKILL)
    process.wait()


def finish(
    args: list[str], stdout, out_path, last: int = RECORDS - 1
) -> subprocess.CompletedProcess:
    """Run once more until record *last* is out, then stop it."""
    process = start(args, stdout, subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lines = out_path.read_bytes().splitlines() if out_path.exists() else []
        try:
            if last in parsed(lines[-1:]):
                break
        except ValueError:
            pass
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    return subprocess.CompletedProcess(args, process.returncode, b"", err)


def test_kill_9_mid_write_to_a_file_sink_leaves_no_torn_line(tmp_path):
    trail, out, state = tmp_path / "a.jsonl", tmp_path / "out.jsonl", tmp_path / "state"
    big_trail(trail)
    args = [
        "run", "--source", f"audit:{trail},from=beginning", "--sink", f"file:{out}",
        "--state-dir", str(state), "-v",
    ]  # fmt: skip
    rng = random.Random(7)
    for _ in range(8):
        run_until_killed(args, subprocess.DEVNULL, rng.uniform(0.6, 1.6))
    done = finish(args, subprocess.DEVNULL, out)
    assert done.returncode == 0, done.stderr[-2000:]
    seqs = parsed(out.read_bytes().splitlines())
    assert gaps(seqs, range(RECORDS)) == ([], [])


def test_kill_9_mid_write_to_stdout_redirected_to_a_file_leaves_no_torn_line(tmp_path):
    trail, out, state = tmp_path / "a.jsonl", tmp_path / "out.jsonl", tmp_path / "state"
    big_trail(trail)
    args = ["run", "--source", f"audit:{trail},from=beginning", "--state-dir", str(state)]
    rng = random.Random(11)
    for _ in range(8):
        with open(out, "ab") as appended:  # >> out.jsonl
            run_until_killed(args, appended, rng.uniform(0.6, 1.6))
    with open(out, "ab") as appended:
        done = finish(args, appended, out)
    assert done.returncode == 0, done.stderr[-2000:]
    seqs = parsed(out.read_bytes().splitlines())
    assert gaps(seqs, range(RECORDS)) == ([], [])


def test_a_torn_tail_is_cut_back_before_the_restart_appends(tmp_path):
    """The state a kill leaves, made exactly: one whole line, then half of the next."""
    trail, out, state = tmp_path / "a.jsonl", tmp_path / "out.jsonl", tmp_path / "state"
    trail.write_bytes(b"".join(seq_line(n) for n in range(3)))
    args = [
        "run", "--source", f"audit:{trail},from=beginning", "--sink", f"file:{out}",
        "--state-dir", str(state), "-v",
    ]  # fmt: skip
    first = start(args, subprocess.DEVNULL)
    wait_checkpointed(state, lambda entries: entries and entries[0]["offset"] > 0)
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=30)
    whole = out.read_bytes()
    with open(out, "ab") as cut:
        cut.write(b'{"ts":"2026-01-01T00:00:00+00:00","source":"audit","act')
    with open(trail, "ab") as more:
        more.write(seq_line(3))
    again = start(args, subprocess.DEVNULL, subprocess.PIPE)
    deadline = time.monotonic() + 20
    while out.read_bytes().count(b"\n") < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    again.send_signal(signal.SIGTERM)
    _, err = again.communicate(timeout=30)
    assert out.read_bytes().startswith(whole)
    assert parsed(out.read_bytes().splitlines()) == [0, 1, 2, 3]
    assert b"cut back to its last whole line" in err
    assert os.stat(out).st_size == len(out.read_bytes())


def test_a_torn_tail_of_stdout_redirected_to_a_file_is_cut_back(tmp_path):
    trail, out, state = tmp_path / "a.jsonl", tmp_path / "out.jsonl", tmp_path / "state"
    trail.write_bytes(b"".join(seq_line(n) for n in range(3)))
    args = ["run", "--source", f"audit:{trail},from=beginning", "--state-dir", str(state)]
    out.write_bytes(b'{"ts":"2026-01-01T00:00:00+00:00","source":"audit","act')  # >> left by a kill
    with open(out, "ab") as appended:
        done = finish(args, appended, out, last=2)
    assert done.returncode == 0
    assert parsed(out.read_bytes().splitlines()) == [0, 1, 2]
    assert b"cut back to its last whole line" in done.stderr
