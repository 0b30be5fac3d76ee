"""loki-mode's audit endpoints on ``watchd run --http``, against loki-mode's documented behaviour.

The trail is written here as loki-mode writes it (``json.dumps`` of the
record, chained by sha256 of the previous hash and the record's
``json.dumps(..., sort_keys=True, default=str)``; daily files in modification
time order). What each endpoint must answer is spelled out from what
loki-mode's ``query_logs`` (newest first by ``timestamp``, then ``offset`` and
``limit``), ``get_audit_summary`` and ``verify_all_logs`` return.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from test_http import Server, terok

GENESIS = "0" * 64
KEYS = (
    "timestamp",
    "action",
    "resource_type",
    "resource_id",
    "user_id",
    "token_id",
    "ip_address",
    "user_agent",
    "success",
    "error",
    "details",
)


def entry(when: datetime, action: str, resource_type: str, **fields: object) -> dict:
    record: dict[str, object] = dict.fromkeys(KEYS)
    record.update(timestamp=when.isoformat(), action=action, resource_type=resource_type)
    record.update(success=True, details={})
    record.update(fields)
    return record


def write_chain(path: Path, records: list[dict], head: str, *, chained: bool = True) -> str:
    """Write *records* as loki-mode does; return the last hash."""
    lines = []
    for record in records:
        if chained:
            body = json.dumps(record, sort_keys=True, default=str)
            record["_integrity_hash"] = head = hashlib.sha256((head + body).encode()).hexdigest()
        lines.append(json.dumps(record) + "\n")
    path.write_text("".join(lines))
    return head


NOW = datetime.now(UTC).replace(microsecond=0)
OLD = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def trails(tmp_path):
    """A loki-mode audit directory: a file from before integrity, two chained days, and terok's."""
    audit = tmp_path / "audit"
    audit.mkdir()
    early = [entry(OLD - timedelta(days=1), "login", "session", user_id="ann")]
    first = [
        entry(OLD, "start", "session", user_id="ann", ip_address="10.0.0.1"),
        entry(OLD + timedelta(minutes=1), "delete", "task", resource_id="42", token_id="tok1"),  # noqa: S106
        entry(OLD + timedelta(minutes=2), "login", "session", success=False, error="bad password"),
    ]
    second = [
        entry(NOW - timedelta(hours=2), "create", "task", resource_id="7", user_id="bob"),
        entry(
            NOW - timedelta(hours=1),
            "revoke_token",
            "token",
            success=False,
            error="expired",
            details={"why": "<img src=x>", "n": [1, 2]},
        ),
        entry(NOW - timedelta(minutes=30), "create", "task", resource_id="8", user_id="bob"),
        entry(NOW - timedelta(minutes=10), "stop", "session", user_id="ann"),
    ]
    paths = [
        audit / "audit-2026-01-04.jsonl",
        audit / "audit-2026-01-05.jsonl",
        audit / f"audit-{NOW:%Y-%m-%d}.jsonl",
    ]
    write_chain(paths[0], early, GENESIS, chained=False)
    head = write_chain(paths[1], first, GENESIS)
    write_chain(paths[2], second, head)
    (audit / "terok.jsonl").write_bytes(terok(1) + terok(2))  # not loki's: never in its answers
    for age, path in enumerate(reversed([*paths, audit / "terok.jsonl"])):
        os.utime(path, (1_800_000_000 - age * 100, 1_800_000_000 - age * 100))
    return audit, paths, [*early, *first, *second]


def serve(watchd, audit: Path) -> Server:
    return Server(
        watchd(
            *("run", "--source", f"audit:{audit}", "--from-beginning", "--sink", "file:/dev/null"),
            *("--http", "127.0.0.1:0"),
        )
    )


def newest_first(records: list[dict]) -> list[dict]:
    return sorted(records, key=lambda r: r["timestamp"], reverse=True)


def get_json(server: Server, path: str):
    status, headers, body = server.get(path)
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)


