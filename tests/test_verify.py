"""``watchd verify``: loki-mode chains over files and days, tampering found as FILE:LINE."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from conftest import TESTS, run_watchd
from watchd import AuditWriter

SAMPLE = TESTS / "data" / "samples" / "loki-audit-2026-02-15.jsonl"


def chained(path: Path, count: int, first: int = 0) -> None:
    writer = AuditWriter(path, "loki", chain=True)
    for n in range(first, first + count):
        assert writer.emit(action="update", resource_type="task", resource_id=str(n))


def set_mtime(path: Path, seconds: int) -> None:
    os.utime(path, (seconds, seconds))


def test_the_sample_chain_is_valid(tmp_path: Path) -> None:
    shutil.copy(SAMPLE, tmp_path)
    result = run_watchd("verify", str(tmp_path))
    assert result.returncode == 0
    assert result.stdout == (
        f"{tmp_path / SAMPLE.name}  2 entries, ok\n2 entries in 1 file: chain valid\n"
    )


def test_a_tampered_field_is_found_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "audit-2026-02-15.jsonl"
    chained(path, 5)
    rows = path.read_text().splitlines()
    rows[2] = rows[2].replace('"resource_id": "2"', '"resource_id": "7"')
    path.write_text("\n".join(rows) + "\n")
    result = run_watchd("verify", str(path))
    assert result.returncode == 1
    assert f"first broken record: {path}:3\n" in result.stdout
    assert result.stdout.endswith("5 entries in 1 file: chain BROKEN\n")
    report = json.loads(run_watchd("verify", str(path), "--json").stdout)
    assert (report["valid"], report["first_broken"], report["files"][0]["broken"]) == (
        False,
        f"{path}:3",
        1,  # one altered record is one broken link, not a broken rest of the trail
    )


def test_a_deleted_line_breaks_the_next_link(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    chained(path, 5)
    rows = path.read_text().splitlines()
    del rows[1]
    path.write_text("\n".join(rows) + "\n")
    result = run_watchd("verify", str(path))
    assert result.returncode == 1
    assert f"first broken record: {path}:2\n" in result.stdout


def test_files_without_hashes_are_reported_unverified(tmp_path: Path) -> None:
    plain = tmp_path / "audit-2026-02-14.jsonl"
    assert AuditWriter(plain, "loki").emit(action="login", resource_type="session")
    set_mtime(plain, 1_000)
    result = run_watchd("verify", str(tmp_path))
    assert result.returncode == 0
    assert result.stdout == (
        f"{plain}  1 entry, unverified\n1 entry in 1 file: nothing verified: no integrity hashes\n"
    )


def test_the_chain_carries_across_days_in_modification_time_order(tmp_path: Path) -> None:
    day1, day2 = tmp_path / "audit-2026-02-14.jsonl", tmp_path / "audit-2026-02-15.jsonl"
    chained(day1, 3)
    set_mtime(day1, 1_000)
    chained(day2, 3, first=3)  # its first record chains to day1's last
    set_mtime(day2, 2_000)
    result = run_watchd("verify", str(tmp_path))
    assert result.returncode == 0, result.stdout
    assert result.stdout.endswith("6 entries in 2 files: chain valid\n")
    alone = run_watchd("verify", str(day2))  # without the day before, it cannot start
    assert alone.returncode == 1
    set_mtime(day1, 3_000)  # the wrong order breaks the chain where the days meet
    swapped = run_watchd("verify", str(tmp_path))
    assert swapped.returncode == 1
    assert f"first broken record: {day2}:1\n" in swapped.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    missing = run_watchd("verify", str(tmp_path / "nope"))
    assert (missing.returncode, missing.stderr) == (
        2,
        f"watchd: error: verify: {tmp_path / 'nope'}: no such file or directory\n",
    )
    empty = run_watchd("verify", str(tmp_path))
    assert (empty.returncode, empty.stderr) == (
        2,
        f"watchd: error: verify: {tmp_path}: no *.jsonl or *.log files\n",
    )


def test_a_record_injected_into_a_chain_breaks_it_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    chained(path, 3)
    with path.open("a") as out:
        out.write('{"timestamp": "2026-02-15T14:31:00Z", "action": "login", "user_id": "root"}\n')
    result = run_watchd("verify", str(path))
    assert (result.returncode, result.stdout) == (
        1,
        f"{path}  4 entries, broken\nfirst broken record: {path}:4\n"
        "4 entries in 1 file: chain BROKEN\n",
    )
    report = json.loads(run_watchd("verify", str(path), "--json").stdout)
    assert (report["valid"], report["first_broken"]) == (False, f"{path}:4")


def test_a_line_that_does_not_parse_breaks_a_begun_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    chained(path, 2)
    with path.open("a") as out:
        out.write("{not json\n")
    chained(path, 1, first=2)
    result = run_watchd("verify", str(path), "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert (report["valid"], report["first_broken"], report["first_malformed"]) == (
        False,
        f"{path}:3",
        f"{path}:3",
    )


def test_unhashed_records_before_a_chain_are_unverified_and_an_empty_file_is_empty(
    tmp_path: Path,
) -> None:
    agent = tmp_path / "agent.jsonl"
    agent.write_text('{"timestamp": "t", "action": "run", "agent": "a"}\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert run_watchd("verify", str(agent)).stdout == (
        f"{agent}  1 entry, unverified\n1 entry in 1 file: nothing verified: no integrity hashes\n"
    )
    result = run_watchd("verify", str(empty))
    assert (result.returncode, result.stdout) == (
        0,
        f"{empty}  0 entries, empty\n0 entries in 1 file: nothing verified: no integrity hashes\n",
    )


def test_a_byte_order_mark_breaks_the_chain_where_loki_modes_verifier_says(tmp_path: Path) -> None:
    # loki-mode reads each line with json.loads, which refuses a BOM: invalid at FILE:1.
    day1, day2 = tmp_path / "audit-2026-02-14.jsonl", tmp_path / "audit-2026-02-15.jsonl"
    chained(day1, 3)
    set_mtime(day1, 1_000)
    chained(day2, 3, first=3)
    day2.write_bytes(b"\xef\xbb\xbf" + day2.read_bytes())
    set_mtime(day2, 2_000)
    result = run_watchd("verify", str(tmp_path))
    assert result.returncode == 1, result.stdout
    assert f"first broken record: {day2}:1\n" in result.stdout


def test_a_file_that_cannot_be_read_fails_verify_as_it_fails_query(tmp_path: Path) -> None:
    # Named rightly, but not readable: 1, as query says it; 2 is for what was asked wrong.
    broken = tmp_path / "audit-2026-02-14.jsonl.gz"
    broken.write_bytes(b"\x1f\x8b not gzip at all")
    result = run_watchd("verify", str(broken))
    assert (result.returncode, result.stderr.count("\n")) == (1, 1)
    assert result.stderr.startswith(f"watchd: error: verify: {broken}: ")
    query = run_watchd("query", "--source", f"audit:{broken}")
    assert query.returncode == 1
