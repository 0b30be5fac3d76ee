"""Writing newline-terminated frames to a descriptor so that what it holds is exact.

A buffered stream (``sys.stdout.buffer``) may report a write done while part of
it still sits in its buffer, and lose that part when the disk fills: the
checkpoint then covered records that never reached the file. Frames are
written here with ``os.write`` until every byte is taken; when the descriptor
refuses more (ENOSPC, EIO, EPIPE) the error is raised, so the batch is not
acknowledged, and on a regular file the bytes of a frame cut off are taken back,
so that a restart appends whole frames after whole frames. A kill -9 in the
middle of a large write leaves a frame cut where the kernel stopped; a sink
opening a regular file takes such a tail back first (:func:`repair_torn_tail`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import stat

from watchd.codecs.lines import end_of_last_line

#: What a sink says when it cut a torn frame back (:func:`repair_torn_tail`).
TORN_TAIL = (
    "output file ended in a cut line (a crash mid-write): cut back to its last whole line, "
    "its events come again"
)


class FrameWriteError(OSError):
    """The descriptor refused part of a batch; the frames before it were written whole."""


def write_frames(fd: int, data: bytes) -> None:
    """Write *data* (whole frames, each ending in a newline) to *fd*, all of it or raise."""
    view = memoryview(data)
    written = 0
    while written < len(data):
        try:
            written += os.write(fd, view[written:])
        except (BlockingIOError, InterruptedError):
            select.select([], [fd], [])  # a non-blocking descriptor: wait for room
        except OSError as exc:
            torn = _take_back_torn_frame(fd, data, written)
            whole = written - torn
            raise FrameWriteError(
                exc.errno,
                f"{exc.strerror} after {whole} of {len(data)} bytes of whole frames",
            ) from None


def _take_back_torn_frame(fd: int, data: bytes, written: int) -> int:
    """Truncate the end of a frame cut off by a failed write; return its length."""
    if written == 0 or data[written - 1] == ord("\n"):
        return 0
    torn = written - (data.rfind(b"\n", 0, written) + 1)
    with contextlib.suppress(OSError):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            end = os.lseek(fd, 0, os.SEEK_CUR) - torn
            os.ftruncate(fd, end)
            os.lseek(fd, end, os.SEEK_SET)
    return torn


def repair_torn_tail(fd: int) -> int:
    """Cut a regular file written at its end back to its last whole frame; return bytes cut.

    What follows the last newline is a frame a killed process did not finish:
    its events were not acknowledged, so they come again after the restart, and
    appending after the cut bytes would leave one line that no reader can parse.
    A descriptor that is not a regular file, or that writes before the end, is
    left alone.
    """
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return 0
        appending = bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND)
        if not appending and os.lseek(fd, 0, os.SEEK_CUR) != info.st_size:
            return 0
        readable = _readable(fd)
        try:
            end = end_of_last_line(readable, info.st_size)
        finally:
            os.close(readable)
        if end == info.st_size:
            return 0
        os.ftruncate(fd, end)
        if not appending:
            os.lseek(fd, end, os.SEEK_SET)
    except OSError:
        return 0
    return info.st_size - end


def _readable(fd: int) -> int:
    """Return a descriptor that reads the file *fd* writes (its own, opened again by /proc)."""
    return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
