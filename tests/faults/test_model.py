"""A model of the tailing engine: a hypothesis state machine against the real Trail.

The trail runs in process, with an injected clock (``rotate_wait``, ``copy_wait``
and ``hold_removed`` pass without a sleep) and polling instead of inotify, so
every look is a whole rescan, over a real directory: inodes, renames, unlinked
but open files and symlinks behave as the kernel makes them, which a fake file
system would only imitate. The checkpoint store is the real one; a crash drops
every in-memory state (trail, store, what the sink had not acknowledged) and
starts again from what the store wrote.

The rules interleave appends (whole, split, with a NUL line between records),
rename rotations, copytruncate with the copy in and out of scope, truncation,
deletion, the directory deleted and recreated, the path swapped for a symlink,
crashes, reloads, failing checkpoint writes and a failing sink. After every
step the trail is driven until it is quiet, and what was delivered must cover
what was written, except what a truncation or a deletion destroyed before it
was read (the README's documented losses), and nothing may be invented.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import structlog
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from watchd.codecs.records import decode_record
from watchd.core import checkpoints
from watchd.core.checkpoints import CheckpointStore
from watchd.core.context import StartAt
from watchd.watchers.files.settings import TrailOptions
from watchd.watchers.files.trail import Trail

OPTIONS = TrailOptions(
    poll_interval=0.1,
    rescan_interval=1.0,
    rotate_wait=1.0,
    hold_removed=5.0,
    copy_wait=0.5,
    follow_symlinks="yes",  # the swapped-in links name files beside the directory, on purpose
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def records_in(data: bytes) -> set[int]:
    """Return the seq of every complete record in *data*."""
    found = set()
    for line in data.split(b"\n")[:-1]:
        record = decode_record(line)
        if isinstance(record, dict) and "seq" in record:
            found.add(record["seq"])
    return found


class TrailModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="watchd-model-"))
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.trail = self.logs / "app.jsonl"
        self.state = self.root / "state"
        self.clock = Clock()
        self.next_seq = 0
        self.written: set[int] = set()
        self.destroyed: set[int] = set()  # gone before it was read: a documented loss
        self.delivered: Counter[int] = Counter()
        self.half = b""  # the second half of a record written in two writes
        self.rotations = 0
        self.sink_failing = False
        self.unacked: list[list[int]] = []
        self.trail_obj: Trail | None = None
        self.store: CheckpointStore | None = None
        self._real_replace = checkpoints.replace_file
        self.said = io.StringIO()  # what the trail logs, kept for a failing example
        self.log = structlog.wrap_logger(
            structlog.PrintLogger(self.said),
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        )
        self.start()

    # -- the engine ----------------------------------------------------------------

    def start(self) -> None:
        self.store = CheckpointStore(str(self.state), interval=0.0, durable=False)
        self.trail_obj = Trail(
            f"{self.logs}/app*.jsonl",  # a glob: a copy can land in scope, or out of it
            "audit:model",
            start=StartAt("beginning"),
            hub=None,
            store=self.store,
            options=OPTIONS,
            log=self.log,
            clock=self.clock,
        )
        self.sink_failing = False
        self.unacked = []

    def pump(self, rounds: int = 12) -> None:
        """Poll, deliver, acknowledge, and let time pass, until the trail is quiet."""
        assert self.trail_obj is not None
        for _ in range(rounds):
            seqs = []
            for _tail, blocks in self.trail_obj.poll(1 << 20):
                for line in (line for block in blocks for line in block.lines):
                    record = decode_record(line)
                    if isinstance(record, dict) and "seq" in record:
                        seqs.append(record["seq"])
            if self.sink_failing:
                self.unacked.append(seqs)  # the sink took none of it: never acknowledged
            else:
                self.delivered.update(seqs)
                self.trail_obj.acknowledge()
            self.clock.now += 0.4

    def crash(self) -> None:
        """kill -9: what the store wrote stays; everything in memory is gone."""
        assert self.trail_obj is not None
        assert self.store is not None
        self.store.wait()
        for tail in self.trail_obj.tails.values():
            os.close(tail.fd)
        os.close(self.store._lock_fd)
        self.trail_obj = self.store = None

    # -- writing -------------------------------------------------------------------

    def line(self) -> bytes:
        seq = self.next_seq
        self.next_seq += 1
        self.written.add(seq)
        return json.dumps({"ts": "2026-01-01T00:00:00+00:00", "action": "w", "seq": seq}).encode()

    def append_bytes(self, data: bytes) -> None:
        with self.trail.open("ab") as out:
            out.write(data)

    @rule(count=st.integers(1, 20), nul=st.booleans())
    def append(self, count: int, nul: bool) -> None:
        data = self.half
        self.half = b""
        for n in range(count):
            data += self.line() + b"\n"
            if nul and n == 0:
                data += b"x\0y\n"  # a torn write: a reported skip, never a crash
        self.append_bytes(data)

    @precondition(lambda self: not self.half)
    @rule()
    def append_split(self) -> None:
        whole = self.line() + b"\n"
        self.append_bytes(whole[: len(whole) // 2])
        self.half = whole[len(whole) // 2 :]

    # -- what rotators and people do ----------------------------------------------

    def finish_half(self) -> None:
        if self.half and self.trail.exists():
            self.append_bytes(self.half)
        elif self.half:
            self.written.discard(self.next_seq - 1)  # the half line never became a record
        self.half = b""

    def destroy(self, data: bytes, elsewhere: bytes = b"") -> None:
        """Note the records *data* held that were not read and are in no other file."""
        self.destroyed |= records_in(data) - set(self.delivered) - records_in(elsewhere)

    def other_files(self, but: Path) -> bytes:
        """Return what every file holds but *but* (and what it links to)."""
        data, itself = b"", but.resolve()
        for path in {*self.root.rglob("app*"), *self.root.glob("target-*")}:
            if path.is_file() and path.resolve() != itself:
                data += path.read_bytes()
        return data

    @rule()
    def rename_rotation(self) -> None:
        self.finish_half()
        if self.trail.exists():
            self.rotations += 1
            os.rename(self.trail, self.logs / f"app.jsonl.{self.rotations}")
        self.trail.touch()

    @rule(in_scope=st.booleans())
    def copytruncate(self, in_scope: bool) -> None:
        self.finish_half()
        if not self.trail.exists():
            return
        self.rotations += 1
        name = f"app-{self.rotations}.jsonl" if in_scope else f"app.jsonl.{self.rotations}"
        shutil.copyfile(self.trail, self.logs / name)
        os.truncate(self.trail, 0)

    def wipe(self, how: Callable[[Path], None]) -> None:
        """Destroy what the trail holds by *how*, noting what was not read yet."""
        self.finish_half()
        if self.trail.exists():
            self.destroy(self.trail.read_bytes(), self.other_files(self.trail))
            how(self.trail)

    @rule()
    def truncate(self) -> None:
        self.wipe(lambda path: os.truncate(path, 0))

    @rule()
    def delete(self) -> None:
        # An open file is still read to its end; one never opened is lost.
        self.wipe(Path.unlink)

    @rule()
    def recreate_directory(self) -> None:
        self.finish_half()
        for path in self.logs.iterdir():
            if path.is_file():
                self.destroy(path.read_bytes(), self.other_files(path))
        shutil.rmtree(self.logs)
        self.logs.mkdir()

    @rule()
    def symlink_swap(self) -> None:
        self.finish_half()
        target = self.root / f"target-{self.rotations}.jsonl"
        self.rotations += 1
        if self.trail.exists() and not self.trail.is_symlink():
            os.rename(self.trail, self.logs / f"app.jsonl.{self.rotations}")
        elif self.trail.is_symlink():
            self.trail.unlink()
        target.write_bytes(b"")
        os.symlink(target, self.logs / "tmp-link")
        os.rename(self.logs / "tmp-link", self.trail)

    # -- what happens to watchd ----------------------------------------------------

    @rule()
    def kill_9(self) -> None:
        self.crash()
        self.start()

    @rule()
    def reload(self) -> None:
        assert self.trail_obj is not None
        assert self.store is not None
        if self.sink_failing:
            self.crash()  # a failed sink ends the run without acknowledging
        else:
            self.trail_obj.close()
            self.store.close()
        self.start()

    @precondition(lambda self: self.store is not None)
    @rule()
    def checkpoint_writes_fail(self) -> None:
        def refuse(*_args: object, **_kwargs: object) -> None:
            raise OSError(28, "No space left on device")

        checkpoints.replace_file = refuse  # type: ignore[assignment]
        self.pump(3)
        checkpoints.replace_file = self._real_replace

    @rule()
    def sink_fails(self) -> None:
        self.sink_failing = True

    # -- the promise -------------------------------------------------------------------

    @invariant()
    def delivered_covers_written(self) -> None:
        self.pump()
        if self.sink_failing:
            return  # nothing is delivered until the run that failed ends
        complete = self.written - records_in(self.half) if self.half else self.written
        missing = complete - set(self.delivered) - self.destroyed
        if self.half:
            missing.discard(self.next_seq - 1)  # waits for its newline
        invented = set(self.delivered) - self.written
        assert (sorted(missing), sorted(invented)) == ([], []), self.said.getvalue()[-3000:]

    def teardown(self) -> None:
        checkpoints.replace_file = self._real_replace
        if self.trail_obj is not None and self.store is not None:
            self.trail_obj.close()
            self.store.close()
        shutil.rmtree(self.root, ignore_errors=True)


TrailModel.TestCase.settings = settings(
    max_examples=int(os.environ.get("WATCHD_MODEL_EXAMPLES", "60")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_tailing_engine_loses_nothing = TrailModel.TestCase


def test_an_inode_a_deleted_file_left_is_a_new_file_even_when_both_started_empty():
    """Found by the model: the deleted file's entry (an empty file's fingerprint matches any
    file) stood for the file that took its inode, under the old path; a crash lost its records.
    """
    model = TrailModel()
    try:
        model.delivered_covers_written()
        steps = ("rename_rotation", "sink_fails", "append_split", "delete", "symlink_swap")
        for step in (*steps, "append_split", "symlink_swap", "kill_9"):
            getattr(model, step)()
            model.delivered_covers_written()
    finally:
        model.teardown()
