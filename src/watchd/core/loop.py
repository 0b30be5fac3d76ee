"""The event loop: one thread blocked in select() on watchers, timers and a wakeup fd."""

from __future__ import annotations

import contextlib
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType

import structlog

from watchd.core.errors import EXIT_INTERRUPTED, SinkStoppedError
from watchd.core.interfaces import (
    AsyncSink,
    HangupAware,
    Sink,
    Supervisor,
    Watcher,
)
from watchd.core.pipeline import Pipeline
from watchd.core.watched import Watched

log = structlog.get_logger("watchd")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_WAKEUP = object()  # selector data of the wakeup socket
#: How long a stopping loop keeps writing what its sinks still hold.
DRAIN_SECONDS = 2.0


class EventLoop:
    """Polls watchers when their descriptor is readable or their timeout expires.

    Signals are turned into bytes on a socketpair by ``signal.set_wakeup_fd``;
    the Python-level handler does nothing, the loop acts on what it reads.
    SIGINT and SIGTERM stop the loop (exit 0, or 1 if a sink kept events). SIGHUP calls *on_hup*
    when given (``watchd run`` reloads), else polls every watcher at once. A
    watcher whose ``poll()`` raises is logged, closed and detached; the others
    go on.
    """

    def __init__(self, pipeline: Pipeline, *, on_hup: Callable[[], None] | None = None) -> None:
        self.pipeline = pipeline
        self._on_hup = on_hup
        self._entries: list[Watched] = []
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, _WAKEUP)
        self._sinks = _SinkDriver(self._selector, pipeline)
        self._stopping = False
        self._status = 0
        self._failed_watchers = 0
        #: True once every source was polled a first time (``/readyz``).
        self.started = False
        #: Rounds of the loop so far.
        self.turns = 0
        #: Another thread's asks that the loop show it turns (``/healthz``): set at the next round.
        self._pings: list[threading.Event] = []
        self._pings_lock = threading.Lock()
        self._events_of_detached: dict[str, int] = {}
        self._supervisor: Supervisor | None = None

    def supervise(self, supervisor: Supervisor) -> None:
        """Tell *supervisor* when the loop has started, between rounds, and when it stops."""
        self._supervisor = supervisor

    def add(self, watcher: Watcher) -> None:
        """Attach *watcher*; it is polled once at start, then as the loop decides."""
        self._entries.append(Watched(watcher))

    def ping(self) -> threading.Event:
        """Wake the loop (from any thread); the event is set when its next round begins.

        A health check waits on it: a loop that is stuck never sets it.
        """
        answered = threading.Event()
        with self._pings_lock:
            self._pings.append(answered)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\xff")  # no signal has this number
        return answered

    def _answer_pings(self) -> None:
        with self._pings_lock:
            pings, self._pings = self._pings, []
        for answered in pings:
            answered.set()

    def events_by_source(self) -> dict[str, int]:
        """Return how many events each source has given so far (from any thread)."""
        counts = dict(self._events_of_detached)
        for entry in list(self._entries):
            counts[entry.watcher.name] = counts.get(entry.watcher.name, 0) + entry.events
        return counts

    def stop(self, status: int = 0) -> None:
        """End the loop with exit *status*; safe to call from any thread or a handler."""
        self._status = max(self._status, status)
        self._stopping = True
        with contextlib.suppress(OSError):  # full buffer: a wakeup is pending anyway
            self._wake_w.send(b"\0")

    def run(self) -> int:
        """Run until stopped, until every watcher is done, or until no sink is left."""
        restore = self._install_signals()
        self._watch_hangups()
        try:
            self._poll_all(list(self._entries))
            self.started = True
            log.debug("ready", sources=len(self._entries))
            if self._supervisor is not None:
                self._supervisor.started()
            while not self._stopping:
                if not self._entries:
                    self._finish_without_watchers()
                    break
                if not self.pipeline.alive:
                    break
                self._iterate()
        finally:
            try:
                self._shutdown()  # with the signals still ours: a second Ctrl-C cuts the drain
            finally:
                restore()
        return self._status

    def _iterate(self) -> None:
        self.turns += 1
        if self._pings:  # a plain read: a ping missed now is answered next round
            self._answer_pings()
        now = time.monotonic()
        paused = not self.pipeline.has_room()
        deadlines: list[tuple[Watched, float]] = []
        for entry in list(self._entries):
            # While a sink is full, sources are neither selected nor timed: the
            # files hold what is not read yet, and the loop does not spin.
            selected = entry.sync(self._selector, paused=paused)
            if paused:
                continue
            delay = entry.watcher.timeout()
            if delay is not None:
                deadlines.append((entry, now + max(delay, 0.0)))
            elif not selected:
                self._detach(entry, failed=False)  # nothing to select on, no timer: done
        if not self._entries:
            return
        sink_deadlines = self._sinks.sync(now)
        pending = [at for _, at in deadlines] + [at for _, at in sink_deadlines]
        if self.pipeline.reorderer is not None:
            held = self.pipeline.reorderer.timeout()
            if held is not None:
                pending.append(now + held)
        supervisor = self._supervisor
        told = supervisor.deadline() if supervisor is not None else None
        if told is not None:
            pending.append(told)
        timeout = max(min(pending) - now, 0.0) if pending else None
        due = self._dispatch_ready(self._selector.select(timeout), paused=paused)
        now = time.monotonic()
        if supervisor is not None and told is not None and now >= told:
            supervisor.tick(now)  # from the loop itself: a loop stuck elsewhere sends nothing
        self._sinks.on_timers(sink_deadlines, now)
        self.pipeline.release()
        self.pipeline.collect()
        due.update((id(e), e) for e, at in deadlines if at <= now)
        self._poll_all(list(due.values()))

    def _dispatch_ready(
        self, ready: list[tuple[selectors.SelectorKey, int]], *, paused: bool
    ) -> dict[int, Watched]:
        """Act on what select() found ready; return the watchers to poll (ordered, by id)."""
        due: dict[int, Watched] = {}
        for key, mask in ready:
            if key.data is _WAKEUP:
                if self._read_wakeups() and not paused:
                    due.update((id(e), e) for e in self._entries)
            elif isinstance(key.data, _SinkIO):
                self._sinks.on_ready(key.data, mask)
            elif isinstance(key.data, _Hangup):
                self._reader_left(key.data)
            else:
                for entry in key.data:
                    entry.readable(key.fd)
                    due[id(entry)] = entry
        return due

    def _poll_all(self, entries: list[Watched]) -> None:
        for entry in entries:
            if self._stopping or not self.pipeline.alive or not self.pipeline.has_room():
                return
            if not entry.attached:
                continue  # detached earlier in this round
            try:
                events = entry.poll()
            except Exception:
                log.exception("source failed and was detached", source=entry.watcher.name)
                self._detach(entry, failed=True)
                continue
            entry.events += len(events)
            self.pipeline.dispatch(events, entry.acknowledge)

    def _detach(self, entry: Watched, *, failed: bool) -> None:
        if not entry.attached:
            return
        entry.attached = False
        self._entries.remove(entry)
        name = entry.watcher.name
        self._events_of_detached[name] = self._events_of_detached.get(name, 0) + entry.events
        entry.sync(self._selector, paused=True)  # registered under nothing now
        if failed:
            self._failed_watchers += 1
        _close_watcher(entry.watcher)

    def _watch_hangups(self) -> None:
        """Select on the pipes sinks write to: an error there means their reader left."""
        for sink in self.pipeline.sinks:
            fd = sink.hangup_fileno() if isinstance(sink, HangupAware) else -1
            if fd >= 0:
                with contextlib.suppress(ValueError, KeyError, OSError):
                    self._selector.register(fd, selectors.EVENT_READ, _Hangup(sink, fd))

    def _reader_left(self, hangup: _Hangup) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(hangup.fd)
        log.debug("output closed by its reader", sink=hangup.sink.name)
        self.pipeline.detach(hangup.sink)

    def _finish_without_watchers(self) -> None:
        if self._failed_watchers:
            log.error("no source left; stopping", failed=self._failed_watchers)
            self._status = max(self._status, 1)

    def _read_wakeups(self) -> bool:
        """Act on the signals received; return True when every watcher should be polled."""
        hup = False
        while True:
            try:
                data = self._wake_r.recv(4096)
            except (BlockingIOError, InterruptedError):
                break
            if not data:
                break
            for signum in data:
                if signum in _STOP_SIGNALS:
                    log.debug("signal received, stopping", signal=signal.Signals(signum).name)
                    self.stop(0)
                elif signum == signal.SIGHUP:
                    hup = True
        if hup and self._on_hup is not None:
            self._on_hup()
            return False
        if hup:
            log.info("SIGHUP received: rescanning every source")
        return hup

    def _stop_signalled(self) -> bool:
        """Return True when a stop signal arrived (read from the wakeup socket)."""
        try:
            data = self._wake_r.recv(4096)
        except (BlockingIOError, InterruptedError, OSError):
            return False
        return any(signum in _STOP_SIGNALS for signum in data)

    def _install_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None  # signals reach only the main thread; the caller stops us

        def record(_signum: int, _frame: FrameType | None) -> None:
            """Do nothing: the wakeup fd carries the signal to the loop."""

        previous = {sig: signal.signal(sig, record) for sig in (*_STOP_SIGNALS, signal.SIGHUP)}
        old_fd = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)

        def restore() -> None:
            signal.set_wakeup_fd(old_fd)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _shutdown(self) -> None:
        if self._supervisor is not None:
            self._supervisor.stopping()
        self.pipeline.release(everything=True)
        if not self._sinks.drain(DRAIN_SECONDS, self._stop_signalled):
            log.warning("drain cut short by a second signal")
            self._status = max(self._status, EXIT_INTERRUPTED)
        self.pipeline.close()
        self._status = max(
            self._status, 1 if self.pipeline.failed or self.pipeline.undelivered else 0
        )
        for entry in list(self._entries):
            self._detach(entry, failed=False)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()


