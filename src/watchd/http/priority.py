"""The HTTP server's threads run below the loop: what is served never costs the following."""

from __future__ import annotations

import os
import sys
import threading

import structlog

log = structlog.get_logger("watchd")

#: The nice value of the server's threads. Linux schedules threads, not processes: at the
#: loop's own priority a hundred stream threads left the loop a small share of the CPU, and
#: it ended 20-29 s behind a 20,000 records/s writer (bench/http_load.py, bench/RESULTS.md).
SERVER_NICE = 19


def yield_to_the_loop() -> None:
    """Lower this thread's priority (and that of the threads it makes) below the loop's."""
    if sys.platform != "linux":  # elsewhere PRIO_PROCESS with a thread's id is not per thread
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SERVER_NICE)
    except OSError as exc:  # a sandbox may refuse it; serving still works
        log.warning("could not lower the HTTP server's priority", error=exc.strerror)
