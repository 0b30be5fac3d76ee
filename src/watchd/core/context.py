"""What a run shares with the plugins it builds: options, tables and shared resources."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Generic, Literal, TypeVar

import structlog

from watchd.core.registry import Registry

T = TypeVar("T")


@dataclass(frozen=True)
class StartAt:
    """Where a source starts in what already exists: the end, the beginning, N back, or a time."""

    mode: Literal["end", "beginning", "last", "since"] = "end"
    count: int = 0
    since: datetime | None = None


@dataclass(frozen=True, eq=False)
class ResourceKey(Generic[T]):
    """Names a resource that the watchers of one run share (say, one inotify instance)."""

    name: str


@dataclass
class RunContext:
    """Handed to every factory and to the configure hooks.

    ``options`` is the parsed command line, including the options plugins added
    through ``watchd_addoption``. ``continued`` is True in the process a reload
    started: its standard output already has the previous process's output (a
    CSV header, say).
    """

    options: argparse.Namespace
    registry: Registry
    stdout: BinaryIO
    start: StartAt = StartAt()
    poll_interval: float = 0.25
    default_format: str | None = None
    state_dir: str | None = None
    checkpoint_interval: float = 1.0
    state_ttl: float = 86400.0
    durable_state: bool = True
    continued: bool = False
    request_stop: Callable[[int], None] = field(default=lambda _status: None)
    _resources: dict[ResourceKey[object], object] = field(default_factory=dict)
    _closers: list[Callable[[], None]] = field(default_factory=list)
    _ids: dict[str, int] = field(default_factory=dict)

    def claim_id(self, base: str) -> str:
        """Return a name for a source that no other source of this run has.

        The first source with *base* gets *base*, later ones ``base#2``, ... in
        command-line order, so the name is the same on every run (checkpoints
        are kept under it).
        """
        count = self._ids.get(base, 0) + 1
        self._ids[base] = count
        return base if count == 1 else f"{base}#{count}"

    def shared(self, key: ResourceKey[T], make: Callable[[], T], close: Callable[[T], None]) -> T:
        """Return the run's one instance of *key*, making it on first use.

        *close* is called once for it when the run ends, after every watcher closed.
        """
        if key not in self._resources:
            resource = make()
            self._resources[key] = resource  # type: ignore[index]
            self._closers.append(lambda: close(resource))
        return self._resources[key]  # type: ignore[index, return-value]

    def close_shared(self) -> None:
        """Close the shared resources, newest first."""
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:  # noqa: BLE001 - one failing close must not skip the others
                structlog.get_logger("watchd").exception("closing a shared resource failed")
