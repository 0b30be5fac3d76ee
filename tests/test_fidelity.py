"""Every line Python's json reads is an event, with its values as they were.

loki-mode writes its trails with Python's ``json``, which also writes integers
of any width, ``NaN`` and ``Infinity``, and lone surrogates; nesting hundreds
of levels deep is valid JSON too. Before, these records were skipped (the event
lost, the next link of the chain reported broken) or their integers turned to
floats (the chain reported broken although loki-mode verified it).
"""

from __future__ import annotations

import hashlib
import json

import pytest

from conftest import run_watchd

BIG = 2**70 + 1
FORMATS = ["json", "human", "csv", "cef", "leef", "ecs"]


def loki_trail(path, bodies):
    """Write *bodies* as loki-mode does: Python's json, each chained to the one before."""
    previous, lines = "0" * 64, []
    for n, extra in enumerate(bodies):
        record = {
            "timestamp": f"2026-11-22T08:00:{n:02}Z",
            "action": "create",
            "resource_type": "token",
            "resource_id": f"tok_{n}",
            "user_id": "ana",
            "details": extra,
        }
        data = previous + json.dumps(record, sort_keys=True, default=str)
        record["_integrity_hash"] = previous = hashlib.sha256(data.encode()).hexdigest()
        lines.append(json.dumps(record) + "\n")
    path.write_text("".join(lines))


ODD = [
    {"count": BIG},
    {"ratio": float("nan"), "high": float("inf"), "low": float("-inf")},
    {"name": "\ud800 alone"},
    {"huge": 1e400},
    {"plain": 1},
]


def test_loki_records_with_wide_integers_nan_and_surrogates_verify_as_loki_mode_verifies(
    tmp_path,
):
    trail = tmp_path / "audit.jsonl"
    loki_trail(trail, ODD)
    report = run_watchd("verify", str(trail), "--json")
    assert report.returncode == 0, report.stdout + report.stderr
    assert json.loads(report.stdout)["valid"] is True
    query = run_watchd("query", "--source", f"audit:{trail}", "--json")
    assert query.returncode == 0, query.stderr
    events = [json.loads(line) for line in query.stdout.splitlines()]
    details = [e["extra"]["details"] for e in events]
    assert details[0] == {"count": BIG}  # exact, not 1.1805916207174113e+21
    assert details[1] == {"ratio": None, "high": None, "low": None}  # JSON has no NaN
    assert details[2] == {"name": "\ud800 alone"}  # written as the escape \ud800
    assert details[3] == {"huge": None}
    assert "skipped" not in query.stderr


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_writes_every_odd_value_one_line_each(tmp_path, fmt):
    trail = tmp_path / "audit.jsonl"
    loki_trail(trail, [*ODD, {"deep": json.loads("[" * 890 + "1" + "]" * 890)}])
    result = run_watchd("query", "--source", f"audit:{trail}", "--format", fmt)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    if fmt == "human":  # its own line says the records' day, once
        assert lines.pop(0).startswith("-- ")
    assert len(lines) == 6 + (fmt == "csv")  # csv: its header first
    assert "dead letter" not in result.stderr
    assert "not written" not in result.stderr


def test_a_record_nested_deeper_than_python_reads_is_a_reported_skip(tmp_path):
    trail = tmp_path / "audit.jsonl"
    deep = '{"action":"deep","container":"c","v":' + "[" * 5000 + "]" * 5000 + "}\n"
    trail.write_text(
        '{"action":"before","container":"c"}\n' + deep + '{"action":"after","container":"c"}\n'
    )
    result = run_watchd("query", "--source", f"audit:{trail}", "--json")
    assert result.returncode == 0  # the skip is said (with its offset); the rest is printed
    assert [json.loads(line)["action"] for line in result.stdout.splitlines()] == [
        "before",
        "after",
    ]
    assert "nested too deep" in result.stderr
    assert "Traceback" not in result.stderr


def test_following_reads_them_live_too(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    loki_trail(trail, ODD)
    process = watchd("run", "--source", f"audit:{trail}", "--from-beginning", "--json")
    events = process.read_json(5, timeout=10)
    assert process.stop() == 0
    assert [e["extra"]["integrity"] for e in events] == ["ok"] * 5
    assert events[0]["extra"]["details"]["count"] == BIG


ORIGINALS = [
    # loki-mode's own separators, a key order no re-serialisation keeps, a wide integer, NaN
    b'{"timestamp": "2026-11-22T08:00:00Z", "action": "start", "resource_type": "session",'
    b' "details": {"n": 1180591620717411303425, "r": NaN}}',
    b'{"ts":"2026-11-22T08:00:01Z","event":"acquire","name":"build","owner":"ana","x":1.50}',
    b'{"ts": "2026-11-22T08:00:02Z", "container": "web", "action": "blocked", "dest": "a\\u00e9"}',
]


@pytest.mark.parametrize("command", ["run", "query"])
def test_ecs_event_original_is_the_line_as_read_byte_for_byte(watchd, tmp_path, command):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(b"".join(line + b"\n" for line in ORIGINALS))
    if command == "query":
        result = run_watchd("query", "--source", f"audit:{trail}", "--format", "ecs")
        assert result.returncode == 0, result.stderr
        docs = [json.loads(line) for line in result.stdout.splitlines()]
    else:
        source = f"audit:{trail},integrity=off"  # the loki record is no link of a chain here
        process = watchd("run", "--source", source, "--format", "ecs", "--from-beginning")
        docs = process.read_json(3, timeout=10)
        assert process.stop() == 0
    assert [doc["event"]["original"].encode() for doc in docs] == ORIGINALS
    offsets = [0, len(ORIGINALS[0]) + 1, len(ORIGINALS[0]) + len(ORIGINALS[1]) + 2]
    assert [doc["watchd"]["offset"] for doc in docs] == offsets
