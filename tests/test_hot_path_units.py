"""The shortcuts of the per-record path give what the long way gives."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from watchd import RecordSource, StartAt, WatchEvent
from watchd.codecs.lines import LineSplitter
from watchd.codecs.records import decode_block, decode_record
from watchd.core.event import (
    Cursor,
    encode_lines,
    set_position,
    set_time,
    with_record,
)
from watchd.core.registry import TypeTable
from watchd.http.live import LiveFeed
from watchd.watchers.audit import AuditWatcher
from watchd.watchers.dialects.auto import AutoDialect
from watchd.watchers.dialects.generic import GenericDialect
from watchd.watchers.dialects.ito import ItoDialect
from watchd.watchers.dialects.loki import LokiDialect
from watchd.watchers.dialects.lokt import LoktDialect
from watchd.watchers.dialects.terok import TerokDialect
from watchd.watchers.files.settings import TrailOptions
from watchd.watchers.files.trail import Trail

WHERE = RecordSource(source="audit", origin="/trail")

# -- lines ------------------------------------------------------------------------


def reference_lines(data: bytes, limit: int) -> list[tuple[bytes, int]]:
    """The lines of *data* the slow, obvious way: every complete line shorter than *limit*."""
    out, offset = [], 0
    for piece in data.split(b"\n")[:-1]:
        offset += len(piece) + 1
        if len(piece) < limit:
            out.append((piece, offset))
    return out


LINE = st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")) | st.sampled_from(
    [b"x" * 30, b"ok\r", b"\r", b""]
)


@given(st.lists(LINE, max_size=12), st.lists(st.integers(1, 40), max_size=6))
def test_any_chunking_gives_the_lines_of_one_read(lines, cuts):
    data = b"".join(line + b"\n" for line in lines)
    splitter = LineSplitter(20)
    got, start = [], 0
    for cut in [*cuts, len(data)]:
        end = min(start + cut, len(data))
        got += splitter.feed(data[start:end], end)
        start = end
    got += splitter.feed(data[start:], len(data))
    # A line cut across chunks is dropped if it is too long in total, as the reference does.
    assert got == reference_lines(data, 20)
    assert splitter.safe_offset == (data.rfind(b"\n") + 1)


# -- events -----------------------------------------------------------------------


def test_time_is_parsed_from_ts_when_first_asked_for():
    event = WatchEvent(ts="2026-02-01T10:33:10.5-05:00", source="s", action="a", container="c")
    assert event.time == datetime(2026, 2, 1, 15, 33, 10, 500000, tzinfo=UTC)
    assert WatchEvent(ts="yesterday", source="s", action="a", container="c").time is None


def test_a_given_time_wins_and_replace_parses_the_new_ts():
    given_time = datetime(2000, 1, 1, tzinfo=UTC)
    plain = WatchEvent(ts="2026-02-01T00:00:00Z", source="s", action="a", container="c")
    event = with_record(set_time(plain, given_time), {"raw": True})
    assert event.time == given_time
    kept = event.replace(detail="d")
    assert (kept.time, kept.record, kept.detail) == (given_time, {"raw": True}, "d")
    moved = event.replace(ts="2026-03-01T00:00:00Z")
    assert moved.time == datetime(2026, 3, 1, tzinfo=UTC)
    assert (moved.action, moved.record) == ("a", {"raw": True})


def test_events_stay_frozen_and_compare_by_their_json_fields():
    one = WatchEvent(ts="t", source="s", action="a", container="c", extra={"k": 1})
    other = WatchEvent(ts="t", source="s", action="a", container="c", extra={"k": 1})
    with_record(set_time(other, None), {"raw": True})
    assert one == other
    with pytest.raises(AttributeError):
        one.action = "b"  # type: ignore[misc]
    assert one.to_dict() == {"ts": "t", "source": "s", "action": "a", "container": "c",
                             "extra": {"k": 1}}  # fmt: skip


def test_the_json_form_is_the_fields_in_order_defaults_left_out_internals_never():
    fields = ("2026-02-01T00:00:00Z", "audit", "deny", "build", "10.0.0.1", "held", "warning",
              "claude", "/t", {"pid": 2**70}, "wt")  # fmt: skip
    event = with_record(set_time(WatchEvent(*fields), None), {"secret": "x"})
    expected = (b'{"ts":"2026-02-01T00:00:00Z","source":"audit","action":"deny",'
                b'"container":"build","dest":"10.0.0.1","detail":"held","level":"warning",'
                b'"actor":"claude","origin":"/t","extra":{"pid":1180591620717411303424},'
                b'"worktree":"wt"}')  # fmt: skip
    assert event.to_json() == expected
    assert orjson.loads(expected) == {**event.to_dict(), "extra": {"pid": 2**70}}
    bare = WatchEvent("t", "s", "a", "")
    assert bare.to_json() == b'{"ts":"t","source":"s","action":"a","container":""}'
    assert encode_lines([event, bare]) == expected + b"\n" + bare.to_json() + b"\n"


def test_an_event_read_from_a_block_knows_its_cursor_line_and_record():
    splitter = LineSplitter(1 << 20)
    block = splitter.feed_block(b'{"a":1}\r\n{"b":2}\n{"c"', 100 + 21, "k")
    assert (len(block), block.lines, block.ends) == (2, [b'{"a":1}\r', b'{"b":2}'], [109, 117])
    block.records = [{"a": 1}, {"b": 2}]
    event = WatchEvent("t", "s", "a", "")
    set_position(event, block, 1)
    assert (event.cursor, event.raw, event.record) == (Cursor("k", 117, 109), b'{"b":2}', {"b": 2})
    assert WatchEvent("t", "s", "a", "").cursor is None


HEAP_CHURN = """
import resource, sys, orjson
from watchd.core.heap import keep_heap
if sys.argv[1] == "tuned" and not keep_heap():
    sys.exit(3)
