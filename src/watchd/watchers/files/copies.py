"""Where a file's unread bytes went: its rotated siblings, compressed ones included.

logrotate's ``copytruncate`` copies a file (to ``app.jsonl.1``,
``app.jsonl-20261201``, ...) and then truncates it; ``compress`` turns a rotated
file into ``app.jsonl.1.gz``. When watchd was behind, or stopped, the part it
had not read is then only in such a sibling. These helpers find it by content
(a file's head fingerprint and the bytes before an offset), whatever its name.

A compressed sibling is read through the standard library (gzip, bz2, xz) into
an unnamed temporary file, so the tailing engine reads it like any other
descriptor; it is still known by the compressed file's own device and inode.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import tempfile
from collections.abc import Callable
from typing import BinaryIO

from watchd.watchers.files.identity import Fingerprint, digest
from watchd.watchers.files.tail import open_file

#: Compressions the standard library reads, by file name ending (the caller closes the file).
_OPENERS: dict[str, Callable[[BinaryIO], io.BufferedIOBase]] = {
    ".gz": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    ".bz2": lambda raw: bz2.BZ2File(raw, mode="rb"),
    ".xz": lambda raw: lzma.LZMAFile(raw, mode="rb"),  # noqa: SIM115
}
#: Compressions it does not: such rotations are left alone.
UNREADABLE = (".zst", ".lz4", ".z", ".zip", ".Z")
#: A decompressed copy larger than this is not read (a decompression bomb, or not a trail).
MAX_DECOMPRESSED = 4 * 1024 * 1024 * 1024


class Opened:
    """A rotated file open for reading: the descriptor, and the named file's identity."""

    __slots__ = ("compression", "dev", "fd", "ino", "mtime_ns", "path")

    def __init__(self, fd: int, path: str, info: os.stat_result, compression: str) -> None:
        self.fd = fd
        self.path = path
        self.dev, self.ino, self.mtime_ns = info.st_dev, info.st_ino, info.st_mtime_ns
        self.compression = compression  # "" when read as it is

    @property
    def size(self) -> int:
        """Return the size of what is read (decompressed, for a compressed file)."""
        return os.fstat(self.fd).st_size

    def close(self) -> None:
        """Close the descriptor."""
        os.close(self.fd)


def compression_of(name: str) -> str:
    """Return the compression a file name says it has (``.gz``...), "" for none."""
    for ending in (*_OPENERS, *UNREADABLE):
        if name.endswith(ending):
            return ending
    return ""


def open_rotated(path: str, *, follow: bool = False) -> Opened | None:
    """Open a rotated regular file as it is, or decompressed; None if it is gone or unreadable.

    Rotated copies are listed without their links; a path named by the operator
    (*follow*) may be one.
    """
    try:
        opened = open_file(path, follow=follow)
    except OSError:
        return None
    if opened is None:
        return None
    fd, info = opened
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None
    compression = compression_of(os.path.basename(path))
    if not compression:
        return Opened(fd, path, info, "")
    try:
        plain = _decompressed(fd, _OPENERS[compression]) if compression in _OPENERS else None
    except (OSError, EOFError, lzma.LZMAError, ValueError):
        plain = None  # not what its name says, or cut short: not a copy to finish
    finally:
        os.close(fd)
    return None if plain is None else Opened(plain, path, info, compression)


def _decompressed(fd: int, opener: Callable[[BinaryIO], io.BufferedIOBase]) -> int | None:
    """Return a descriptor of an unnamed temporary file holding the decompressed bytes."""
    raw = os.fdopen(os.dup(fd), "rb")
    out = tempfile.TemporaryFile()  # noqa: SIM115 - its descriptor outlives this function
    try:
        with raw, opener(raw) as source:
            copied = 0
            while chunk := source.read(1 << 20):
                copied += len(chunk)
                if copied > MAX_DECOMPRESSED:
                    out.close()
                    return None
                out.write(chunk)
        out.flush()
        plain = os.dup(out.fileno())
    finally:
        out.close()
    return plain


def siblings(directory: str, wanted: Callable[[str], bool]) -> list[os.DirEntry[str]]:
    """Return the regular files of *directory* whose names are *wanted*, newest first."""
    try:
        entries = [e for e in os.scandir(directory) if wanted(e.name)]
    except OSError:
        return []
    dated: list[tuple[int, os.DirEntry[str]]] = []
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            dated.append((info.st_mtime_ns, entry))
    return [entry for _, entry in sorted(dated, key=lambda d: d[0], reverse=True)]


def find_copy(
    directory: str,
    wanted: Callable[[str], bool],
    head: Fingerprint,
    holds: Callable[[int, int], bool],
    known: Callable[[Opened], bool],
) -> Opened | None:
    """Return the first sibling, newest first, that *holds* what was read; None if none does.

    *head* is the fingerprint of what was read: a compressed sibling that does
    not begin with it is passed over after decompressing only that much, not
    the whole archive. *holds(fd, size)* says whether an open file holds the
    bytes read so far; *known(opened)* leaves out files already followed.
    """
    for entry in siblings(directory, wanted):
        compression = compression_of(entry.name)
        if compression and not _begins_with(entry.path, compression, head):
            continue
        opened = open_rotated(entry.path)
        if opened is None:
            continue
        if not known(opened) and holds(opened.fd, opened.size):
            return opened
        opened.close()
    return None


def _begins_with(path: str, compression: str, head: Fingerprint) -> bool:
    """Return True when the compressed file at *path*, decompressed, begins as *head* says."""
    opener = _OPENERS.get(compression)
    if opener is None or head.length == 0:
        return False
    try:
        with open(path, "rb") as raw, opener(raw) as source:
            data = source.read(head.length)
    except (OSError, EOFError, lzma.LZMAError, ValueError):
        return False
    return len(data) == head.length and digest(data) == head.head


__all__ = ["Opened", "compression_of", "find_copy", "open_rotated", "siblings"]
