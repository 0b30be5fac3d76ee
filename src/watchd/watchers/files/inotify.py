"""One inotify instance shared by every file watcher of a run.

Watches are put on directories, not files: a directory watch reports appends,
truncations, creations, renames and deletions of every file in it by name, so a
glob of many files in one directory costs one watch, and a file that does not
exist yet is noticed when it is created.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterable
from typing import Protocol

import structlog

from watchd.core.context import ResourceKey, RunContext

log = structlog.get_logger("watchd")

#: Called with the name of a changed entry, the event mask and the rename cookie
#: (which pairs a move's two halves), or with (None, 0, 0) when anything in the
#: directory may have changed (overflow, directory gone).
DirListener = Callable[[str | None, int, int], None]

# inotify(7) constants, stable kernel ABI.
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
#: Events that change which files exist under which names.
NAMING = IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
IN_ONLYDIR = 0x01000000

DIR_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
_SELF_GONE = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED


class _InotifyEvent(Protocol):
    wd: int
    mask: int
    cookie: int
    name: str


class _INotify(Protocol):
    """What the hub uses of ``inotify_simple.INotify``."""

    def fileno(self) -> int: ...
    def add_watch(self, path: str, mask: int) -> int: ...
    def rm_watch(self, wd: int) -> None: ...
    def read(self, timeout: int | None = None) -> Iterable[_InotifyEvent]: ...
    def close(self) -> None: ...


class InotifyHub:
    """Directory watches on one inotify descriptor, fanned out to listeners."""

    def __init__(self, inotify: _INotify, max_watches: int | None = None) -> None:
        self._inotify = inotify
        self._listeners: dict[int, list[DirListener]] = {}
        self._max_watches = max_watches

    @classmethod
    def open(cls) -> InotifyHub | None:
        """Return a hub, or None (logged) where inotify cannot be used.

        ``WATCHD_INOTIFY=off`` forces polling; ``WATCHD_INOTIFY_MAX_WATCHES=N``
        caps the watches below the kernel's limit (both for tests and benchmarks:
        the kernel's limits are system-wide and not ours to change).
        """
        if os.environ.get("WATCHD_INOTIFY") == "off":
            log.info("inotify turned off, files are polled")
            return None
        cap = os.environ.get("WATCHD_INOTIFY_MAX_WATCHES")
        try:
            from inotify_simple import INotify  # noqa: PLC0415 - Linux only, optional

            return cls(INotify(nonblocking=True), int(cap) if cap else None)
        except (ImportError, OSError) as exc:
            log.warning("inotify unavailable, files are polled instead", reason=str(exc))
            return None

    def fileno(self) -> int:
        """Return the inotify descriptor the loop selects on."""
        return self._inotify.fileno()

    def watch(self, directory: str, listener: DirListener) -> int | None:
        """Watch *directory* for *listener*; return the watch handle, None if impossible.

        None means the caller must poll: the directory vanished, or the per-user
        watch limit (``fs.inotify.max_user_watches``) was reached.
        """
        try:
            wd = self._add_watch(directory)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                log.warning(
                    "inotify watch limit reached, polling instead",
                    directory=directory,
                    hint="raise fs.inotify.max_user_watches",
                )
            elif exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                log.warning(
                    "cannot watch directory, polling instead",
                    directory=directory,
                    reason=os.strerror(exc.errno or 0),
                )
            return None
        self._listeners.setdefault(wd, []).append(listener)
        return wd

    def _add_watch(self, directory: str) -> int:
        if self._max_watches is not None and len(self._listeners) >= self._max_watches:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._inotify.add_watch(directory, DIR_MASK)

    def unwatch(self, wd: int, listener: DirListener) -> None:
        """Stop telling *listener* about *wd*; drop the watch when nobody listens."""
        listeners = self._listeners.get(wd)
        if not listeners or listener not in listeners:
            return
        listeners.remove(listener)
        if not listeners:
            del self._listeners[wd]
            with contextlib.suppress(OSError):  # already gone with its directory
                self._inotify.rm_watch(wd)

    def pump(self) -> None:
        """Read every pending event and tell the listeners concerned; never blocks."""
        for event in self._inotify.read(timeout=0):
            if event.mask & IN_Q_OVERFLOW:
                log.warning("inotify queue overflowed, rescanning every file")
                for listeners in list(self._listeners.values()):
                    for listener in list(listeners):
                        listener(None, 0, 0)
                continue
            targets = self._listeners.get(event.wd)
            if not targets:
                continue
            if event.mask & _SELF_GONE:
                # The directory itself went away or moved: its watch no longer
                # stands for the path, so listeners must resolve it again.
                del self._listeners[event.wd]
                if not event.mask & IN_IGNORED:
                    with contextlib.suppress(OSError):
                        self._inotify.rm_watch(event.wd)
                for listener in targets:
                    listener(None, 0, 0)
                continue
            for listener in list(targets):
                listener(event.name or None, event.mask, event.cookie)

    def close(self) -> None:
        """Close the inotify descriptor."""
        self._inotify.close()


INOTIFY: ResourceKey[InotifyHub | None] = ResourceKey("inotify")


def shared_hub(context: RunContext) -> InotifyHub | None:
    """Return the run's one hub (None where inotify cannot be used)."""
    return context.shared(INOTIFY, InotifyHub.open, lambda hub: hub.close() if hub else None)