line = orjson.dumps({"ts": "2026-02-01T10:33:10Z", "event": "acquire", "name": "build",
    "lock_id": "e46a4edb8d3cb3e793df216b4a7680ba", "owner": "claude", "host": "macbook",
    "pid": 48201, "agent_id": "agent-3f2a", "ttl_sec": 300, "seq": 1})
def batch():  # what one poll does: records read, copied into events, written, let go
    records = [orjson.loads(line) for _ in range(500)]
    events = [record.copy() for record in records]
    out = b"\\n".join(orjson.dumps(event) for event in events)
    del records, events, out
batch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    batch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", HEAP_CHURN, mode], capture_output=True, text=True, check=False
    )
    if done.returncode == 3:
        pytest.skip("not glibc: keep_heap() leaves the allocator alone")
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_batch_after_batch_reuses_the_heap_instead_of_faulting_it_in_again():
    default, tuned = page_faults("default"), page_faults("tuned")
    assert default > 10_000  # the heap given back after each batch, faulted in by the next
    assert tuned < 100


# -- auto -------------------------------------------------------------------------


class ByValue:
    """A plugin's dialect that looks at a value: auto must ask it for every record."""

    name = "by-value"

    def matches(self, record: dict[str, Any]) -> bool:
        return record.get("action") == "special"

    def to_event(self, record: dict[str, Any], where: RecordSource, cursor: object) -> WatchEvent:
        return WatchEvent(ts="t", source=where.source, action="by-value", container="c")


def table(*dialects: Any) -> TypeTable[Any]:
    entries: TypeTable[Any] = TypeTable("dialect")
    for dialect in dialects:
        entries.add(dialect.name, dialect)
    return entries


def test_auto_asks_a_value_matching_dialect_for_every_record():
    dialects = table(TerokDialect(), LoktDialect(), ByValue())
    auto = AutoDialect(dialects)
    plain = {"ts": "t", "action": "allowed", "container": "c"}
    special = {"ts": "t", "action": "special", "container": "c"}  # the same keys
    assert auto.to_event(plain, WHERE, None).action == "allowed"
    assert auto.to_event(special, WHERE, None).action == "by-value"
    assert auto.to_event(plain, WHERE, None).action == "allowed"


