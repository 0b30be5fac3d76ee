"""Telling files apart: (device, inode) plus fingerprints of their content.

An inode number is reused as soon as a file is deleted, a copy has a new inode
but the old content, and a file rewritten in place keeps its inode with new
content. So a file is known by its inode *and* a hash of its first bytes (the
head), and a position in it by a hash of the bytes just before it (the mark).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchd.core.checkpoints import Entry

HEAD_BYTES = 1024
MARK_BYTES = 256


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """Say what a file that is not a regular one is, from its *mode* (``a named pipe``)."""
    return next((name for test, name in _KINDS if test(mode)), "an unknown kind of file")


def digest(data: bytes) -> str:
    """Return a short hex digest of *data* (collisions only cost a re-read)."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The first *length* bytes of a file hash to *head*."""

    length: int
    head: str

    @classmethod
    def of(cls, fd: int, size: int) -> Fingerprint:
        """Fingerprint the head of the open file *fd* of *size* bytes."""
        data = os.pread(fd, min(size, HEAD_BYTES), 0)
        return cls(len(data), digest(data))

    def matches(self, fd: int) -> bool:
        """Return True when *fd* starts with the bytes this fingerprint was taken of."""
        data = os.pread(fd, self.length, 0)
        return len(data) == self.length and digest(data) == self.head

    @property
    def complete(self) -> bool:
        """Return True once the fingerprint covers a whole head (it never grows again)."""
        return self.length >= HEAD_BYTES


def mark_at(fd: int, offset: int) -> str:
    """Return the hash of the bytes just before *offset*: where reading stood, by content."""
    start = max(0, offset - MARK_BYTES)
    return digest(os.pread(fd, offset - start, start))


def file_key(dev: int, ino: int) -> str:
    """Return the key a file is known by while it exists."""
    return f"{dev}:{ino}"


def same_head(fd: int, size: int, fingerprint: Fingerprint) -> bool:
    """Return True when the open file begins with the bytes *fingerprint* was taken of.

    An empty file's fingerprint says nothing: every file would begin the same.
    """
    return 0 < fingerprint.length <= size and fingerprint.matches(fd)


def holds(fd: int, size: int, fingerprint: Fingerprint, offset: int, mark: str) -> bool:
    """Return True when the open file holds what was read to *offset* of a known file.

    Its head matches the known file's fingerprint, and the bytes before *offset*
    are the ones read there: the same file grown, or a copy of it.
    """
    return size >= offset and same_head(fd, size, fingerprint) and mark_at(fd, offset) == mark


def continues(entry: Entry, fd: int, size: int) -> bool:
    """Return True when the open file, of the entry's inode, holds what *entry* says was read.

    An entry taken while its file was empty holds nothing to compare: the file
    of its inode starts from 0, as the entry says.
    """
    if entry.head_len == 0 and entry.offset == 0:
        return True
    return copy_of(entry, fd, size)


def copy_of(entry: Entry, fd: int, size: int) -> bool:
    """Return True when the open file, of any inode, holds what *entry* says was read."""
    return holds(fd, size, Fingerprint(entry.head_len, entry.head), entry.offset, entry.mark)


def find_inode(directory: str, dev: int, ino: int) -> str | None:
    """Return the path in *directory* of the file with this inode, if it is still there."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return None
    for entry in entries:
        try:
            if entry.inode() == ino and entry.stat(follow_symlinks=False).st_dev == dev:
                return entry.path
        except OSError:
            continue
    return None
