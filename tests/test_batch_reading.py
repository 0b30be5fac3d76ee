"""R35: what the batch commands read is all there is, or they say why not.

A last line without its newline is reported with its offset, never dropped
silently; a compressed rotation named directly is read decompressed, and a
compression watchd cannot read is refused in one line with exit status 1.
"""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path

import pytest

from conftest import line, run_watchd


def logged(stderr: str) -> list[dict]:
    return [json.loads(x) for x in stderr.splitlines() if x.startswith("{")]


def unfinished(tmp_path: Path) -> Path:
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(line(1) + line(2).rstrip(b"\n"))
    return trail


@pytest.mark.parametrize("args", [("query", "--json"), ("query", "--json", "--last", "5")])
def test_query_says_the_last_line_has_no_newline_yet(tmp_path, args):
    trail = unfinished(tmp_path)
    result = run_watchd(*args, "--source", f"audit:{trail}")
    assert result.returncode == 0, result.stderr
    assert [json.loads(x)["detail"] for x in result.stdout.splitlines()] == ["n=1"]
    said = [r for r in logged(result.stderr) if "unfinished last line" in r["event"]]
    assert len(said) == 1, result.stderr
    assert said[0]["path"] == str(trail)
    assert said[0]["offset"] == len(line(1))


def test_summary_says_the_last_line_has_no_newline_yet(tmp_path):
    trail = unfinished(tmp_path)
    result = run_watchd("summary", "--json", "--source", f"audit:{trail}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["events"] == 1
    assert "unfinished last line" in result.stderr


@pytest.mark.parametrize(("suffix", "compress"), [(".gz", gzip.compress), (".bz2", bz2.compress)])
def test_a_compressed_rotation_named_directly_is_read(tmp_path, suffix, compress):
    rotated = tmp_path / f"audit.jsonl.1{suffix}"
    rotated.write_bytes(compress(b"".join(line(n) for n in range(1, 4))))
    result = run_watchd("query", "--json", "--source", f"audit:{rotated}")
    assert result.returncode == 0, result.stderr
    assert [json.loads(x)["detail"] for x in result.stdout.splitlines()] == ["n=1", "n=2", "n=3"]
    assert json.loads(result.stdout.splitlines()[0])["origin"] == str(rotated)
    counted = run_watchd("summary", "--json", "--source", f"audit:{rotated}")
    assert json.loads(counted.stdout)["events"] == 3
    verified = run_watchd("verify", "--json", str(rotated))
    assert json.loads(verified.stdout)["entries"] == 3, verified.stdout


def test_a_compression_watchd_cannot_read_is_refused_in_one_line(tmp_path):
    rotated = tmp_path / "audit.jsonl.1.zst"
    rotated.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 40)
    result = run_watchd("query", "--json", "--source", f"audit:{rotated}")
    assert result.returncode == 1
    assert result.stdout == ""
    said = [r for r in logged(result.stderr) if r["level"] == "error"]
    assert len(said) == 1, result.stderr
    assert "decompress it first" in said[0]["reason"]


def test_a_damaged_gzip_is_refused_not_read_as_nothing(tmp_path):
    rotated = tmp_path / "audit.jsonl.1.gz"
    rotated.write_bytes(gzip.compress(line(1))[:-12])  # cut short
    result = run_watchd("query", "--json", "--source", f"audit:{rotated}")
    assert result.returncode == 1
    assert "not readable .gz data" in result.stderr


def skips(stderr: str) -> list[tuple[str, int]]:
    """The lines a command said it skipped: why, and where each starts."""
    return [(e["event"], e["offset"]) for e in logged(stderr) if e["event"].startswith("skipped ")]


def stamped(hour: int, action: str) -> bytes:
    return b'{"ts":"2026-04-01T%02d:00:00Z","action":"%s","container":"c"}\n' % (
        hour,
        action.encode(),
    )


def test_query_reads_bad_lines_as_run_does(tmp_path: Path, watchd) -> None:
    trail = tmp_path / "audit.jsonl"
    huge = b'{"ts":"2026-04-01T01:00:00Z","action":"huge","container":"c","pad":"%s"}\n' % (
        b"x" * (2 << 20)
    )
    data = [stamped(0, "a"), huge, b"\n", stamped(2, "b")]
    trail.write_bytes(b"".join(data))
    at = [sum(map(len, data[:i])) for i in range(len(data))]
    wanted = [("skipped over-long line", at[1]), ("skipped blank line", at[2])]
    for args in ([], ["--last", "5"], ["--since", "2026-04-01T00:00:00Z"]):
        result = run_watchd("query", "--source", f"audit:{trail}", "--json", *args)
        assert [json.loads(x)["action"] for x in result.stdout.splitlines()] == ["a", "b"]
        assert sorted(skips(result.stderr)) == sorted(wanted), args
    followed = watchd("run", "--source", f"audit:{trail}", "--from-beginning", "--json")
    assert [e["action"] for e in followed.read_json(2)] == ["a", "b"]
    followed.stop()
    assert sorted(skips(followed.stderr)) == sorted(wanted)
    # max_line_bytes= is query's as it is run's.
    roomy = run_watchd("query", "--source", f"audit:{trail},max_line_bytes=4194304", "--json")
    assert [json.loads(x)["action"] for x in roomy.stdout.splitlines()] == ["a", "huge", "b"]


def test_one_window_for_run_and_query_found_by_bisection(tmp_path: Path, watchd) -> None:
    trail = tmp_path / "audit.jsonl"
    # 8 MB of lines that are no records, before the window: bisection never reads them
    # through, so nothing of them is reported skipped.
    junk = b"not a record\n" * 650_000
    lines = [stamped(1, "early"), junk, stamped(6, "six"), stamped(0, "late-stamped"),
             stamped(7, "seven"), stamped(9, "nine")]  # fmt: skip
    trail.write_bytes(b"".join(lines))
    since = ("--since", "2026-04-01T06:00:00Z")
    query = run_watchd("query", "--source", f"audit:{trail}", "--json", *since)
    shown = [json.loads(x)["action"] for x in query.stdout.splitlines()]
    assert shown == ["six", "late-stamped", "seven", "nine"]  # as written from six on
    assert skips(query.stderr) == []
    followed = watchd("run", "--source", f"audit:{trail}", "--json", *since)
    assert [e["action"] for e in followed.read_json(4)] == shown
    followed.stop()
    until = ("--until", "2026-04-01T08:00:00Z")
    window = run_watchd("query", "--source", f"audit:{trail}", "--json", *since, *until)
    assert [json.loads(x)["action"] for x in window.stdout.splitlines()] == shown[:3]
    last = run_watchd(
        "query", "--source", f"audit:{trail}", "--json", *since, *until, "--last", "2"
    )
    assert [json.loads(x)["action"] for x in last.stdout.splitlines()] == shown[1:3]
    assert skips(last.stderr) == []
