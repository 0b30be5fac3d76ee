"""Several trails are merged in timestamp order within the reorder window; one file is not held."""

from __future__ import annotations

import json
import time

from conftest import append


def line(second: int, source: str) -> bytes:
    record = {"ts": f"2026-04-01T12:00:{second:02d}+00:00", "action": "a", "container": source}
    return json.dumps(record).encode() + b"\n"


def test_two_trails_written_at_once_come_out_in_time_order(watchd, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.touch()
    b.touch()
    process = watchd("run", "--source", f"audit:{a}", "--source", f"audit:{b}", "--json", "-v")
    process.wait_log("ready")
    append(a, line(1, "a") + line(3, "a") + line(5, "a"))
    append(b, line(2, "b") + line(4, "b") + line(6, "b"))
    got = [json.loads(process.read_line(timeout=5)) for _ in range(6)]
    assert [e["ts"][-8:-6] for e in got] == ["01", "02", "03", "04", "05", "06"]


def test_a_single_file_is_not_held_but_several_trails_are(watchd, tmp_path):
    single = tmp_path / "single.jsonl"
    single.touch()
    alone = watchd("run", "--source", f"audit:{single}", "--json", "-v", "--reorder-window", "3000")
    alone.wait_log("ready")
    append(single, line(1, "s"))
    started = time.monotonic()
    alone.read_line(timeout=2)
    assert time.monotonic() - started < 1.5  # far less than the 3 s window

    other = tmp_path / "other.jsonl"
    other.touch()
    merged = watchd(
        "run",
        "--source",
        f"audit:{single}",
        "--source",
        f"audit:{other}",
        "--json",
        "-v",
        "--reorder-window",
        "3000",
    )
    merged.wait_log("ready")
    append(other, line(2, "o"))
    assert merged.quiet_for(1.0)  # held for the window
    assert json.loads(merged.read_line(timeout=6))["container"] == "o"


def test_held_events_are_delivered_at_shutdown(watchd, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.touch()
    b.touch()
    process = watchd(
        "run",
        "--source",
        f"audit:{a}",
        "--source",
        f"audit:{b}",
        "--json",
        "-v",
        "--reorder-window",
        "10000",
    )
    process.wait_log("ready")
    append(a, line(7, "a"))
    time.sleep(0.5)
    assert process.stop() == 0
    assert [json.loads(x)["container"] for x in process.remaining_output()] == ["a"]
