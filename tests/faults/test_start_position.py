"""Where files start: at start-up every file of a glob at its end, however many there
are and whatever they hold; with a state that ran before, files new since from 0."""

from __future__ import annotations

import json

from ledger import seq_line, seq_lines

from conftest import append
from trails import delivered, exactly_once, follow


def test_every_file_found_at_start_starts_at_its_end(watchd, tmp_path):
    for n in range(3):  # the same bytes in each: the start position is per file, not per content
        (tmp_path / f"a{n}.jsonl").write_bytes(seq_line(0))
    process = follow(watchd, f"{tmp_path}/*.jsonl")
    append(tmp_path / "a1.jsonl", seq_lines(1, 3))
    exactly_once(delivered(process, 2), range(1, 3))
    assert process.stop() == 0


def test_with_a_state_that_ran_before_a_file_new_since_is_read_from_its_start(watchd, tmp_path):
    state = tmp_path / "state"
    (tmp_path / "a.jsonl").write_bytes(seq_line(0))
    first = follow(watchd, f"{tmp_path}/*.jsonl", state=state)
    assert first.quiet_for(0.5)
    assert first.stop() == 0
    (tmp_path / "b.jsonl").write_bytes(seq_lines(1, 3))  # appeared while watchd was stopped
    again = follow(watchd, f"{tmp_path}/*.jsonl", state=state)
    exactly_once(delivered(again, 2), range(1, 3))
    assert again.stop() == 0


def test_last_n_counts_records_not_lines(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(seq_lines(0, 3) + b"{torn\n\n[1, 2]\n" + seq_lines(3, 4) + b"not json\n")
    process = watchd("run", "--source", f"audit:{trail}", "--json", "--last", "3")
    assert [json.loads(process.read_line(timeout=10))["extra"]["seq"] for _ in range(3)] == [
        1,
        2,
        3,
    ]
    assert process.quiet_for(0.7)
    assert process.stop() == 0
