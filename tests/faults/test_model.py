"""A model of the tailing engine: a hypothesis state machine against the real Trail.

The trail runs in process, with an injected clock (``rotate_wait``, ``copy_wait``
and ``hold_removed`` pass without a sleep) and polling instead of inotify, so
every look is a whole rescan, over a real directory: inodes, renames, unlinked
but open files and symlinks behave as the kernel makes them, which a fake file
system would only imitate. The checkpoint store is the real one; a crash drops
every in-memory state (trail, store, what the sink had not acknowledged) and
starts again from what the store wrote.

The rules interleave appends (whole, split, with a NUL line between records),
rename rotations (one at a time, and numbered ones back to back with no look
between), copytruncate with the copy in and out of scope (and a second one while
the first copy is still being finished after a crash), truncation, deletion, the
directory deleted and recreated, the path swapped for a symlink, crashes,
reloads, failing checkpoint writes, a checkpoint file damaged between runs and a
failing sink. A second machine names the directory before it exists, as
``audit:/x/logs`` without a slash, and deletes it at any depth. After every
step the trail is driven until it is quiet, and what was delivered must cover
what was written, except what a truncation or a deletion destroyed before it
was read (the README's documented losses), and nothing may be invented.
"""

from __future__ import annotations

import dataclasses
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
from watchd.watchers.files.inotify import InotifyHub
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
#: Under inotify: rescans an hour apart, so only what the kernel says is seen.
INOTIFY_OPTIONS = dataclasses.replace(OPTIONS, rescan_interval=3600.0)


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


#: What a damaged checkpoint file may hold, from what it held.
DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda good: b"",
    "half-written": lambda good: good[: len(good) // 2],
    "nul-filled": lambda good: b"\0" * len(good),
    "random": lambda good: os.urandom(len(good)),
    "wrong shape": lambda good: b'{"version": 1, "files": {"a": 1}}',
}


class TrailModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="watchd-model-"))
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.scope = f"{self.logs}/app*.jsonl"  # a glob: a copy can land in scope, or out of it
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

    #: Files polled (every look a whole rescan); the inotify machine below sets it.
    inotify = False
    hub: InotifyHub | None = None

    def start(self, position: str = "beginning") -> None:
        self.store = CheckpointStore(str(self.state), interval=0.0, durable=False)
        if self.inotify:
            self.hub = InotifyHub.open()
        self.trail_obj = Trail(
            self.scope,
            "audit:model",
            start=StartAt(position),
            hub=self.hub,
            store=self.store,
            options=INOTIFY_OPTIONS if self.inotify else OPTIONS,
            log=self.log,
            clock=self.clock,
        )
        self.sink_failing = False
        self.unacked = []

    def pump(self, rounds: int = 12, budget: int = 1 << 20) -> None:
        """Poll, deliver, acknowledge, and let time pass, until the trail is quiet."""
        assert self.trail_obj is not None
        for _ in range(rounds):
            seqs = []
            if self.hub is not None:
                self.hub.pump()
            for _tail, blocks in self.trail_obj.poll(budget):
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
        self.close_hub()
        self.trail_obj = self.store = None

    def close_hub(self) -> None:
        if self.hub is not None:
            self.hub.close()
            self.hub = None

    # -- writing -------------------------------------------------------------------

    def line(self) -> bytes:
        seq = self.next_seq
        self.next_seq += 1
        self.written.add(seq)
        return json.dumps({"ts": "2026-01-01T00:00:00+00:00", "action": "w", "seq": seq}).encode()

    def append_bytes(self, data: bytes) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)  # made by the writer, as loki-mode does
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
        self.append_bytes(b"")

    @rule(burst=st.lists(st.integers(0, 15), min_size=2, max_size=6))
    def numbered_rotations_back_to_back(self, burst: list[int]) -> None:
        """``mv f.1 f.2; mv f f.1`` again and again, with no look between (logrotate's numbering).

        A segment can be made, written and renamed twice before the trail opens it.
        """
        self.finish_half()
        for count in burst:
            self.append_bytes(b"".join(self.line() + b"\n" for _ in range(count)))
            numbered = sorted(
                (int(p.name.rsplit(".b", 1)[1]), p) for p in self.logs.glob("app.jsonl.b*")
            )
            for number, path in reversed(numbered):
                os.rename(path, self.logs / f"app.jsonl.b{number + 1}")
            os.rename(self.trail, self.logs / "app.jsonl.b1")
        self.append_bytes(b"")

    @rule(in_scope=st.booleans())
    def copytruncate(self, in_scope: bool) -> None:
        self.finish_half()
        if not self.trail.exists():
            return
        self.rotations += 1
        name = f"app-{self.rotations}.jsonl" if in_scope else f"app.jsonl.{self.rotations}"
        shutil.copyfile(self.trail, self.logs / name)
        os.truncate(self.trail, 0)

    @precondition(lambda self: self.trail_obj is not None)
    @rule(count=st.integers(1, 60))
    def copytruncate_twice_while_finishing(self, count: int) -> None:
        """R36: behind at a crash, copytruncate while stopped, and again while finishing the copy.

        The restart finishes the first copy a little at a time; the second
        rotation renames that copy away and copies the file to its name.
        """
        self.finish_half()
        self.crash()
        self.append_bytes(b"".join(self.line() + b"\n" for _ in range(count)))
        self.rotations += 1
        first = self.logs / f"app.jsonl.{self.rotations}"
        shutil.copyfile(self.trail, first)
        os.truncate(self.trail, 0)
        self.append_bytes(b"".join(self.line() + b"\n" for _ in range(count)))
        self.start()
        self.pump(rounds=1, budget=300)  # still finishing the first copy
        self.rotations += 1
        os.rename(first, self.logs / f"app.jsonl.{self.rotations}")
        shutil.copyfile(self.trail, first)
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

    @rule(write_at_once=st.booleans())
    def recreate_directory(self, write_at_once: bool) -> None:
        self.finish_half()
        if self.logs.exists():
            for path in self.logs.iterdir():
                if path.is_file():
                    self.destroy(path.read_bytes(), self.other_files(path))
            shutil.rmtree(self.logs)
        self.logs.mkdir(parents=True)
        if write_at_once:
            self.append(3, False)

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
        self.logs.mkdir(parents=True, exist_ok=True)
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
            self.close_hub()
        self.start()

    @precondition(lambda self: self.store is not None)
    @rule()
    def checkpoint_writes_fail(self) -> None:
        def refuse(*_args: object, **_kwargs: object) -> None:
            raise OSError(28, "No space left on device")

        checkpoints.replace_file = refuse  # type: ignore[assignment]
        self.pump(3)
        checkpoints.replace_file = self._real_replace

    @precondition(lambda self: self.trail_obj is not None)
    @rule(damage=st.sampled_from(sorted(DAMAGES)), count=st.integers(1, 10))
    def checkpoint_damaged_while_stopped(self, damage: str, count: int) -> None:
        """R37: what cannot be trusted is read again, never skipped, whatever the file holds."""
        self.finish_half()
        self.crash()
        self.append(count, False)
        # Only the checkpoint knew a link's target out of the directory once the link
        # itself was rotated away: with it gone, so is that file (docs/delivery.md).
        linked = self.trail.resolve() if self.trail.is_symlink() else None
        in_scope = b"".join(
            p.read_bytes() for p in self.logs.rglob("*") if p.is_file() and not p.is_symlink()
        )
        for target in self.root.glob("target-*"):
            if target != linked:
                self.destroy(target.read_bytes(), in_scope)
        checkpoint = self.state / checkpoints.STATE_FILE
        checkpoint.write_bytes(DAMAGES[damage](checkpoint.read_bytes()))
        self.start("end")  # run's default: only a source known to have run reads new files

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
        self.close_hub()
        shutil.rmtree(self.root, ignore_errors=True)


