"""Test doubles several test modules share."""

from __future__ import annotations

from collections.abc import Sequence

from watchd import WatchEvent


class IdleAsyncSink:
    """An AsyncSink with no descriptor and no timer, that takes every batch: subclasses say
    what becomes of it (held, delivered late) through ``emit_batch`` and ``delivered``."""

    name = "idle"

    def __init__(self) -> None:
        self.held: list[WatchEvent] = []

    def fileno(self) -> int:
        return -1

    def wants_write(self) -> bool:
        return False

    def timeout(self) -> float | None:
        return None

    def on_readable(self) -> None: ...

    def on_writable(self) -> None: ...

    def on_timeout(self) -> None: ...

    def has_room(self) -> bool:
        return True

    def emit_batch(self, events: Sequence[WatchEvent]) -> None:
        self.held.extend(events)

    def accepted(self) -> int:
        return len(self.held)

    def delivered(self) -> int:
        return 0

    def flush(self) -> None: ...

    def close(self) -> None:
        self.held.clear()