def test_auto_remembers_key_sets_and_still_picks_the_first_fit():
    auto = AutoDialect(table(TerokDialect(), LoktDialect()))
    lokt = {"ts": "t", "event": "acquire", "name": "lock", "owner": "me"}
    both = {"ts": "t", "event": "x", "name": "n", "owner": "o", "action": "a", "container": "c"}
    for _ in range(2):  # the second time from what auto remembered
        assert auto.to_event(lokt, WHERE, None).actor == "me"
        assert auto.to_event(both, WHERE, None).action == "x"  # lokt is tried before terok


# -- rescans ----------------------------------------------------------------------


def make_trail(folder: Path) -> Trail:
    return Trail(
        str(folder / "*.jsonl"),
        "t",
        start=StartAt("beginning"),
        hub=None,
        store=None,
        options=TrailOptions(),
        log=structlog.get_logger("test"),
    )


def test_an_idle_directory_is_not_listed_again_until_it_changes(tmp_path, monkeypatch):
    for n in range(3):
        (tmp_path / f"f{n}.jsonl").write_bytes(b"{}\n")
    past = time.time() - 60
    os.utime(tmp_path, (past, past))
    trail = make_trail(tmp_path)
    trail.poll(1 << 20)
    assert len(trail.tails) == 3
    assert not trail._may_have_changed()  # listed, and unchanged since
    (tmp_path / "new.jsonl").write_bytes(b"{}\n")
    assert trail._may_have_changed()
    trail.close()


def test_a_directory_changed_in_the_tick_of_its_listing_is_listed_again(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b"{}\n")  # its mtime is now: as recent as the listing
    trail = make_trail(tmp_path)
    trail.poll(1 << 20)
    assert trail._may_have_changed()
    trail.close()


def test_polling_keeps_to_its_grid_when_woken_late(tmp_path):
    trail = make_trail(tmp_path)  # no inotify hub: polling
    start, step = trail._next_poll, trail.options.poll_interval
    trail._schedule(start + 0.004)  # the loop woke 4 ms late
    assert trail._next_poll - start == pytest.approx(step)
    trail._schedule(start + 10 * step + 0.001)  # after a long pause the grid restarts
    assert trail._next_poll - start == pytest.approx(11 * step + 0.001)
    trail.close()


# -- blocks decoded whole -----------------------------------------------------------

BLOCK_LINE = st.sampled_from(
    [
        b'{"a":1}',
        b'{"a":{"b":[1,2]}}',
        b'{"a":1} {"b":2}',  # two values on one line: json.loads refuses it
        b'{"a":[1',  # a value begun here ...
        b"2]}",  # ... and ended on the next line
        b'{"x":"}{"}',
        b"",
        b"  ",
        b"\r",
        b"[1]",
        b"7",
        b'{"n":NaN}',
        b'\xef\xbb\xbf{"bom":1}',
        b'{"bad":"\xff"}',
        b'{"a":1}\r',
        b'{"z":2},{"y":3}',
    ]
)


@given(st.lists(BLOCK_LINE, min_size=1, max_size=10))
def test_a_block_decoded_whole_gives_each_lines_record_or_nothing(lines):
    data = b"".join(line + b"\n" for line in lines)
    whole = decode_block(data, len(lines))
    if whole is not None:  # never other records than those read line by line
        assert whole == [decode_record(line) for line in lines]


#: Each built-in producer's usual record: the strategy below varies them.
PRODUCERS = (
    {"ts": "2026-02-01T00:00:00Z", "event": "deny", "name": "n", "owner": "o", "host": "h"},
    {"ts": "2026-02-01T00:00:00Z", "container": "c", "action": "blocked", "dest": "d"},
    {
        "timestamp": "2026-02-01T00:00:00Z",
        "action": "update",
        "resource_type": "task",
        "resource_id": "t-1",
        "user_id": "u",
        "ip_address": "198.51.100.7",
        "success": True,
    },
    {"timestamp": "2026-02-01T00:00:00Z", "action": "x", "resource_type": "t", "level": "ERROR"},
    {"timestamp": "2026-02-01T00:00:00Z", "action": "edit", "agent": "a"},
    {
        "ts": "2026-02-01T00:00:00Z",
        "entity": "task",
        "entity_id": "1.1",
        "scope": "s",
        "op": "status_change",
        "from": "todo",
        "to": "done",
        "actor": "cli",
    },
    {
        "ts": "2026-02-01T00:00:00Z",
        "entity": "change",
        "entity_id": "x",
        "op": "archive",
        "actor": "a",
    },
)