def test_the_dashboard_query_endpoints_answer_as_query_logs(watchd, trails):
    audit, _, records = trails
    server = serve(watchd, audit)
    every = newest_first(records)
    assert len(every) == 8
    assert get_json(server, "/api/v2/audit") == every
    assert get_json(server, "/api/v2/audit?limit=3&offset=2") == every[2:5]
    assert get_json(server, "/api/v2/audit?action=create") == [
        r for r in every if r["action"] == "create"
    ]
    assert get_json(server, "/api/v2/audit?resource_type=session&start_date=2026-01-05") == [
        r for r in every if r["resource_type"] == "session" and r["timestamp"] >= "2026-01-05"
    ]
    assert get_json(server, "/api/v2/audit?end_date=2026-01-05") == every[-4:]
    assert get_json(server, "/api/enterprise/audit?resource_type=task&resource_id=42") == [
        records[2]
    ]
    assert get_json(server, "/api/v2/audit?start_date=2030-01-01") == []


def test_the_documented_audit_endpoints(watchd, trails):
    audit, _, records = trails
    server = serve(watchd, audit)
    every = newest_first(records)
    assert get_json(server, "/audit?limit=2") == every[:2]
    assert get_json(server, "/api/audit?event=create") == [
        r for r in every if r["action"] == "create"
    ]
    # level and actor are watchd's mapping: a failure is a warning, the actor is user_id.
    assert get_json(server, "/audit?level=warning&start=2026-06-01") == [
        r for r in every[:4] if r["action"] in ("revoke_token", "stop")
    ]
    assert get_json(server, "/audit?actor=bob") == [r for r in every if r["user_id"] == "bob"]
    assert get_json(server, "/audit/summary") == {
        "period": "24h",
        "total_events": 4,
        "by_type": {"create": 2, "revoke_token": 1, "stop": 1},
        "by_level": {"info": 2, "warning": 2},
    }


def test_the_summary_is_get_audit_summary(watchd, trails):
    audit, _, records = trails
    server = serve(watchd, audit)
    revoke = records[5]
    assert get_json(server, "/api/enterprise/audit/summary") == {
        "period_days": 7,
        "total_events": 4,
        "successful_events": 3,
        "failed_events": 1,
        "by_action": {"stop": 1, "create": 2, "revoke_token": 1},
        "by_resource_type": {"session": 1, "task": 2, "token": 1},
        "by_user": {"ann": 1, "bob": 2, "anonymous": 1},
        "recent_failures": [
            {
                "timestamp": revoke["timestamp"],
                "action": "revoke_token",
                "resource_type": "token",
                "error": "expired",
            },
        ],
    }
    whole = get_json(server, "/api/enterprise/audit/summary?days=36500")
    assert (whole["total_events"], whole["failed_events"]) == (8, 2)
    assert whole["by_user"] == {"ann": 3, "bob": 2, "anonymous": 2, "tok1": 1}
    assert [f["action"] for f in whole["recent_failures"]] == ["revoke_token", "login"]


def test_the_export_in_json_and_csv(watchd, trails):
    audit, _, records = trails
    server = serve(watchd, audit)
    every = newest_first(records)
    assert get_json(server, "/api/v2/audit/export?start_date=2026-01-05") == every[:7]
    status, headers, body = server.get("/api/v2/audit/export?format=csv")
    assert status == 200
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert headers["Content-Disposition"] == "attachment; filename=audit-export.csv"
    rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert rows[0] == [*KEYS, "_integrity_hash"]
    revoke = rows[1 + every.index(records[5])]
    assert revoke[KEYS.index("details")] == '{"why": "<img src=x>", "n": [1, 2]}'
    assert revoke[KEYS.index("success")] == "False"
    assert revoke[KEYS.index("resource_id")] == ""
    assert len(rows) == 9
    assert body.endswith(b"\r\n")


