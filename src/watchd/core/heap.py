"""Keeping freed heap memory for the next batch instead of handing it back to the kernel."""

from __future__ import annotations

import ctypes

# glibc's mallopt() parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2

#: Free memory at the top of the heap that glibc keeps before trimming it.
TRIM_THRESHOLD = 32 * 1024 * 1024
#: How much more than asked for the heap grows by, so that it grows seldom.
TOP_PAD = 4 * 1024 * 1024


def keep_heap() -> bool:
    """Tune glibc's malloc for batch after batch of short-lived records; False elsewhere.

    Every batch allocates a few MB of records and events and frees them when it
    is written. By default glibc returns free memory at the top of the heap to
    the kernel as soon as 128 KiB of it are free, so the next batch faults the
    same pages in again: about one page fault per event, a third of the time
    spent per event. Keeping up to :data:`TRIM_THRESHOLD` costs no RSS beyond
    the largest batch's, which the process touched anyway.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): its allocator as it is
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) and mallopt(_M_TOP_PAD, TOP_PAD))
