"""SIGHUP: finish cleanly, then run watchd again with the same arguments.

The new process resumes from the checkpoints the old one wrote at exit, which
hold exactly what every sink acknowledged: no record is skipped or sent twice
across a reload. Without ``--state-dir`` the checkpoints live in a private
temporary directory handed from one process to the next, and removed when the
last one exits.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Sequence

import structlog

from watchd.core.loop import EventLoop

RELOAD_ENV = "WATCHD_RELOAD_STATE"

log = structlog.get_logger("watchd")


class Reloader:
    """Owns the state directory of a ``watchd run`` and turns SIGHUP into a re-exec."""

    def __init__(self, args: Sequence[str], state_dir: str | None) -> None:
        self._args = list(args)
        self.requested = False
        handed_over = os.environ.pop(RELOAD_ENV, None)
        self.ephemeral: str | None = None
        if state_dir is None:
            self.ephemeral = handed_over or tempfile.mkdtemp(prefix="watchd-state-")
        self.state_dir = state_dir or self.ephemeral

    @property
    def durable(self) -> bool:
        """Return True for a state directory the user named (fsync'd, kept)."""
        return self.ephemeral is None

    def on_hup(self, loop: EventLoop) -> None:
        """Stop the loop cleanly; :meth:`finish` then starts watchd again."""
        log.info("SIGHUP received: reloading")
        self.requested = True
        loop.stop(0)

    def finish(self, status: int) -> int:
        """After the run: re-exec when a reload was asked for, else clean up and return."""
        if self.requested and status == 0:
            env = dict(os.environ)
            if self.ephemeral is not None:
                env[RELOAD_ENV] = self.ephemeral
            sys.stdout.flush()
            sys.stderr.flush()
            os.execve(sys.executable, [sys.executable, "-m", "watchd", *self._args], env)  # noqa: S606 - same program, same arguments
        if self.ephemeral is not None:
            shutil.rmtree(self.ephemeral, ignore_errors=True)
        return status
