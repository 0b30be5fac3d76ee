"""R24 and R25: what happens to the path a source names, not to the file behind it; symlinks.

R24: the followed path replaced by a symlink (``ln -s target tmp; mv tmp
app.jsonl``); appends to the target are delivered through it.
R25: the watched directory deleted and recreated, then a file in it that lives
less than ``rotate_wait`` before being rotated away: its records are delivered.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from ledger import gaps, seq_lines

from conftest import append, run_watchd
from trails import delivered, exactly_once, follow
from watchd.watchers.files.symlinks import INSIDE, LinkRule, OutsideScopeError


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


def planted(tmp_path):
    """A watched directory with a link to a file outside it, and one to a file inside it."""
    logs, secret = tmp_path / "logs", tmp_path / "secret"
    logs.mkdir()
    secret.mkdir()
    (secret / "shadow.jsonl").write_bytes(b'{"seq": 666, "password": "hunter2"}\n')
    os.symlink(secret / "shadow.jsonl", logs / "planted.jsonl")
    (logs / "real.jsonl").write_bytes(b"")
    os.symlink(logs / "real.jsonl", logs / "alias.log")
    return logs


@pytest.mark.parametrize("scope", ["directory", "glob"])
def test_a_directory_source_follows_no_link_out_of_its_directory(watchd, tmp_path, scope):
    logs = planted(tmp_path)
    target = str(logs) if scope == "directory" else f"{logs}/*.jsonl"
    process = follow(watchd, target, "--from-beginning")
    append(logs / "real.jsonl", seq_lines(0, 3))
    exactly_once(delivered(process, 3), range(3))
    assert process.quiet_for(0.7)
    assert process.stop() == 0
    assert process.stderr.count("symbolic link out of the source's directory") == 1
    assert "hunter2" not in process.stderr


def test_follow_symlinks_no_and_yes(watchd, tmp_path):
    logs = planted(tmp_path)
    never = follow(watchd, logs, "--from-beginning", source_options=",follow_symlinks=no")
    append(logs / "real.jsonl", seq_lines(0, 2))
    exactly_once(delivered(never, 2), range(2))  # real.jsonl once; its alias is not followed
    assert never.quiet_for(0.7)
    assert never.stop() == 0
    assert never.stderr.count("symbolic link out of the source's directory") == 2
    always = follow(watchd, logs, "--from-beginning", source_options=",follow_symlinks=yes")
    assert sorted(delivered(always, 3)) == [0, 1, 666]
    assert always.stop() == 0


def test_a_link_swapped_in_after_the_listing_is_refused_when_opened(tmp_path):
    logs = planted(tmp_path)
    rule = LinkRule(INSIDE)
    fd, _ = rule.open(str(logs / "alias.log"))  # inside: followed
    os.close(fd)
    with pytest.raises(OutsideScopeError):
        rule.open(str(logs / "planted.jsonl"))
    assert LinkRule(INSIDE, explicit=True).open(str(logs / "planted.jsonl")) is not None


def test_query_reads_no_link_out_of_a_directory(tmp_path):
    logs = planted(tmp_path)
    (logs / "real.jsonl").write_bytes(seq_lines(0, 2))
    result = run_watchd("query", "--source", f"audit:{logs}", "--json")
    assert result.returncode == 0
    assert [json.loads(line)["extra"]["seq"] for line in result.stdout.splitlines()] == [0, 1]
    assert "symbolic link out of the source's directory" in result.stderr
