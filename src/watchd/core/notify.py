"""systemd's notify protocol: readiness, status, reload, stop and the watchdog, from the loop.

The protocol (``sd_notify(3)``) is a datagram of ``KEY=VALUE`` lines sent to
the Unix socket ``$NOTIFY_SOCKET`` names: a path, or an abstract name written
with a leading ``@``. That is a few lines of the standard library, so there is
no libsystemd and no dependency. Sending never blocks and never fails a run:
a message the socket cannot take now is dropped (the next one says as much),
and a socket that is gone is logged once.

:class:`ServiceNotifier` is what the loop tells: ``READY=1`` once every source
was polled a first time (every sink was built before that), a ``STATUS=``
line a person reads in ``systemctl status``, ``RELOADING=1`` when a SIGHUP's
configuration was checked and the reload begins, ``STOPPING=1`` when the loop
begins to stop, and ``WATCHDOG=1`` at half of ``$WATCHDOG_USEC``, sent by the
loop itself between two rounds: a loop that is stuck sends none, and systemd
restarts it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import structlog

from watchd.core.interfaces import MeasuredSource, delivering

if TYPE_CHECKING:
    from watchd.core.run import Running

log = structlog.get_logger("watchd")

#: How often the status line is brought up to date.
STATUS_EVERY = 5.0


class Notifier:
    """Sends notify messages to one socket; never blocks, never raises."""

    def __init__(self, address: str) -> None:
        # An abstract socket's name starts with a NUL byte; systemd writes it '@'.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._socket.setblocking(False)
        self._failed = False

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> Notifier | None:
        """Return the notifier ``$NOTIFY_SOCKET`` asks for, or None (not run by systemd)."""
        address = env.get("NOTIFY_SOCKET", "")
        if not address.startswith(("/", "@")):
            if address:  # vsock: and the like are for virtual machines, not for watchd
                log.warning("NOTIFY_SOCKET is not a Unix socket: systemd is not told")
            return None
        return cls(address)

    def send(self, *lines: str) -> bool:
        """Send *lines* as one message; return False when it could not be sent."""
        try:
            self._socket.sendto("\n".join(lines).encode(), self.address)
        except (BlockingIOError, InterruptedError):
            return False  # systemd reads it soon; the next message says the same or more
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.warning("cannot tell systemd", reason=exc.strerror)
            return False
        self._failed = False
        return True

    def close(self) -> None:
        """Close the socket."""
        self._socket.close()


def watchdog_interval(env: Mapping[str, str] = os.environ, pid: int | None = None) -> float | None:
    """Return the seconds between two ``WATCHDOG=1``: half of ``$WATCHDOG_USEC``, or None.

    ``$WATCHDOG_PID``, when set, names the process the watchdog is for; any
    other process (a child) sends none.
    """
    for_pid = env.get("WATCHDOG_PID", "")
    if for_pid and for_pid != str(os.getpid() if pid is None else pid):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2e6 if usec > 0 else None


def monotonic_usec() -> int:
    """Return ``CLOCK_MONOTONIC`` in microseconds, as ``MONOTONIC_USEC=`` wants it."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class ServiceNotifier:
    """What the loop of ``watchd run`` tells systemd, and when (see the module)."""

    def __init__(
        self,
        notifier: Notifier,
        watchdog: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._notifier = notifier
        self._watchdog = watchdog
        self._clock = clock
        self._running: Running | None = None
        self._next_watchdog: float | None = None
        self._next_status: float | None = None
        self._counted: tuple[float, int] | None = None
        self._reloading = False

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> ServiceNotifier | None:
        """Return the notifier of a run under systemd, or None."""
        notifier = Notifier.from_environment(env)
        return None if notifier is None else cls(notifier, watchdog_interval(env))

    def attach(self, running: Running) -> None:
        """Know the run being built: its loop calls this notifier back."""
        self._running = running
        running.loop.supervise(self)

    # -- called by the loop ---------------------------------------------------

    def started(self) -> None:
        """Tell systemd the run is ready: every source was polled once, every sink built."""
        now = self._clock()
        self._notifier.send("READY=1", f"STATUS={self.status(now, starting=True)}")
        self._next_status = now + STATUS_EVERY
        if self._watchdog is not None:
            self._notifier.send("WATCHDOG=1")
            self._next_watchdog = now + self._watchdog

    def deadline(self) -> float | None:
        """Return when :meth:`tick` is next due (the loop's clock), None for never."""
        due = [at for at in (self._next_watchdog, self._next_status) if at is not None]
        return min(due) if due else None

    def tick(self, now: float) -> None:
        """Send what is due at *now*: the watchdog's keep-alive, the status line."""
        watchdog, due = self._watchdog, self._next_watchdog
        if watchdog is not None and due is not None and now >= due:
            self._notifier.send("WATCHDOG=1")
            self._next_watchdog = now + watchdog
        if self._next_status is not None and now >= self._next_status:
            self._notifier.send(f"STATUS={self.status(now)}")
            self._next_status = now + STATUS_EVERY

    def stopping(self) -> None:
        """Say that the loop begins to stop, unless it stops to reload."""
        self._next_watchdog = self._next_status = None
        if not self._reloading:
            self._notifier.send("STOPPING=1", "STATUS=stopping")

    # -- called by the reloader -----------------------------------------------

    def reloading(self) -> None:
        """Say a reload begins (its configuration was checked); the next process says READY=1."""
        self._reloading = True
        self._notifier.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec()}", "STATUS=reloading")

    def close(self) -> None:
        """Close the socket."""
        self._notifier.close()

    # -- the status line ------------------------------------------------------

    def status(self, now: float, *, starting: bool = False) -> str:
        """Return the line ``systemctl status`` shows: files followed, events/s, sinks down.

        While *starting*, a network sink not connected yet is connecting (it
        tries once the loop turns), not down.
        """
        running = self._running
        if running is None:
            return "starting"
        files = sum(w.measures().files for w in running.watchers if isinstance(w, MeasuredSource))
        events = sum(running.loop.events_by_source().values())
        if self._counted is None:
            rate = ""
        else:
            then, before = self._counted
            rate = f", {(events - before) / max(now - then, 1e-9):,.0f} events/s"
        self._counted = (now, events)
        down = sorted(sink.name for sink in running.loop.pipeline.sinks if not delivering(sink))
        said = "connecting" if starting else "sinks down"
        sinks = f"{said}: {', '.join(down)}" if down else "every sink up"
        return f"following {files:,} file{'s' if files != 1 else ''}{rate}; {sinks}"