def test_verify_is_verify_all_logs_and_finds_the_tampered_line(watchd, trails):
    audit, paths, _ = trails
    server = serve(watchd, audit)
    assert get_json(server, "/api/v2/audit/verify") == {
        "valid": True,
        "files_checked": 2,
        "files_skipped": 1,
        "entries_checked": 7,
        "genesis_file": str(paths[1]),
        "first_tampered_file": None,
        "first_tampered_line": None,
        "results": [
            {
                "file": paths[0].name,
                "valid": True,
                "skipped_pre_integrity": True,
                "entries_checked": 0,
            },
            {**_file_result(paths[1], 3), "file": paths[1].name},
            {**_file_result(paths[2], 4), "file": paths[2].name},
        ],
    }
    mtime = paths[2].stat().st_mtime
    paths[2].write_text(paths[2].read_text().replace('"resource_id": "8"', '"resource_id": "9"'))
    os.utime(paths[2], (mtime, mtime))
    answer = get_json(server, "/api/v2/audit/verify")
    assert {
        k: answer[k]
        for k in ("valid", "entries_checked", "first_tampered_file", "first_tampered_line")
    } == {
        "valid": False,
        "entries_checked": 5,
        "first_tampered_file": str(paths[2]),
        "first_tampered_line": 3,
    }
    assert answer["results"][2] == {
        "valid": False,
        "entries_checked": 2,
        "first_tampered_line": 3,
        "last_hash": json.loads(paths[2].read_text().splitlines()[1])["_integrity_hash"],
        "file": paths[2].name,
    }


def _file_result(path: Path, entries: int) -> dict:
    last = json.loads(path.read_text().splitlines()[-1])["_integrity_hash"]
    return {
        "valid": True,
        "entries_checked": entries,
        "first_tampered_line": None,
        "last_hash": last,
    }


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/api/v2/audit?limit=0", "limit: a whole number from 1 to 10,000"),
        ("/api/enterprise/audit?limit=1001", "limit: a whole number from 1 to 1,000"),
        ("/api/enterprise/audit?limit=%C2%B2", "limit: a whole number"),
        ("/api/v2/audit?user=x", "unknown parameter 'user'"),
        ("/api/enterprise/audit/summary?days=x", "days: a whole number"),
        ("/api/enterprise/audit/summary?days=99999999", "days: a whole number"),
        ("/audit?start=whenever", "start"),
    ],
)
def test_a_bad_loki_parameter_is_a_400_that_names_it(watchd, trails, path, says):
    server = serve(watchd, trails[0])
    status, _, body = server.get(path)
    assert status == 400
    assert says in json.loads(body)["error"]


def test_parameters_are_read_as_loki_modes_fastapi_reads_them(watchd, trails):
    audit, _, records = trails
    server = serve(watchd, audit)
    dashboard = [r for r in records if r.get("timestamp")]

    def actions(path: str) -> list[str]:
        return [r["action"] for r in get_json(server, path)]

    # A repeated parameter is its last value, whichever it is.
    assert actions("/api/v2/audit?action=login&action=create") == ["create", "create"]
    assert actions("/api/enterprise/audit?limit=1&limit=2") == ["stop", "create"]
    # Dates are compared as text: a word after every date, a time after its day.
    assert get_json(server, "/api/v2/audit?start_date=garbage") == []
    assert get_json(server, "/api/v2/audit?start_date=5%20May") == []
    newest_day = f"{NOW:%Y-%m-%d}"
    assert get_json(server, f"/api/v2/audit?start_date={newest_day}T00:00:00") == []
    assert len(get_json(server, f"/api/v2/audit?end_date={newest_day}T00:00:00")) == 8
    assert get_json(server, "/api/v2/audit/export?format=xml") == newest_first(dashboard)
    summary = get_json(server, "/api/enterprise/audit/summary?days=-1")
    assert (summary["period_days"], summary["total_events"], summary["by_action"]) == (-1, 0, {})


def test_verify_finds_a_byte_order_mark_where_loki_modes_verifier_does(watchd, trails):
    audit, paths, _ = trails
    mtime = paths[2].stat().st_mtime
    paths[2].write_bytes(b"\xef\xbb\xbf" + paths[2].read_bytes())
    os.utime(paths[2], (mtime, mtime))
    answer = get_json(serve(watchd, audit), "/api/v2/audit/verify")
    assert (answer["valid"], answer["first_tampered_file"], answer["first_tampered_line"]) == (
        False,
        str(paths[2]),
        1,
    )
