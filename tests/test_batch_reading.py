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
