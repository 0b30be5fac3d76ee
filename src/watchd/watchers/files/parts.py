"""What the parts of a trail use of it: one protocol the trail and its mixins share.

:class:`~watchd.watchers.files.trail.Trail` is assembled from mixins, each a
concern of its own (listing, start-up resume, files that move); each types its
``self`` as :class:`TrailParts`, so what one part may use of another is
written down once, here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger

    from watchd.core.checkpoints import CheckpointStore, Entry
    from watchd.core.context import StartAt
    from watchd.watchers.files.copies import Opened
    from watchd.watchers.files.dirwatch import DirWatch
    from watchd.watchers.files.inotify import InotifyHub
    from watchd.watchers.files.rotated import RotatedLedger
    from watchd.watchers.files.scope import Scope
    from watchd.watchers.files.settings import Ghost, TrailOptions
    from watchd.watchers.files.tail import State, Tail

#: What a scan found: path -> (key, size, mtime); -1s when not looked at.
Found = dict[str, tuple[str, int, float]]


class TrailParts(Protocol):
    """The state and the steps of a trail that its parts use of one another."""

    _backlogged: set[str]
    _by_prefix: dict[bytes, set[str]]
    _clock: Callable[[], float]
    _copies_at_start: list[str]
    _read_after: dict[str, str]
    _deleted: set[str]
    _dir_ids: dict[str, tuple[int, int]]
    _dirs: dict[str, DirWatch]
    _dirty: set[str]
    _draining: set[str]
    _ghosts: list[Ghost]
    _hub: InotifyHub | None
    _link_dirs: set[str]
    _listed: tuple[tuple[int, int, int], float] | None
    _log: FilteringBoundLogger
    _moved_out: list[str]
    _moves_from_scope: set[int]
    _new_dirs: list[str]
    options: TrailOptions
    _pending: dict[str, float]
    scope: Scope
    _ran_before: bool
    _last_run: float | None
    _rotations: RotatedLedger
    _skipped_paths: set[str]
    source_id: str
    _start: StartAt
    _started: bool
    store: CheckpointStore | None
    tails: dict[str, Tail]

    def _startup_offset(self, fd: int, info: os.stat_result, orphans: list[Entry]) -> int: ...
    def _runtime_offset(
        self, path: str, fd: int, size: int, now: float
    ) -> tuple[int, int] | None: ...
    def _on_dir_event(self, directory: str, name: str | None, mask: int, cookie: int) -> None: ...
    def _settle_scope(self) -> bool: ...
    def _sync_watches(self, directories: list[str]) -> None: ...
    def _scan(self, directories: list[str], *, full: bool) -> Found: ...
    def _skip_link(self, path: str) -> None: ...
    def _scan_entry(
        self,
        entry: os.DirEntry[str],
        device: int,
        found: Found,
        links: dict[str, str | None],
        *,
        full: bool,
    ) -> None: ...
    def _note_identity(self, directory: str, identity: tuple[int, int]) -> None: ...
    def _drain_opened(
        self, opened: Opened, offset: int, now: float, *, checkpoint_from: int = -1
    ) -> Tail: ...
    def _finish_from_copy(self, directory: str, read: Entry | Ghost, now: float) -> Tail | None: ...
    def _read_rotated(self, path: str, now: float) -> str | None: ...
    def _reopen(self, path: str, entry: Entry) -> Opened | None: ...
    def _rotated_after(self, found_at: str) -> list[str]: ...
    def _readable_rotation(self, name: str) -> bool: ...
    def _add(self, tail: Tail) -> None: ...
    def _drain(self, tail: Tail, state: State, now: float) -> None: ...
    def _notice_change(self, tail: Tail, now: float) -> None: ...
    def _acked(self, tail: Tail) -> int: ...
    def _restart(self, tail: Tail) -> None: ...
    def _number(self, tail: Tail) -> None: ...
    def _copy_first(self, tail: Tail) -> Tail | None: ...
    def _plain_rotation(self, name: str) -> bool: ...
    def _known(self, opened: Opened) -> bool: ...
    def _unaccounted(self, directory: str) -> list[tuple[Opened, int, int]]: ...
    def _unread_part(self, opened: Opened) -> tuple[int, int] | None: ...
    def _rotations_in(self, directory: str) -> Iterator[Opened]: ...
    def _held_by_a_followed_file(self, opened: Opened) -> bool: ...
    def _last_run_of_source(self) -> float | None: ...
    def _originals_like(self, fd: int, size: int) -> list[Tail]: ...
    def _may_be_a_copy(self, fd: int, size: int, originals: list[Tail]) -> bool: ...
    def _short_prefixes(self) -> set[str]: ...
    def _unindex(self, tail: Tail) -> None: ...
