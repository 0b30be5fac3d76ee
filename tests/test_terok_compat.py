"""terok-shield compatibility: watchd's JSON form of a terok-shield record is terok-shield's bytes.

The oracle below is what terok-shield 0.9.0 does (``watchers/audit_log.py``
and ``watchers/_event.py``), restated: ``AuditLogWatcher.poll`` builds its
event with ``entry.get(key, default)`` and ``WatchEvent.to_json`` writes
``json.dumps(d, separators=(",", ":"))`` of the non-empty fields, ASCII with
escapes. (terok-shield itself needs Python 3.12, newer than watchd's floor.)
Where watchd differs on purpose (a record's ``level``, fields always text),
the tests say so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import append, run_watchd
from hostile import hostile_text
from watchd.core.interfaces import RecordSource
from watchd.watchers.dialects.terok import TerokDialect

FIELDS = ("ts", "source", "action", "container", "dest", "detail")


def terok_to_json(entry: dict[str, Any], container: str) -> bytes:
    """terok-shield's bytes for *entry* read by an ``AuditLogWatcher`` made for *container*."""
    event = {
        "ts": entry.get("ts"),
        "source": "audit",
        "action": entry.get("action", "unknown"),
        "container": entry.get("container", container),
        "dest": entry.get("dest", ""),
        "detail": entry.get("detail", ""),
    }
    kept = {k: v for k, v in event.items() if v or k in ("ts", "source", "action", "container")}
    return json.dumps(kept, separators=(",", ":")).encode()


some_text = st.one_of(hostile_text, st.sampled_from(["café", "日本", "😀", "a\u2028b", ""]))
terok_records = st.fixed_dictionaries(
    {
        "ts": st.sampled_from(["2026-03-07T12:00:00+00:00", "2026-04-01T00:00:00", "héllo"]),
        "action": hostile_text.filter(bool),
    },
    optional={"container": some_text, "dest": some_text, "detail": some_text},
)


@settings(max_examples=300, deadline=None)
@given(terok_records)
def test_watchds_json_is_terok_shields_bytes(record: dict[str, Any]) -> None:
    where = RecordSource("audit", "", container="from-option")
    dialect = TerokDialect()
    event = dialect.to_event(dict(record), where, None)
    assert event.to_json() == terok_to_json(record, "from-option")
    if "container" in record:  # the batch path maps as the one-record path does
        assert dialect.to_events([dict(record)], where) == [event]


def test_a_trail_read_live_gives_terok_shields_bytes_and_levels(tmp_path: Path) -> None:
    trail = tmp_path / "audit.jsonl"
    records = [
        {"ts": "2026-12-07T20:00:05+00:00", "container": "", "action": "setup", "detail": "café"},
        {"ts": "2026-12-07T20:00:06+00:00", "action": "allowed", "dest": "1.2.3.4"},
        {"ts": "2026-12-07T20:00:07+00:00", "action": "oops", "container": "web", "level": "error"},
    ]
    append(trail, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode())
    result = run_watchd("query", "--source", f"audit:{trail},schema=terok,container=opt")
    lines = result.stdout.encode().splitlines()
    assert lines[0] == (
        b'{"ts":"2026-12-07T20:00:05+00:00","source":"audit","action":"setup","container":"",'
        b'"detail":"caf\\u00e9","origin":"' + str(trail).encode() + b'"}'
    )
    assert json.loads(lines[1])["container"] == "opt"
    assert json.loads(lines[2])["level"] == "error"
    assert "extra" not in json.loads(lines[2])
    warned = run_watchd("query", "--source", f"audit:{trail},schema=terok", "--level", "warning")
    assert [json.loads(x)["action"] for x in warned.stdout.splitlines()] == ["oops"]


def test_where_watchd_differs_on_purpose_every_field_is_text() -> None:
    where = RecordSource("audit", "", container="c")
    event = TerokDialect().to_event(
        {"ts": 1765137605, "action": "blocked", "container": "w", "dest": 42}, where, None
    )
    assert (event.ts, event.dest) == ("2025-12-07T20:00:05+00:00", "42")
