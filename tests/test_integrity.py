"""loki-mode's integrity chain, verified live: ok, broken, unverified, across days and restarts."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from conftest import append

SAMPLE = Path(__file__).resolve().parent / "data" / "samples" / "loki-audit-2026-02-15.jsonl"
GENESIS = "0" * 64


def chained(previous: str, record: dict) -> dict:
    """Return *record* with the hash loki-mode would give it after *previous*."""
    body = {k: v for k, v in record.items() if k != "_integrity_hash"}
    digest = hashlib.sha256((previous + json.dumps(body, sort_keys=True, default=str)).encode())
    return {**body, "_integrity_hash": digest.hexdigest()}


def loki_record(action: str, ts: str, **fields) -> dict:
    return {
        "timestamp": ts,
        "action": action,
        "resource_type": "task",
        "resource_id": "1",
        "user_id": None,
        "token_id": None,
        "ip_address": "127.0.0.1",
        "user_agent": None,
        "success": True,
        "error": None,
        "details": {},
        **fields,
    }


def dumps(record: dict) -> bytes:
    return json.dumps(record).encode() + b"\n"  # loki-mode's own separators


def follow(watchd, spec, *args):
    process = watchd("run", "--source", spec, "--json", "-v", *args)
    process.wait_log("ready")
    return process


def read(process, count):
    events = [json.loads(process.read_line(timeout=10)) for _ in range(count)]
    assert process.quiet_for(0.5)
    return events


def test_the_samples_verify_and_an_altered_record_is_one_broken_link(watchd, tmp_path):
    start, delete = [json.loads(x) for x in SAMPLE.read_text().splitlines()]
    assert chained(GENESIS, start) == start  # the test's algorithm is loki-mode's
    day = tmp_path / "audit-2026-02-15.jsonl"
    delete["details"]["title"] = "fix bug, quietly"  # tampered: its hash no longer fits
    after = chained(delete["_integrity_hash"], loki_record("stop", "2026-02-15T14:40:00Z"))
    day.write_bytes(dumps(start) + dumps(delete) + dumps(after))
    events = read(follow(watchd, f"audit:{tmp_path}", "--from-beginning"), 4)
    assert [(e["action"], e["extra"].get("integrity")) for e in events] == [
        ("start", "ok"),
        ("delete", "broken"),
        ("integrity.broken", None),
        ("stop", "ok"),
    ]
    alert = events[2]
    assert alert["level"] == "critical"
    assert alert["detail"] == f"{day}:2: the record does not match its integrity hash"
    assert (alert["extra"]["file"], alert["extra"]["line"]) == (str(day), 2)


def test_the_chain_continues_into_the_next_days_file(watchd, tmp_path):
    shutil.copy(SAMPLE, tmp_path / "audit-2026-02-15.jsonl")
    os.utime(tmp_path / "audit-2026-02-15.jsonl", (1_700_000_000, 1_700_000_000))
    last = json.loads(SAMPLE.read_text().splitlines()[-1])["_integrity_hash"]
    next_day = chained(last, loki_record("login", "2026-02-16T00:00:01Z"))
    (tmp_path / "audit-2026-02-16.jsonl").write_bytes(dumps(next_day))
    process = follow(watchd, f"audit:{tmp_path}", "--from-beginning")
    events = read(process, 3)
    assert [(e["action"], e["extra"]["integrity"]) for e in events] == [
        ("start", "ok"),
        ("delete", "ok"),
        ("login", "ok"),
    ]
    # live: the day after that, created while watchd runs, chains on
    third = chained(next_day["_integrity_hash"], loki_record("logout", "2026-02-17T09:00:00Z"))
    append(tmp_path / "audit-2026-02-17.jsonl", dumps(third))
    assert read(process, 1)[0]["extra"]["integrity"] == "ok"


def test_a_record_without_hash_in_a_begun_chain_breaks_it_and_the_chain_goes_on(watchd, tmp_path):
    first = chained(GENESIS, loki_record("start", "2026-02-15T10:00:00Z"))
    bare = loki_record("note", "2026-02-15T10:00:01Z")  # appended without a hash
    injected = {"timestamp": "2026-02-15T10:00:04Z", "action": "login", "user_id": "root"}
    second = chained(first["_integrity_hash"], loki_record("stop", "2026-02-15T10:00:03Z"))
    day = tmp_path / "audit-2026-02-15.jsonl"
    day.write_bytes(dumps(first) + dumps(bare) + dumps(second) + b"{torn\n" + dumps(injected))
    events = read(follow(watchd, f"audit:{tmp_path}", "--from-beginning"), 6)
    assert [(e["action"], e["extra"].get("integrity")) for e in events] == [
        ("start", "ok"),
        ("note", "broken"),
        ("integrity.broken", None),
        ("stop", "ok"),
        ("integrity.broken", None),  # line 4 does not parse
        ("login", "broken"),  # the same run of broken links: one alert
    ]
    assert events[2]["detail"] == f"{day}:2: the record has no integrity hash"
    assert events[4]["detail"] == f"{day}:4: the line is not a record"


def test_records_before_any_hash_are_unverified(watchd, tmp_path):
    bare = [
        loki_record("start", "2026-02-15T10:00:00Z"),
        loki_record("stop", "2026-02-15T10:00:01Z"),
    ]
    (tmp_path / "audit-2026-02-15.jsonl").write_bytes(b"".join(map(dumps, bare)))
    events = read(follow(watchd, f"audit:{tmp_path}", "--from-beginning"), 2)
    assert [e["extra"]["integrity"] for e in events] == ["unverified", "unverified"]


def test_the_chain_head_is_kept_across_restarts(watchd, tmp_path):
    state = tmp_path / "state"
    logs = tmp_path / "audit"
    logs.mkdir()
    day = logs / "audit-2026-02-15.jsonl"
    shutil.copy(SAMPLE, day)
    first = follow(watchd, f"audit:{logs}", "--from-beginning", "--state-dir", str(state))
    assert [e["extra"]["integrity"] for e in read(first, 2)] == ["ok", "ok"]
    assert first.stop() == 0
    last = json.loads(SAMPLE.read_text().splitlines()[-1])["_integrity_hash"]
    good = chained(last, loki_record("kill", "2026-02-15T15:00:00Z"))
    forged = chained(GENESIS, loki_record("delete", "2026-02-15T15:00:01Z"))  # a new chain
    append(day, dumps(good) + dumps(forged))
    events = read(follow(watchd, f"audit:{logs}", "--state-dir", str(state)), 3)
    assert [(e["action"], e["extra"].get("integrity")) for e in events] == [
        ("kill", "ok"),
        ("delete", "broken"),
        ("integrity.broken", None),
    ]
    assert events[2]["detail"].endswith(":4: the record does not match its integrity hash")


def test_the_chain_continues_across_a_size_rotation(watchd, tmp_path):
    day = tmp_path / "audit-2026-02-15.jsonl"
    shutil.copy(SAMPLE, day)
    process = follow(watchd, f"audit:{tmp_path}", "--from-beginning")
    assert [e["extra"]["integrity"] for e in read(process, 2)] == ["ok", "ok"]
    day.rename(tmp_path / "audit-2026-02-15.143200.jsonl")  # loki-mode at 10 MB
    last = json.loads(SAMPLE.read_text().splitlines()[-1])["_integrity_hash"]
    after = chained(last, loki_record("logout", "2026-02-15T14:40:00Z"))
    append(day, dumps(after))  # today's file again, new
    assert [(e["action"], e["extra"]["integrity"]) for e in read(process, 1)] == [("logout", "ok")]
