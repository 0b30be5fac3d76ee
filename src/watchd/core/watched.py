"""A watcher attached to the loop: the descriptors it is selected on, and what it has given.

A watcher gives the loop one descriptor (``fileno()``), or, when it is
:class:`~watchd.core.interfaces.SelectsMany`, several (a listener and each of
its connections): each is registered in the loop's own selector, so no
source nests a selector of its own, and the loop tells such a watcher which
of its descriptors were readable.
"""

from __future__ import annotations

import selectors

from watchd.core.event import WatchEvent
from watchd.core.interfaces import Acknowledging, SelectsMany, Watcher


class Watched:
    """One attached watcher: its descriptors in the selector, the ready ones, its event count."""

    __slots__ = ("acknowledge", "attached", "events", "fds", "many", "ready", "watcher")

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.events = 0
        self.fds: frozenset[int] = frozenset()  # registered under these now
        self.ready: list[int] = []  # those select() found readable, for poll_ready
        self.attached = True
        self.many: SelectsMany | None = watcher if isinstance(watcher, SelectsMany) else None
        self.acknowledge = watcher.acknowledge if isinstance(watcher, Acknowledging) else None

    def sync(self, selector: selectors.BaseSelector, *, paused: bool = False) -> bool:
        """Register what the watcher selects on now (nothing while *paused*); True if any."""
        wanted = frozenset() if paused else self._wanted()
        if wanted != self.fds:
            for fd in self.fds - wanted:
                key = selector.get_key(fd)
                key.data.remove(self)
                if not key.data:
                    selector.unregister(fd)
            for fd in wanted - self.fds:
                try:  # several watchers may share one (every file watcher's inotify)
                    selector.get_key(fd).data.append(self)
                except KeyError:
                    selector.register(fd, selectors.EVENT_READ, [self])
            self.fds = wanted
        return bool(wanted)

    def _wanted(self) -> frozenset[int]:
        if self.many is not None:
            return frozenset(fd for fd in self.many.filenos() if fd >= 0)
        fd = self.watcher.fileno()
        return frozenset((fd,)) if fd >= 0 else frozenset()

    def readable(self, fd: int) -> None:
        """Note that *fd* was found readable (a SelectsMany watcher is told which)."""
        if self.many is not None:
            self.ready.append(fd)

    def poll(self) -> list[WatchEvent]:
        """Poll the watcher: with the descriptors found readable, when it takes them."""
        if self.many is not None and self.ready:
            ready, self.ready = self.ready, []
            return self.many.poll_ready(ready)
        return self.watcher.poll()
