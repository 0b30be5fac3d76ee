"""Files that move under a trail while it runs: rotated away before they were read, or copied.

A file renamed out of scope (or into a new directory) before it was read is
read from its start and let go once drained. A new file whose first bytes are
how a followed file begins may be a copytruncate copy: it waits up to
``copy_wait`` for the original to be truncated, and then goes on from where
the original was read to, so nothing is read twice or skipped. What a
truncated file had not given yet is finished from its copy among the rotated
siblings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from watchd.core.checkpoints import Entry
from watchd.watchers.files.copies import Opened, compression_of, find_copy, open_rotated, siblings
from watchd.watchers.files.identity import (
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
from watchd.watchers.files.rotated import RACY_SECONDS, mtime_ns
from watchd.watchers.files.settings import PREFIX, Ghost
from watchd.watchers.files.tail import Change, State, Tail

if TYPE_CHECKING:
    from watchd.watchers.files.parts import TrailParts


class RuntimeCopies:
    """The rotation and copy half of a :class:`~watchd.watchers.files.trail.Trail` (a mixin)."""

    def _adopt_unaccounted(
        self: TrailParts, directories: list[str], seen: set[str], now: float
    ) -> None:
        """Read the rotated files that nobody read, in every scope directory whose listing changed.

        A directory that appeared (or was replaced) since start has no baseline:
        everything in it is new, including a file created and rotated away
        before the directory was watched. One whose rename out of scope was seen
        is looked at whatever its mtime says.
        """
        forced = {os.path.dirname(path) for path in self._moved_out}
        self._moved_out.clear()
        self._moves_from_scope.clear()
        for directory in self._new_dirs:
            self._log.info("directory appeared, reading what it holds", directory=directory)
            self._rotations.forget(directory)
            forced.add(directory)
        self._new_dirs.clear()
        wall = time.time()
        for directory in directories:
            mtime = mtime_ns(directory)
            if mtime is None:
                continue
            if not self._rotations.changed(directory, mtime, wall) and directory not in forced:
                continue
            # A followed file truncated, unnoticed yet, must leave its ghost before its
            # copy is judged: the copy is then finished from where it was read, not
            # read again whole (as _runtime_offset does for copies in scope).
            truncated = [
                t
                for t in self.tails.values()
                if t.state is State.ACTIVE
                and os.path.dirname(t.path) == directory
                and t.size() < t.offset
            ]
            for tail in truncated:
                self._notice_change(tail, now)
            for opened, offset, acked in self._unaccounted(directory):
                seen.add(self._drain_opened(opened, offset, now, checkpoint_from=acked).key)
                self._log.info(
                    "file rotated before it was read, reading it now",
                    path=opened.path,
                    offset=offset,
                )

    def _unaccounted(self: TrailParts, directory: str) -> list[tuple[Opened, int, int]]:
        """Return the rotated files of *directory* nobody read, oldest first, open.

        Each with where to read it from and where its checkpoint starts (see
        :meth:`_unread_part`).
        """
        unaccounted, present = [], set()
        for opened in self._rotations_in(directory):
            key = file_key(opened.dev, opened.ino)
            present.add(key)
            where = None if self._rotations.covers(directory, opened) else self._unread_part(opened)
            if where is None:
                opened.close()
                continue
            unaccounted.append((opened, *where))
        self._rotations.keep_only(directory, present)
        return unaccounted

    def _rotations_in(self: TrailParts, directory: str) -> Iterator[Opened]:
        """Yield the plain rotations of the scope's names in *directory*, open, oldest first."""
        for item in reversed(siblings(directory, self._plain_rotation)):
            opened = open_rotated(item.path)
            if opened is not None:
                yield opened

    def _unread_part(self: TrailParts, opened: Opened) -> tuple[int, int] | None:
        """Return where a rotated file nobody follows must be read from, and checkpointed from.

        None when what it holds will be delivered otherwise: it is followed, or
        a followed file still holds all of it (copytruncate before its
        truncate, a backup copy), or a checkpoint says it was read to its end.
        A file a checkpoint describes resumes where it says; the copy of a file
        truncated before it was read to its end goes on where that file was
        read to (its ghost says, by fingerprint *and* mark); anything else is
        read from its start. A head alone proves nothing: the records of one
        trail often share their first bytes, and an entry that read nothing
        covers nothing.
        """
        size = opened.size
        if file_key(opened.dev, opened.ino) in self.tails or size == 0:
            return None
        entry = self.store.get(self.source_id, opened.dev, opened.ino) if self.store else None
        if entry is not None and entry.offset and continues(entry, opened.fd, size):
            return (entry.offset, entry.offset) if size > entry.offset else None
        if self._held_by_a_followed_file(opened):
            return None
        for ghost in self._ghosts:
            if holds(opened.fd, size, ghost.fingerprint, ghost.offset, ghost.mark):
                self._ghosts.remove(ghost)
                return ghost.offset, ghost.acked
        return 0, -1

    def _held_by_a_followed_file(self: TrailParts, opened: Opened) -> bool:
        """Return True when a followed file still holds every byte of *opened* (a copy of it)."""
        size = opened.size
        fingerprint, mark = Fingerprint.of(opened.fd, size), mark_at(opened.fd, size)
        return any(
            tail.state is State.ACTIVE and holds(tail.fd, tail.size(), fingerprint, size, mark)
            for tail in self.tails.values()
        )

    def _last_run_of_source(self: TrailParts) -> float | None:
        """Return when the source last checkpointed (wall time); 0 when that cannot be trusted."""
        if self.store is None or not self._ran_before:
            return None
        if self.store.damaged:
            return 0.0
        seen = self.store.source_state(self.source_id).get("seen")
        return float(seen) if isinstance(seen, int | float) else 0.0

    def _account_for_present(
        self: TrailParts, directories: list[str], seen: set[str], now: float
    ) -> None:
        """At start: read the rotations made while watchd was stopped; account for the others.

        A rotated file nobody read that changed after the source's last
        checkpoint (or any, when the checkpoints cannot be trusted) was made
        while watchd was stopped: it is read from its start. The others were
        there before, and the start position rules them.
        """
        since = self._last_run
        for directory in directories:
            for opened in self._rotations_in(directory):
                changed = since is not None and opened.mtime_ns / 1e9 >= since - RACY_SECONDS
                where = self._unread_part(opened) if changed else None
                if where is None:
                    fingerprint = Fingerprint.of(opened.fd, opened.size)
                    self._rotations.note(directory, opened.dev, opened.ino, fingerprint)
                    opened.close()
                    continue
                seen.add(self._drain_opened(opened, where[0], now, checkpoint_from=where[1]).key)
                self._log.info(
                    "reading a file rotated while watchd was stopped",
                    path=opened.path,
                    offset=where[0],
                )

    def _copy_first(self: TrailParts, tail: Tail) -> Tail | None:
        """Return the copy finishing *tail*'s last generation, to be read before *tail*.

        After copytruncate the file starts again from 0 while its copy holds
        the records before them: the copy is drained first, so that a file's
        records go out in its order (R39).
        """
        copy = self.tails.get(tail.after) if tail.after else None
        if copy is None or copy is tail:
            tail.after = ""
            return None
        return copy

    def _notice_change(self: TrailParts, tail: Tail, now: float) -> None:
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
            copy = self._finish_from_copy(os.path.dirname(tail.path), ghost, now)
            if copy is None:
                self._ghosts.append(ghost)  # a copy may yet appear in scope
            self._restart(tail)
            tail.after = copy.key if copy is not None else ""
        elif change is Change.REWRITTEN:
            self._log.warning(
                "file rewritten in place, reading it again from the start",
                path=tail.path,
                offset=tail.offset,
            )
            self._restart(tail)

    def _restart(self: TrailParts, tail: Tail) -> None:
        """Read a truncated or rewritten file again from 0, as the new file it now is.

        What earlier polls said of the old bytes is not written after this (the
        file has a new opening number). Its checkpoint keeps describing the old
        bytes until the new ones are acknowledged: after a crash, that is what
        finds their copy (copytruncate), and the file, no longer holding them,
        is read from 0.
        """
        tail.restart()
        self._number(tail)

    def _acked(self: TrailParts, tail: Tail) -> int:
        """Return how far every sink acknowledged *tail* as it is now (where a crash resumes).

        Not the store's entry: after a truncation that keeps describing the
        previous generation until the new one's bytes are acknowledged (so that
        a crash finds its copy), and a second truncation before then must not
        take the first generation's offset for the second's.
        """
        return min(tail.acked, tail.safe_offset)

    def _plain_rotation(self: TrailParts, name: str) -> bool:
        return not compression_of(name) and self.scope.rotation(name)

    def _read_rotated(self: TrailParts, path: str, now: float) -> str | None:
        """Read a rotated file never read before from its start, and let it go once drained."""
        opened = open_rotated(path)
        if opened is None:
            return None
        if file_key(opened.dev, opened.ino) in self.tails:
            opened.close()
            return None
        return self._drain_opened(opened, 0, now).key

    def _drain_opened(
        self: TrailParts, opened: Opened, offset: int, now: float, *, checkpoint_from: int = -1
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
            age=opened.mtime_ns,
            clock=self._clock,
        )
        tail.checkpoint_from = checkpoint_from
        self._add(tail)
        self._drain(tail, State.ROTATED, now)
        return tail

    def _finish_from_copy(
        self: TrailParts, directory: str, read: Entry | Ghost, now: float
    ) -> Tail | None:
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
            self.scope.rotation,
            fingerprint,
            lambda fd, size: holds(fd, size, fingerprint, offset, mark),
            self._known,
        )
        if found is None:
            return None
        self._log.info("finishing a truncated file from its copy", path=found.path, offset=offset)
        return self._drain_opened(found, offset, now, checkpoint_from=acked)

    def _known(self: TrailParts, opened: Opened) -> bool:
        """Return True for a file followed now, or one a checkpoint describes.

        By content, not by inode alone: an entry left by a deleted file whose
        inode the kernel gave to a new one does not describe the new one (a
        followed file's inode is held open, so it cannot be given away).
        """
        if file_key(opened.dev, opened.ino) in self.tails:
            return True
        entry = self.store.get(self.source_id, opened.dev, opened.ino) if self.store else None
        return entry is not None and copy_of(entry, opened.fd, opened.size)

    def _runtime_offset(
        self: TrailParts, path: str, fd: int, size: int, now: float
    ) -> tuple[int, int] | None:
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

    def _originals_like(self: TrailParts, fd: int, size: int) -> list[Tail]:
        """Return the followed files whose first bytes the new file starts with."""
        if size == 0:
            return []
        head = os.pread(fd, min(size, PREFIX), 0)
        if len(head) >= PREFIX:
            keys = set(self._by_prefix.get(head, ()))
        else:
            keys = {k for p, ks in self._by_prefix.items() if p.startswith(head) for k in ks}
        keys |= self._by_prefix.get(b"", set()) | self._short_prefixes()
        tails = (self.tails.get(key) for key in keys)
        return [t for t in tails if t is not None and t.state is State.ACTIVE and t.offset]

    def _may_be_a_copy(self: TrailParts, fd: int, size: int, originals: list[Tail]) -> bool:
        """Return True when the file's bytes so far are how a followed file begins."""
        if size == 0:
            # An empty file tells nothing yet, and waiting costs nothing.
            return bool(self.tails) or bool(self._ghosts)
        head = os.pread(fd, min(size, HEAD_BYTES), 0)
        if any(os.pread(tail.fd, len(head), 0) == head for tail in originals):
            return True
        return any(same_head(fd, size, g.fingerprint) for g in self._ghosts)

    def _short_prefixes(self: TrailParts) -> set[str]:
        """Return the files indexed while shorter than the prefix (they may have grown)."""
        short: set[str] = set()
        for prefix, keys in self._by_prefix.items():
            if 0 < len(prefix) < PREFIX:
                short |= keys
        return short

    def _index(self: TrailParts, tail: Tail) -> None:
        """File *tail* under its first bytes, to find the file a new one may copy."""
        tail.prefix = os.pread(tail.fd, PREFIX, 0)
        self._by_prefix.setdefault(tail.prefix, set()).add(tail.key)

    def _unindex(self: TrailParts, tail: Tail) -> None:
        keys = self._by_prefix.get(tail.prefix)
        if keys is not None:
            keys.discard(tail.key)
            if not keys:
                del self._by_prefix[tail.prefix]

    def _drain(self: TrailParts, tail: Tail, state: State, now: float) -> None:
        tail.state, tail.left_at = state, now
        self._draining.add(tail.key)
        self._dirty.add(tail.key)

    def _let_go_of_name(self: TrailParts, tail: Tail, now: float) -> None:
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

    def _retire(self: TrailParts, now: float) -> list[tuple[int, int, int]]:
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
            if tail.state is State.ROTATED:
                self._rotations.note(
                    os.path.dirname(tail.path), tail.dev, tail.ino, tail.fingerprint
                )
            if tail.state is State.REMOVED:
                gone.append((tail.dev, tail.ino, tail.seq))
                self._deleted.add(tail.key)
        return gone
