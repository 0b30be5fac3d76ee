"""A trail's settings and the small records its parts share."""

from __future__ import annotations

from dataclasses import dataclass

from watchd.codecs.lines import MAX_LINE_BYTES
from watchd.watchers.files.identity import Fingerprint
from watchd.watchers.files.symlinks import INSIDE


@dataclass(frozen=True)
class TrailOptions:
    """Timings and bounds of a trail (all in seconds or bytes)."""

    max_line_bytes: int = MAX_LINE_BYTES
    poll_interval: float = 0.25
    rescan_interval: float = 10.0
    rotate_wait: float = 5.0
    hold_removed: float = 300.0
    copy_wait: float = 2.0
    follow_symlinks: str = INSIDE
    #: How long what a truncated file held is remembered, for a copy of it that shows up in
    #: scope later (copytruncate's copy, compressed after): longer than any copy takes.
    ghost_lifetime: float = 60.0


@dataclass(frozen=True)
class Ghost:
    """What a truncated file held: a copy of it in scope resumes at *offset*."""

    fingerprint: Fingerprint
    offset: int  # read to: a copy is read on from here
    mark: str
    at: float
    acked: int  # acknowledged to: a copy is checkpointed from here until more is


#: Bytes a file is indexed by for copy detection.
PREFIX = 32