class NamedDirectoryModel(TrailModel):
    """The same rules on ``audit:ROOT/a/b/logs``: a directory named before it exists."""

    def __init__(self) -> None:
        super().__init__()
        assert self.trail_obj is not None
        self.trail_obj.close()
        assert self.store is not None
        self.store.close()
        shutil.rmtree(self.root / "logs")
        shutil.rmtree(self.state, ignore_errors=True)
        self.logs = self.root / "a" / "b" / "logs"
        self.scope = str(self.logs)  # no trailing slash, and nothing there yet
        self.trail = self.logs / "app.jsonl"
        self.start()

    @rule(depth=st.integers(0, 2))
    def remove_a_parent(self, depth: int) -> None:
        """Delete the directory or a parent of it; the next write makes them again."""
        self.finish_half()
        doomed = self.logs.parents[depth - 1] if depth else self.logs
        if doomed.exists():
            for path in doomed.rglob("*"):
                if path.is_file():
                    self.destroy(path.read_bytes(), self.other_files(path))
            shutil.rmtree(doomed)


class InotifyModel(TrailModel):
    """The same rules under inotify, with rescans rare: what the kernel tells is all there is.

    A directory deleted while a file in it is still drained sends no
    ``IN_DELETE_SELF`` until that file is closed; only this machine sees it.
    """

    inotify = True


MODEL_SETTINGS = settings(
    max_examples=int(os.environ.get("WATCHD_MODEL_EXAMPLES", "60")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TrailModel.TestCase.settings = MODEL_SETTINGS
NamedDirectoryModel.TestCase.settings = MODEL_SETTINGS
InotifyModel.TestCase.settings = MODEL_SETTINGS
test_the_tailing_engine_loses_nothing = TrailModel.TestCase
test_a_directory_named_before_it_exists_loses_nothing = NamedDirectoryModel.TestCase
test_under_inotify_the_engine_loses_nothing = InotifyModel.TestCase


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


def test_a_copy_of_a_truncated_file_is_finished_not_taken_for_a_known_one_by_its_head():
    """Found by the model: a segment made and rotated in a burst began like the truncated file
    (one trail's records share their first bytes), so it was skipped as that file's copy.
    """
    model = NamedDirectoryModel()
    try:
        model.delivered_covers_written()
        for step in ("append_split", "copytruncate"):
            getattr(model, step)(*(() if step == "append_split" else (False,)))
            model.delivered_covers_written()
        model.numbered_rotations_back_to_back([0, 1])
        model.delivered_covers_written()
    finally:
        model.teardown()
