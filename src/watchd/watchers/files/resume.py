"""Where a trail resumes at start-up: its checkpoints, and what happened while watchd was stopped.

A checkpointed file still in scope resumes at its offset, if it still holds
what was read (else it starts anew, and what was not read yet is looked for
in a copy). One rotated out of scope is found again by its inode or, where
that is gone (compressed, copied and truncated), by content; the later
rotations of the scope's names that no checkpoint knows are read from their
start. Files that appeared while watchd was stopped are read from 0.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from watchd.core.checkpoints import Entry
from watchd.watchers.files.copies import UNREADABLE, Opened, open_rotated, siblings
from watchd.watchers.files.identity import continues, copy_of, file_key, find_inode
from watchd.watchers.files.tail import start_offset

if TYPE_CHECKING:
    from watchd.watchers.files.parts import TrailParts


class StartupResume:
    """The start-up half of a :class:`~watchd.watchers.files.trail.Trail` (a mixin of it)."""

    def _startup_offset(
        self: TrailParts, fd: int, info: os.stat_result, orphans: list[Entry]
    ) -> int:
        """At start-up: resume from the checkpoint, or apply the start position."""
        store = self.store
        if store is not None:
            entry = store.get(self.source_id, info.st_dev, info.st_ino)
            if entry is not None:
                if continues(entry, fd, info.st_size):
                    if entry in orphans:
                        orphans.remove(entry)
                    return entry.offset
                # Truncated or rewritten while watchd was stopped: what was not read
                # yet may be in a copy (copytruncate); the file itself starts anew.
                self._log.warning(
                    "file changed since its checkpoint, reading it again from the start",
                    path=entry.path,
                    size=info.st_size,
                    offset=entry.offset,
                )
                store.drop(self.source_id, info.st_dev, info.st_ino)
                if entry in orphans:
                    orphans.remove(entry)
                copy = self._finish_from_copy(os.path.dirname(entry.path), entry, self._clock())
                if copy is not None:
                    self._copies_at_start.append(copy.path)  # later copies are read after it
                    self._read_after[file_key(info.st_dev, info.st_ino)] = copy.key
            for orphan in orphans:
                if copy_of(orphan, fd, info.st_size):
                    orphans.remove(orphan)  # copied while watchd was stopped
                    return orphan.offset
            if self._ran_before:
                return 0  # appeared while watchd was stopped: all of it is new
        start = self._start
        return start_offset(fd, info.st_size, start.mode, start.count, start.since)

    def _orphans(self: TrailParts) -> list[Entry]:
        return [] if self.store is None else self.store.of_source(self.source_id)

    def _adopt_rotated(self: TrailParts, orphans: list[Entry], now: float) -> None:
        """Finish files rotated out of scope while watchd was stopped, then forget the rest.

        First every checkpointed file is found again, by its inode or, where
        that is gone (compressed, or copied and truncated), by its content among
        the scope's rotated siblings; then the later rotations no checkpoint
        knows are read from their start.
        """
        found = list(self._copies_at_start)
        self._copies_at_start.clear()
        for entry in orphans:
            if file_key(entry.dev, entry.ino) in self.tails:
                continue
            path = find_inode(os.path.dirname(entry.path), entry.dev, entry.ino)
            opened = self._reopen(path, entry) if path else None
            if opened is None and self.store is not None:
                self.store.drop(self.source_id, entry.dev, entry.ino)
            if opened is not None and path is not None:
                self._drain_opened(opened, entry.offset, now)
                self._log.info(
                    "finishing a file rotated while watchd was stopped",
                    path=path,
                    offset=entry.offset,
                )
                found.append(path)
            else:
                copy = self._finish_from_copy(os.path.dirname(entry.path), entry, now)
                if copy is not None:
                    found.append(copy.path)
                if path is not None and self._read_rotated(path, now) is not None:
                    # The same file, truncated or rewritten since: what it holds now
                    # was never read, as for a file in scope found so.
                    self._log.info(
                        "reading a rotated file rewritten since, from its start", path=path
                    )
                    found.append(path)
        for path in found:
            for later in self._rotated_after(path):
                if self._read_rotated(later, now) is not None:
                    self._log.info(
                        "reading a file rotated while watchd was stopped, from its start",
                        path=later,
                    )

    def _rotated_after(self: TrailParts, found_at: str) -> list[str]:
        """Return the rotations of the scope's names written after *found_at* was, oldest first.

        A checkpointed file found rotated away may have been followed by others
        that took the same name and were rotated away too before watchd looked
        (while it was stopped, or just before): siblings such as
        ``audit.jsonl.2`` or ``audit.jsonl-20260215`` that no checkpoint knows.
        They are told by the scope (a name in scope, then ``.``, ``-`` or ``_``
        and more), never by the name the checkpointed file has now: after one
        restart that is a rotated name itself. Compressed rotations are not
        JSON Lines as they are: they are read decompressed (gzip, bz2, xz).
        """
        try:
            after = os.stat(found_at).st_mtime_ns
        except OSError:
            return []
        later = []
        for item in reversed(siblings(os.path.dirname(found_at), self._readable_rotation)):
            info = item.stat(follow_symlinks=False)  # cached by the listing
            # Every checkpointed file found again is followed by now: an entry
            # that is not (it did not continue) belonged to a reused inode.
            known = file_key(info.st_dev, info.st_ino) in self.tails
            # Not after: in one tick of the file clock, both may carry one time.
            if item.path != found_at and info.st_mtime_ns >= after and not known:
                later.append(item.path)
        return later

    def _readable_rotation(self: TrailParts, name: str) -> bool:
        return not name.endswith(UNREADABLE) and self.scope.rotation(name)

    def _reopen(self: TrailParts, path: str, entry: Entry) -> Opened | None:
        """Open the checkpointed file at *path* again, if it still holds what *entry* says."""
        opened = open_rotated(path)
        if opened is None:
            return None
        if (opened.dev, opened.ino) != (entry.dev, entry.ino) or not continues(
            entry, opened.fd, opened.size
        ):
            opened.close()
            return None
        return opened
