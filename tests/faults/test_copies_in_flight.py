"""R36: a second copytruncate while the first copy is still being finished after a crash.

kill -9 while far behind; copytruncate while stopped; the restart finishes the
copy (``a.jsonl.1``) from where the checkpoint says; while it does, logrotate
comes again: ``mv a.jsonl.1 a.jsonl.2; cp a.jsonl a.jsonl.1; truncate a.jsonl``.
Every record of every generation must arrive, and the second truncation be said.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from ledger import gaps, out_of_order, seq_lines, seqs_of

from conftest import clean_env, wait_checkpointed

FIRST, SECOND = 300_000, 5_000


def start(args: list[str], stderr=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "watchd", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env=clean_env(),
    )


def copytruncate(trail, copy) -> None:
    shutil.copyfile(trail, copy)
    os.truncate(trail, 0)


def test_a_second_copytruncate_while_the_first_copy_is_finished_loses_nothing(tmp_path):
    trail, out, state = tmp_path / "a.jsonl", tmp_path / "out.jsonl", tmp_path / "state"
    trail.write_bytes(b"")
    args = [
        "run", "--source", f"audit:{trail}", "--sink", f"file:{out}",
        "--state-dir", str(state), "-v",
    ]  # fmt: skip
    first = start(args)
    wait_checkpointed(state, lambda entries: len(entries) == 1)
    with open(trail, "ab") as writer:
        writer.write(seq_lines(0, FIRST))
    # Far behind: killed once some, not all, of the first generation is checkpointed.
    wait_checkpointed(state, lambda e: 0 < e[0]["offset"] < trail.stat().st_size, timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait()
    copytruncate(trail, tmp_path / "a.jsonl.1")
    with open(trail, "ab") as writer:
        writer.write(seq_lines(FIRST, FIRST + SECOND))
    again = start(args, stderr=subprocess.PIPE)
    # Logrotate comes again while the copy is being finished (its checkpoint is there).
    wait_checkpointed(state, lambda e: any(x["path"].endswith("a.jsonl.1") for x in e))
    os.rename(tmp_path / "a.jsonl.1", tmp_path / "a.jsonl.2")
    copytruncate(trail, tmp_path / "a.jsonl.1")
    written = FIRST + SECOND
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(set(seqs_of(out.read_bytes().splitlines()))) >= written:
            break
        time.sleep(0.2)
    again.send_signal(signal.SIGTERM)
    _, err = again.communicate(timeout=60)
    delivered = seqs_of(out.read_bytes().splitlines())
    assert gaps(delivered, range(written)) == ([], []), err.decode()[-3000:]
    assert out_of_order(delivered) == []
    # Truncated after some of it was read, or before: the copy is then a rotation nobody read.
    said = [json.loads(x) for x in err.decode().splitlines() if x.startswith("{")]
    assert any(
        r["event"] == "file truncated, reading it again from the start"
        or (
            r["event"] == "file rotated before it was read, reading it now"
            and r["path"] == str(tmp_path / "a.jsonl.1")
        )
        for r in said
    ), err.decode()[-3000:]
