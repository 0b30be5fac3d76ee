"""The select() loop in-process: error isolation, signals, timers, closing once."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Sequence

import pytest

from fakes import IdleAsyncSink
from watchd import WatchEvent
from watchd.core.loop import EventLoop
from watchd.core.pipeline import Pipeline


def event(action: str) -> WatchEvent:
    return WatchEvent(ts="2026-01-01T00:00:00+00:00", source="test", action=action, container="")


class ListSink:
    name = "list"

    def __init__(self) -> None:
        self.events: list[WatchEvent] = []
        self.batches = 0
        self.closed = 0

    def emit_batch(self, events: Sequence[WatchEvent]) -> None:
        self.batches += 1
        self.events.extend(events)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed += 1


class SocketWatcher:
    """Readable when bytes arrive on a socketpair; each byte becomes an event."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)
        self.closed = 0

    def fileno(self) -> int:
        return self.reader.fileno()

    def timeout(self) -> float | None:
        return None

    def poll(self) -> list[WatchEvent]:
        try:
            data = self.reader.recv(4096)
        except BlockingIOError:
            return []
        return [event(f"{self.name}:{chr(b)}") for b in data]

    def close(self) -> None:
        self.closed += 1
        self.reader.close()
        self.writer.close()


class TimerWatcher:
    """No descriptor: polled when its timeout expires; finishes after *count* events."""

    def __init__(self, count: int, on_poll=None) -> None:
        self.name = "timer"
        self.left = count
        self.closed = 0
        self.on_poll = on_poll

    def fileno(self) -> int:
        return -1

    def timeout(self) -> float | None:
        return 0.01 if self.left > 0 else None

    def poll(self) -> list[WatchEvent]:
        if self.on_poll:
            self.on_poll(self)
        if self.left <= 0:
            return []
        self.left -= 1
        return [event(f"tick{self.left}")]

    def close(self) -> None:
        self.closed += 1


class FailingWatcher(TimerWatcher):
    def poll(self) -> list[WatchEvent]:
        raise RuntimeError("disk on fire")


def test_a_failing_watcher_is_detached_and_the_others_go_on():
    sink = ListSink()
    loop = EventLoop(Pipeline([], [sink]))
    good = TimerWatcher(3)
    bad = FailingWatcher(3)
    loop.add(bad)
    loop.add(good)
    assert loop.run() == 1  # ends when the good one is done; a source failed on the way
    assert [e.action for e in sink.events] == ["tick2", "tick1", "tick0"]
    assert (bad.closed, good.closed, sink.closed) == (1, 1, 1)


def test_when_every_watcher_failed_the_run_fails():
    loop = EventLoop(Pipeline([], [ListSink()]))
    loop.add(FailingWatcher(1))
    assert loop.run() == 1


