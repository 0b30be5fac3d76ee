"""``watchd query`` and ``watchd summary``: what the trails hold, filtered, counted, exported."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import TESTS, append, clean_env, run_watchd
from watchd.core.progress import Progress

SAMPLES = TESTS / "data" / "samples"
BIG = 1_000_000


def query(*args: str) -> list[dict[str, object]]:
    result = run_watchd("query", *args, "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_query_reads_every_sample_and_filters_like_run() -> None:
    everything = query("--source", f"audit:{SAMPLES}")
    assert len(everything) == 12
    assert {e["origin"] for e in everything} == {str(p) for p in SAMPLES.iterdir()}
    warnings = query("--source", f"audit:{SAMPLES}", "--level", "warning")
    assert sorted(e["action"] for e in warnings) == ["corrupt-break", "delete", "deny"]
    assert [e["action"] for e in query("--source", f"audit:{SAMPLES}", "--action", "de*")] == [
        "deny",
        "delete",
    ]
    assert [e["container"] for e in query("--source", f"audit:{SAMPLES}", "--name", "build")] == [
        "build"
    ] * 3
    # --name takes globs, as --action does, and is repeatable
    globbed = query("--source", f"audit:{SAMPLES}", "--name", "bui*", "--name", "nosuch")
    assert [e["container"] for e in globbed] == ["build"] * 3


def test_since_and_until_take_rfc3339_and_durations(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    path = tmp_path / "audit.jsonl"
    records = [
        {"ts": (now - timedelta(hours=h)).isoformat(), "container": "c", "action": f"h{h}"}
        for h in (50, 3, 1, 0)
    ]
    append(path, b"".join(json.dumps(r).encode() + b"\n" for r in records))
    source = f"audit:{path}"
    assert [e["action"] for e in query("--source", source, "--since", "2h")] == ["h1", "h0"]
    assert [e["action"] for e in query("--source", source, "--since", "2d")] == ["h3", "h1", "h0"]
    assert [e["action"] for e in query("--source", source, "--until", "90m")] == ["h50", "h3"]
    since = (now - timedelta(hours=4)).isoformat()
    until = (now - timedelta(minutes=30)).isoformat()
    assert [e["action"] for e in query("--source", source, "--since", since, "--until", until)] == [
        "h3",
        "h1",
    ]


def test_last_n_is_the_newest_n_across_files(tmp_path: Path) -> None:
    for name, seconds in (("a.jsonl", (1, 4, 6)), ("b.jsonl", (2, 3, 5))):
        append(
            tmp_path / name,
            b"".join(
                json.dumps(
                    {"ts": f"2026-01-01T00:00:0{s}Z", "container": name, "action": f"t{s}"}
                ).encode()
                + b"\n"
                for s in seconds
            ),
        )
    append(tmp_path / "a.jsonl", b'{"ts":"2026-01-01T00:00:09Z","action":"unfinished"')
    got = query("--source", f"audit:{tmp_path}", "--last", "4")
    assert [e["action"] for e in got] == ["t3", "t4", "t5", "t6"]
    everything = query("--source", f"audit:{tmp_path}")
    assert [e["action"] for e in everything] == ["t1", "t2", "t3", "t4", "t5", "t6"]


def test_csv_export_quotes_and_defuses_hostile_values(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    hostile = {
        "ts": "2026-01-01T00:00:00Z",
        "container": '=HYPERLINK("http://x")',
        "action": "a,b",
        "detail": 'line1\nline2 "q"',
        "port": 443,
    }
    append(path, json.dumps(hostile).encode() + b"\n")
    result = run_watchd("query", "--source", f"audit:{path}", "--format", "csv")
    assert result.returncode == 0
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == [
        "ts", "level", "source", "action", "container", "dest", "detail", "actor", "origin",
        "worktree", "extra",
    ]  # fmt: skip
    assert rows[1] == [
        "2026-01-01T00:00:00Z", "info", "audit", "a,b", "'" + hostile["container"], "",
        hostile["detail"], "", str(path), "", '{"port":443}',
    ]  # fmt: skip
    assert len(rows) == 2


def test_summary_counts_the_samples() -> None:
    result = run_watchd("summary", "--source", f"audit:{SAMPLES}", "--json")
    assert result.returncode == 0
    summary = json.loads(result.stdout)
    assert summary["events"] == 12
    assert summary["by_level"] == {"info": 9, "warning": 3}
    assert summary["by_container"]["build"] == 3
    assert summary["by_actor"]["claude-3"] == 2
    assert (summary["from"], summary["to"]) == (
        "2026-02-01T10:40:00+00:00",
        "2026-04-01T12:00:00+00:00",
    )
    human = run_watchd("summary", "--source", f"audit:{SAMPLES}", "--level", "warning")
    assert human.stdout.startswith("3 events\nfrom 2026-02-01 10:41:00 UTC to ")
    assert "\nlevel    count\nwarning      3\n" in human.stdout
    one = run_watchd("summary", "--source", f"audit:{SAMPLES}", "--level", "critical")
    assert one.stdout.startswith("0 events\n")
    # One clock for people: summary and query both show local time.
    berlin = {**clean_env(), "TZ": "CET-1"}  # POSIX spelling: no zone database needed
    args = ("--source", f"audit:{SAMPLES}", "--level", "warning")
    told = run_watchd("summary", *args, env=berlin)
    assert told.stdout.startswith("3 events\nfrom 2026-02-01 11:41:00 CET to "), told.stdout
    shown = run_watchd("query", *args, "--format", "human", env=berlin)
    assert "\n11:41:00  WARNING " in shown.stdout
    single = run_watchd("summary", "--source", f"audit:{SAMPLES}", "--name", "x")
    assert single.stdout.startswith("1 event\n")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["run", "--source", "audit:/x", "--until", "1h"], "run: --until ends what is read"),
        (
            ["run", "--source", "audit:/x", "--since", "1h", "--last", "2"],
            "argument --last: not allowed with argument --since",
        ),
        (["query", "--source", "audit:/x.jsonl", "--since", "yesterday"], "--since 'yesterday'"),
        (["query", "--source", "worktrees:."], "query reads audit trails: audit:PATH|GLOB|DIR"),
        (["query", "--source", "audit:/nonexistent.jsonl"], "/nonexistent.jsonl: no such file"),
        (
            ["summary", "--source", "audit:/nonexistent/"],
            "/nonexistent/: no such directory /nonexistent",
        ),
        (["query", "--source", "audit:/nonexistent/*.jsonl"], "no such directory /nonexistent"),
        (
            ["query", "--source", "audit:/dev/null"],
            "audit:/dev/null': /dev/null: not a regular file",
        ),
        (["verify", "/nonexistent"], "verify: /nonexistent: no such file or directory"),
        (["query", "--source", "audit:/x.jsonl", "--format", "xml"], "unknown format 'xml'"),
        (
            ["query", "--source", "audit:/x.jsonl", "--since", "1h", "--until", "2h"],
            "--since 1h is later than --until 2h: no time is in between",
        ),
        (
            ["summary", "--source", "audit:/x", "--level", "warning", "--level", "error"],
            "--level is given once (warning and error given)",
        ),
        (
            ["run", "--source", "audit:/x", "--reorder-window", "-5"],
            "argument --reorder-window: '-5' is not a duration (250ms, 5s, 2m, 1h",
        ),
    ],
)
def test_usage_errors(args: list[str], error: str) -> None:
    result = run_watchd(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert error in result.stderr


def big_line(n: int) -> bytes:
    """Return record *n* of the big trail: one per second, every third blocked."""
    when = b"2026-03-01T%02d:%02d:%02dZ" % (n // 3600 % 24, n // 60 % 60, n % 60)
    action = b"allowed" if n % 3 else b"blocked"
    return b'{"ts":"%b","container":"c%d","action":"%b","seq":%d}\n' % (when, n % 7, action, n)


@pytest.fixture(scope="module")
def big_trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "audit.jsonl"
    with path.open("wb") as out:
        for first in range(0, BIG, 10_000):
            out.write(b"".join(big_line(n) for n in range(first, first + 10_000)))
    return path


_MEASURED = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, check=False)
sys.stdout.buffer.write(done.stdout)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
"""


