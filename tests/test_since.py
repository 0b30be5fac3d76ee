"""``run --since T``: each file from its first record at or after T, found, not read through."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import append
from watchd.watchers.files import since as since_module
from watchd.watchers.files.since import offset_after, offset_since, record_time

START = datetime(2026, 3, 1, tzinfo=UTC)


def trail_of(path: Path, seconds: list[int | None], *, noise: bytes = b"") -> list[int]:
    """Write one record per entry (None: a record without a time); return each line's offset."""
    offsets, lines, size = [], [], 0
    for n, second in enumerate(seconds):
        offsets.append(size)
        record: dict[str, object] = {"action": f"r{n}", "container": "c"}
        if second is not None:
            record["ts"] = (START + timedelta(seconds=second)).isoformat()
        lines.append(json.dumps(record).encode() + b"\n" + noise)
        size += len(lines[-1])
    path.write_bytes(b"".join(lines))
    return offsets


def search(path: Path, second: int) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return offset_since(fd, os.fstat(fd).st_size, START + timedelta(seconds=second))
    finally:
        os.close(fd)


def test_a_large_sorted_file_is_searched_not_read(tmp_path, monkeypatch):
    path = tmp_path / "big.jsonl"
    offsets = trail_of(path, list(range(300_000)))
    size = path.stat().st_size
    read = []
    real = os.pread

    def counting(fd: int, length: int, offset: int) -> bytes:
        data = real(fd, length, offset)
        read.append(len(data))
        return data

    monkeypatch.setattr(since_module.os, "pread", counting)
    for second in (0, 1, 123_457, 299_999):
        read.clear()
        assert search(path, second) == offsets[second]
        assert sum(read) < size / 50, (second, sum(read), size)
    assert search(path, 300_000) == size  # nothing that late: start at the end
    assert search(path, -5) == 0


@pytest.mark.parametrize("second", range(-1, 12))
def test_lines_without_a_time_and_bad_lines_are_passed_over(tmp_path, second):
    path = tmp_path / "a.jsonl"
    times: list[int | None] = [0, None, 2, 3, None, None, 6, 7, None, 9, 10]
    offsets = trail_of(path, times, noise=b"not json\n\n")
    expected = next(
        (offsets[n] for n, when in enumerate(times) if when is not None and when >= second),
        path.stat().st_size,
    )
    assert search(path, second) == expected


def test_a_record_being_written_is_not_a_line_yet(tmp_path):
    path = tmp_path / "a.jsonl"
    trail_of(path, [0, 1])
    size = path.stat().st_size
    append(path, b'{"ts":"2026-03-01T00:00:05+00:00","act')
    fd = os.open(path, os.O_RDONLY)
    try:
        assert offset_since(fd, size, START + timedelta(seconds=3)) == size
    finally:
        os.close(fd)


def test_run_since_prints_each_file_from_that_time_then_follows(watchd, tmp_path):
    now = datetime.now(UTC)
    for name, hours in (("a.jsonl", (5, 3, 1)), ("b.jsonl", (4, 0.5))):
        append(
            tmp_path / name,
            b"".join(
                json.dumps(
                    {
                        "ts": (now - timedelta(hours=h)).isoformat(),
                        "container": name,
                        "action": f"h{h}",
                    }
                ).encode()
                + b"\n"
                for h in hours
            ),
        )
    process = watchd("run", "--source", f"audit:{tmp_path}", "--since", "2h", "--json")
    shown = [json.loads(process.read_line(timeout=10))["action"] for _ in range(2)]
    assert shown == ["h1", "h0.5"]  # merged in time order
    assert process.quiet_for(1.0)
    append(tmp_path / "a.jsonl", b'{"container":"a","action":"live"}\n')
    assert json.loads(process.read_line(timeout=10))["action"] == "live"
    assert process.stop() == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(0, 50), st.just(-1)), max_size=60),
    st.integers(-2, 52),
    st.integers(1, 40),
)
def test_both_ends_of_a_window_are_where_a_reading_through_finds_them(
    kinds: list[int | None], second: int, junk: int
) -> None:
    # -1: a stretch of lines that are no records; None: a record without a time.
    times = sorted(k for k in kinds if k is not None and k >= 0)
    rows, offsets, size = [], [], 0
    for kind in kinds:
        if kind == -1:
            row = b"no record\n" * (junk * 700)
        else:
            record: dict[str, object] = {"action": "a", "container": "c"}
            if kind is not None:
                record["ts"] = (START + timedelta(seconds=times.pop(0))).isoformat()
            row = json.dumps(record).encode() + b"\n"
        offsets.append((size, row))
        rows.append(row)
        size += len(row)
    data = b"".join(rows)
    fd = os.memfd_create("trail")
    try:
        os.write(fd, data)
        when = START + timedelta(seconds=second)
        timed = [(at, record_time(row)) for at, row in offsets if record_time(row) is not None]
        first_at = next((at for at, t in timed if t is not None and t >= when), size)
        first_after = next((at for at, t in timed if t is not None and t > when), size)
        assert offset_since(fd, size, when) == first_at
        assert offset_after(fd, size, when) == first_after
    finally:
        os.close(fd)
