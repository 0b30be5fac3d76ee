"""Where discovery and rotation meet: paths named before they exist, rotations in a burst.

Each test runs the real ``watchd run`` against a real directory and counts the
exact records delivered: none missing, none twice.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from conftest import append, line
from faults.ledger import gaps, seq_lines, seqs_of


def deliver(process, count: int, timeout: float = 10.0) -> list[int]:
    """Return the ``extra.seq`` of the next *count* events (``seq`` records)."""
    return seqs_of(process.read_line(timeout) for _ in range(count))


def test_a_directory_named_before_it_exists_is_followed_once_it_appears(watchd, tmp_path):
    # The docs' own example, audit:~/.loki/dashboard/audit, started before loki-mode ran.
    named = tmp_path / "loki" / "dashboard" / "audit"
    process = watchd("run", "--source", f"audit:{named}", "--json", "-v")
    process.wait_log("Waiting for audit events...")
    named.mkdir(parents=True)
    (named / "audit-2026-12-07.jsonl").write_bytes(seq_lines(0, 300))
    append(named / "lokt.log", seq_lines(300, 500))
    append(named / "audit-2026-12-07.jsonl", seq_lines(500, 600))
    delivered = deliver(process, 600)
    assert gaps(delivered, range(600)) == ([], [])
    assert len(delivered) == 600
    assert process.quiet_for(0.5)
    assert "not a regular file" not in process.stderr


def test_a_named_directory_that_appears_below_a_missing_parent_is_found_at_any_depth(
    watchd, tmp_path
):
    named = tmp_path / "a" / "b" / "c"
    process = watchd("run", "--source", f"audit:{named}", "--json")
    process.wait_log("Waiting for audit events...")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").mkdir()
    os.mkdir(named)
    append(named / "t.jsonl", line(1))
    assert json.loads(process.read_line(timeout=10.0))["detail"] == "n=1"


def test_a_file_named_before_it_exists_stays_a_file(watchd, tmp_path):
    """The rule is for a name that turns out to be a directory; a file is still one file."""
    named = tmp_path / "later.jsonl"
    process = watchd("run", "--source", f"audit:{named}", "--json")
    process.wait_log("Waiting for audit events...")
    append(tmp_path / "other.jsonl", line(1))
    append(named, line(2))
    assert json.loads(process.read_line(timeout=10.0))["detail"] == "n=2"
    assert process.quiet_for(0.5)


def rotate_numbered(trail: Path, keep: int) -> None:
    """``mv t.N-1 t.N ... mv t.1 t.2; mv t t.1``, as logrotate's numbered rotation does."""
    for n in range(keep - 1, 0, -1):
        older = trail.with_name(f"{trail.name}.{n}")
        if older.exists():
            os.rename(older, trail.with_name(f"{trail.name}.{n + 1}"))
    os.rename(trail, trail.with_name(f"{trail.name}.1"))


def test_numbered_rotations_back_to_back_lose_no_segment(watchd, tmp_path):
    """R33: segments created and rotated twice before watchd opened them are read all the same."""
    trail = tmp_path / "t.jsonl"
    trail.write_bytes(b"")
    process = watchd("run", "--source", f"audit:{trail}", "--json", "-v")
    process.wait_log("following file", path=str(trail))
    written = 0
    for _ in range(10):
        append(trail, seq_lines(written, written + 100))
        written += 100
        rotate_numbered(trail, keep=12)
    append(trail, seq_lines(written, written + 10))
    written += 10
    delivered = deliver(process, written, timeout=15.0)
    assert gaps(delivered, range(written)) == ([], [])
    assert len(delivered) == written, "a record was delivered twice"
    assert process.quiet_for(1.0)


def test_a_directory_deleted_and_recreated_with_its_file_written_at_once_loses_no_generation(
    watchd, tmp_path
):
    """R34: every generation of the directory is read, however fast the next one comes."""
    logs = tmp_path / "logs"
    logs.mkdir()
    trail = logs / "app.jsonl"
    trail.write_bytes(b"")
    process = watchd("run", "--source", f"audit:{trail}", "--json", "-v")
    process.wait_log("following file", path=str(trail))
    generations, per = 5, 700
    for generation in range(generations):
        shutil.rmtree(logs)
        logs.mkdir()
        append(trail, seq_lines(generation * per, (generation + 1) * per))
        # Paces the writer: the next generation deletes this one's file, and a file
        # deleted before anyone could look is a documented loss. Before the fix every
        # generation after the first was lost however long it lived: the directory's
        # watch stayed on the deleted one, held by the file still being drained.
        time.sleep(0.3)
    written = generations * per
    delivered = deliver(process, written, timeout=5.0)
    assert gaps(delivered, range(written)) == ([], [])
    assert len(delivered) == written, "a record was delivered twice"
    assert process.quiet_for(1.0)