def test_a_million_records_counted_in_flat_memory(big_trail: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "watchd",
        "summary",
        "--source",
        f"audit:{big_trail}",
        "--json",
    ]
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, *command],
        capture_output=True,
        env=clean_env(),
        check=True,
        timeout=300,
    )
    summary = json.loads(done.stdout)
    assert summary["events"] == BIG
    assert summary["by_action"] == {"allowed": 666_666, "blocked": 333_334}
    assert summary["by_container"]["c0"] == 142_858
    max_rss_mb = int(done.stderr.split()[-1]) / 1024
    assert max_rss_mb < 100  # the trail is ~90 MB; a streaming reader holds a few blocks


def test_last_ten_of_a_million_reads_from_the_end(big_trail: Path) -> None:
    got = query("--source", f"audit:{big_trail}", "--last", "10", "--action", "blocked")
    assert [e["extra"]["seq"] for e in got] == list(range(BIG - 28, BIG, 3))[-10:]


def test_query_and_summary_report_the_lines_they_skip(tmp_path: Path) -> None:
    trail = tmp_path / "audit.jsonl"
    good = '{"ts":"2026-01-01T00:00:00Z","action":"a","container":"c"}\n'
    trail.write_bytes(b"\xef\xbb\xbf" + good.encode() + b"{not json\n" + good.encode())
    for command in (["query"], ["summary"], ["query", "--last", "5"]):  # --last reads backwards
        result = run_watchd(*command, "--source", f"audit:{trail}", "--json")
        assert result.returncode == 0
        logged = [json.loads(line) for line in result.stderr.splitlines()]
        skipped = [entry for entry in logged if entry["event"] == "skipped malformed JSON"]
        assert [(s["path"], s["offset"]) for s in skipped] == [(str(trail), len(good) + 3)]
        assert any(entry["event"] == "lines skipped while reading" for entry in logged)
    query = run_watchd("query", "--source", f"audit:{trail}", "--json")
    assert [json.loads(line)["action"] for line in query.stdout.splitlines()] == ["a", "a"]