def test_readable_descriptors_are_polled_and_filters_apply_per_batch():
    sink = ListSink()
    seen_batches: list[int] = []

    def drop_b(events: list[WatchEvent]) -> list[WatchEvent]:
        seen_batches.append(len(events))
        return [e for e in events if not e.action.endswith("b")]

    loop = EventLoop(Pipeline([drop_b], [sink]))
    one, two = SocketWatcher("one"), SocketWatcher("two")
    loop.add(one)
    loop.add(two)

    def stop_when_done(events: list[WatchEvent]) -> list[WatchEvent]:
        if len(sink.events) + len(events) >= 2:
            loop.stop()
        return events

    loop.pipeline.filters.append(stop_when_done)
    one.writer.send(b"ab")
    two.writer.send(b"c")
    assert loop.run() == 0
    assert sorted(e.action for e in sink.events) == ["one:a", "two:c"]
    assert sorted(seen_batches) == [1, 2]  # one batch per poll, not one call per event
    assert (one.closed, two.closed) == (1, 1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stop_signals_end_the_loop_with_0_and_close_everything_once(sig):
    sink = ListSink()
    loop = EventLoop(Pipeline([], [sink]))
    sockets = SocketWatcher("s")
    sent = []

    def send_signal_once(watcher: TimerWatcher) -> None:
        if not sent:
            sent.append(sig)
            os.kill(os.getpid(), sig)  # handlers are installed before the first poll

    timer = TimerWatcher(1_000_000, on_poll=send_signal_once)
    loop.add(sockets)
    loop.add(timer)
    previous = signal.getsignal(sig)
    assert loop.run() == 0
    assert signal.getsignal(sig) is previous  # restored
    assert (sockets.closed, timer.closed, sink.closed) == (1, 1, 1)


def test_sighup_polls_every_watcher():
    loop = EventLoop(Pipeline([], [ListSink()]))
    polls = []

    class Counting(SocketWatcher):
        def poll(self) -> list[WatchEvent]:
            polls.append(1)
            if len(polls) == 1:
                os.kill(os.getpid(), signal.SIGHUP)
            elif len(polls) == 2:
                loop.stop()
            return []

    watcher = Counting("hup")
    loop.add(watcher)
    assert loop.run() == 0
    assert len(polls) == 2  # nothing was readable: only SIGHUP made the second poll
    assert watcher.closed == 1


def test_sighup_calls_the_reload_hook_when_given():
    hups: list[int] = []
    loop = EventLoop(Pipeline([], [ListSink()]), on_hup=lambda: (hups.append(1), loop.stop()))
    polls = []

    class Counting(SocketWatcher):
        def poll(self) -> list[WatchEvent]:
            polls.append(1)
            os.kill(os.getpid(), signal.SIGHUP)
            return []

    loop.add(Counting("hup"))
    assert loop.run() == 0
    assert (hups, polls) == ([1], [1])


def test_a_failing_sink_is_detached_and_the_run_reports_failure():
    class Broken(ListSink):
        name = "broken"

        def emit_batch(self, events: Sequence[WatchEvent]) -> None:
            raise OSError("collector gone")

    good, broken = ListSink(), Broken()
    loop = EventLoop(Pipeline([], [broken, good]))
    loop.add(TimerWatcher(2))
    assert loop.run() == 1
    assert [e.action for e in good.events] == ["tick1", "tick0"]
    assert (broken.closed, good.closed) == (1, 1)


def test_stop_from_another_thread_wakes_a_blocked_loop():
    loop = EventLoop(Pipeline([], [ListSink()]))
    idle = SocketWatcher("idle")
    loop.add(idle)
    threading.Timer(0.1, loop.stop, args=(0,)).start()
    assert loop.run() == 0
    assert idle.closed == 1


class ManyWatcher:
    """A SelectsMany watcher: several socketpairs, the loop says which are readable."""

    name = "many"

    def __init__(self, count: int) -> None:
        self.pairs = [socket.socketpair() for _ in range(count)]
        for reader, _ in self.pairs:
            reader.setblocking(False)
        self.told: list[list[int]] = []
        self.polled = 0
        self.closed = 0

    def fileno(self) -> int:
        return -1  # not asked: the loop selects on filenos()

    def filenos(self) -> list[int]:
        return [reader.fileno() for reader, _ in self.pairs]

    def timeout(self) -> float | None:
        return None

    def poll_ready(self, ready: Sequence[int]) -> list[WatchEvent]:
        self.told.append(sorted(ready))
        events = []
        for reader, _ in self.pairs:
            if reader.fileno() in ready:
                events += [event(chr(byte)) for byte in reader.recv(4096)]
        if len(self.pairs) < 3:  # a new descriptor joins: selected from the next wait on
            self.pairs.append(socket.socketpair())
            self.pairs[-1][0].setblocking(False)
        return events

    def poll(self) -> list[WatchEvent]:
        self.polled += 1
        return []

    def close(self) -> None:
        self.closed += 1
        for reader, writer in self.pairs:
            reader.close()
            writer.close()


def test_a_watcher_with_several_descriptors_is_told_which_are_readable():
    sink = ListSink()
    loop = EventLoop(Pipeline([], [sink]))
    many = ManyWatcher(2)
    loop.add(many)
    many.pairs[1][1].send(b"b")
    fds: list[int] = []

    def write_later() -> None:
        while len(many.pairs) < 3 or not sink.events:
            threading.Event().wait(0.01)
        fds.extend(reader.fileno() for reader, _ in many.pairs)
        many.pairs[2][1].send(b"c")  # the descriptor added by the first poll_ready
        while len(sink.events) < 2:
            threading.Event().wait(0.01)
        loop.stop()

    thread = threading.Thread(target=write_later)
    thread.start()
    assert loop.run() == 0
    thread.join()
    assert [e.action for e in sink.events] == ["b", "c"]
    assert many.told == [[fds[1]], [fds[2]]]
    assert many.polled == 1  # once at start, as every watcher; never for readiness
    assert many.closed == 1


class LateAckSink(IdleAsyncSink):
    """An async sink whose peer confirms in the background (as a TCP peer's kernel does):
    no descriptor tells the loop, ``delivered()`` simply catches up once the source is done."""

    name = "late-ack"

    def __init__(self, source: OneBatch) -> None:
        super().__init__()
        self._source = source

    def delivered(self) -> int:
        return self.accepted() if self._source.finished else 0


class OneBatch:
    """Gives one batch, then finishes; counts its acknowledgements."""

    name = "one-batch"

    def __init__(self) -> None:
        self.done = False
        self.finished = False  # the loop was told it has nothing more: the peer's ack lands now
        self.acknowledged = 0

    def fileno(self) -> int:
        return -1

    def timeout(self) -> float | None:
        self.finished = self.done
        return None if self.done else 0.0

    def poll(self) -> list[WatchEvent]:
        if self.done:
            return []
        self.done = True
        return [event("last")]

    def acknowledge(self) -> None:
        self.acknowledged += 1

    def close(self) -> None: ...


def test_a_batch_delivered_while_nothing_woke_the_loop_is_acknowledged_at_shutdown():
    """The run's last batch: its checkpoint must move, or a restart reads it again."""
    source = OneBatch()
    loop = EventLoop(Pipeline([], [LateAckSink(source)]))
    loop.add(source)
    assert loop.run() == 0
    assert source.acknowledged == 1


class Blocking:
    """A source whose poll holds the loop, once told to, until the test lets it go."""

    name = "blocking"

    def __init__(self) -> None:
        self.hold = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()

    def fileno(self) -> int:
        return -1

    def timeout(self) -> float | None:
        return 0.01  # polled every round or so, so that it can be told to hold

    def poll(self) -> list[WatchEvent]:
        if self.hold.is_set() and not self.release.is_set():
            self.holding.set()
            self.release.wait(30)
        return []

    def close(self) -> None: ...


def test_a_ping_is_answered_by_the_next_round_and_never_by_a_stuck_loop():
    source = Blocking()
    loop = EventLoop(Pipeline([], [ListSink()]))
    loop.add(source)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    assert loop.ping().wait(10)  # an idle loop, woken, answers
    source.hold.set()
    assert source.holding.wait(10)
    stuck = loop.ping()
    assert not stuck.wait(0.3)  # the loop is held in a poll: it cannot answer
    source.release.set()
    assert stuck.wait(10)  # its next round does
    loop.stop()
    thread.join(10)
