"""The rotated files of a scope that are accounted for, so that one nobody read is found.

A file renamed out of scope is followed by its inode; but a burst of numbered
rotations (``mv t.1 t.2; mv t t.1``, again and again) can rename a segment
twice before the trail looks, and the name an inotify event gave it then
belongs to another file. So a trail goes by identity, not by names: whenever a
scope directory's listing changed, it lists the directory's rotated siblings
and reads from their start the ones it cannot account for. A sibling is
accounted for when it was there when the trail first listed the directory
(what to read of those is for the start position and the checkpoints to say),
or when the trail followed it: the same inode holding the same first bytes (an
inode the kernel gave to a new file is a new file). A copy of a file the trail
knows (copytruncate) is not the ledger's business: it is finished from where
its original was read, by content.
"""

from __future__ import annotations

import os

from watchd.watchers.files.copies import Opened
from watchd.watchers.files.identity import Fingerprint, file_key, same_head

#: A listing whose directory changed this recently may change again in the same
#: clock tick without its mtime showing it (git's "racy" rule): it is looked at again.
RACY_SECONDS = 1.0


class RotatedLedger:
    """Per scope directory: the rotated files accounted for, and when the listing last changed."""

    def __init__(self) -> None:
        self._accounted: dict[str, dict[str, Fingerprint]] = {}
        self._looked: dict[str, tuple[int, float]] = {}  # directory -> (mtime ns, looked at)

    def forget(self, directory: str) -> None:
        """Drop what is known of *directory* (it was replaced: everything in it is new)."""
        self._accounted.pop(directory, None)
        self._looked.pop(directory, None)

    def changed(self, directory: str, mtime_ns: int, now: float) -> bool:
        """Return True when *directory* may list other files than when it was last looked at."""
        looked = self._looked.get(directory)
        if (
            looked is not None
            and looked[0] == mtime_ns
            and mtime_ns / 1e9 < looked[1] - RACY_SECONDS
        ):
            return False
        self._looked[directory] = (mtime_ns, now)
        return True

    def note(self, directory: str, dev: int, ino: int, fingerprint: Fingerprint) -> None:
        """Account for the file (*dev*, *ino*) of *directory*, which begins as *fingerprint*."""
        self._accounted.setdefault(directory, {})[file_key(dev, ino)] = fingerprint

    def covers(self, directory: str, opened: Opened) -> bool:
        """Return True when *opened* is a file accounted for (its inode, its first bytes)."""
        known = self._accounted.get(directory, {}).get(file_key(opened.dev, opened.ino))
        if known is None:
            return False
        if known.length == 0:
            return opened.size == 0  # nothing was read of it: if it grew, it is read from 0
        return same_head(opened.fd, opened.size, known)

    def keep_only(self, directory: str, present: set[str]) -> None:
        """Forget the files of *directory* that are no longer there (keys of those that are)."""
        known = self._accounted.get(directory)
        if known is not None:
            for key in [k for k in known if k not in present]:
                del known[key]


def mtime_ns(directory: str) -> int | None:
    """Return the directory's modification time in nanoseconds, None when it is gone."""
    try:
        return os.stat(directory).st_mtime_ns
    except OSError:
        return None


__all__ = ["RotatedLedger", "mtime_ns"]
