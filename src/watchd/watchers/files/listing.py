"""Listing a trail's scope: its directories, their watches, the files in scope, opening them.

A rescan of an idle directory costs one stat() (its mtime says whether the
listing changed); a file already followed is known by its inode alone unless
a full scan (polling, lost events) must stat it. A symlink is known by the file
it names, and its target's directory is watched too. A scope directory that
appeared or was replaced since the last look is noted as new, until it is
watched: its rotated files are then read from their start.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from typing import TYPE_CHECKING

from watchd.core.checkpoints import Entry
from watchd.watchers.files.dirwatch import DirWatch
from watchd.watchers.files.identity import Fingerprint, file_key, file_kind
from watchd.watchers.files.parts import Found
from watchd.watchers.files.symlinks import OutsideScopeError
from watchd.watchers.files.tail import State, Tail

if TYPE_CHECKING:
    from watchd.watchers.files.parts import TrailParts


class ScopeListing:
    """The listing half of a :class:`~watchd.watchers.files.trail.Trail` (a mixin of it)."""

    #: The scope's directory as last listed, (device, inode, mtime in ns), and when.
    _listed: tuple[tuple[int, int, int], float] | None

    def _may_have_changed(self: TrailParts) -> bool:
        """Return False when a rescan would list the same directory as last time.

        Adding, removing or renaming an entry changes a directory's mtime, so an
        idle scope of 10,000 files costs one stat() per rescan, not 10,000
        entries. A change in the clock tick of the listing itself could leave the
        mtime as it was, so an mtime that recent is not trusted (git's "racy"
        rule for its index).
        """
        if self.scope.dir_magic or self._listed is None or self._pending or self._moved_out:
            return True
        identity, listed_at = self._listed
        try:
            info = os.stat(self.scope.directory)
        except OSError:
            return True
        current = (info.st_dev, info.st_ino, info.st_mtime_ns)
        return current != identity or info.st_mtime_ns / 1e9 >= listed_at - 1.0

    def _list_scope(self: TrailParts, *, full: bool) -> tuple[list[str], Found]:
        """Watch and list the scope's directories; return them and the files in scope."""
        self._settle_scope()
        directories = self.scope.directories()
        self._sync_watches(directories)
        found = self._scan(directories, full=full)
        if self._settle_scope():
            # The named path became a directory between the look and the listing (mkdir -p).
            directories = self.scope.directories()
            self._sync_watches(directories)
            found = self._scan(directories, full=True)
        return directories, found

    def _settle_scope(self: TrailParts) -> bool:
        """Follow a named path's files once it turned out to be a directory (see :class:`Scope`)."""
        if not self.scope.settle():
            return False
        self._log.info(
            "the named path is a directory, following its files", path=self.scope.directory
        )
        self._listed = None
        return True

    def _sync_watches(self: TrailParts, directories: list[str]) -> None:
        # A file followed through a symlink changes in its target's directory.
        self._link_dirs = {
            os.path.dirname(t.target)
            for t in self.tails.values()
            if t.target and t.state is State.ACTIVE
        } - set(directories)
        directories = [*directories, *sorted(self._link_dirs)]
        for directory in directories:
            if directory not in self._dirs:
                self._dirs[directory] = DirWatch(directory, self._hub, self._on_dir_event)
        for directory in [d for d in self._dirs if d not in directories]:
            self._dirs.pop(directory).close()
        for watch in self._dirs.values():
            if watch.needs_ensure or watch.stale():
                watch.ensure()

    def _scan(self: TrailParts, directories: list[str], *, full: bool) -> Found:
        """Return the files in scope as path -> (key, size, mtime); -1s when not looked at.

        A file already followed is known by its inode alone (no stat): under
        inotify its changes arrive as events. A *full* scan (polling, or after
        lost events) also stats it, to find bytes that no event announced.
        """
        found: Found = {}
        links: dict[str, str | None] = {}  # key -> the link it was found through, None: no link
        for directory in directories:
            try:
                info = os.stat(directory)
                listed_at = time.time()
                entries = list(os.scandir(directory))
            except (FileNotFoundError, NotADirectoryError):
                continue
            except PermissionError as exc:
                self._log.warning("cannot list directory", directory=directory, reason=exc.strerror)
                continue
            device = info.st_dev
            if not self.scope.dir_magic:
                self._listed = ((device, info.st_ino, info.st_mtime_ns), listed_at)
            self._note_identity(directory, (device, info.st_ino))
            for entry in entries:
                if self.scope.takes(entry.name):
                    self._scan_entry(entry, device, found, links, full=full)
        return found

    def _scan_entry(
        self: TrailParts,
        entry: os.DirEntry[str],
        device: int,
        found: Found,
        links: dict[str, str | None],
        *,
        full: bool,
    ) -> None:
        try:
            # A symlink is known by what it names, as open() sees it.
            link = entry.is_symlink()
            if link and not self.scope.links.allows(entry.path):
                self._skip_link(entry.path)
                return
            key = "" if link else file_key(device, entry.inode())
            if key in self.tails and not full:
                found[entry.path] = (key, -1, -1.0)
                links[key] = None
                return
            info = entry.stat()
        except OSError:
            return
        if not stat.S_ISREG(info.st_mode):
            if stat.S_ISDIR(info.st_mode) and not self.scope.is_glob:
                return  # the named path is a directory: the scope settles on it
            if entry.path not in self._skipped_paths:
                self._skipped_paths.add(entry.path)
                self._log.warning(
                    "not a regular file, ignored", path=entry.path, kind=file_kind(info.st_mode)
                )
            return
        key = file_key(info.st_dev, info.st_ino)
        if key in links:
            # A link to a file the scope also names is that file, under its own name.
            through = links[key]
            if link or through is None:
                return
            del found[through]
        links[key] = entry.path if link else None
        found[entry.path] = (key, info.st_size, info.st_mtime)

    def _note_identity(self: TrailParts, directory: str, identity: tuple[int, int]) -> None:
        """Notice a scope directory that appeared, or was replaced, since the last look.

        It stays new until it is watched: what appears in it before the watch
        is in place sends no event, so its rotated files are looked for again then.
        """
        if self._started and self._dir_ids.get(directory) != identity:
            self._new_dirs.append(directory)
        watch = self._dirs.get(directory)
        if watch is None or not watch.inotify or watch.identity == identity:
            self._dir_ids[directory] = identity

    def _skip_link(self: TrailParts, path: str) -> None:
        """Say once that the link at *path* is not followed."""
        if path not in self._skipped_paths:
            self._skipped_paths.add(path)
            self._log.warning(
                "symbolic link out of the source's directory, not followed",
                path=path,
                follow_symlinks=self.scope.links.mode,
            )

    def _open_new(self: TrailParts, path: str, now: float, orphans: list[Entry]) -> Tail | None:
        try:
            opened = self.scope.links.open(path)
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
        tail.after = self._read_after.pop(tail.key, "")
        if os.path.islink(path):
            tail.target = os.path.realpath(path)
        self._log.debug("following file", path=path, offset=offset)
        return tail