def test_a_file_that_cannot_be_read_is_named_and_the_command_exits_1(tmp_path: Path) -> None:
    readable = tmp_path / "ok.jsonl"
    readable.write_text('{"ts":"2026-01-01T00:00:00Z","action":"a","container":"c"}\n')
    # /proc/self/mem opens as a regular file and fails to read (EIO), for root too.
    for unreadable in ("/proc/self/mem",):
        result = run_watchd(
            "summary", "--source", f"audit:{readable}", "--source", f"audit:{unreadable}", "--json"
        )
        assert result.returncode == 1
        assert json.loads(result.stdout)["events"] == 1
        [error] = [json.loads(x) for x in result.stderr.splitlines() if "cannot read file" in x]
        assert (error["path"], error["level"]) == (unreadable, "error")


def test_a_glob_matching_nothing_in_a_directory_that_exists_is_no_events(tmp_path: Path) -> None:
    result = run_watchd("summary", "--source", f"audit:{tmp_path}/*.jsonl")
    assert (result.returncode, result.stdout, result.stderr) == (0, "0 events\n", "")


def test_records_without_a_time_keep_file_order_and_say_their_ts_is_the_read_time(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    lines = [
        {"ts": "2026-01-01T00:00:01Z", "container": "c", "action": "timed"},
        *({"container": "c", "action": f"r{n}"} for n in range(1, 5)),
    ]
    append(path, b"".join(json.dumps(r).encode() + b"\n" for r in lines))
    source = f"audit:{path}"
    first = query("--source", source)
    assert [e["action"] for e in first] == ["timed", "r1", "r2", "r3", "r4"]
    assert [e["action"] for e in query("--source", source, "--last", "3")] == ["r2", "r3", "r4"]
    assert "extra" not in first[0]
    for event in first[1:]:  # the ts is the read time, and the event says so
        assert event["extra"] == {"ts_is_read_time": True}
        assert datetime.fromisoformat(str(event["ts"])) > datetime(2026, 1, 2, tzinfo=UTC)
    # An hour's window still holds them: a read time is not the record's time.
    assert [e["action"] for e in query("--source", source, "--until", "1h")] == [
        "timed",
        "r1",
        "r2",
        "r3",
        "r4",
    ]
    # Merged with another file, they stay after the record they follow.
    append(tmp_path / "b.jsonl", b'{"ts":"2026-01-01T00:00:00Z","container":"c","action":"b0"}\n')
    both = f"audit:{tmp_path}/*.jsonl"
    for args in ((), ("--last", "6")):
        merged = [e["action"] for e in query("--source", both, *args)]
        assert merged == ["b0", "timed", "r1", "r2", "r3", "r4"], args
    summary = run_watchd("summary", "--source", source, "--json")
    assert summary.returncode == 0, summary.stderr
    counted = json.loads(summary.stdout)
    assert (counted["events"], counted["from"], counted["to"]) == (
        5,
        "2026-01-01T00:00:01+00:00",
        "2026-01-01T00:00:01+00:00",
    )


def test_a_numeric_ts_is_the_records_time_in_epoch_seconds(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    append(path, b'{"ts": 1767225600, "container": "c", "action": "a"}\n')
    (event,) = query("--source", f"audit:{path}")
    assert event["ts"] == "2026-01-01T00:00:00+00:00"
    assert "extra" not in event


def test_origin_is_the_absolute_path_as_in_run(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    append(tmp_path / "app" / "audit.jsonl", b'{"ts":"2026-01-01T00:00:00Z","action":"a"}\n')
    for source in ("audit:app/audit.jsonl", "audit:app", "audit:./app/*.jsonl"):
        result = subprocess.run(
            [sys.executable, "-m", "watchd", "query", "--source", source, "--json"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=clean_env(),
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["origin"] == str(tmp_path / "app" / "audit.jsonl")


def test_long_work_shows_progress_on_a_terminal_and_erases_it(big_trail: Path) -> None:
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "watchd", "summary", "--source", f"audit:{big_trail}", "--json"],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=clean_env(),
    ) as process:
        os.close(follower)
        said = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal's last writer left
                break
            if not chunk:
                break
            said += chunk
        out, _ = process.communicate(timeout=300)
    os.close(leader)
    assert process.returncode == 0
    assert json.loads(out)["events"] == BIG
    drawn = said.split(b"\r\x1b[K")
    assert re.fullmatch(
        rb"reading 1 file: [\d.]+ [KMG]?B of [\d.]+ MB, [\d,]+ records \([\d,]+/s\)", drawn[1]
    ), said[:200]
    assert drawn[-1] == b""  # erased at the end, nothing left behind
    quiet = run_watchd("summary", "--source", f"audit:{big_trail}", "--json", timeout=300)
    assert quiet.stderr == ""  # not a terminal: no line at all


def test_the_progress_line_waits_a_second_and_counts() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    now = [0.0]
    screen = Terminal()
    progress = Progress(screen, 2_000_000, 3, clock=lambda: now[0])
    progress.advance(1000, 100_000)
    now[0] = 0.9
    progress.advance(1000, 100_000)
    assert screen.getvalue() == ""  # quick work stays silent
    now[0] = 2.0
    progress.advance(2000, 200_000)
    assert (
        screen.getvalue() == "\r\x1b[Kreading 3 files: 400.0 KB of 2.0 MB, 4,000 records (2,000/s)"
    )
    progress.finish()
    assert screen.getvalue().endswith("\r\x1b[K")
    piped = io.StringIO()
    quiet = Progress(piped, 1, 1, clock=lambda: now[0])
    now[0] = 10.0
    quiet.advance(1, 1)
    quiet.finish()
    assert piped.getvalue() == ""
