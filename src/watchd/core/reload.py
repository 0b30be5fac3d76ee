"""SIGHUP: read the configuration again, finish cleanly, then run watchd anew.

The command line as it was given is kept, ``--config FILE`` unexpanded, so a
reload reads the file again. Before anything stops, the new configuration is
checked (the file parses, its options and specs make a plan); if not, one line
says why and the running configuration goes on. What can only fail when the
new plan starts (a sink that cannot be built) is handled by the new process:
it starts again with the previous arguments, handed over in the environment,
in the same process (the PID a service manager knows stays).

The new process resumes from the checkpoints the old one wrote at exit, which
hold exactly what every sink acknowledged: no record is skipped or sent twice
across a reload. Without ``--state-dir`` the checkpoints live in a private
temporary directory handed from one process to the next, and removed when the
last one exits.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import NoReturn

import structlog

from watchd.core.logging import configure_logging
from watchd.core.loop import EventLoop

RELOAD_ENV = "WATCHD_RELOAD_STATE"
#: The :class:`Handover` of a reload, as JSON.
HANDOVER_ENV = "WATCHD_RELOAD"

#: Checks a configuration before a reload: None when it is good, else why not.
Check = Callable[[], str | None]

log = structlog.get_logger("watchd")


@dataclass(frozen=True)
class Handover:
    """What a reloading process tells the next: the command line, and what ran before.

    *raw* is the command line as the user gave it (``--config FILE`` unexpanded):
    every reload reads the file again from it. *previous* is the expanded command
    line of the configuration that ran, to go back to if the new one cannot start.
    """

    raw: list[str]
    previous: list[str] | None = None


class Reloader:
    """Owns the state directory of a ``watchd run`` and turns SIGHUP into a re-exec."""

    def __init__(
        self,
        raw_args: Sequence[str],
        args: Sequence[str],
        state_dir: str | None,
        check: Check | None = None,
    ) -> None:
        self._raw = list(raw_args)
        self._args = list(args)
        self._check = check
        #: Called when a checked reload begins (systemd is told: RELOADING=1).
        self.on_reload: Callable[[], None] | None = None
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
        """Check the configuration; if good, stop the loop cleanly and :meth:`finish` reloads."""
        problem = self._check() if self._check is not None else None
        if problem is not None:
            log.error("reload refused, the running configuration goes on", reason=problem)
            return
        log.info("SIGHUP received: reloading")
        self.requested = True
        if self.on_reload is not None:
            self.on_reload()
        loop.stop(0)

    def finish(self, status: int) -> int:
        """After the run: re-exec when a reload was asked for, else clean up and return."""
        if self.requested and status == 0:
            run_again(self._raw, self.ephemeral, Handover(self._raw, self._args))
        if self.ephemeral is not None:
            shutil.rmtree(self.ephemeral, ignore_errors=True)
        return status


def run_again(args: Sequence[str], ephemeral: str | None, handover: Handover) -> NoReturn:
    """Replace this process with ``watchd ARGS`` (the same PID), handing the state over."""
    env = dict(os.environ)
    if ephemeral is not None:
        env[RELOAD_ENV] = ephemeral
    env[HANDOVER_ENV] = json.dumps(asdict(handover))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "watchd", *args], env)  # noqa: S606 - this program again


def take_handover() -> Handover | None:
    """Return (and forget) what the process before this one handed over, if this is a reload."""
    text = os.environ.pop(HANDOVER_ENV, None)
    if text is None:
        return None
    try:
        fields = json.loads(text)
        raw, previous = fields["raw"], fields.get("previous")
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(raw, list) or not (previous is None or isinstance(previous, list)):
        return None
    return Handover([str(a) for a in raw], None if previous is None else [str(a) for a in previous])


def fall_back(handover: Handover, reason: str, ephemeral: str | None = None) -> NoReturn:
    """Say why the reloaded configuration failed to start, and run the previous one again."""
    assert handover.previous is not None  # noqa: S101 - only a reload falls back
    if not structlog.is_configured():
        configure_logging(0)  # never structlog's default, which prints on stdout (the data)
    log.error("reload failed, going on with the previous configuration", reason=reason)
    run_again(handover.previous, ephemeral or os.environ.get(RELOAD_ENV), Handover(handover.raw))
