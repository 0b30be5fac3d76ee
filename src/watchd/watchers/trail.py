"""Every file a path or glob names, followed by identity, without losing or repeating a line.

A :class:`Trail` finds the files in its scope, opens each once, and keeps it
by identity (device, inode, content fingerprint) rather than by name:

- renamed within the scope: the same tail goes on under the new name;
- renamed out of the scope (rotation): drained first, under its new name,
  including writes that arrive for a grace period after the rename, then let
  go; the new file at the path is read from offset 0;
- deleted: drained to its end, the descriptor held at most ``hold_removed``;
- truncated (copytruncate, ``> file``): read again from 0 at once; what was
  not read yet is finished from a copy, in scope or among its rotated siblings;
- rewritten in place: told apart by the content before the offset, not by size.

Progress is acknowledged per poll: :meth:`acknowledge` records in the
checkpoint store the offsets that were read by the poll whose events every sink
has now delivered. The scope's listing is :mod:`~watchd.watchers.listing`,
the start-up resume :mod:`~watchd.watchers.resume`, the rotated and compressed
siblings :mod:`~watchd.watchers.copies`.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from watchd.core.checkpoints import CheckpointStore, Entry, entry_key
from watchd.core.context import StartAt
from watchd.watchers.copies import Opened, compression_of, find_copy, open_rotated, siblings
from watchd.watchers.dirwatch import DirWatch
from watchd.watchers.identity import (
    HEAD_BYTES,
    Fingerprint,
    continues,
    copy_of,
    file_key,
    find_inode,
    holds,
    mark_at,
    same_head,
)
from watchd.watchers.inotify import IN_MOVED_FROM, IN_MOVED_TO, NAMING, InotifyHub
from watchd.watchers.lines import MAX_LINE_BYTES
from watchd.watchers.listing import ScopeListing
from watchd.watchers.resume import StartupResume
from watchd.watchers.symlinks import INSIDE, LinkRule, OutsideScopeError
from watchd.watchers.tail import Change, State, Tail

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger


def shown_scope(pattern: str) -> str:
    """Return a scope as people read it: ``dir/*.jsonl|*.log`` is ``dir/{*.jsonl,*.log}``."""
    directory, name = os.path.split(pattern)
    if "|" not in name:
        return pattern
    return os.path.join(directory, "{" + name.replace("|", ",") + "}")


@dataclass(frozen=True)
class TrailOptions:
    """Timings and bounds of a trail (all in seconds or bytes)."""

    max_line_bytes: int = MAX_LINE_BYTES
    poll_interval: float = 0.25
    rescan_interval: float = 10.0
    rotate_wait: float = 5.0
    hold_removed: float = 300.0
    copy_wait: float = 2.0
    follow_symlinks: str = INSIDE


@dataclass(frozen=True)
class Ghost:
    """What a truncated file held: a copy of it in scope resumes at *offset*."""

    fingerprint: Fingerprint
    offset: int  # read to: a copy is read on from here
    mark: str
    at: float
    acked: int  # acknowledged to: a copy is checkpointed from here until more is


#: One acknowledgement: entries to write, and keys of files gone for good.
#: Each entry and each file gone goes with the opening number of the tail it is of.
_Marks = tuple[list[tuple[Entry, int]], list[tuple[int, int, int]]]

#: Bytes a file is indexed by for copy detection.
_PREFIX = 32


class Trail(ScopeListing, StartupResume):
    """The files of one ``audit:PATH-or-GLOB`` source."""

    def __init__(
        self,
        pattern: str,
        source_id: str,
        *,
        start: StartAt,
        hub: InotifyHub | None,
        store: CheckpointStore | None,
        options: TrailOptions,
        log: FilteringBoundLogger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pattern = os.path.abspath(os.path.expanduser(pattern))
        self.source_id = source_id
        self._dir_pattern, base = os.path.split(self.pattern)
        # "a|b" in the last part: names matching either (a directory's *.jsonl|*.log).
        self._base_patterns = base.split("|")
        self._dir_magic = glob.has_magic(self._dir_pattern)
        self._base_magic = glob.has_magic(base) or len(self._base_patterns) > 1
        self.is_glob = self._dir_magic or self._base_magic
        self._links = LinkRule(options.follow_symlinks, explicit=not self.is_glob)
        self._start = start
        self._hub = hub
        self.store = store
        self.options = options
        self._log = log
        self._clock = clock  # monotonic seconds; a test drives the timing rules with its own
        self.tails: dict[str, Tail] = {}
        self._by_path: dict[str, str] = {}
        self._dirs: dict[str, DirWatch] = {}
        self._link_dirs: set[str] = set()  # watched for the targets of links in scope
        self._dir_ids: dict[str, tuple[int, int]] = {}  # scope directory -> (device, inode)
        self._new_dirs: list[str] = []  # appeared since the last look
        self._copies_at_start: list[str] = []  # copies of files truncated while stopped
        self._ran_before = False  # the store knew this source when it started
        self._pending: dict[str, float] = {}  # possible copies: path -> first seen
        self._ghosts: list[Ghost] = []
        self._unacked: deque[_Marks] = deque()
        self._discover = True
        self._started = False
        self._waiting_said = False
        self._skipped_paths: set[str] = set()
        self._moves_from_scope: set[int] = set()
        self._moved_out: list[str] = []
        # Per-poll work is proportional to what changed, not to the files followed.
        self._dirty: set[str] = set()
        self._backlogged: set[str] = set()
        self._draining: set[str] = set()
        self._by_prefix: dict[bytes, set[str]] = {}
        self._full_rescan = True
        self._listed = None
        self._opened = 0
        self._unwritten = False  # entries put for new files, not yet handed to the writer
        #: Store key -> opening number of the tail whose file has that inode now.
        self._owner: dict[str, int] = {}
        #: Inodes whose file was deleted and let go, until that is acknowledged: a
        #: file found with one of them is new, whatever its first bytes say (an
        #: empty file's fingerprint matches every file).
        self._deleted: set[str] = set()
        now = self._clock()
        self._next_poll = now
        self._next_rescan = now + options.rescan_interval

    # -- what the loop asks ----------------------------------------------------

    @property
    def polling(self) -> bool:
        """Return True when some directory of the scope cannot be watched by inotify."""
        return self._hub is None or any(not d.inotify for d in self._dirs.values())

    def _needs_timer(self) -> bool:
        return self.polling or bool(self._draining) or bool(self._pending)

    def timeout(self) -> float:
        """Return the seconds until this trail must be looked at without an event."""
        if self._backlogged:
            return 0.0
        due = self._next_rescan
        if self._needs_timer():
            due = min(due, self._next_poll)
        if self.store is not None:
            store_due = self.store.due()
            if store_due is not None:
                due = min(due, self._clock() + store_due)
        return max(due - self._clock(), 0.0)

    # -- events ----------------------------------------------------------------

    def _on_dir_event(self, directory: str, name: str | None, mask: int, cookie: int) -> None:
        if name is None:
            self._discover = self._full_rescan = True
            self._dirty.update(self.tails)
            return
        path = os.path.join(directory, name)
        key = self._by_path.get(path)
        if key is not None:
            self._dirty.add(key)
        if directory in self._link_dirs:
            return  # watched for a link's target only: its other names are not in scope
        in_scope = self._in_scope(name)
        if (mask & NAMING or key is None) and in_scope:
            self._discover = True
        # A file can appear and be renamed out of scope between two looks; the
        # two halves of the rename, paired by cookie, say where it went.
        if mask & IN_MOVED_FROM and in_scope:
            self._moves_from_scope.add(cookie)
        elif mask & IN_MOVED_TO and not in_scope and cookie in self._moves_from_scope:
            self._moved_out.append(path)
            self._discover = True

    def _rotation_of_scope(self, name: str) -> bool:
        """Return True for a name out of scope made of one in scope and a rotation suffix."""
        if self._in_scope(name):
            return False
        return any(name[i] in ".-_" and self._in_scope(name[:i]) for i in range(1, len(name) - 1))

    def _in_scope(self, name: str) -> bool:
        if not self._base_magic:
            return name == self._base_patterns[0]
        return any(
            fnmatchcase(name, pattern) and (pattern.startswith(".") or not name.startswith("."))
            for pattern in self._base_patterns
        )

    # -- reading ---------------------------------------------------------------

    def poll(self, budget: int) -> list[tuple[Tail, list[tuple[bytes, int]]]]:
        """Return the new complete lines of every file that changed, per file."""
        now = self._clock()
        self._schedule(now)
        if self.store is not None:
            self.store.maybe_flush()
        results, entries = self._read_changed(budget, now)
        gone = self._retire(now)
        # One entry per poll, even an empty one: acknowledgements come one per
        # poll, in order, and must not consume a later poll's progress.
        self._unacked.append((entries, gone))
        return results

    def _schedule(self, now: float) -> None:
        """Run the timers' work: rescans, polling, draining, pending copies."""
        if now >= self._next_rescan:
            self._next_rescan = now + self.options.rescan_interval
            self._discover = self._discover or self._may_have_changed()
            self._touch_entries()
        if self._needs_timer() and now >= self._next_poll:
            # On a fixed grid, not from now: a wake-up a millisecond late must
            # not push every later look back by as much (latency stays under
            # one interval). After a pause longer than that, the grid restarts.
            self._next_poll += self.options.poll_interval
            if self._next_poll <= now:
                self._next_poll = now + self.options.poll_interval
            if self.polling:
                self._discover = self._full_rescan = True
                self._dirty.update(self.tails)
            self._discover = self._discover or bool(self._pending)
            self._dirty.update(self._draining)
        if self._discover:
            self._discover = False
            self._discovery(now, full=self._full_rescan)
            self._full_rescan = False

    def _read_changed(
        self, budget: int, now: float
    ) -> tuple[list[tuple[Tail, list[tuple[bytes, int]]]], list[tuple[Entry, int]]]:
        """Read every file marked changed (oldest first) within *budget* bytes."""
        results: list[tuple[Tail, list[tuple[bytes, int]]]] = []
        entries: list[tuple[Entry, int]] = []
        wanted = self._dirty | self._backlogged
        for key in sorted(wanted, key=self._read_order):
            tail = self.tails.get(key)
            self._dirty.discard(key)
            if tail is None:
                continue
            if budget <= 0:
                self._dirty.add(key)
                continue
            before, safe_before = tail.offset, tail.safe_offset
            lines = self._read(tail, budget, now)
            budget -= max(tail.offset - before, 0)
            if tail.backlog:
                self._backlogged.add(key)
            else:
                self._backlogged.discard(key)
            results.append((tail, lines))
            if len(tail.prefix) < _PREFIX and tail.offset > len(tail.prefix):
                self._unindex(tail)
                self._index(tail)
            if tail.safe_offset != safe_before or tail.offset != before:
                entries.append((self._entry(tail), tail.seq))
        return results, entries

    def _read_order(self, key: str) -> tuple[bool, int]:
        """Files left behind (rotated, deleted) first, then the active ones; each by age.

        A rotated file holds records older than those of the file that took its
        name, so it is drained first, as far as it is readable now; files found
        at the same time are read in the order they were opened (oldest first).
        """
        tail = self.tails.get(key)
        if tail is None:
            return (False, -1)
        return (tail.state is State.ACTIVE, tail.seq)

    def _read(self, tail: Tail, budget: int, now: float) -> list[tuple[bytes, int]]:
        self._notice_change(tail, now)
        return tail.read(budget)

    def _notice_change(self, tail: Tail, now: float) -> None:
        """Restart a truncated or rewritten file; remember what a truncated one held."""
        change = tail.check()
        if change is Change.TRUNCATED:
            self._log.warning(
                "file truncated, reading it again from the start",
                path=tail.path,
                size=tail.size(),
                offset=tail.offset,
            )
            ghost = Ghost(
                tail.fingerprint, tail.safe_offset, tail.safe_mark, now, self._acked(tail)
            )
            if self._finish_from_copy(os.path.dirname(tail.path), ghost, now) is None:
                self._ghosts.append(ghost)  # a copy may yet appear in scope
            self._restart(tail)
        elif change is Change.REWRITTEN:
            self._log.warning(
                "file rewritten in place, reading it again from the start",
                path=tail.path,
                offset=tail.offset,
            )
            self._restart(tail)

    def _number(self, tail: Tail) -> None:
        """Give *tail* the next opening number, and its inode's entries to it from now on."""
        self._opened += 1
        tail.seq = self._opened
        self._owner[entry_key(self.source_id, tail.dev, tail.ino)] = tail.seq

    def _restart(self, tail: Tail) -> None:
        """Read a truncated or rewritten file again from 0, as the new file it now is.

        What earlier polls said of the old bytes is not written after this (the
        file has a new opening number). Its checkpoint keeps describing the old
        bytes until the new ones are acknowledged: after a crash, that is what
        finds their copy (copytruncate), and the file, no longer holding them,
        is read from 0.
        """
        tail.restart()
        self._number(tail)

    def _acked(self, tail: Tail) -> int:
        """Return how far every sink has acknowledged *tail* (what a crash resumes from)."""
        entry = self.store.get(self.source_id, tail.dev, tail.ino) if self.store else None
        return min(entry.offset, tail.safe_offset) if entry is not None else tail.safe_offset

    def _entry(self, tail: Tail) -> Entry:
        # A file followed through a symlink is found again where it is, not where the link was.
        return Entry(
            self.source_id,
            tail.target or tail.path,
            tail.dev,
            tail.ino,
            tail.fingerprint.length,
            tail.fingerprint.head,
            tail.safe_offset,
            tail.safe_mark,
            time.time(),
            {"compression": tail.compression} if tail.compression else None,
        )

    def acknowledge(self) -> None:
        """Record the progress of the oldest poll not yet acknowledged (every sink has it)."""
        if not self._unacked:
            return
        entries, gone = self._unacked.popleft()
        if self.store is None:
            return
        # An inode is reused as soon as its file is deleted: what a poll said of
        # the file that had it must not overwrite, nor drop, the entry of the new one.
        for entry, seq in entries:
            if self._owner.get(entry.key) == seq:
                self.store.put(entry)
        for dev, ino, seq in gone:
            key = entry_key(self.source_id, dev, ino)
            self._deleted.discard(file_key(dev, ino))
            if self._owner.get(key) == seq:
                del self._owner[key]
                self.store.drop(self.source_id, dev, ino)
        self.store.maybe_flush()

    def _touch_entries(self) -> None:
        """Keep the entries of files still followed from expiring."""
        if self.store is None:
            return
        self.store.expire()
        now = time.time()
        for tail in self.tails.values():
            entry = self.store.get(self.source_id, tail.dev, tail.ino)
            if entry is not None:
                entry.seen = now

    # -- finding files ---------------------------------------------------------

    def _discovery(self, now: float, *, full: bool) -> None:
        directories = self._scan_dirs()
        self._sync_watches(directories)
        found = self._scan(directories, full=full)
        seen: set[str] = set()
        orphans = self._orphans() if not self._started else []
        if not self._started:
            # Asked before any file of this start puts its entry (which makes the source known).
            self._ran_before = self.store is not None and self.store.ran_before(self.source_id)
        # Followed files first (mtime -1), then new ones oldest first.
        for path, (key, size, _) in sorted(found.items(), key=lambda item: item[1][2]):
            tail = self.tails.get(key)
            if tail is not None:
                self._refresh(tail, path, size)
                seen.add(key)
                continue
            opened = self._open_new(path, now, orphans)
            if opened is not None:
                self._add(opened)
                seen.add(opened.key)
        self._pending = {p: t for p, t in self._pending.items() if p in found}
        self._adopt_moved_out(seen, now)
        self._adopt_new_directories(seen, now)
        for key, tail in self.tails.items():
            if tail.state is State.ACTIVE and key not in seen:
                self._let_go_of_name(tail, now)
        self._by_path = {t.path: k for k, t in self.tails.items() if t.state is not State.REMOVED}
        self._by_path.update(
            (t.target, k) for k, t in self.tails.items() if t.target and t.state is State.ACTIVE
        )
        self._ghosts = [g for g in self._ghosts if now - g.at < 60.0]
        starting = not self._started
        if starting:
            self._started = True
            self._adopt_rotated(orphans, now)
            if self.store is not None:
                self.store.started(self.source_id)
        if not found and not self._waiting_said:
            self._log.info("Waiting for audit events...", path=shown_scope(self.pattern))
        self._waiting_said = not found
        if self._unwritten and self.store is not None:
            self._unwritten = False
            self.store.flush()
            if starting:
                self.store.wait()  # on disk before the first poll's records go anywhere

    def _refresh(self, tail: Tail, path: str, size: int) -> None:
        """Take what a scan says of a file already followed (*size* -1: not looked at)."""
        if tail.path != path or tail.state is not State.ACTIVE:
            self._log.info(
                "file renamed within scope, still followed", path=path, previous=tail.path
            )
            tail.path, tail.state = path, State.ACTIVE
            self._draining.discard(tail.key)
            self._dirty.add(tail.key)
        elif size >= 0 and size != tail.offset:
            self._dirty.add(tail.key)  # an event was missed: the rescan found bytes

    def _adopt_moved_out(self, seen: set[str], now: float) -> None:
        """Read the files that were renamed out of scope before they were ever read."""
        moved, self._moved_out = self._moved_out, []
        self._moves_from_scope.clear()
        for path in moved:
            key = self._read_rotated(path, now)
            if key is not None:
                seen.add(key)
                self._log.info(
                    "file rotated out of scope before it was read, reading it now", path=path
                )

    def _adopt_new_directories(self, seen: set[str], now: float) -> None:
        """Read the rotated files of a directory that appeared (or was recreated) since start.

        Everything in it is new, but a file that was created and rotated away
        before the directory was watched sent no event to pair its rename by:
        its rotated name is all that is left of it.
        """
        directories, self._new_dirs = self._new_dirs, []
        for directory in directories:
            self._log.info("directory appeared, reading what it holds", directory=directory)
            plain = [*reversed(siblings(directory, self._plain_rotation))]  # oldest first
            for item in plain:
                key = self._read_rotated(item.path, now)
                if key is not None:
                    seen.add(key)
                    self._log.info(
                        "file rotated before it was read, reading it now", path=item.path
                    )

    def _plain_rotation(self, name: str) -> bool:
        return not compression_of(name) and self._rotation_of_scope(name)

    def _read_rotated(self, path: str, now: float) -> str | None:
        """Read a rotated file never read before from its start, and let it go once drained."""
        opened = open_rotated(path)
        if opened is None:
            return None
        if file_key(opened.dev, opened.ino) in self.tails:
            opened.close()
            return None
        return self._drain_opened(opened, 0, now).key

    def _drain_opened(
        self, opened: Opened, offset: int, now: float, *, checkpoint_from: int = -1
    ) -> Tail:
        """Follow a rotated file (or a copy) from *offset* until drained, then let it go."""
        tail = Tail(
            opened.fd,
            opened.path,
            offset,
            Fingerprint.of(opened.fd, opened.size),
            self.options.max_line_bytes,
            identity=(opened.dev, opened.ino),
            compression=opened.compression,
            clock=self._clock,
        )
        tail.checkpoint_from = checkpoint_from
        self._add(tail)
        self._drain(tail, State.ROTATED, now)
        return tail

    def _finish_from_copy(self, directory: str, read: Entry | Ghost, now: float) -> Tail | None:
        """Finish what was read of a file from a copy among its rotated siblings, if one holds it.

        copytruncate (or a rotation while watchd was stopped or behind) can leave
        the bytes not read yet only in ``app.jsonl.1``, ``app.jsonl-20261201``
        or ``app.jsonl.1.gz``, out of scope: the copy continues where the
        original was read to.
        """
        if isinstance(read, Entry):
            fingerprint, offset, mark = (
                Fingerprint(read.head_len, read.head),
                read.offset,
                read.mark,
            )
            acked = read.offset
        else:
            fingerprint, offset, mark, acked = read.fingerprint, read.offset, read.mark, read.acked
        found = find_copy(
            directory,
            self._rotation_of_scope,
            fingerprint,
            lambda fd, size: holds(fd, size, fingerprint, offset, mark),
            self._known,
        )
        if found is None:
            return None
        self._log.info("finishing a truncated file from its copy", path=found.path, offset=offset)
        return self._drain_opened(found, offset, now, checkpoint_from=acked)

    def _known(self, opened: Opened) -> bool:
        """Return True for a file followed now, or one a checkpoint describes.

        By content, not by inode alone: an entry left by a deleted file whose
        inode the kernel gave to a new one does not describe the new one (a
        followed file's inode is held open, so it cannot be given away).
        """
        if file_key(opened.dev, opened.ino) in self.tails:
            return True
        entry = self.store.get(self.source_id, opened.dev, opened.ino) if self.store else None
        return entry is not None and copy_of(entry, opened.fd, opened.size)

    def _add(self, tail: Tail) -> None:
        self._number(tail)
        self.tails[tail.key] = tail
        self._dirty.add(tail.key)
        self._index(tail)
        known = self.store.get(self.source_id, tail.dev, tail.ino) if self.store else None
        reused = tail.key in self._deleted or (
            known is not None and not continues(known, tail.fd, tail.size())
        )
        if self.store is not None and (known is None or reused):
            # Where a file starts is written before any of it is read: a crash
            # before its first record is acknowledged must find it again (a
            # rotated one may have no name in scope to be found by). A copy that
            # goes on from where its original was read is checkpointed from
            # where the original was acknowledged: the records between are
            # still on their way to the sinks.
            entry = self._entry(tail)
            if 0 <= tail.checkpoint_from < entry.offset:
                entry.offset = tail.checkpoint_from
                entry.mark = mark_at(tail.fd, tail.checkpoint_from)
            self.store.put(entry)
            self._unwritten = True

    def _index(self, tail: Tail) -> None:
        """File *tail* under its first bytes, to find the file a new one may copy."""
        tail.prefix = os.pread(tail.fd, _PREFIX, 0)
        self._by_prefix.setdefault(tail.prefix, set()).add(tail.key)

    def _unindex(self, tail: Tail) -> None:
        keys = self._by_prefix.get(tail.prefix)
        if keys is not None:
            keys.discard(tail.key)
            if not keys:
                del self._by_prefix[tail.prefix]

    def _drain(self, tail: Tail, state: State, now: float) -> None:
        tail.state, tail.left_at = state, now
        self._draining.add(tail.key)
        self._dirty.add(tail.key)

    def _let_go_of_name(self, tail: Tail, now: float) -> None:
        removed = os.fstat(tail.fd).st_nlink == 0
        self._drain(tail, State.REMOVED if removed else State.ROTATED, now)
        what = "deleted" if removed else "rotated out of scope"
        self._log.info(f"file {what}, draining it", path=tail.path, offset=tail.offset)
        if not removed:
            # Its records are reported from the file they are in, under the name
            # it has now; and writes to it under that name wake the trail at once.
            renamed = find_inode(os.path.dirname(tail.path), tail.dev, tail.ino)
            if renamed is not None and renamed != tail.path:
                self._log.debug("rotated file found", path=renamed, previous=tail.path)
                tail.path = renamed

    def _skip_link(self, path: str) -> None:
        """Say once that the link at *path* is not followed."""
        if path not in self._skipped_paths:
            self._skipped_paths.add(path)
            self._log.warning(
                "symbolic link out of the source's directory, not followed",
                path=path,
                follow_symlinks=self._links.mode,
            )

    def _open_new(self, path: str, now: float, orphans: list[Entry]) -> Tail | None:
        try:
            opened = self._links.open(path)
        except OutsideScopeError:
            self._skip_link(path)
            return None
        except OSError as exc:
            if path not in self._skipped_paths:
                self._skipped_paths.add(path)
                hint = "raise the open files limit (ulimit -n)" if exc.errno == errno.EMFILE else ""
                self._log.warning(
                    "cannot open file, will retry", path=path, reason=exc.strerror, hint=hint
                )
            return None
        if opened is None:
            return None
        fd, info = opened
        if not stat.S_ISREG(info.st_mode) or file_key(info.st_dev, info.st_ino) in self.tails:
            os.close(fd)
            return None
        if not self._started:
            offset = checkpoint_from = self._startup_offset(fd, info, orphans)
        else:
            where = self._runtime_offset(path, fd, info.st_size, now)
            if where is None:
                os.close(fd)
                return None
            offset, checkpoint_from = where
        self._pending.pop(path, None)
        self._skipped_paths.discard(path)
        tail = Tail(
            fd,
            path,
            offset,
            Fingerprint.of(fd, info.st_size),
            self.options.max_line_bytes,
            clock=self._clock,
        )
        tail.checkpoint_from = checkpoint_from
        if os.path.islink(path):
            tail.target = os.path.realpath(path)
        self._log.debug("following file", path=path, offset=offset)
        return tail

    # -- where a newly found file starts ---------------------------------------

    def _runtime_offset(self, path: str, fd: int, size: int, now: float) -> tuple[int, int] | None:
        """While running: where to read from and checkpoint from, or None to wait.

        0 for a new file; for a copy of a truncated file, where the original was
        read to, and checkpointed from where it was acknowledged.
        """
        originals = self._originals_like(fd, size)
        for tail in originals:
            # The original may have been truncated already, unnoticed yet: its
            # ghost must exist before the copy is judged.
            self._notice_change(tail, now)
            self._dirty.add(tail.key)
        for ghost in self._ghosts:
            if holds(fd, size, ghost.fingerprint, ghost.offset, ghost.mark):
                self._ghosts.remove(ghost)
                self._log.info(
                    "copy of a truncated file, resuming where it was read to",
                    path=path,
                    offset=ghost.offset,
                )
                return ghost.offset, ghost.acked
        first_seen = self._pending.setdefault(path, now)
        if not self._may_be_a_copy(fd, size, originals):
            return 0, 0
        if now - first_seen < self.options.copy_wait:
            return None  # wait: the original may be truncated next (copytruncate)
        return 0, 0

    def _originals_like(self, fd: int, size: int) -> list[Tail]:
        """Return the followed files whose first bytes the new file starts with."""
        if size == 0:
            return []
        head = os.pread(fd, min(size, _PREFIX), 0)
        if len(head) >= _PREFIX:
            keys = set(self._by_prefix.get(head, ()))
        else:
            keys = {k for p, ks in self._by_prefix.items() if p.startswith(head) for k in ks}
        keys |= self._by_prefix.get(b"", set()) | self._short_prefixes()
        tails = (self.tails.get(key) for key in keys)
        return [t for t in tails if t is not None and t.state is State.ACTIVE and t.offset]

    def _may_be_a_copy(self, fd: int, size: int, originals: list[Tail]) -> bool:
        """Return True when the file's bytes so far are how a followed file begins."""
        if size == 0:
            # An empty file tells nothing yet, and waiting costs nothing.
            return bool(self.tails) or bool(self._ghosts)
        head = os.pread(fd, min(size, HEAD_BYTES), 0)
        if any(os.pread(tail.fd, len(head), 0) == head for tail in originals):
            return True
        return any(same_head(fd, size, g.fingerprint) for g in self._ghosts)

    def _short_prefixes(self) -> set[str]:
        """Return the files indexed while shorter than the prefix (they may have grown)."""
        short: set[str] = set()
        for prefix, keys in self._by_prefix.items():
            if 0 < len(prefix) < _PREFIX:
                short |= keys
        return short

    # -- letting go ------------------------------------------------------------

    def _retire(self, now: float) -> list[tuple[int, int, int]]:
        gone: list[tuple[int, int, int]] = []
        for key in list(self._draining):
            tail = self.tails[key]
            drained = not tail.backlog and tail.offset >= tail.size()
            quiet = now - tail.last_growth >= self.options.rotate_wait
            held_too_long = (
                tail.state is State.REMOVED and now - tail.left_at >= self.options.hold_removed
            )
            if not ((drained and quiet) or held_too_long):
                continue
            if not drained:
                self._log.warning(
                    "deleted file let go before it was drained",
                    path=tail.path,
                    unread=tail.size() - tail.offset,
                )
            pending = tail.close()
            if pending:
                self._log.warning(
                    "incomplete last line dropped: the file was let go before its newline",
                    path=tail.path,
                    bytes=pending,
                )
            del self.tails[key]
            self._draining.discard(key)
            self._dirty.discard(key)
            self._backlogged.discard(key)
            self._unindex(tail)
            self._log.debug("file let go", path=tail.path, state=tail.state.value)
            if tail.state is State.REMOVED:
                gone.append((tail.dev, tail.ino, tail.seq))
                self._deleted.add(tail.key)
        return gone

    def close(self) -> None:
        """Close every file and watch."""
        for tail in self.tails.values():
            tail.close()
        self.tails.clear()
        for watch in self._dirs.values():
            watch.close()
        self._dirs.clear()
