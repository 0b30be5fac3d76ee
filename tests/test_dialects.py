"""Every sample line of the four tools, through the audit source, mapped as samples/README says."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent / "data" / "samples"


def lines(name: str) -> list[dict]:
    return [json.loads(x) for x in (SAMPLES / name).read_text().splitlines()]


def expected_terok(path: str) -> list[dict]:
    base = {"source": "audit", "origin": path}
    return [
        {
            "ts": "2026-03-07T12:00:00+00:00",
            **base,
            "action": "setup",
            "container": "my-container",
            "detail": "ruleset applied",
        },
        {
            "ts": "2026-04-01T12:00:00+00:00",
            **base,
            "action": "allowed",
            "container": "test-container",
            "dest": "192.0.2.1",
            "detail": "target=github.com",
        },
        {"ts": "2026-04-01T00:00:00", **base, "action": "setup", "container": "x"},
        {
            "ts": "2026-04-01T12:00:00+00:00",
            **base,
            "action": "shield_down",
            "container": "c",
            "detail": "allow_all=True",
        },
    ]


def expected_lokt(path: str) -> list[dict]:
    acquire, deny, prune, corrupt = lines("lokt-audit.log")
    base = {"source": "audit", "origin": path}
    rest = lambda r: {k: v for k, v in r.items() if k not in ("ts", "event", "name", "owner")}  # noqa: E731
    return [
        {
            "ts": acquire["ts"],
            **base,
            "action": "acquire",
            "container": "build",
            "actor": "claude-1",
            "extra": rest(acquire),
        },
        {
            "ts": deny["ts"],
            **base,
            "action": "deny",
            "container": "build",
            "detail": "held by claude-1@macbook (pid 48201)",
            "level": "warning",
            "actor": "claude-2",
            "extra": rest(deny),
        },
        {
            "ts": prune["ts"],
            **base,
            "action": "auto-prune",
            "container": "build",
            "detail": "pruned claude-1@macbook (pid 48201): expired",
            "actor": "claude-3",
            "extra": rest(prune),
        },
        {
            "ts": corrupt["ts"],
            **base,
            "action": "corrupt-break",
            "container": "deploy",
            "level": "warning",
            "actor": "claude-3",
            "extra": rest(corrupt),
        },
    ]


def expected_loki(path: str) -> list[dict]:
    start, delete = lines("loki-audit-2026-02-15.jsonl")
    base = {"source": "audit", "origin": path}
    named = (
        "timestamp",
        "action",
        "resource_type",
        "resource_id",
        "user_id",
        "ip_address",
        "error",
    )
    rest = lambda r: {k: v for k, v in r.items() if k not in named}  # noqa: E731
    return [
        {
            "ts": start["timestamp"],
            **base,
            "action": "start",
            "container": "session",
            "dest": "127.0.0.1",
            "extra": {**rest(start), "integrity": "ok"},
        },
        {
            "ts": delete["timestamp"],
            **base,
            "action": "delete",
            "container": "task/42",
            "dest": "127.0.0.1",
            "level": "warning",
            "extra": {**rest(delete), "integrity": "ok"},
        },
    ]


def expected_ito(path: str) -> list[dict]:
    status, archive = lines("ito-events.jsonl")
    base = {"source": "audit", "origin": path}
    return [
        {
            "ts": status["ts"],
            **base,
            "action": "task.status_change",
            "container": "test-change/1.1",
            "detail": "pending -> in-progress",
            "actor": "cli",
            "extra": {"v": 1, "by": "@jack", "ctx": status["ctx"]},
        },
        {
            "ts": archive["ts"],
            **base,
            "action": "change.archive",
            "container": "005-01_add-x",
            "actor": "cli",
            "extra": {"v": 1, "by": "@jack", "meta": archive["meta"], "ctx": archive["ctx"]},
        },
    ]


EXPECTED = {
    "terok-audit.jsonl": expected_terok,
    "lokt-audit.log": expected_lokt,
    "loki-audit-2026-02-15.jsonl": expected_loki,
    "ito-events.jsonl": expected_ito,
}


def events_of(watchd, spec: str, count: int) -> list[dict]:
    process = watchd("run", "--source", spec, "--from-beginning", "--json")
    out = [json.loads(process.read_line(timeout=10)) for _ in range(count)]
    assert process.quiet_for(0.5)
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("schema", ["auto", "named"])
def test_each_sample_through_a_file_source(watchd, tmp_path, name, schema):
    path = tmp_path / name
    shutil.copy(SAMPLES / name, path)
    expected = EXPECTED[name](str(path))
    dialect = {
        "terok-audit.jsonl": "terok",
        "lokt-audit.log": "lokt",
        "loki-audit-2026-02-15.jsonl": "loki",
        "ito-events.jsonl": "ito",
    }[name]
    spec = f"audit:{path}" + (f",schema={dialect}" if schema == "named" else "")
    assert events_of(watchd, spec, len(expected)) == expected


def test_all_four_samples_in_one_glob_are_each_recognised(watchd, tmp_path):
    for name in EXPECTED:
        shutil.copy(SAMPLES / name, tmp_path / name)
    got = events_of(watchd, f"audit:{tmp_path}/*", 12)
    want = [e for name in EXPECTED for e in EXPECTED[name](str(tmp_path / name))]
    assert sorted(got, key=json.dumps) == sorted(want, key=json.dumps)


def test_terok_container_falls_back_to_the_source_option(watchd, tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text('{"ts":"2026-04-01T12:00:00+00:00","action":"setup","container":null}\n')
    event = events_of(watchd, f"audit:{path},schema=terok,container=web", 1)[0]
    assert event["container"] == "web"


def test_generic_maps_common_key_names_and_keeps_the_rest(watchd, tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text(
        '{"timestamp":"2026-05-01T00:00:00Z","event":"login","user":"ana",'
        '"message":"ok","level":"WARN","session":7}\n'
    )
    event = events_of(watchd, f"audit:{path},schema=generic", 1)[0]
    assert event == {
        "ts": "2026-05-01T00:00:00Z",
        "source": "audit",
        "action": "login",
        "container": "",
        "detail": "ok",
        "level": "warning",
        "actor": "ana",
        "origin": str(path),
        "extra": {"session": 7},
    }


def test_the_loki_agent_trail(watchd, tmp_path):
    path = tmp_path / "agent-audit.jsonl"
    path.write_text(
        '{"timestamp": "2026-02-12T18:30:00Z", "action": "git_commit", '
        '"agent": "development", "details": {"message": "Add auth module", '
        '"files_changed": 3}}\n'
    )
    event = events_of(watchd, f"audit:{path}", 1)[0]
    assert event == {
        "ts": "2026-02-12T18:30:00Z",
        "source": "audit",
        "action": "git_commit",
        "container": "development",
        "actor": "development",
        "origin": str(path),
        "extra": {"details": {"message": "Add auth module", "files_changed": 3}},
    }


def test_change_keeps_only_the_ito_events_of_one_change(watchd, tmp_path):
    path = tmp_path / "events.jsonl"
    ito = [
        {
            "v": 1,
            "ts": "2026-02-08T14:30:00.000Z",
            "entity": "task",
            "entity_id": "1.1",
            "scope": "add-x",
            "op": "status_change",
            "to": "done",
            "actor": "cli",
            "by": "@j",
        },
        {
            "v": 1,
            "ts": "2026-02-08T14:31:00.000Z",
            "entity": "task",
            "entity_id": "1.1",
            "scope": "add-y",
            "op": "status_change",
            "to": "done",
            "actor": "cli",
            "by": "@j",
        },
        {
            "v": 1,
            "ts": "2026-02-08T14:32:00.000Z",
            "entity": "change",
            "entity_id": "add-x",
            "op": "archive",
            "actor": "cli",
            "by": "@j",
        },
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in ito))
    process = watchd(
        "run", "--source", f"audit:{path}", "--from-beginning", "--json", "--change", "add-x"
    )
    got = [json.loads(process.read_line(timeout=10)) for _ in range(2)]
    assert process.quiet_for(0.5)
    assert [(e["action"], e["container"]) for e in got] == [
        ("task.status_change", "add-x/1.1"),
        ("change.archive", "add-x"),
    ]


def test_every_sample_through_a_directory_source(watchd, tmp_path):
    for name in EXPECTED:
        shutil.copy(SAMPLES / name, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a trail\n")
    got = events_of(watchd, f"audit:{tmp_path}", 12)
    want = [e for name in EXPECTED for e in EXPECTED[name](str(tmp_path / name))]
    assert sorted(got, key=json.dumps) == sorted(want, key=json.dumps)