def producer_records():
    """A producer's record with some keys dropped, added or given a value of another type."""
    value = st.sampled_from(
        [
            None,
            "",
            "x",
            "2026-02-01T00:00:00Z",
            "delete",
            "special",
            "critical",
            0,
            7,
            False,
            [1],
            {"holder_owner": "ana"},
            {"pruned_owner": "bo"},
        ]
    )
    keys = st.sampled_from(
        sorted(
            {key for shape in PRODUCERS for key in shape} | {"level", "extra", "error", "detail"}
        )
    )
    return st.builds(
        lambda shape, changed, dropped: {
            k: v for k, v in {**shape, **changed}.items() if k not in dropped
        },
        st.sampled_from(PRODUCERS),
        st.dictionaries(keys, value, max_size=3),
        st.sets(keys, max_size=2),
    )


BLOCK_WHERE = RecordSource(source="audit", origin="/t", container="fallback", worktree="wt")


@given(st.lists(producer_records(), max_size=6))
def test_a_block_mapper_maps_each_record_as_to_event_does(records):
    dialects = (LoktDialect(), TerokDialect(), LokiDialect(), ItoDialect())
    for dialect in dialects:
        assert_maps_as_one_by_one(dialect, records)


@given(st.lists(producer_records(), max_size=12))
def test_auto_maps_a_block_of_mixed_producers_as_record_by_record(records):
    plugins = (ByValue(), ItoDialect(), LokiDialect(), LoktDialect(), TerokDialect())
    auto = AutoDialect(table(*plugins, GenericDialect()))
    for _ in range(2):  # the second time from the key sets auto remembered
        assert_maps_as_one_by_one(auto, records)


def assert_maps_as_one_by_one(dialect: Any, records: list[dict[str, Any]]) -> None:
    one_by_one = [dialect.to_event(dict(r), BLOCK_WHERE, None) for r in records]
    batch = dialect.to_events([dict(r) for r in records], BLOCK_WHERE)
    assert [e.time is None for e in batch] == [e.time is None for e in one_by_one]
    assert list(map(unstamped, batch)) == list(map(unstamped, one_by_one))


def unstamped(event):
    """The event, its ts blanked where it is the read time (that differs by the clock)."""
    return event.replace(ts="") if event.extra.get("ts_is_read_time") else event


# -- what held events cost ----------------------------------------------------------


@pytest.mark.parametrize("odd_line", [False, True], ids=["block-decoded", "line-by-line"])
def test_held_events_give_the_garbage_collector_nothing_to_track(tmp_path, odd_line):
    """The live feed holds the newest events; each one held must not add a tracked object.

    Tracked objects that outlive a batch make the collector run every few
    hundred events and walk the whole heap (issue 19: the loop was a third
    slower with --http, its time in the collector).
    """
    lines = [LOKT_LINE % n for n in range(2_000)]
    if odd_line:  # one line not a record: that block is decoded line by line
        lines[7] = b"not json"
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    watcher = AuditWatcher(make_trail(tmp_path), LoktDialect(), "", None)
    feed = LiveFeed(10_000)
    gc.collect()
    before = len(gc.get_objects())
    events: list[WatchEvent] = []
    while batch := watcher.poll():  # as the loop hands over its batches
        feed.observe(batch)
        events += batch
    gc.collect()
    grown = len(gc.get_objects()) - before
    assert len(events) == 2_000 - odd_line
    assert events[-1].cursor is not None
    assert events[-1].raw == lines[-1]
    assert grown < 100, f"{grown} more objects tracked while {len(events)} events are held"
    watcher.close()


LOKT_LINE = (
    b'{"ts":"2026-02-01T10:33:10Z","event":"acquire","name":"build-%d","owner":"claude",'
    b'"host":"macbook","pid":48201,"ttl_sec":300}'
)
