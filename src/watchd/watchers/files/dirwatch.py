"""Watching one directory through the shared hub, or its nearest ancestor while it is missing."""

from __future__ import annotations

import os
from collections.abc import Callable

from watchd.watchers.files.inotify import InotifyHub

#: Called with (directory, name, mask, cookie); name None means "rescan the directory".
DirCallback = Callable[[str, str | None, int, int], None]


class DirWatch:
    """Keeps an inotify watch on *directory*, or on its nearest existing ancestor.

    While the directory is missing, the ancestor's events tell when the next
    path component appears; the watch then moves down. Without inotify (or at
    the watch limit), :attr:`inotify` is False and the owner polls.
    """

    def __init__(self, directory: str, hub: InotifyHub | None, callback: DirCallback) -> None:
        self.directory = directory
        self._hub = hub
        self._callback = callback
        self._wd: int | None = None
        self._relevant = ""
        self._at_ancestor = False
        self.needs_ensure = True
        self.inotify = False
        #: (device, inode) of the directory itself while it is watched, else None.
        self.identity: tuple[int, int] | None = None

    @property
    def exists(self) -> bool:
        """Return True when the directory itself (not an ancestor) is watched or present."""
        return not self._at_ancestor and os.path.isdir(self.directory)

    def ensure(self) -> None:
        """(Re)place the watch where it belongs now."""
        self.needs_ensure = False
        if self._hub is None:
            return
        while True:
            target, relevant = self.directory, ""
            while not os.path.isdir(target):
                parent = os.path.dirname(target)
                if parent == target:
                    break
                target, relevant = parent, os.path.basename(target)
            if self._wd is not None:
                self._hub.unwatch(self._wd, self._on_event)
            self._wd = self._hub.watch(target, self._on_event)
            self._relevant, self._at_ancestor = relevant, target != self.directory
            self.inotify = self._wd is not None
            self.identity = None
            if self.inotify and not self._at_ancestor:
                try:
                    info = os.stat(target)
                    self.identity = (info.st_dev, info.st_ino)
                except OSError:
                    pass
            # A directory created between the check and the watch sent no event:
            # if the next component exists now, go down to it.
            if not self.inotify or not self._at_ancestor:
                return
            if not os.path.isdir(os.path.join(target, relevant)):
                return

    def stale(self) -> bool:
        """Return True when the watch no longer stands for the path: it must be placed again.

        A directory deleted while a file in it is still open (a file being
        drained holds its parent) sends no ``IN_DELETE_SELF`` until that file
        is closed; a directory made again at the path meanwhile would send its
        events nowhere. So the path is looked at, not only the watch's events.
        """
        if self._hub is None or self._wd is None:
            return False
        try:
            info = os.stat(self.directory)
        except OSError:
            return not self._at_ancestor  # gone: watch the nearest ancestor instead
        return self._at_ancestor or (info.st_dev, info.st_ino) != self.identity

    def _on_event(self, name: str | None, mask: int, cookie: int) -> None:
        if name is None:
            self.needs_ensure = True
            self._callback(self.directory, None, 0, 0)
        elif self._at_ancestor:
            if name == self._relevant:
                self.needs_ensure = True
                self._callback(self.directory, None, 0, 0)
        else:
            self._callback(self.directory, name, mask, cookie)

    def close(self) -> None:
        """Drop the watch."""
        if self._hub is not None and self._wd is not None:
            self._hub.unwatch(self._wd, self._on_event)
            self._wd = None
        self.identity = None
