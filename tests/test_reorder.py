"""The reorderer against the rule it implements, on a clock the test moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchd.core.clock import ManualClock
from watchd.core.reorder import Reorderer

WINDOW = 0.25
NOW = 1_700_000_000.0


class Rule:
    """The rule as the module's docstring says it, held in a plain list and scanned whole."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.batches: list[dict] = []
        self.held: list[tuple[float, int, object, dict]] = []
        self.count = 0

    def hold(self, events, ack) -> None:
        batch = {"arrived": self.clock(), "remaining": len(events), "ack": ack}
        self.batches.append(batch)
        for event in events:
            self.count += 1
            stamp = event.time.timestamp() if event.time is not None else NOW
            self.held.append((stamp, self.count, event, batch))

    def release(self, *, everything: bool = False):
        due_before = self.clock() - WINDOW
        if everything:
            take, self.held = self.held, []
        else:
            due = [e for e in self.held if e[3]["arrived"] <= due_before]
            cutoff = max((e[0] for e in due), default=float("-inf"))
            take = [e for e in self.held if e[3]["arrived"] <= due_before or e[0] <= cutoff]
            self.held = [e for e in self.held if e not in take]
        take.sort(key=lambda e: (e[0], e[1]))
        for entry in take:
            entry[3]["remaining"] -= 1
        acks = []
        while self.batches and self.batches[0]["remaining"] == 0:
            batch = self.batches.pop(0)
            if batch["ack"] is not None:
                acks.append(batch["ack"])
        return [e[2] for e in take], acks


stamps = st.one_of(st.none(), st.integers(0, 40).map(lambda n: NOW - 5 + n * 0.1))
steps = st.lists(
    st.one_of(
        st.tuples(st.just("hold"), st.lists(stamps, max_size=6), st.booleans()),
        st.tuples(st.just("wait"), st.sampled_from([0.0, 0.05, 0.1, 0.25, 0.3, 1.0])),
        st.tuples(st.just("release"), st.booleans()),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_the_heap_releases_what_the_rule_releases_in_the_same_order(plan):
    clock = ManualClock()
    heap = Reorderer(WINDOW, clock=clock, now=lambda: NOW)
    rule = Rule(clock)
    acks: list[Callable[[], None]] = []
    for step in plan:
        if step[0] == "hold":
            events = [
                SimpleNamespace(time=None if s is None else datetime.fromtimestamp(s, UTC))
                for s in step[1]
            ]
            ack = (lambda: None) if step[2] else None
            if ack is not None:
                acks.append(ack)
            heap.hold(events, ack)  # type: ignore[arg-type]
            rule.hold(events, ack)
        elif step[0] == "wait":
            clock.advance(step[1])
        else:
            got, expected = heap.release(everything=step[1]), rule.release(everything=step[1])
            assert [id(e) for e in got[0]] == [id(e) for e in expected[0]]
            assert got[1] == expected[1]
    assert heap.release(everything=True)[1] == rule.release(everything=True)[1]


def test_an_event_waits_the_window_and_no_longer():
    clock = ManualClock()
    reorderer = Reorderer(WINDOW, clock=clock, now=lambda: NOW)
    late = SimpleNamespace(time=datetime.fromtimestamp(NOW - 1, UTC))
    early = SimpleNamespace(time=datetime.fromtimestamp(NOW - 2, UTC))
    reorderer.hold([late], None)
    clock.advance(0.1)
    reorderer.hold([early], None)  # from another trail, written earlier, read later
    assert reorderer.timeout() == pytest.approx(WINDOW - 0.1)
    assert reorderer.release() == ([], [])
    clock.advance(WINDOW - 0.1)
    assert reorderer.release()[0] == [early, late]  # the late one is due; the early goes first
