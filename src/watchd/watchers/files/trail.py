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
has now delivered. The scope's listing (and opening what it finds) is
:mod:`~watchd.watchers.files.listing`, the start-up resume
:mod:`~watchd.watchers.files.resume`, files rotated, deleted or copied while
followed :mod:`~watchd.watchers.files.copied`, the rotated and compressed
siblings :mod:`~watchd.watchers.files.copies`.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from watchd.core.checkpoints import CheckpointStore, Entry, entry_key
from watchd.core.context import StartAt
from watchd.watchers.files.copied import RuntimeCopies
from watchd.watchers.files.dirwatch import DirWatch
from watchd.watchers.files.identity import (
    continues,
    file_key,
    mark_at,
)
from watchd.watchers.files.inotify import IN_MOVED_FROM, IN_MOVED_TO, NAMING, InotifyHub
from watchd.watchers.files.listing import ScopeListing
from watchd.watchers.files.resume import StartupResume
from watchd.watchers.files.rotated import RotatedLedger
from watchd.watchers.files.scope import Scope
from watchd.watchers.files.settings import PREFIX, Ghost, TrailOptions
from watchd.watchers.files.tail import State, Tail

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

    from watchd.codecs.lines import LineBlock


#: One acknowledgement: entries to write, and keys of files gone for good.
#: Each entry and each file gone goes with the opening number of the tail it is of.
_Marks = tuple[list[tuple[Entry, int]], list[tuple[int, int, int]]]


