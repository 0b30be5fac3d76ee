"""The checkpoint store's writes: atomic, off the loop's thread, newest first, retried."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from structlog.testing import capture_logs

from watchd.core.checkpoints import STATE_FILE, CheckpointStore, Entry
from watchd.core.clock import ManualClock
from watchd.core.errors import FailureError


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """Capture structlog's output, then leave its configuration as it found it.

    ``capture_logs`` restores the processors only, which leaves structlog
    "configured": the writer's "log to stderr unless configured" then misleads.
    """
    configured, config = structlog.is_configured(), structlog.get_config()
    with capture_logs() as captured:
        yield captured
    if configured:
        structlog.configure(**config)
    else:
        structlog.reset_defaults()


def entry(offset: int) -> Entry:
    return Entry("audit", "/t/a.jsonl", 1, 2, 0, "", offset, "", time.time())


def offsets(state: Path) -> list[int]:
    return [f["offset"] for f in orjson.loads((state / STATE_FILE).read_bytes())["files"]]


def test_a_flush_does_not_wait_for_the_disk_and_the_newest_document_wins(tmp_path, monkeypatch):
    store = CheckpointStore(str(tmp_path))
    in_fsync, disk_free = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        in_fsync.set()
        assert disk_free.wait(10)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    store.put(entry(10))
    store.flush()
    assert in_fsync.wait(10)  # the writer is stuck on the disk...
    for offset in (20, 30):  # ...and the loop goes on: these return at once
        store.put(entry(offset))
        store.flush()
    assert offsets(tmp_path) == []  # only what the store checked it can write, at its start
    disk_free.set()
    store.wait()
    assert offsets(tmp_path) == [30]  # 20 was skipped: 30 says all it said
    store.close()


def test_close_writes_what_is_pending_and_frees_the_directory(tmp_path):
    store = CheckpointStore(str(tmp_path))
    store.put(entry(42))
    store.close()
    assert offsets(tmp_path) == [42]
    assert not (tmp_path / f"{STATE_FILE}.tmp").exists()
    CheckpointStore(str(tmp_path)).close()  # the lock went with the first store


def test_a_second_store_on_one_directory_is_refused(tmp_path):
    store = CheckpointStore(str(tmp_path))
    with pytest.raises(FailureError, match="in use by another watchd"):  # exit 1: it may end
        CheckpointStore(str(tmp_path))
    store.close()


def test_a_failed_write_is_logged_and_written_again_at_the_next_interval(tmp_path, logs):
    store = CheckpointStore(str(tmp_path), interval=0.0)
    blocker = tmp_path / f"{STATE_FILE}.tmp"
    blocker.mkdir()  # the temporary file cannot be opened for writing
    store.put(entry(7))
    store.flush()
    store.wait()
    assert [(log["event"], log["path"]) for log in logs] == [
        ("checkpoint not written", str(tmp_path / STATE_FILE))
    ]
    assert store.due() == 0.0  # still pending
    blocker.rmdir()
    store.maybe_flush()
    store.wait()
    assert offsets(tmp_path) == [7]
    assert store.due() is None
    store.close()


def test_writes_come_at_most_every_interval_by_the_store_s_own_clock(tmp_path):
    clock = ManualClock()
    store = CheckpointStore(str(tmp_path), interval=1.0, clock=clock, wall=ManualClock())
    store.put(entry(1))
    store.flush()
    store.put(entry(2))
    assert store.due() == 1.0  # nothing moved: a whole interval to go
    clock.advance(0.75)
    store.maybe_flush()
    store.wait()
    assert offsets(tmp_path) == [1]
    clock.advance(0.25)
    assert store.due() == 0.0
    store.maybe_flush()
    store.wait()
    assert offsets(tmp_path) == [2]
    store.close()


def test_an_entry_not_seen_for_longer_than_the_ttl_is_dropped_at_the_next_write(tmp_path):
    wall = ManualClock(1_700_000_000.0)
    store = CheckpointStore(str(tmp_path), ttl=60.0, wall=wall)
    old = Entry("audit", "/t/a.jsonl", 1, 2, 0, "", 5, "", wall())
    store.put(old)
    wall.advance(60.0)
    store.put(Entry("audit", "/t/b.jsonl", 1, 3, 0, "", 9, "", wall()))
    store.flush()
    store.wait()
    assert sorted(offsets(tmp_path)) == [5, 9]  # exactly the TTL old: kept
    wall.advance(0.5)
    store.flush()
    store.wait()
    assert offsets(tmp_path) == [9]  # past it
    assert store.sources["audit"]["seen"] == 1_700_000_060.0  # the source's time is the store's
    store.close()
