"""Which symbolic links a directory or glob source follows: ``follow_symlinks=no|inside|yes``.

watchd often runs as root beside directories that other users can write. A
link planted there (``audit.jsonl -> /etc/shadow``) must not make it read
and forward a file the source never named. So a source that lists a
directory follows a link only when what it names lies inside that directory
(``inside``, the default), or never (``no``), or always (``yes``). What is
checked is what was opened, read back from ``/proc/self/fd``, so a link
swapped in between the check and the open is caught too. A path named on
the command line may be a link: the operator chose it.
"""

from __future__ import annotations

import errno
import os

from watchd.watchers.files.tail import open_file

NO, INSIDE, YES = "no", "inside", "yes"
MODES = (NO, INSIDE, YES)


class OutsideScopeError(OSError):
    """The file a link names lies where the source may not read."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.EACCES, "a symbolic link out of the source's directory", path)


def inside(path: str, directory: str) -> bool:
    """Return True when *path* (resolved) lies in *directory* (resolved) or below it."""
    try:
        return os.path.commonpath([path, directory]) == directory
    except ValueError:
        return False


def opened_path(fd: int, fallback: str) -> str:
    """Return where the file open as *fd* is, as the kernel knows it."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(fallback)


class LinkRule:
    """The rule of one source: its mode, and whether it names one file explicitly."""

    def __init__(self, mode: str = INSIDE, *, explicit: bool = False) -> None:
        self.mode = YES if explicit else mode

    def allows(self, path: str) -> bool:
        """Return True when the link at *path* may be followed (the listing asks before a stat)."""
        if self.mode == YES:
            return True
        if self.mode == NO:
            return False
        directory = os.path.realpath(os.path.dirname(path))
        return inside(os.path.realpath(path), directory)

    def open(self, path: str) -> tuple[int, os.stat_result] | None:
        """Open *path* as the rule allows; None if it is gone; OutsideScopeError if not allowed."""
        if self.mode == YES:
            return open_file(path)
        directory = os.path.realpath(os.path.dirname(path))
        target = path
        if os.path.islink(path):
            if self.mode == NO:
                raise OutsideScopeError(path)
            target = os.path.realpath(path)
        try:
            # The last component is never a link here: one swapped in since is refused (ELOOP).
            opened = open_file(target, follow=False)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OutsideScopeError(path) from None
            raise
        if opened is not None and not inside(opened_path(opened[0], target), directory):
            os.close(opened[0])
            raise OutsideScopeError(path)
        return opened
