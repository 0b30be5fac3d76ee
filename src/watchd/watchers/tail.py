"""Following one file path: waiting for it, reading complete lines, noticing replacement."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from watchd.core.context import StartAt
from watchd.watchers.inotify import InotifyHub
from watchd.watchers.lines import LineSplitter

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

_CHUNK = 256 * 1024
_BOM = b"\xef\xbb\xbf"


class FileTail:
    """Reads the lines appended to *path*, whatever happens to the file.

    - A missing file (or directory) is waited for, not created: the nearest
      existing ancestor directory is watched until the path appears.
    - *start* applies to the file found at start-up; a file that appears later,
      or replaces the one being read, is read from its first byte.
    - Truncation (size below the read offset) restarts at offset 0 at once.
    - A deleted or renamed file is drained to its end before it is let go.
    """

    def __init__(
        self,
        path: str,
        *,
        start: StartAt,
        hub: InotifyHub | None,
        max_line_bytes: int,
        log: FilteringBoundLogger,
    ) -> None:
        self.path = os.path.abspath(path)
        self._dir, self._base = os.path.split(self.path)
        self._hub = hub
        self._log = log
        self._start: StartAt | None = start
        self._splitter = LineSplitter(max_line_bytes)
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None
        self.offset = 0
        self._wd: int | None = None
        self._relevant = self._base
        self._watching_ancestor = False
        self._needs_watch = hub is not None
        self.polling = hub is None
        self.dirty = True
        self.backlog = False
        self._waiting_said = False

    @property
    def too_long(self) -> int:
        """Return how many over-long lines were skipped so far."""
        return self._splitter.too_long

    def on_dir_event(self, name: str | None) -> None:
        """Take a directory event: *name* changed, or None when anything may have."""
        if name is None:
            self._needs_watch = True
            self.dirty = True
        elif name == self._relevant:
            self.dirty = True
            if self._watching_ancestor:
                self._needs_watch = True

    def request_rewatch(self) -> None:
        """Try inotify again at the next read (after it failed: a limit, a missing dir)."""
        self._needs_watch = self._hub is not None

    def read(self, budget: int) -> list[tuple[bytes, int]]:
        """Return the complete lines available now (up to about *budget* bytes)."""
        self.dirty = False
        if self._needs_watch:
            self._ensure_watch()
        if self._fd is None and not self._open():
            self._start = None  # anything that appears from now on is new
            if not self._waiting_said:
                self._waiting_said = True
                self._log.info("Waiting for audit events...", path=self.path)
            return []
        self._start = None
        lines: list[tuple[bytes, int]] = []
        while True:
            lines.extend(self._drain(budget))
            if self.backlog or not self._switch_if_replaced():
                return lines

    def _open(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            self._log.warning(
                "cannot open file, will retry", path=self.path, reason=os.strerror(exc.errno or 0)
            )
            return False
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            self._log.warning("not a regular file, ignored until replaced", path=self.path)
            return False
        self._fd, self._ident = fd, (info.st_dev, info.st_ino)
        self.offset = _start_offset(fd, info.st_size, self._start)
        self._splitter.reset()
        self._waiting_said = False
        self._log.debug("following file", path=self.path, offset=self.offset)
        return True

    def _drain(self, budget: int) -> list[tuple[bytes, int]]:
        assert self._fd is not None  # noqa: S101 - read() opened it
        size = os.fstat(self._fd).st_size
        if size < self.offset:
            self._log.warning(
                "file truncated, reading it again from the start",
                path=self.path,
                size=size,
                offset=self.offset,
            )
            self.offset = 0
            self._splitter.reset()
        lines: list[tuple[bytes, int]] = []
        consumed = 0
        while consumed < budget:
            chunk = os.pread(self._fd, _CHUNK, self.offset)
            if not chunk:
                break
            start = self.offset
            self.offset += len(chunk)
            consumed += len(chunk)
            if start == 0 and chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
            lines.extend(self._splitter.feed(chunk, self.offset))
        self.backlog = consumed >= budget
        return lines

    def _switch_if_replaced(self) -> bool:
        """At the end of the open file: let it go if the path no longer names it.

        Return True when a new file took its place and was opened (read it next).
        """
        try:
            info = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            self._log.info("file removed, waiting for it to reappear", path=self.path)
            self._close_fd()
            self._waiting_said = True
            return False
        if (info.st_dev, info.st_ino) == self._ident:
            return False
        self._log.info("file replaced, reading the new one from its start", path=self.path)
        self._close_fd()
        return self._open()

    def _ensure_watch(self) -> None:
        """Watch the file's directory, or its nearest existing ancestor while it is missing."""
        self._needs_watch = False
        if self._hub is None:
            return
        while True:
            target, relevant = self._dir, self._base
            while not os.path.isdir(target):
                parent = os.path.dirname(target)
                if parent == target:
                    break
                target, relevant = parent, os.path.basename(target)
            if self._wd is not None:
                self._hub.unwatch(self._wd, self.on_dir_event)
            self._wd = self._hub.watch(target, self.on_dir_event)
            self._relevant = relevant
            self._watching_ancestor = target != self._dir
            self.polling = self._wd is None
            self.dirty = True  # the file may have appeared before the watch was in place
            # A directory created between the check and the watch sent no event:
            # if the next component exists now, go down to it.
            if self.polling or not self._watching_ancestor:
                return
            if not os.path.isdir(os.path.join(target, relevant)):
                return

    def _close_fd(self) -> None:
        if self._fd is None:
            return
        if self._splitter.pending:
            self._log.warning(
                "incomplete last line dropped: the file went away before its newline",
                path=self.path,
                bytes=self._splitter.pending,
            )
        os.close(self._fd)
        self._fd = self._ident = None
        self._splitter.reset()

    def close(self) -> None:
        """Close the file and drop the directory watch."""
        self._close_fd()
        if self._hub is not None and self._wd is not None:
            self._hub.unwatch(self._wd, self.on_dir_event)
            self._wd = None


def _start_offset(fd: int, size: int, start: StartAt | None) -> int:
    if start is None or start.mode == "beginning":
        return 0
    if start.mode == "end":
        return _last_newline_end(fd, size)
    return _offset_of_last_lines(fd, size, start.count)


def _last_newline_end(fd: int, size: int) -> int:
    """Return the offset just past the file's last newline.

    Starting "at the end" must not start inside a record still being written:
    its beginning is before the end, so the record would be lost.
    """
    return _offset_of_last_lines(fd, size, 0)


def _offset_of_last_lines(fd: int, size: int, count: int) -> int:
    """Return where the last *count* non-blank complete lines begin, reading backwards."""
    position, seen = size, 0
    line_end: int | None = None  # the newline ending the line being scanned
    nonblank = False
    while position > 0:
        step = min(_CHUNK, position)
        position -= step
        block = os.pread(fd, step, position)
        end = len(block)
        while True:
            newline = block.rfind(b"\n", 0, end)
            if line_end is not None and block[newline + 1 : end].strip():
                nonblank = True
            if newline < 0:
                break
            if line_end is None:
                if count == 0:
                    return position + newline + 1
            elif nonblank:
                seen += 1
                if seen == count:
                    return position + newline + 1
            line_end, nonblank, end = position + newline, False, newline
    return 0