class _Hangup:
    """A sink's output pipe, selected only to learn that its reader left."""

    __slots__ = ("fd", "sink")

    def __init__(self, sink: Sink, fd: int) -> None:
        self.sink = sink
        self.fd = fd


class _SinkIO:
    """An async sink as the selector knows it: its descriptor and interest."""

    __slots__ = ("events", "fd", "sink")

    def __init__(self, sink: AsyncSink) -> None:
        self.sink = sink
        self.fd = -1
        self.events = 0


class _SinkDriver:
    """Drives the pipeline's async sinks: readiness, timers, and failures."""

    def __init__(self, selector: selectors.BaseSelector, pipeline: Pipeline) -> None:
        self._selector = selector
        self._pipeline = pipeline
        self._io: dict[int, _SinkIO] = {}

    def sync(self, now: float) -> list[tuple[_SinkIO, float]]:
        """Register each sink's socket as it is now; return the sinks' timer deadlines."""
        sinks = self._pipeline.async_sinks()
        for gone in [k for k, io in self._io.items() if io.sink not in sinks]:
            self._set(self._io.pop(gone), -1, 0)
        deadlines = []
        for sink in sinks:
            io = self._io.setdefault(id(sink), _SinkIO(sink))
            fd = sink.fileno()
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if sink.wants_write() else 0)
            self._set(io, fd, events if fd >= 0 else 0)
            delay = sink.timeout()
            if delay is not None:
                deadlines.append((io, now + max(delay, 0.0)))
        return deadlines

    def _set(self, io: _SinkIO, fd: int, events: int) -> None:
        if (fd, events) == (io.fd, io.events):
            return
        if io.fd >= 0:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(io.fd)
        io.fd, io.events = fd, events
        if fd >= 0 and events:
            self._selector.register(fd, events, io)

    def on_ready(self, io: _SinkIO, mask: int) -> None:
        """Call the sink back for what its socket is ready for."""
        self._guard(io, mask)

    def on_timers(self, deadlines: list[tuple[_SinkIO, float]], now: float) -> None:
        """Call back the sinks whose timers expired."""
        for io, at in deadlines:
            if at <= now:
                self._guard(io, 0)

    def _guard(self, io: _SinkIO, mask: int) -> None:
        """Call the sink for *mask* (0: its timer; -1: flush); detach it when it fails."""
        try:
            if mask == -1:
                io.sink.flush()
                return
            if mask & selectors.EVENT_READ:
                io.sink.on_readable()
            if mask & selectors.EVENT_WRITE:
                io.sink.on_writable()
            if not mask:
                io.sink.on_timeout()
        except SinkStoppedError as exc:
            log.error("sink stopped", sink=io.sink.name, reason=str(exc))  # noqa: TRY400 - the reason is the message; a traceback adds nothing
            self._detach(io)
        except Exception:
            log.exception("sink failed and was detached", sink=io.sink.name)
            self._detach(io)

    def _detach(self, io: _SinkIO) -> None:
        self._pipeline.failed = True
        self._set(io, -1, 0)
        self._io.pop(id(io.sink), None)
        self._pipeline.detach(io.sink)

    def drain(self, seconds: float, interrupted: Callable[[], bool]) -> bool:
        """Give the sinks up to *seconds* to write out what they hold (at shutdown).

        Says at once what it waits for, and for how long at most; returns
        False when *interrupted* (a second Ctrl-C) cuts it short.
        """
        deadline = time.monotonic() + seconds
        for io in [self._io.setdefault(id(s), _SinkIO(s)) for s in self._pipeline.async_sinks()]:
            self._guard(io, -1)  # hand over what a sink still batches
        said = False
        while True:
            # A peer may have confirmed with nothing to wake the loop (a TCP peer's
            # kernel): what is delivered now is acknowledged before the sources close.
            self._pipeline.collect()
            waiting = {
                s.name: s.accepted() - s.delivered()
                for s in self._pipeline.async_sinks()
                if s.delivered() < s.accepted()
            }
            now = time.monotonic()
            if not waiting or now >= deadline:
                return True
            if not said:
                said = True
                log.warning(
                    "stopping: delivering what the sinks hold (Ctrl-C again to stop at once)",
                    events=sum(waiting.values()),
                    sinks=sorted(waiting),
                    at_most_seconds=seconds,
                )
            timers = self.sync(now)
            pending = [at for _, at in timers] + [deadline]
            for key, mask in self._selector.select(max(min(pending) - now, 0.0)):
                if isinstance(key.data, _SinkIO):
                    self.on_ready(key.data, mask)
                elif key.data is _WAKEUP and interrupted():
                    return False
            self.on_timers(timers, time.monotonic())


def _close_watcher(watcher: Watcher) -> None:
    try:
        watcher.close()
    except Exception:
        log.exception("source failed to close", source=watcher.name)
    else:
        log.debug("source closed", source=watcher.name)
