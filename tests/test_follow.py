"""Following an audit trail through the real CLI: what appears, and when."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import append, clean_env, line, record, wait_for_lines


def follow(watchd, path: Path, *extra: str):
    """Start ``watchd run`` on *path* with JSON output and wait until it is in place."""
    process = watchd("run", "--source", f"audit:{path}", "--json", "-v", *extra)
    if path.exists():
        process.wait_log("following file", path=str(path))
    else:
        process.wait_log("Waiting for audit events...", path=str(path))
    return process


def test_only_appended_records_appear_in_order(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(b"".join(line(n) for n in range(3)))
    process = follow(watchd, trail)
    for n in range(3, 8):
        append(trail, line(n))
        got = json.loads(process.read_line(timeout=1.0))
        assert got == {
            "ts": record(n)["ts"],
            "source": "audit",
            "action": "allowed",
            "container": "c1",
            "detail": f"n={n}",
            "origin": str(trail),
        }
    assert process.quiet_for(0.3)
    assert process.stop(signal.SIGINT) == 0


def test_a_file_created_later_is_read_from_its_start(watchd, tmp_path):
    trail = tmp_path / "not" / "yet" / "audit.jsonl"
    process = follow(watchd, trail)
    assert "Waiting for audit events..." in process.stderr
    assert not trail.parent.exists()  # waited for, never created
    trail.parent.mkdir(parents=True)
    append(trail, line(1) + line(2))
    assert [e["detail"] for e in process.read_json(2, timeout=2.0)] == ["n=1", "n=2"]


def test_half_a_record_waits_for_its_newline(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    process = follow(watchd, trail)
    whole = line(1)
    append(trail, whole[:20])
    assert process.quiet_for(0.3)
    append(trail, whole[20:])
    assert process.read_json(1, timeout=1.0)[0]["detail"] == "n=1"
    assert process.quiet_for(0.2)


def test_a_record_being_written_at_start_is_not_lost(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    whole = line(9)
    trail.write_bytes(line(1) + whole[:15])
    process = follow(watchd, trail)
    append(trail, whole[15:])
    assert process.read_json(1, timeout=1.0)[0]["detail"] == "n=9"


def test_truncation_restarts_at_zero_without_repeats(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    process = follow(watchd, trail)
    append(trail, line(1) + line(2) + line(3))
    assert len(process.read_json(3, timeout=2.0)) == 3
    os.truncate(trail, 0)
    append(trail, line(4))
    assert process.read_json(1, timeout=2.0)[0]["detail"] == "n=4"
    assert process.quiet_for(0.3)
    process.wait_log("file truncated, reading it again from the start", path=str(trail))


def test_deleted_and_recreated_file_is_read_from_its_start(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(line(0))
    process = follow(watchd, trail)
    append(trail, line(1))
    assert process.read_json(1, timeout=2.0)[0]["detail"] == "n=1"
    trail.unlink()
    process.wait_log("file deleted, draining it", path=str(trail))
    append(trail, line(2) + line(3))
    assert [e["detail"] for e in process.read_json(2, timeout=2.0)] == ["n=2", "n=3"]


def test_replaced_file_is_read_from_its_start(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(line(0))
    process = follow(watchd, trail)
    fresh = tmp_path / "fresh.jsonl"
    fresh.write_bytes(line(5))
    fresh.rename(trail)
    assert process.read_json(1, timeout=2.0)[0]["detail"] == "n=5"


def test_bad_lines_are_skipped_and_reported(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    process = follow(watchd, trail)
    append(
        trail,
        line(1)
        + b"{not json\n"
        + b"\n"
        + b"[1, 2, 3]\n"
        + b'{"ts":"2026-04-01T12:00:02+00:00","action":"note","container":"c\xff1"}\n'
        + line(3),
    )
    events = process.read_json(3, timeout=2.0)
    assert [e["action"] for e in events] == ["allowed", "note", "allowed"]
    assert events[1]["container"] == "c\ufffd1"
    assert events[1]["extra"] == {"_invalid_utf8": True}
    assert process.proc.poll() is None
    for reason in ("malformed JSON", "blank line", "JSON that is not an object"):
        process.wait_log(f"skipped {reason}", path=str(trail))
    append(trail, line(4))
    assert process.read_json(1, timeout=1.0)[0]["detail"] == "n=4"


def test_from_beginning_and_last(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(b"".join(line(n) for n in range(5)) + b"\n")
    everything = follow(watchd, trail, "--from-beginning")
    assert [e["detail"] for e in everything.read_json(5)] == [f"n={n}" for n in range(5)]
    last_two = follow(watchd, trail, "--last", "2")
    assert [e["detail"] for e in last_two.read_json(2)] == ["n=3", "n=4"]
    assert last_two.quiet_for(0.3)
    per_source = follow(watchd, trail, "--source", f"audit:{trail},last=1")
    # the first source starts at the end, the second shows its last record
    assert [e["detail"] for e in per_source.read_json(1)] == ["n=4"]


def test_sigint_and_sigterm_exit_0_promptly_closing_every_source(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    for sig in (signal.SIGINT, signal.SIGTERM):
        process = watchd(
            "run", "--source", f"audit:{trail}", "--source", f"audit:{tmp_path}/other.jsonl", "-v"
        )
        process.wait_log("following file", path=str(trail))
        sent = time.monotonic()
        status = process.stop(sig)
        assert status == 0
        assert time.monotonic() - sent < 1.0
        closed = [r["source"] for r in process.logs() if r.get("event") == "source closed"]
        assert sorted(closed) == sorted([f"audit:{trail}", f"audit:{tmp_path}/other.jsonl"])


def test_many_records_in_one_write_arrive_complete(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    process = follow(watchd, trail)
    append(trail, b"".join(line(n % 60, seq=n) for n in range(5000)))
    events = process.read_json(5000, timeout=10.0)
    assert [e["extra"]["seq"] for e in events] == list(range(5000))


def test_watchd_ends_when_the_reader_of_its_output_leaves(tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(line(1) + line(2) + line(3))
    pipeline = subprocess.run(
        [
            "bash",
            "-o",
            "pipefail",
            "-c",
            f"{sys.executable} -m watchd run --source audit:{trail} --from-beginning --json"
            " | head -n 1",
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
        env=clean_env(),
    )
    assert pipeline.returncode == 0  # watchd's own status too: a reader leaving is no error
    assert [json.loads(x)["detail"] for x in pipeline.stdout.splitlines()] == ["n=1"]


def test_format_is_stdouts_alone_every_other_sink_keeps_its_own(watchd, tmp_path, collector):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(line(0))
    copy = tmp_path / "copy.jsonl"
    process = watchd(
        "run",
        "--source",
        f"audit:{trail}",
        "--from-beginning",
        "--sink",
        f"tcp://127.0.0.1:{collector.port}",
        "--sink",
        f"file:{copy}",
        "--sink",
        "stdout",
        "--format",
        "cef",
    )
    assert process.read_line(timeout=10).startswith(b"CEF:0|")
    deadline = time.monotonic() + 10
    while not (collector.lines and copy.exists() and copy.read_bytes().endswith(b"\n")):
        assert time.monotonic() < deadline, process.stderr
        time.sleep(0.02)
    assert [json.loads(sent)["detail"] for sent in collector.lines] == ["n=0"]
    assert json.loads(copy.read_bytes())["detail"] == "n=0"
    assert process.stop() == 0


def test_run_writes_the_same_csv_as_query_header_first(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(line(0) + line(1))
    out = tmp_path / "out.csv"
    process = watchd(
        "run",
        "--source",
        f"audit:{trail}",
        "--from-beginning",
        "--format",
        "csv",
        "--sink",
        "stdout",
        "--sink",
        f"file:{out},format=csv",
    )
    queried = subprocess.run(
        [sys.executable, "-m", "watchd", "query", "--source", f"audit:{trail}", "--format", "csv"],
        capture_output=True,
        check=True,
        env=clean_env(),
    ).stdout
    header, *rows = queried.splitlines(keepends=True)
    assert header.startswith(b"ts,level,source,action,")
    assert [process.read_line(timeout=10) for _ in range(3)] == [header, *rows]
    wait_for_lines(out, 3)
    # The file sink starts each new file with the header: logrotate's create moved it away.
    out.rename(tmp_path / "out.csv.1")
    append(trail, line(2))
    assert b",n=2," in process.read_line(timeout=10)
    wait_for_lines(out, 2)
    assert out.read_bytes().splitlines()[0] == header.rstrip(b"\r\n")
    assert process.stop() == 0


def test_an_over_long_line_is_reported_with_its_offset(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(b"")
    process = watchd("run", "--source", f"audit:{trail},max_line_bytes=150", "--json", "-v")
    process.wait_log("following file", path=str(trail))
    append(trail, line(1) + b'{"pad": "' + b"x" * 200 + b'"}\n' + line(2))
    assert [json.loads(process.read_line())["detail"] for _ in range(2)] == ["n=1", "n=2"]
    warned = process.wait_log("skipped over-long line", path=str(trail))
    assert warned["offset"] == len(line(1))


@pytest.mark.parametrize("start", [("--last", "1"), ("--since", "2026-01-01T00:00:00Z"), ()])
def test_csv_starts_with_its_header_however_the_run_starts(watchd, tmp_path, start):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(line(0) + line(1))
    process = watchd("run", "--source", f"audit:{trail}", *start, "--format", "csv", "-v")
    if not start:  # following from the end: what comes next
        process.wait_log("ready")
        append(trail, line(2))
    first = process.read_line(timeout=10)
    assert first == b"ts,level,source,action,container,dest,detail,actor,origin,worktree,extra\n"
    assert process.stop() == 0


def test_the_human_format_says_which_file_each_event_is_from_as_tail_does(watchd, tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(b"")
    second.write_bytes(b"")
    process = watchd("run", "--source", f"audit:{tmp_path}", "--format", "human", "-v")
    process.wait_log("ready")
    for path, n in ((first, 0), (first, 1), (second, 2), (first, 3)):
        append(path, line(n))
        time.sleep(0.4)  # each read on its own (the reorder window is 250 ms)
    shown = [process.read_line(timeout=10).decode() for _ in range(10)]
    assert shown.pop(1).startswith("-- ")  # the records' day, not today's, said once
    headers = [row for row in shown if row.startswith("==>")]
    assert headers == [f"==> {first} <==\n", f"==> {second} <==\n", f"==> {first} <==\n"]
    assert shown[0] == headers[0]
    assert shown[3] == "\n"  # a blank line before every header but the first
    single = watchd("run", "--source", f"audit:{first}", "--last", "1", "--format", "human")
    assert not single.read_line(timeout=10).startswith(b"==>")  # one file: no headers
    single.stop()
