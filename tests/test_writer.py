"""AuditWriter and ``watchd emit``: the tools' own records, whole lines under concurrency."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import run_watchd
from watchd import AuditWriter
from watchd.core.interfaces import RecordSource
from watchd.watchers.dialects.loki import LokiDialect
from watchd.watchers.dialects.lokt import LoktDialect
from watchd.watchers.dialects.terok import TerokDialect
from watchd.watchers.dialects.watchd import WatchdDialect

WRITERS = 8
RECORDS = 10_000


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_each_schema_writes_its_tools_shape(tmp_path: Path) -> None:
    terok = AuditWriter(tmp_path / "t.jsonl", "terok")
    assert terok.emit(action="blocked", container="web", dest="192.0.2.1", port=443)
    (record,) = lines(tmp_path / "t.jsonl")
    assert list(record) == ["ts", "container", "action", "dest", "port"]
    assert str(record["ts"]).endswith("+00:00")
    assert TerokDialect().matches(record)
    assert not WatchdDialect().matches(record)  # not taken for a forwarded watchd event

    lokt = AuditWriter(tmp_path / "audit.log", "lokt")
    assert lokt.emit(event="acquire", name="build", ttl_sec=300, holder="x")
    (record,) = lines(tmp_path / "audit.log")
    assert list(record) == ["ts", "event", "name", "owner", "host", "pid", "ttl_sec", "extra"]
    assert record["pid"] == os.getpid()
    assert record["extra"] == {"holder": "x"}
    assert LoktDialect().matches(record)
    assert b", " not in (tmp_path / "audit.log").read_bytes()  # Go's compact JSON

    loki = AuditWriter(tmp_path / "l.jsonl", "loki")
    assert loki.emit(action="login", resource_type="session", user_id="alice")
    (record,) = lines(tmp_path / "l.jsonl")
    assert list(record) == [
        "timestamp", "action", "resource_type", "resource_id", "user_id", "token_id",
        "ip_address", "user_agent", "success", "error", "details",
    ]  # fmt: skip
    assert (record["success"], record["details"], record["resource_id"]) == (True, {}, None)
    event = LokiDialect().to_event(record, RecordSource("audit", "l"), None)  # type: ignore[arg-type]
    assert (event.action, event.level, event.actor) == ("login", "warning", "alice")


def test_file_and_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "audit.jsonl"
    assert AuditWriter(path).emit(action="setup", container="c")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_emit_never_raises_and_reports_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    writer = AuditWriter(blocked / "audit.jsonl")  # a file where a directory should be
    assert writer.emit(action="setup", container="c") is False
    assert writer.emit(action="setup", container="c") is False
    assert (writer.failures, writer.written) == (2, 0)
    assert capsys.readouterr().err.count("audit record not written") == 1
    incomplete = AuditWriter(tmp_path / "a.jsonl", "lokt")
    assert incomplete.emit(event="acquire") is False
    assert not (tmp_path / "a.jsonl").exists()


_WRITER = """
import sys
from watchd import AuditWriter
path, schema, chain, me, count = sys.argv[1:]
writer = AuditWriter(path, schema, chain=chain == "1")
for n in range(int(count)):
    if schema == "loki":
        assert writer.emit(action="update", resource_type="task", resource_id=f"{me}-{n}")
    else:
        assert writer.emit(action="note", container=me, detail="x" * (n % 300), seq=n)