class Trail(ScopeListing, StartupResume, RuntimeCopies):
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
        self.scope = Scope(os.path.abspath(os.path.expanduser(pattern)), options.follow_symlinks)
        self.source_id = source_id
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
        self._read_after: dict[str, str] = {}  # a file truncated while stopped -> its copy
        self._ran_before = False  # the store knew this source when it started
        self._last_run: float | None = None  # when it last put a checkpoint (wall time)
        self._pending: dict[str, float] = {}  # possible copies: path -> first seen
        self._ghosts: list[Ghost] = []
        self._unacked: deque[_Marks] = deque()
        self._discover = True
        self._started = False
        self._waiting_said = False
        self._skipped_paths: set[str] = set()
        self._moves_from_scope: set[int] = set()
        self._moved_out: list[str] = []
        self._rotations = RotatedLedger()
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

    @property
    def pattern(self) -> str:
        """Return the path or glob followed (a directory's, once a named path turned out one)."""
        return self.scope.pattern

    @property
    def is_glob(self) -> bool:
        """Return True when the trail may follow several files at once."""
        return self.scope.is_glob

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
        in_scope = self.scope.takes(name)
        if (mask & NAMING or key is None) and in_scope:
            self._discover = True
        elif mask & NAMING and self.scope.rotation(name):
            # A rotation made or renamed (cp f f.1, mv f.1 f.2): it may hold what
            # nobody read, and no name in scope changed to say so.
            self._discover = True
        # A file can appear and be renamed out of scope between two looks; the
        # two halves of the rename, paired by cookie, say where it went.
        if mask & IN_MOVED_FROM and in_scope:
            self._moves_from_scope.add(cookie)
        elif mask & IN_MOVED_TO and not in_scope and cookie in self._moves_from_scope:
            self._moved_out.append(path)
            self._discover = True

    # -- reading ---------------------------------------------------------------

    def poll(self, budget: int) -> list[tuple[Tail, list[LineBlock]]]:
        """Return the new complete lines of every file that changed, per file, a block a read."""
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
    ) -> tuple[list[tuple[Tail, list[LineBlock]]], list[tuple[Entry, int]]]:
        """Read every file marked changed (oldest first) within *budget* bytes."""
        results: list[tuple[Tail, list[LineBlock]]] = []
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
            self._notice_change(tail, now)
            copy = self._copy_first(tail)
            if copy is not None:
                budget -= self._read_into(copy, budget, results, entries)
                if not copy.backlog:
                    tail.after = ""  # drained: the file's new bytes are next
                if copy.backlog or budget <= 0:
                    self._dirty.add(key)  # its new bytes come after what its copy still holds
                    continue
            budget -= self._read_into(tail, budget, results, entries)
        return results, entries

    def _read_into(
        self,
        tail: Tail,
        budget: int,
        results: list[tuple[Tail, list[LineBlock]]],
        entries: list[tuple[Entry, int]],
    ) -> int:
        """Read *tail* within *budget*; add its blocks and its progress; return bytes read."""
        before, safe_before = tail.offset, tail.safe_offset
        blocks = tail.read(budget)
        if tail.backlog:
            self._backlogged.add(tail.key)
        else:
            self._backlogged.discard(tail.key)
        results.append((tail, blocks))
        if len(tail.prefix) < PREFIX and tail.offset > len(tail.prefix):
            self._unindex(tail)
            self._index(tail)
        if tail.safe_offset != safe_before or tail.offset != before:
            entries.append((self._entry(tail), tail.seq))
        return max(tail.offset - before, 0)

    def _read_order(self, key: str) -> tuple[bool, int, int]:
        """Files left behind (rotated, deleted) first, then the active ones; each by age.

        A rotated file holds records older than those of the file that took its
        name, so it is drained first, as far as it is readable now. Rotated
        files go oldest first by when they were last written, not by when they
        were opened: after a restart the newest rotation can be opened first
        (its inode was a checkpointed file's), and must still come last (R39).
        Active files go in the order they were opened (oldest first).
        """
        tail = self.tails.get(key)
        if tail is None:
            return (False, -1, -1)
        active = tail.state is State.ACTIVE
        return (active, 0 if active else tail.age, tail.seq)

    def _number(self, tail: Tail) -> None:
        """Give *tail* the next opening number, and its inode's entries to it from now on."""
        self._opened += 1
        tail.seq = self._opened
        self._owner[entry_key(self.source_id, tail.dev, tail.ino)] = tail.seq

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
            self.store.wall() if self.store is not None else time.time(),
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
                tail = self.tails.get(file_key(entry.dev, entry.ino))
                if tail is not None and tail.seq == seq:
                    tail.acked = entry.offset
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
        now = self.store.wall()
        for tail in self.tails.values():
            entry = self.store.get(self.source_id, tail.dev, tail.ino)
            if entry is not None:
                entry.seen = now

    # -- finding files ---------------------------------------------------------

    def _index_paths(self, directories: list[str]) -> None:
        """Know each followed file by its path, and a link's by its target's; watch the targets.

        A link found by this look names a file elsewhere: its directory is watched
        now, not at the next look (writes to the target tell nothing here).
        """
        self._by_path = {t.path: k for k, t in self.tails.items() if t.state is not State.REMOVED}
        targets = [
            (t.target, k) for k, t in self.tails.items() if t.target and t.state is State.ACTIVE
        ]
        self._by_path.update(targets)
        if any(os.path.dirname(target) not in self._dirs for target, _ in targets):
            self._sync_watches(directories)

    def _discovery(self, now: float, *, full: bool) -> None:
        directories, found = self._list_scope(full=full)
        seen: set[str] = set()
        orphans = self._orphans() if not self._started else []
        if not self._started:
            # Asked before any file of this start puts its entry (which makes the source known).
            self._ran_before = self.store is not None and self.store.ran_before(self.source_id)
            self._last_run = self._last_run_of_source()
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
        if self._started:
            self._adopt_unaccounted(directories, seen, now)
        for key, tail in self.tails.items():
            if tail.state is State.ACTIVE and key not in seen:
                self._let_go_of_name(tail, now)
        self._index_paths(directories)
        self._ghosts = [g for g in self._ghosts if now - g.at < self.options.ghost_lifetime]
        starting = not self._started
        if starting:
            self._started = True
            self._adopt_rotated(orphans, now)
            self._account_for_present(directories, seen, now)
            if self.store is not None:
                self.store.started(self.source_id)
        if not found and not self._waiting_said:
            self._log.info("Waiting for audit events...", path=self.scope.shown())
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

    def _add(self, tail: Tail) -> None:
        self._number(tail)
        if 0 <= tail.checkpoint_from < tail.acked:
            tail.acked = tail.checkpoint_from  # a copy: acknowledged where its original was
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

    def close(self) -> None:
        """Close every file and watch."""
        for tail in self.tails.values():
            tail.close()
        self.tails.clear()
        for watch in self._dirs.values():
            watch.close()
        self._dirs.clear()
