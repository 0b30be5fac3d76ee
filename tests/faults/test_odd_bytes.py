"""R20: whatever bytes a line holds, it is an event or a counted, reported skip.

A torn write can leave a NUL byte inside a line (``x\\0y``). Every command that
reads trails (run, query, summary, verify) must deliver the good records around
it, report the bad line by file and offset, and go on.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from conftest import run_watchd
from watchd.codecs.records import Skip, decode_record

TORN = b'{"action":"a","seq":1}\nx\0y\n{"action":"b","seq":2}\n\0{"action":"c","seq":3}\0\n'


def test_run_delivers_the_records_around_a_nul_inside_a_line(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(TORN)
    process = watchd("run", "--source", f"audit:{trail},from=beginning", "--json")
    assert [record["extra"]["seq"] for record in process.read_json(3)] == [1, 2, 3]
    skip = process.wait_log("skipped malformed JSON", path=str(trail))
    assert skip["offset"] == 23
    assert process.stop() == 0
    assert "RecursionError" not in process.stderr


def test_query_and_summary_report_the_line_and_go_on(tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(TORN)
    query = run_watchd("query", "--source", f"audit:{trail}", "--json")
    assert [json.loads(line)["extra"]["seq"] for line in query.stdout.splitlines()] == [1, 2, 3]
    summary = run_watchd("summary", "--source", f"audit:{trail}", "--json")
    assert json.loads(summary.stdout)["events"] == 3
    for result in (query, summary):
        assert len(result.stderr.splitlines()) < 10, result.stderr
        assert "Traceback" not in result.stderr


def test_verify_survives_a_nul_inside_a_line(tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(TORN)
    result = run_watchd("verify", "--json", str(trail))
    assert result.returncode in (0, 1), result.stderr
    json.loads(result.stdout)
    assert len(result.stderr.splitlines()) < 10, result.stderr


@given(st.binary(max_size=200))
def test_decoding_any_bytes_gives_a_record_or_a_reason(line):
    decoded = decode_record(line)
    assert isinstance(decoded, dict | Skip)


@given(st.binary(max_size=40).filter(lambda b: b"\n" not in b))
def test_nul_padding_around_a_record_is_recovered_whatever_else_is_there(junk):
    line = b"\0" * 3 + b'{"k":1}' + b"\0" * 2
    assert decode_record(line) == {"k": 1}
    assert isinstance(decode_record(junk + b"\0" + junk), dict | Skip)