"""


def concurrently(path: Path, schema: str, *, chain: bool) -> None:
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WRITER,
                str(path),
                schema,
                "1" if chain else "0",
                str(w),
                str(RECORDS),
            ]
        )
        for w in range(WRITERS)
    ]
    assert [w.wait(timeout=300) for w in writers] == [0] * WRITERS


def test_eight_writers_never_tear_or_interleave_a_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    concurrently(path, "terok", chain=False)
    records = lines(path)  # every line parses: none torn, none interleaved
    assert len(records) == WRITERS * RECORDS
    by_writer = Counter(r["container"] for r in records)
    assert by_writer == {str(w): RECORDS for w in range(WRITERS)}
    for w in range(WRITERS):
        assert [r["seq"] for r in records if r["container"] == str(w)] == list(range(RECORDS))


def test_eight_chained_writers_never_fork_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit-2026-02-15.jsonl"
    concurrently(path, "loki", chain=True)
    assert len(lines(path)) == WRITERS * RECORDS
    result = run_watchd("verify", str(path))
    assert result.returncode == 0, result.stdout
    assert result.stdout.endswith(f"{WRITERS * RECORDS} entries in 1 file: chain valid\n")


def test_a_new_days_file_chains_to_the_last_chained_record_of_the_day_before(
    tmp_path: Path,
) -> None:
    day1, day2 = tmp_path / "audit-2026-02-15.jsonl", tmp_path / "audit-2026-02-16.jsonl"
    writer = AuditWriter(day1, "loki", chain=True)
    for n in range(3):
        assert writer.emit(action="login", user_id=f"u{n}")
    with day1.open("ab") as handle:  # after the tip: a record without a hash, and a blank line
        handle.write(b'{"action":"note","resource_type":"x","timestamp":"t"}\n\n')
    os.utime(day1, (1_700_000_000, 1_700_000_000))
    assert AuditWriter(day2, "loki", chain=True).emit(action="logout", user_id="u0")
    result = run_watchd("verify", str(tmp_path))
    assert result.returncode == 1, result.stdout  # the record without a hash breaks the chain
    assert f"first broken record: {day1}:4\n" in result.stdout
    assert f"{day2}  1 entry, ok\n" in result.stdout  # it chained to u2's hash, past the note


def test_emit_command_writes_each_schema(tmp_path: Path) -> None:
    args = ["--action", "delete", "--container", "task/42", "--dest", "10.0.0.1"]
    args += ["--detail", "gone", "--field", "port=443", "--field", "note=plain text"]
    for schema in ("terok", "lokt", "loki"):
        result = run_watchd("emit", str(tmp_path / f"{schema}.jsonl"), "--schema", schema, *args)
        assert result.returncode == 0, result.stderr
    (terok,) = lines(tmp_path / "terok.jsonl")
    assert {k: terok[k] for k in ("container", "action", "dest", "detail", "port", "note")} == {
        "container": "task/42",
        "action": "delete",
        "dest": "10.0.0.1",
        "detail": "gone",
        "port": 443,
        "note": "plain text",
    }
    (lokt,) = lines(tmp_path / "lokt.jsonl")
    assert (lokt["event"], lokt["name"], lokt["extra"]) == (
        "delete",
        "task/42",
        {"port": 443, "note": "plain text", "detail": "gone"},
    )
    (loki,) = lines(tmp_path / "loki.jsonl")
    assert (loki["resource_type"], loki["resource_id"], loki["ip_address"], loki["error"]) == (
        "task",
        "42",
        "10.0.0.1",
        "gone",
    )


@pytest.mark.parametrize(
    ("schema", "fields", "kept"),
    [
        ("terok", ["dest=1.2.3.4", "detail=hello"], {"dest": "1.2.3.4", "detail": "hello"}),
        ("loki", ["error=boom", "ip_address=9.9.9.9"], {"error": "boom", "ip_address": "9.9.9.9"}),
    ],
)
def test_emit_keeps_a_field_no_option_gave(tmp_path: Path, schema, fields, kept) -> None:
    """A --field of a key an option also names (dest, detail; error, ip_address) was dropped."""
    trail = tmp_path / "a.jsonl"
    pairs = [token for field in fields for token in ("--field", field)]
    named = ["--action", "x", "--container", "c"] if schema == "terok" else ["--action", "x"]
    result = run_watchd("emit", str(trail), "--schema", schema, *named, *pairs)
    assert result.returncode == 0, result.stderr
    (record,) = lines(trail)
    assert {key: record[key] for key in kept} == kept


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--schema", "terok", "--chain"], "emit: --chain is loki-mode's integrity chain"),
        (["--field", "novalue"], "emit: --field 'novalue': expected KEY=VALUE"),
        (
            ["--dest", "a", "--field", "dest=b"],
            "emit: --dest and --field dest= both give dest: give it once",
        ),
    ],
)
def test_emit_usage_errors(tmp_path: Path, args: list[str], error: str) -> None:
    result = run_watchd(
        "emit", str(tmp_path / "a.jsonl"), "--action", "x", "--container", "c", *args
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"watchd: error: {error}")


def test_emit_fails_with_1_when_the_record_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = run_watchd(
        "emit", str(tmp_path / "file" / "a.jsonl"), "--action", "x", "--container", "c"
    )
    assert result.returncode == 1
    assert "audit record not written" in result.stderr


def test_emit_without_a_required_field_is_a_usage_error(tmp_path: Path) -> None:
    trail = tmp_path / "audit.jsonl"
    result = run_watchd("emit", str(trail), "--action", "start")
    assert (result.returncode, result.stderr) == (
        2,
        "watchd: error: emit: a terok record needs --container\n",
    )
    assert not trail.exists()
    help_text = " ".join(run_watchd("emit", "--help").stdout.split())
    assert "terok, lokt or loki (default terok)" in help_text
