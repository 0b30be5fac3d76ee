"""Writing newline-terminated frames to a descriptor so that what it holds is exact.

A buffered stream (``sys.stdout.buffer``) may report a write done while part of
it still sits in its buffer, and lose that part when the disk fills: the
checkpoint then covered records that never reached the file. Frames are
written here with ``os.write`` until every byte is taken; when the descriptor
refuses more (ENOSPC, EIO, EPIPE) the error is raised, so the batch is not
acknowledged, and on a regular file the bytes of a frame cut off are taken back,
so that a restart appends whole frames after whole frames.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat


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
