"""R37: a checkpoint file damaged while watchd was stopped costs duplicates, never a gap or a crash.

What cannot be trusted is read again from its start and said in one line; what
can (a valid entry beside a damaged one) is resumed from as before.
"""

from __future__ import annotations

import json
import os
import signal

import pytest
from ledger import seq_lines

from conftest import append
from trails import follow

DAMAGES = {
    "empty": lambda good: b"",
    "half-written": lambda good: good[: len(good) // 2],
    "nul-filled": lambda good: b"\0" * len(good),
    "random": lambda good: os.urandom(len(good)),
    "top-level array": lambda good: b"[1, 2, 3]",
    "files of the wrong shape": lambda good: _edited(good, lambda d: d.update(files={"a": 1})),
    "a null entry": lambda good: _edited(good, lambda d: d["files"].append(None)),
    "an entry without dev": lambda good: _edited(good, lambda d: d["files"][0].pop("dev")),
    "a negative offset": lambda good: _entry(good, offset=-5),
    "a string offset": lambda good: _entry(good, offset="12"),
    "a float offset": lambda good: _entry(good, offset=12.5),
    "an offset past the end": lambda good: _entry(good, offset=10**12),
    "another version": lambda good: _edited(good, lambda d: d.update(version=99)),
}


def _edited(good: bytes, change) -> bytes:
    document = json.loads(good)
    change(document)
    return json.dumps(document).encode()


def _entry(good: bytes, **fields) -> bytes:
    return _edited(good, lambda d: d["files"][0].update(fields))


def first_run(watchd, tmp_path, count: int):
    """Run once over *count* records and stop: return the trail, the state, its checkpoint file."""
    trail, state = tmp_path / "audit.jsonl", tmp_path / "state"
    trail.write_bytes(b"")
    first = follow(watchd, trail, state=state)
    append(trail, seq_lines(0, count))
    assert len(first.read_json(count, timeout=10)) == count
    assert first.stop(signal.SIGTERM) == 0
    return trail, state, state / "checkpoints.json"


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_checkpoint_reads_again_and_never_skips(watchd, tmp_path, damage):
    trail, state, checkpoint = first_run(watchd, tmp_path, 100)
    good = checkpoint.read_bytes()
    assert json.loads(good)["files"][0]["offset"] == trail.stat().st_size
    append(trail, seq_lines(100, 200))  # while stopped
    checkpoint.write_bytes(DAMAGES[damage](good))

    again = follow(watchd, trail, state=state)
    seqs = [e["extra"]["seq"] for e in again.read_json(100, timeout=10)]
    while seqs[-1] != 199:  # what could not be trusted comes again first
        seqs += [e["extra"]["seq"] for e in again.read_json(1, timeout=10)]
    assert set(range(100, 200)) <= set(seqs), "records appended while stopped were skipped"
    assert again.quiet_for(0.5)
    said = [r for r in again.logs() if "checkpoint" in r.get("event", "")]
    assert len(said) == 1, said
    assert said[0]["level"] in ("warning", "error")
    assert again.stop(signal.SIGTERM) == 0
    assert "Traceback" not in again.stderr


def test_a_symlink_planted_at_the_checkpoint_is_not_read_through(watchd, tmp_path):
    trail, state, checkpoint = first_run(watchd, tmp_path, 10)
    # A checkpoint that says every byte was read, planted elsewhere and linked in.
    planted = tmp_path / "planted.json"
    planted.write_bytes(checkpoint.read_bytes())
    checkpoint.unlink()
    checkpoint.symlink_to(planted)
    append(trail, seq_lines(10, 20))
    again = follow(watchd, trail, state=state)
    seqs = [e["extra"]["seq"] for e in again.read_json(20, timeout=10)]
    assert sorted(seqs) == list(range(20)), "the planted checkpoint was trusted"
    assert again.stop(signal.SIGTERM) == 0
    assert planted.read_bytes() != b""  # the link's target is not written through either
    assert not checkpoint.is_symlink()
