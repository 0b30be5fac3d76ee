"""CEF, LEEF and ECS: golden lines, loki-mode's own CEF, hostile values that cannot break out."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import append, clean_env, run_watchd
from watchd.codecs.lines import LineSplitter
from watchd.core.event import WatchEvent, set_position
from watchd.core.interfaces import RecordSource
from watchd.plugins.formats.loki_cef import LokiCefFormat
from watchd.plugins.formats.siem import CefFormat, EcsFormat, LeefFormat
from watchd.watchers.dialects.generic import event_from
from watchd.watchers.dialects.loki import LokiDialect
from watchd.watchers.dialects.terok import TerokDialect

# loki-compat.md's CEF example, input and output (version 9.9.9).
LOKI_INPUT = (
    '{"timestamp":"2026-02-15T14:30:00.000Z","action":"revoke_token","resource_type":"token",'
    '"resource_id":"tok_123","user_id":"alice","token_id":"tok_admin","ip_address":"10.0.0.4",'
    '"success":false,"error":"expired credential","level":"warning","details":{"provider":'
    '"claude","cost":4.25,"nested":{"region":"us-east"}}}'
)
LOKI_CEF = (
    b"CEF:0|Autonomi|Loki Mode|9.9.9|revoke_token|revoke_token|8|rt=2026-02-15T14:30:00.000Z "
    b"suser=alice src=10.0.0.4 cs1=token cs1Label=resourceType cs2=tok_123 cs2Label=resourceId "
    b"cs3=tok_admin cs3Label=tokenId outcome=failure msg=expired credential loki.provider=claude "
    b"loki.cost=4.25 loki.nested.region=us-east"
)
HOSTILE = {
    "ts": "2026-02-15T14:30:00.250Z",
    "container": "c|x=y\\z]",
    "action": "evil|act\nCEF:0|forged",
    "dest": "192.0.2.1",
    "detail": "line1\r\nline2 key=value ^ | \x00\x1b",
}


def loki_event() -> WatchEvent:
    return event_from(LokiDialect(), json.loads(LOKI_INPUT), RecordSource("audit", "/a.jsonl"))


def terok_event(record: dict[str, Any]) -> WatchEvent:
    """The event of *record* read as the line at offset 40 of /t.jsonl."""
    line = json.dumps(record).encode()
    block = LineSplitter(1 << 20).feed_block(line + b"\n", 40 + len(line) + 1, "k")
    event = TerokDialect().to_event(dict(record), RecordSource("audit", "/t.jsonl"), None)
    set_position(event, block, 0)
    return event


def test_loki_compat_cef_is_loki_modes_own_line() -> None:
    assert LokiCefFormat("Autonomi", "Loki Mode", "9.9.9")(loki_event()) == LOKI_CEF


def test_cef_golden() -> None:
    line = CefFormat("watchd", "watchd", "1.0")(loki_event())
    assert line == (
        b"CEF:0|watchd|watchd|1.0|revoke_token|revoke_token|8|rt=1771165800000 act=revoke_token "
        b"suser=alice src=10.0.0.4 msg=expired credential outcome=failure cs1=token/tok_123 "
        b"cs1Label=container cs2=/a.jsonl cs2Label=origin cs3=audit cs3Label=source "
        b'cs6={"token_id":"tok_admin","success":false,"details":{"provider":"claude","cost":4.25,'
        b'"nested":{"region":"us-east"}}} cs6Label=extra'
    )


def test_cef_hostile_values_stay_in_their_fields() -> None:
    line = CefFormat("ven|dor", "prod\\uct", "1.0")(terok_event(HOSTILE))
    assert b"\n" not in line
    assert b"\r" not in line
    assert line == (
        b"CEF:0|ven\\|dor|prod\\\\uct|1.0|evil\\|act CEF:0\\|forged|evil\\|act CEF:0\\|forged|3|"
        b"rt=1771165800250 act=evil|act\\nCEF:0|forged dst=192.0.2.1 "
        b"msg=line1\\r\\nline2 key\\=value ^ |    cs1=c|x\\=y\\\\z] cs1Label=container "
        b"cs2=/t.jsonl cs2Label=origin cs3=audit cs3Label=source"
    )
    header = line.split(b"|")
    assert header[:2] == [b"CEF:0", b"ven\\"]  # a naive split sees the escape, not a field


def test_leef_golden_and_sanitised() -> None:
    line = LeefFormat("watchd", "watchd", "1.0", "^")(terok_event(HOSTILE))
    assert line == (
        b"LEEF:2.0|watchd|watchd|1.0|evil act CEF:0 forged|^|cat=audit"
        b"^devTime=2026-02-15T14:30:00.250+0000^devTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ"
        b"^sev=3^dst=192.0.2.1^action=evil|act CEF:0|forged^container=c|x=y\\z]"
        b"^origin=/t.jsonl^outcome=unknown^msg=line1  line2 key=value   |   "
    )
    assert line.count(b"^") == 10  # one delimiter per attribute, none from a value
    tab = LeefFormat("watchd", "watchd", "1.0", "\t")(terok_event(HOSTILE))
    assert tab.split(b"|")[5] == b"x09"


def test_ecs_golden() -> None:
    doc = json.loads(EcsFormat("edge-1")(loki_event()))
    assert doc == {
        "@timestamp": "2026-02-15T14:30:00.000Z",
        "ecs": {"version": "8.11.0"},
        "message": "expired credential",
        "log": {"level": "warning", "file": {"path": "/a.jsonl"}},
        "event": {
            "action": "revoke_token",
            "kind": "event",
            "category": ["iam"],
            "outcome": "failure",
            "original": orjson.dumps(json.loads(LOKI_INPUT)).decode(),
            "module": "audit",
        },
        "host": {"name": "edge-1"},
        "labels": {"container": "token/tok_123", "origin": "/a.jsonl"},
        "user": {"name": "alice"},
        "source": {"ip": "10.0.0.4"},
    }
    network = json.loads(EcsFormat("edge-1")(terok_event(HOSTILE)))
    assert network["destination"] == {"ip": "192.0.2.1"}
    assert network["event"]["category"] == ["network"]
    assert network["watchd"] == {"offset": 40}
    assert network["message"] == HOSTILE["detail"]


@pytest.mark.parametrize("fmt", ["cef", "leef", "ecs", "cef,compat=loki"])
def test_every_siem_format_gives_one_line_per_event_on_any_sink(
    fmt: str, tmp_path: Path, watchd: Any
) -> None:
    path = tmp_path / "audit.jsonl"
    append(path, (json.dumps(HOSTILE) + "\n" + LOKI_INPUT + "\n").encode())
    proc = watchd("run", "--source", f"audit:{path}", "--from-beginning", "--sink",
                  f"stdout,format={fmt}")  # fmt: skip
    lines = [proc.read_line(), proc.read_line()]
    assert proc.quiet_for(0.5)
    assert [line.count(b"\n") for line in lines] == [1, 1]
    assert lines[1].startswith(b"CEF:0|Autonomi|" if "loki" in fmt else lines[1][:3])


def test_ecs_log_offset_is_where_each_record_starts_with_crlf_endings(
    tmp_path: Path, watchd: Any
) -> None:
    path = tmp_path / "audit.jsonl"
    lines = [
        b'{"ts":"2026-01-01T00:00:00Z","event":"acquire","name":"n","owner":"o"}\r\n',
        b"\r\n",
        b'{"action":"deny","container":"c"}\n',
        b'{"event":"e","name":"n","owner":"o"}\r\n',
    ]
    append(path, b"".join(lines))
    proc = watchd("run", "--source", f"audit:{path}", "--from-beginning", "--sink",
                  "stdout,format=ecs")  # fmt: skip
    offsets = [doc["watchd"]["offset"] for doc in proc.read_json(3)]
    assert offsets == [0, len(lines[0]) + len(lines[1]), sum(map(len, lines[:3]))]


def test_the_leef_delimiter_must_be_one_safe_character(tmp_path: Path) -> None:
    result = run_watchd("run", "--source", f"audit:{tmp_path}/a.jsonl", "--sink",
                        "stdout,format=leef,delimiter=ab")  # fmt: skip
    assert result.returncode == 2
    assert "delimiter='ab': must be one character (or xHH)" in result.stderr


def test_event_time_falls_back_to_now_without_breaking() -> None:
    event = WatchEvent(ts="not a time", source="audit", action="a", container="c")
    assert event.time is None
    for fmt in (CefFormat("v", "p", "1"), LeefFormat("v", "p", "1", "^"), EcsFormat("h")):
        assert fmt(event)


#: Every character a line reader ends a line at besides CR and LF (Python's splitlines()).
LINE_BREAKERS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


@pytest.mark.parametrize("fmt", ["json", "ecs", "cef", "leef", "human"])
def test_no_line_reader_splits_a_frame_of_any_line_framed_format(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    odd = LINE_BREAKERS
    record = {"ts": "2026-02-15T14:30:00Z", "container": f"c{odd}", "action": "a",
              "dest": f"d{odd}", "detail": f"x{odd}y", "k": odd}  # fmt: skip
    append(path, (json.dumps(record, ensure_ascii=False) + "\n").encode() * 3)
    result = run_watchd("query", "--source", f"audit:{path}", "--format", fmt)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    if fmt == "human":  # its own line says the records' day, once
        assert rows.pop(0).startswith("-- ")
    assert len(rows) == 3
    if fmt in ("json", "ecs"):  # escaped, so every value reads back whole
        docs = [json.loads(row) for row in rows]
        got = docs[0]["detail"] if fmt == "json" else docs[0]["message"]
        assert got == record["detail"]


def test_csv_is_framed_by_its_quotes_and_keeps_every_line_breaker(tmp_path: Path) -> None:
    # RFC 4180 frames a row by quoting, not by line: a CSV reader reads each value back whole.
    path = tmp_path / "audit.jsonl"
    record = {"ts": "2026-02-15T14:30:00Z", "container": "c", "action": "a",
              "detail": f"x{LINE_BREAKERS}\r\ny"}  # fmt: skip
    append(path, (json.dumps(record) + "\n").encode() * 2)
    result = subprocess.run(
        [sys.executable, "-m", "watchd", "query", "--source", f"audit:{path}", "--format", "csv"],
        capture_output=True, env=clean_env(), timeout=30, check=True,
    )  # fmt: skip
    rows = list(csv.reader(io.StringIO(result.stdout.decode(), newline="")))
    assert [row[6] for row in rows] == ["detail", record["detail"], record["detail"]]


ECS_FIELDS = frozenset(
    line for line in (Path(__file__).parent / "data/ecs-8.11.0-fields.txt").read_text().splitlines()
    if not line.startswith("#")
)  # fmt: skip


def leaves(doc: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted names of *doc*'s values that are no object."""
    names = []
    for key, value in doc.items():
        name = prefix + key
        names += leaves(value, name + ".") if isinstance(value, dict) else [name]
    return names


def test_every_ecs_field_is_one_ecs_defines_or_under_watchds_own_name() -> None:
    docs = [json.loads(EcsFormat("h")(event)) for event in (loki_event(), terok_event(HOSTILE))]
    names = {name for doc in docs for name in leaves(doc)}
    assert "watchd.offset" in names
    ours = {name for name in names if name.startswith(("labels.", "watchd."))}
    assert names - ours <= ECS_FIELDS, names - ours - ECS_FIELDS
