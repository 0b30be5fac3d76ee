"""R24 and R25: what happens to the path a source names, not to the file behind it.

R24: the followed path replaced by a symlink (``ln -s target tmp; mv tmp
app.jsonl``); appends to the target are delivered through it.
R25: the watched directory deleted and recreated, then a file in it that lives
less than ``rotate_wait`` before being rotated away: its records are delivered.
"""

from __future__ import annotations

import os
import shutil

import pytest
from ledger import gaps, seq_lines

from conftest import append
from trails import delivered, exactly_once, follow


@pytest.mark.parametrize("where", ["same directory", "other directory"])
def test_r24_a_path_replaced_by_a_symlink_is_followed_to_its_target(watchd, tmp_path, where):
    logs = tmp_path / "logs"
    logs.mkdir()
    trail = logs / "app.jsonl"
    trail.write_bytes(b"")
    process = follow(watchd, trail)
    append(trail, seq_lines(0, 10))
    exactly_once(delivered(process, 10), range(10))
    target_dir = logs if where == "same directory" else tmp_path / "elsewhere"
    target_dir.mkdir(exist_ok=True)
    target = target_dir / "target.jsonl"
    target.write_bytes(seq_lines(10, 20))
    os.symlink(target, logs / "tmp")
    os.rename(logs / "tmp", trail)
    exactly_once(delivered(process, 10), range(10, 20))
    append(target, seq_lines(20, 30))  # appends to the target, through no name in scope
    exactly_once(delivered(process, 10), range(20, 30))
    append(trail, seq_lines(30, 40))  # and through the link
    exactly_once(delivered(process, 10), range(30, 40))
    assert process.stop() == 0


def test_r25_a_recreated_directory_is_watched_again_at_once(watchd, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    trail = logs / "app.jsonl"
    trail.write_bytes(b"")
    process = follow(watchd, trail, source_options=",rotate_wait=2000")
    append(trail, seq_lines(0, 1000))
    seqs = delivered(process, 1000)
    for round_ in range(1, 4):
        shutil.rmtree(logs)
        logs.mkdir()
        base = round_ * 1000
        trail.write_bytes(seq_lines(base, base + 500))
        os.rename(trail, logs / "app.jsonl.1")  # rotated away before rotate_wait
        trail.write_bytes(seq_lines(base + 500, base + 1000))
        seqs += delivered(process, 1000)
    assert gaps(seqs, range(4000)) == ([], [])
    assert process.stop() == 0


def test_a_link_to_a_file_the_scope_names_too_is_read_once_under_the_real_name(watchd, tmp_path):
    real = tmp_path / "real.jsonl"
    real.write_bytes(b"")
    os.symlink(real, tmp_path / "a-link.jsonl")  # listed before the file it names, or after
    os.symlink(real, tmp_path / "z-link.jsonl")
    process = follow(watchd, f"{tmp_path}/*.jsonl")
    append(real, seq_lines(0, 5))
    events = [process.read_json(1)[0] for _ in range(5)]
    assert process.quiet_for(0.7)
    assert [(e["extra"]["seq"], e["origin"]) for e in events] == [(n, str(real)) for n in range(5)]
    assert process.stop() == 0
