"""The file-tailing failure scenarios of RELIABILITY.md (R1-R17), each as a test.

Writers and rotators run as separate processes (tests/writer.py, mv, cp,
truncate); every test asserts the exact multiset of delivered records.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import append, clean_env, wait_checkpointed
from trails import (
    delivered,
    exactly_once,
    finish,
    follow,
    record,
    records,
    run,
    wait_for,
    write,
)


def test_r1_rename_rotation_while_writing(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    process = follow(watchd, trail, source_options=",rotate_wait=3000")
    writer = write(
        f"open:{trail}",
        "write:0:100",
        f"signal:{tmp_path}/m1",
        f"await:{tmp_path}/m2",
        "spread:100:120:2",
        f"open:{trail}",
        "write:120:170",
    )
    wait_for(tmp_path / "m1")
    run("mv", trail, f"{trail}.1")
    (tmp_path / "m2").touch()
    finish(writer)
    seqs = delivered(process, 170)
    exactly_once(seqs, range(170))
    assert seqs == sorted(seqs)  # order kept per file (and files in turn here)


@pytest.mark.parametrize("seen", ["copy-first", "both-at-once"])
def test_r2_copytruncate_with_the_copy_in_scope(watchd, tmp_path, seen):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(b"")
    process = follow(watchd, f"{trail}*")
    append(trail, records(0, 50))
    exactly_once(delivered(process, 50), range(50))
    if seen == "both-at-once":
        os.kill(process.pid, signal.SIGSTOP)
    run("cp", trail, f"{trail}.1")
    if seen == "copy-first":
        time.sleep(0.5)  # watchd finds the copy while the original is whole
    run("truncate", "-s", "0", trail)
    append(trail, record(50))
    append(Path(f"{trail}.1"), record(51))
    if seen == "both-at-once":
        os.kill(process.pid, signal.SIGCONT)
    exactly_once(delivered(process, 2), [50, 51])


def test_r3_truncation_then_one_short_line_is_delivered_at_once(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(records(0, 20))
    process = follow(watchd, trail)
    run("truncate", "-s", "0", trail)
    append(trail, b'{"action":"x","container":"c","extra":1,"seq":0}\n'.replace(b"0}", b"99}"))
    started = time.monotonic()
    event = json.loads(process.read_line(timeout=2))
    assert event["extra"]["seq"] == 99
    assert time.monotonic() - started < 2


def test_r4_rewrite_in_place_with_the_same_or_larger_content(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    process = follow(watchd, trail)
    append(trail, records(0, 30))
    exactly_once(delivered(process, 30), range(30))
    for content, new in ((records(0, 30), []), (records(0, 45), list(range(30, 45)))):
        os.kill(process.pid, signal.SIGSTOP)  # watchd sees the rewrite done, not half done
        fd = os.open(trail, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, content)
        os.close(fd)
        os.kill(process.pid, signal.SIGCONT)
        if new:
            exactly_once(delivered(process, len(new)), new)
        else:
            assert process.quiet_for(1.0)
    os.kill(process.pid, signal.SIGSTOP)
    fd = os.open(trail, os.O_WRONLY | os.O_TRUNC)
    os.write(fd, records(100, 150))  # other content of a larger size: all of it is new
    os.close(fd)
    os.kill(process.pid, signal.SIGCONT)
    exactly_once(delivered(process, 50), range(100, 150))


def test_r5_inode_reuse_while_running_and_while_stopped(watchd, tmp_path):
    state = tmp_path / "state"
    logs = tmp_path / "logs"
    logs.mkdir()
    f = logs / "f.jsonl"
    f.write_bytes(records(0, 10))
    process = follow(watchd, f"{logs}/*.jsonl", "--from-beginning", state=state)
    exactly_once(delivered(process, 10), range(10))
    f.unlink()
    g = logs / "g.jsonl"
    g.write_bytes(records(10, 40))
    exactly_once(delivered(process, 30), range(10, 40))
    assert process.stop() == 0
    g.unlink()
    h = logs / "h.jsonl"
    h.write_bytes(records(40, 80))  # larger than g was, likely on g's inode
    # On ext4 h usually takes g's inode; either way g's checkpoint must not apply.
    again = follow(watchd, f"{logs}/*.jsonl", state=state)
    exactly_once(delivered(again, 40), range(40, 80))


def test_r6_identical_first_lines_empty_and_short_files(watchd, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(record(0) + record(1))
    (logs / "b.jsonl").write_bytes(record(0).replace(b'"seq": 0', b'"seq": 100') + record(2))
    (logs / "empty.jsonl").touch()
    (logs / "short.jsonl").write_bytes(record(3))
    process = follow(watchd, f"{logs}/*.jsonl", "--from-beginning")
    exactly_once(delivered(process, 5), [0, 1, 100, 2, 3])
    # while running: two new files with identical content are both read
    (logs / "c.jsonl").write_bytes(record(4))
    (logs / "d.jsonl").write_bytes(record(4))
    append(logs / "empty.jsonl", record(5))
    assert sorted(delivered(process, 3)) == [4, 4, 5]


def test_r7_deleted_while_being_read_is_drained_then_closed(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(records(0, 20000))
    process = follow(watchd, trail, "--from-beginning", source_options=",rotate_wait=500")
    trail.unlink()
    exactly_once(delivered(process, 20000), range(20000))
    process.wait_log("file let go", path=str(trail))
    fds = [
        os.readlink(f"/proc/{process.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{process.pid}/fd")
    ]
    assert not [link for link in fds if "(deleted)" in link]


def test_r8_partial_last_line_across_a_restart(watchd, tmp_path):
    state = tmp_path / "state"
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    process = follow(watchd, trail, state=state)
    append(trail, record(0) + b'{"a":1')
    exactly_once(delivered(process, 1), [0])
    assert process.stop() == 0
    files = json.loads((state / "checkpoints.json").read_bytes())["files"]
    assert [f["offset"] for f in files] == [len(record(0))]  # never past the last newline
    append(trail, b',"seq":7}\n')
    again = follow(watchd, trail, state=state)
    exactly_once(delivered(again, 1), [7])


def test_r9_long_lines_are_skipped_and_the_rest_flows(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    process = follow(watchd, trail)
    one_mib = b'{"seq": -1, "pad": "' + b"x" * (1024 * 1024) + b'"}\n'
    ten_mib = b'{"seq": -2, "pad": "' + b"y" * (10 * 1024 * 1024) + b'"}\n'
    append(trail, record(0) + one_mib + record(1) + ten_mib + record(2))
    exactly_once(delivered(process, 3), [0, 1, 2])
    warnings = [r for r in process.logs() if r.get("event") == "skipped over-long line"]
    assert [w["count"] for w in warnings] == [1, 2]


def test_r10_kill_9_mid_stream_then_restart(watchd, tmp_path):
    state = tmp_path / "state"
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    total = 100_000
    process = follow(watchd, trail, "--checkpoint-interval", "50", state=state)
    writer = write(f"open:{trail}", f"burst:0:{total}")
    first = []
    while len(first) < 30_000:
        first.append(json.loads(process.read_line(timeout=20))["extra"]["seq"])
    os.kill(process.pid, signal.SIGKILL)
    process.proc.wait()
    # A frame cut off by the kill (no newline) was never delivered.
    first += [json.loads(x)["extra"]["seq"] for x in process.remaining_output() if x[-1:] == b"\n"]
    finish(writer)
    checkpoint = json.loads((state / "checkpoints.json").read_bytes())["files"][0]["offset"]
    ends = {0: 0}
    position = 0
    for n in range(total):
        position += len(record(n))
        ends[position] = n + 1
    checkpointed = ends[checkpoint]  # records wholly before the checkpoint
    assert 0 < checkpointed <= len(first)  # a checkpoint mid-stream, never past what was out
    again = follow(watchd, trail, state=state)
    rest = delivered(again, total - checkpointed, timeout=60)
    assert first == list(range(len(first)))  # in order, no gap, before the kill
    assert rest == list(range(checkpointed, total))  # resumed exactly at the checkpoint


@pytest.mark.parametrize("in_scope", [True, False], ids=["glob", "single-path"])
def test_r11_rotations_while_stopped(watchd, tmp_path, in_scope):
    state = tmp_path / "state"
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    scope = f"{trail}*" if in_scope else str(trail)
    process = follow(watchd, scope, state=state)
    append(trail, records(0, 10))
    exactly_once(delivered(process, 10), range(10))
    assert process.stop() == 0
    append(trail, records(10, 20))
    run("mv", trail, f"{trail}.1")
    append(trail, records(20, 30))
    # Two more rotations, logrotate-style: the files that held the path after
    # the checkpointed one are rotated away too before watchd is back; with a
    # single path they are out of scope and no checkpoint knows them.
    run("mv", f"{trail}.1", f"{trail}.2")
    run("mv", trail, f"{trail}.1")
    append(trail, records(30, 40))
    run("mv", f"{trail}.2", f"{trail}.3")
    run("mv", f"{trail}.1", f"{trail}.2")
    run("mv", trail, f"{trail}.1")
    append(trail, records(40, 50))
    (tmp_path / "audit.jsonl.0.gz").write_bytes(b"\x1f\x8b not JSON Lines")  # left alone
    again = follow(watchd, scope, state=state)
    exactly_once(delivered(again, 40), range(10, 50))
    assert "skipped" not in again.stderr


def test_r14_overflow_of_the_inotify_queue_loses_no_file(watchd, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    count = 10_000
    for n in range(count):
        (logs / f"f{n:05}.jsonl").touch()
    process = follow(watchd, f"{logs}/*.jsonl")
    os.kill(process.pid, signal.SIGSTOP)
    for n in range(count):  # open, write, close: more events than the queue holds
        append(logs / f"f{n:05}.jsonl", record(n))
    os.kill(process.pid, signal.SIGCONT)
    exactly_once(delivered(process, count, timeout=60), range(count))
    process.wait_log("inotify queue overflowed, rescanning every file")


def test_r14_watch_limit_falls_back_to_polling(watchd, tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    env = clean_env(WATCHD_INOTIFY_MAX_WATCHES="1")
    process = follow(watchd, f"{tmp_path}/*/audit.jsonl", env=env)
    for n, name in enumerate(("a", "b", "c")):
        append(tmp_path / name / "audit.jsonl", record(n))
    exactly_once(delivered(process, 3), range(3))
    process.wait_log("inotify watch limit reached, polling instead")


def test_r15_line_endings_bom_blank_invalid_utf8_and_nul(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    process = follow(watchd, trail)
    append(
        trail,
        b"\xef\xbb\xbf"
        + record(0).replace(b"\n", b"\r\n")
        + b"\n\r\n"
        + record(1).replace(b'"c"', b'"c\xff"')
        + b"\0" * 64
        + record(2)
        + b"\0\0\0\n"
        + record(3),
    )
    exactly_once(delivered(process, 4), range(4))
    for reason in ("blank line", "NUL padding"):
        process.wait_log(f"skipped {reason}", path=str(trail))


def test_r16_short_lived_files_do_not_grow_the_store(watchd, tmp_path):
    state = tmp_path / "state"
    logs = tmp_path / "logs"
    logs.mkdir()
    process = follow(watchd, f"{logs}/*.jsonl", state=state, source_options=",rotate_wait=0")
    for n in range(300):
        path = logs / f"short-{n}.jsonl"
        path.write_bytes(record(n))
        if n % 50 == 49:
            exactly_once(delivered(process, 50), range(n - 49, n + 1))
            for old in logs.iterdir():
                old.unlink()
    # The deleted files are let go and their entries dropped as that is acknowledged.
    wait_checkpointed(state, lambda files: len(files) <= 1)
    assert process.stop() == 0
    files = json.loads((state / "checkpoints.json").read_bytes())["files"]
    assert len(files) <= 1


def test_r16_entries_of_files_gone_elsewhere_expire(watchd, tmp_path):
    state = tmp_path / "state"
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(records(0, 3))
    process = follow(
        watchd,
        trail,
        "--state-ttl",
        "300ms",
        "--from-beginning",
        state=state,
        source_options=",rotate_wait=0",
    )
    exactly_once(delivered(process, 3), range(3))
    run("mv", trail, tmp_path / "elsewhere.jsonl")  # rotated out of scope, still exists
    process.wait_log("file let go", path=str(tmp_path / "elsewhere.jsonl"))
    time.sleep(0.3)  # the TTL: an entry is dropped when a write finds it older
    assert process.stop() == 0
    files = json.loads((state / "checkpoints.json").read_bytes())["files"]
    assert files == []


def test_r17_sighup_reloads_without_gap_or_duplicate(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    process = follow(watchd, trail)
    writer = write(f"open:{trail}", "spread:0:600:3")
    for _ in range(3):
        time.sleep(0.7)
        process.proc.send_signal(signal.SIGHUP)
    finish(writer)
    exactly_once(delivered(process, 600), range(600))
    assert sum(r.get("event") == "SIGHUP received: reloading" for r in process.logs()) == 3
    assert process.stop() == 0
    assert not [p for p in Path("/tmp").glob("watchd-state-*") if str(process.pid) in p.name]


def test_the_state_dir_is_not_shared_by_two_processes(watchd, tmp_path):
    state = tmp_path / "state"
    trail = tmp_path / "audit.jsonl"
    follow(watchd, trail, state=state)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "watchd",
            "run",
            "--source",
            f"audit:{trail}",
            "--state-dir",
            str(state),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=20,
    )
    assert result.returncode == 1  # the other may stop: a failure, not a usage error
    assert "is in use by another watchd" in result.stderr
    shutil.rmtree(tmp_path / "nothing", ignore_errors=True)
