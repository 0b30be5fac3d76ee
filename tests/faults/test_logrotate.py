"""R19 and R31: copytruncate with the copy out of scope, and Debian's real logrotate.

R19: the source names ``app.jsonl`` only; logrotate's copytruncate copies it to
``app.jsonl.1`` (maybe compressed) and truncates it while watchd is behind or
stopped. The unread part is finished from the copy.
R31: ``create``, ``copytruncate``, ``compress`` + ``delaycompress``, ``dateext``
and ``rotate 3``, by the real logrotate, ten times at 2,000 records/s, and once
with kill -9 in the middle: no gap. copytruncate may lose only what the writer
wrote between logrotate's copy and its truncate: records in no file afterwards.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ledger import Follower, gaps, out_of_order, seq_lines

from trails import WRITER

LOGROTATE = shutil.which("logrotate") or "/usr/sbin/logrotate"


def copytruncate(trail: Path, to: Path, *, compress: bool = False) -> None:
    """What logrotate's copytruncate does: copy, then truncate in place."""
    shutil.copyfile(trail, to)
    os.truncate(trail, 0)
    if compress:
        with to.open("rb") as plain, gzip.open(f"{to}.gz", "wb") as packed:
            shutil.copyfileobj(plain, packed)
        to.unlink()


def run_args(trail: Path, state: Path) -> list[str]:
    return ["run", "--source", f"audit:{trail},from=beginning", "--json", "--state-dir", str(state)]


def test_r19_copytruncate_while_behind_finishes_from_the_copy(tmp_path):
    trail, state = tmp_path / "app.jsonl", tmp_path / "state"
    trail.write_bytes(seq_lines(0, 20_000))
    follower = Follower(run_args(trail, state), bytes_per_second=300_000)
    follower.wait_for(2000)
    copytruncate(trail, tmp_path / "app.jsonl.1")
    with trail.open("ab") as out:
        out.write(seq_lines(20_000, 21_000))
    follower.settle(quiet=2.0, timeout=120)
    status, seqs = follower.stop()
    assert status == 0
    assert gaps(seqs, range(21_000)) == ([], [])
    assert out_of_order(seqs) == []
    assert "finishing a truncated file from its copy" in follower.stderr


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_r19_copytruncate_while_stopped_finishes_from_the_copy(tmp_path, compress):
    trail, state = tmp_path / "app.jsonl", tmp_path / "state"
    trail.write_bytes(seq_lines(0, 20_000))
    first = Follower(run_args(trail, state), bytes_per_second=300_000)
    first.wait_for(2000)
    seqs = first.kill()
    copytruncate(trail, tmp_path / "app.jsonl.1", compress=compress)
    with trail.open("ab") as out:
        out.write(seq_lines(20_000, 21_000))
    second = Follower(run_args(trail, state))
    second.settle()
    status, rest = second.stop()
    assert status == 0
    assert gaps(seqs + rest, range(21_000)) == ([], [])
    assert out_of_order(seqs + rest) == []


MODES = {
    "create": "create",
    "copytruncate": "copytruncate",
    "compress": "create\n    compress\n    delaycompress",
    "dateext": "create\n    dateext\n    dateformat -%Y%m%d-%s",
}


def on_disk(directory: Path) -> set[int]:
    """Return the records still in some file of *directory* (compressed ones read too)."""
    held: set[int] = set()
    for path in directory.iterdir():
        if path.is_file() and path.name.startswith("app.jsonl"):
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            complete = data[: data.rfind(b"\n") + 1]
            held.update(json.loads(line)["seq"] for line in complete.splitlines() if line)
    return held


@pytest.mark.parametrize("crash", [False, True], ids=["live", "kill-9"])
@pytest.mark.parametrize("mode", list(MODES))
def test_r31_the_real_logrotate(tmp_path, mode, crash):
    if not os.path.exists(LOGROTATE):
        if os.environ.get("CI") == "true":
            pytest.fail("logrotate is not installed; .ci/run installs it")
        pytest.skip("logrotate is not installed (Debian's logrotate package)")
    logs = tmp_path / "logs"
    logs.mkdir()
    trail, state = logs / "app.jsonl", tmp_path / "state"
    keep = 20 if mode == "copytruncate" else 3  # copytruncate: every copy kept, to tell its window
    config = tmp_path / "logrotate.conf"
    config.write_text(f"{trail} {{\n    rotate {keep}\n    missingok\n    {MODES[mode]}\n}}\n")
    config.chmod(0o644)
    interval = 1.05 if mode == "dateext" else 0.45  # dateext names to the second
    total = int(2000 * interval * 11)
    trail.touch()
    follower = Follower(run_args(trail, state))
    time.sleep(0.5)
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), f"append:{trail}:0:{total}:{total / 2000}"]
    )
    delivered: list[int] = []
    for rotation in range(10):
        time.sleep(interval)
        rotated = subprocess.run(
            [LOGROTATE, "-f", "-s", str(tmp_path / "logrotate.state"), str(config)],
            check=False,
            capture_output=True,
            text=True,
        )
        # The writer opens the path for each record (O_CREAT), so it can create
        # the new file between logrotate's rename and its create: logrotate
        # says so and fails, the rotation (the rename) done. Any other error fails.
        raced = "error creating output file" in rotated.stderr and "File exists" in rotated.stderr
        assert rotated.returncode == 0 or raced, rotated.stderr
        if crash and rotation == 4:
            delivered += follower.kill()
        if crash and rotation == 6:
            # Rotations go on once it follows again: a restart slower than the
            # two rotations logrotate keeps would lose files to rotate 3, on a
            # loaded machine, whatever watchd does.
            follower = Follower([*run_args(trail, state), "-v"])
            follower.wait_ready()
    assert writer.wait(timeout=60) == 0
    follower.settle(quiet=2.0)
    status, last = follower.stop()
    delivered += last
    assert status == 0, follower.stderr[-2000:]
    missing, invented = gaps(delivered, range(total))
    assert invented == []
    if mode == "copytruncate":
        # Only what logrotate's own window lost: written, then in no file at all.
        assert set(missing) <= set(range(total)) - on_disk(logs)
    else:
        assert missing == []
    assert out_of_order(delivered) == []
