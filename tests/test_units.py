"""The small pieces, each on its own: grammar, lines, records, events, offsets, formats."""

from __future__ import annotations

import json
import os
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest

from watchd import RecordSource, StartAt, UsageError, WatchEvent
from watchd.codecs import lines
from watchd.codecs.lines import LineSplitter
from watchd.codecs.records import Skip, decode_record
from watchd.core.event import set_time
from watchd.core.fields import field_reader
from watchd.core.spec import parse_spec
from watchd.core.timestamps import parse_timestamp
from watchd.plugins.formats.text import HumanFormat
from watchd.watchers.dialects.terok import TerokDialect
from watchd.watchers.files.tail import start_offset

SAMPLES = Path(__file__).resolve().parent / "data" / "samples"


# -- spec grammar ---------------------------------------------------------------


def test_spec_type_target_and_options():
    spec = parse_spec("audit:/var/log/a,b.jsonl,from=beginning,fields=dest,detail", "--source")
    assert (spec.type, spec.target) == ("audit", "/var/log/a,b.jsonl")
    assert spec.options.values == {"from": "beginning", "fields": "dest,detail"}
    assert parse_spec("stdout", "--sink").target == ""
    assert parse_spec("syslog:tcp://h:514,format=rfc5424", "--sink").target == "tcp://h:514"


def test_a_spec_s_options_are_given_once():
    with pytest.raises(UsageError, match="given twice"):
        parse_spec("x:y,a=1,a=2", "--sink")


# -- lines ----------------------------------------------------------------------


def test_lines_wait_for_newlines_and_report_end_offsets():
    splitter = LineSplitter(100)
    assert splitter.feed(b'{"a":1}\n{"b"', 12) == [(b'{"a":1}', 8)]
    assert splitter.pending == 4
    assert splitter.feed(b":2}\r\n", 18) == [(b'{"b":2}\r', 18)]  # JSON's whitespace
    assert splitter.pending == 0


def test_lines_backward_reads_blocks_from_the_end(tmp_path, monkeypatch):
    monkeypatch.setattr(lines, "BACKWARD_BLOCK", 4)  # lines across block boundaries
    path = tmp_path / "t"
    path.write_bytes(b"first line\n\nsecond\nthird one\nunfinished")
    fd = os.open(path, os.O_RDONLY)
    try:
        whole = list(lines.lines_backward(fd, os.fstat(fd).st_size))
        complete = list(lines.lines_backward(fd, start_offset(fd, os.fstat(fd).st_size, "end", 0)))
    finally:
        os.close(fd)
    assert whole == [b"unfinished", b"third one", b"second", b"first line"]
    assert complete == whole[1:]


def test_an_over_long_line_is_dropped_whole_and_the_next_flows():
    splitter = LineSplitter(10)
    assert splitter.feed(b"x" * 25, 25) == []
    assert splitter.pending == 0  # memory stays bounded
    assert splitter.feed(b"yyyy\nok\n" + b"z" * 11 + b"\nok2\n", 25 + 24) == [
        (b"ok", 33),
        (b"ok2", 49),
    ]
    assert splitter.too_long == 2
    assert splitter.take_too_long() == [0, 33]  # where each starts, for the warning
    assert splitter.take_too_long() == []


# -- records --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"a": 1}', {"a": 1}),
        (b"", Skip.BLANK),
        (b"   \t", Skip.BLANK),
        (b"{oops", Skip.MALFORMED),
        (b"[1]", Skip.NOT_OBJECT),
        (b'"text"', Skip.NOT_OBJECT),
        (b'{"a": "\xff"}', {"a": "\ufffd", "_invalid_utf8": True}),
        (b'{"a": "\xff"', Skip.MALFORMED),
    ],
)
def test_decode_record(line, expected):
    assert decode_record(line) == expected


# -- the event and the terok dialect --------------------------------------------


def terok_events() -> list[WatchEvent]:
    where = RecordSource(source="audit", origin="", container="fallback")
    lines = (SAMPLES / "terok-audit.jsonl").read_bytes().splitlines()
    return [TerokDialect().to_event(json.loads(x), where, None) for x in lines]


def test_terok_records_serialize_as_terok_shield_does():
    got = [e.to_json() for e in terok_events()]
    assert got == [
        b'{"ts":"2026-03-07T12:00:00+00:00","source":"audit","action":"setup",'
        b'"container":"my-container","detail":"ruleset applied"}',
        b'{"ts":"2026-04-01T12:00:00+00:00","source":"audit","action":"allowed",'
        b'"container":"test-container","dest":"192.0.2.1","detail":"target=github.com"}',
        b'{"ts":"2026-04-01T00:00:00","source":"audit","action":"setup","container":"x"}',
        b'{"ts":"2026-04-01T12:00:00+00:00","source":"audit","action":"shield_down",'
        b'"container":"c","detail":"allow_all=True"}',
    ]
    assert terok_events()[2].time == datetime(2026, 4, 1, tzinfo=UTC)  # naive read as UTC


def test_terok_nulls_count_as_absent_and_other_keys_go_to_extra():
    where = RecordSource(source="audit", origin="/a.jsonl", container="from-option")
    record = {
        "ts": None,
        "action": None,
        "container": None,
        "dest": None,
        "port": 443,
        "proto": "tcp",
        "dossier": {"why": "x"},
    }
    event = TerokDialect().to_event(record, where, None)
    assert (event.action, event.container, event.dest) == ("unknown", "from-option", "")
    assert event.extra == {
        "port": 443,
        "proto": "tcp",
        "dossier": {"why": "x"},
        "ts_is_read_time": True,  # the read time stands in for a missing ts, and says so
    }
    assert event.time is None  # no time of the record's own
    assert parse_timestamp(event.ts) is not None
    assert json.loads(event.to_json())["origin"] == "/a.jsonl"


def test_level_is_left_out_only_when_info():
    base = {"ts": "t", "source": "s", "action": "a", "container": "c"}
    assert json.loads(WatchEvent(**base, level="warning").to_json())["level"] == "warning"
    assert "level" not in json.loads(WatchEvent(**base).to_json())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-01T10:33:10.123456789-05:00", datetime(2026, 2, 1, 15, 33, 10, 123456, UTC)),
        ("2026-02-08T14:30:00.000Z", datetime(2026, 2, 8, 14, 30, tzinfo=UTC)),
        ("2026-02-15T14:30:00.123456+00:00", datetime(2026, 2, 15, 14, 30, 0, 123456, UTC)),
        ("2026-04-01T00:00:00", datetime(2026, 4, 1, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
    ],
)
def test_the_four_timestamp_formats(text, expected):
    assert parse_timestamp(text) == expected


def test_field_reader_reads_fields_and_nested_extra():
    event = WatchEvent("t", "s", "a", "c", extra={"port": 443, "d": {"k": "v"}})
    assert field_reader("container", "-")(event) == "c"
    assert field_reader("extra.port", "-")(event) == "443"
    assert field_reader("extra.d.k", "-")(event) == "v"
    assert field_reader("extra.none", "-")(event) is None


# -- where following starts ------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "start", "expected"),
    [
        (b"1\n2\n3\n", StartAt("end"), 6),
        (b"1\n2\npartial", StartAt("end"), 4),  # a record being written is not skipped
        (b"partial", StartAt("end"), 0),
        (b"", StartAt("end"), 0),
        (b"1\n2\n3\n", StartAt("beginning"), 0),
        (b'{"a":1}\n{"b":2}\n{"c":3}\n', StartAt("last", 2), 8),
        (b'{"a":1}\n{"b":2}\n\n\n{"c":3}\n\n', StartAt("last", 2), 8),  # blank lines: no records
        (
            b'{"a":1}\n{"b":2}\n{bad\n[1]\n{"c":3}\nnot json\n',
            StartAt("last", 2),
            8,
        ),  # nor bad ones
        (b'{"a":1}\n{"b":2}\n{"c":3}\npartial', StartAt("last", 1), 16),
        (b'{"a":1}\n{"b":2}\n', StartAt("last", 5), 0),
        (b'{"x":"' + b"x" * 300_000 + b'"}\n' + b'{"y":1}\n' * 3, StartAt("last", 3), 300_009),
    ],
)
def test_start_offsets(tmp_path, content, start, expected):
    path = tmp_path / "f"
    path.write_bytes(content)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert start_offset(fd, len(content), start.mode, start.count) == expected
    finally:
        os.close(fd)


# -- the human format -------------------------------------------------------------


def test_human_lines_cannot_be_broken_or_hijacked_by_field_values():
    event = WatchEvent(
        ts="not a time",
        source="audit",
        action="deny\n2026 forged",
        container="c\x1b[2Jx",
        dest="10.0.0.1",
        detail="a\rb\u009bc",
        actor="root\x00",
        level="warning",
    )
    line = HumanFormat(color=False)(event)
    assert line == (
        b'"not a time"  WARNING   "deny\\n2026 forged"   "c\\x1b[2Jx"       dest=10.0.0.1  '
        b'detail="a\\rb\\u009bc"  actor="root\\x00"'
    )
    coloured = HumanFormat(color=True)(event)
    assert b"\n" not in coloured
    assert coloured.count(b"\x1b[") == 2 * 7  # only our own colour codes


def test_an_escape_never_reads_like_the_characters_of_one():
    def detail_of(detail: str) -> bytes:
        event = WatchEvent(ts="x", source="s", action="a", container="c", detail=detail)
        return HumanFormat(color=False)(event).split(b"detail=")[1]

    assert detail_of("\x1b[31m") == b'"\\x1b[31m"'  # ESC, escaped
    assert detail_of("\\x1b[31m") == b'"\\\\x1b[31m"'  # a backslash, then x1b: doubled
    assert detail_of('say "hi"') == b'"say \\"hi\\""'
    assert detail_of("plain") == b"plain"


def test_human_columns_align_and_every_other_field_is_labelled():
    when = datetime.now(UTC)
    events = [
        set_time(WatchEvent(ts="x", source="s", action="blocked", container="web", dest="192.0.2.1",
                   level="warning"), when),
        set_time(WatchEvent(ts="x", source="s", action="deny", container="", actor="bob"), when),
        set_time(WatchEvent(ts="x", source="s", action="allowed", container="build",
                            detail="port 443"), when),
    ]  # fmt: skip
    human = HumanFormat(color=False)
    lines = [human(event).decode() for event in events]
    clock = lines[0][:8]
    assert lines == [
        f"{clock}  WARNING   blocked               web               dest=192.0.2.1",
        f"{clock}  INFO      deny                  -                 actor=bob",
        f'{clock}  INFO      allowed               build             detail="port 443"',
    ]
    long = set_time(WatchEvent(ts="x", source="s", action="a" * 24, container="c" * 30), when)
    assert human(long).decode().endswith("a" * 24 + "  " + "c" * 30)  # pushes its own row
    assert human(events[0]).decode() == lines[0]  # and no other: the columns are fixed


def test_human_lines_escape_separators_and_bidirectional_controls():
    event = WatchEvent(
        ts="2026-02-15T14:30:00Z",
        source="audit",
        action="allow\u2028deny",
        container="admin\u202e\u2066txt.exe\u2069\u202c",
        detail="para\u2029graph\ufeff\u200b\U000e0041",
        actor="\u061croot",
    )
    line = HumanFormat(color=False)(event).decode()
    assert line.splitlines() == [line]
    assert line.endswith(
        '"allow\\u2028deny"     "admin\\u202e\\u2066txt.exe\\u2069\\u202c"  '
        'detail="para\\u2029graph\\ufeff\\u200b\\U000e0041"  actor="\\u061croot"'
    )
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp") for c in line)


def test_human_time_is_local_and_dated_when_not_today():
    event = set_time(
        WatchEvent(ts="x", source="s", action="a", container="c"),
        datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert HumanFormat(color=False)(event).startswith(b"2020-01-02 ")
    today = set_time(WatchEvent(ts="x", source="s", action="a", container="c"), datetime.now(UTC))
    assert HumanFormat(color=False)(today)[2:3] == b":"


def test_an_outage_backs_off_and_reports_its_length_by_the_sink_s_clock():
    import structlog  # noqa: PLC0415
    from structlog.testing import capture_logs  # noqa: PLC0415

    from watchd.core.clock import ManualClock  # noqa: PLC0415
    from watchd.plugins.sinks.network import Backoff, Outage  # noqa: PLC0415

    clock = ManualClock()
    outage = Outage(structlog.get_logger("watchd"), "127.0.0.1:514", Backoff(1.0, 4.0, clock))
    configured, config = structlog.is_configured(), structlog.get_config()
    with capture_logs() as logs:
        waits = []
        for _ in range(4):
            outage.failed("refused", queued=3)
            waits.append(outage.wait())
            clock.advance(outage.wait())
            assert outage.wait() == 0.0  # due: the clock reached it
        outage.restored()
    # capture_logs leaves structlog "configured"; the next test must find it as it was.
    if configured:
        structlog.configure(**config)
    else:
        structlog.reset_defaults()
    # 1, 2, 4, 4 seconds (the cap), each jittered down to no less than half.
    assert [low / 2 <= w <= low for w, low in zip(waits, (1, 2, 4, 4), strict=True)] == [True] * 4
    said = [log["event"] for log in logs if log["log_level"] != "debug"]
    assert said == ["connection lost, retrying with backoff", "connection restored"]
    assert logs[-1]["down_seconds"] == round(sum(waits), 3)


@pytest.mark.parametrize(
    ("text", "unit", "seconds"),
    [
        ("250ms", "s", 0.25),
        ("5s", "ms", 5.0),
        ("2m", "ms", 120.0),
        ("1h", "s", 3600.0),
        ("7d", "s", 604_800.0),
        ("1.5s", "ms", 1.5),
        ("5000", "ms", 5.0),  # a bare number keeps the option's old unit
        ("300", "s", 300.0),
    ],
)
def test_every_duration_is_written_one_way(text, unit, seconds):
    from watchd.core.durations import parse_duration  # noqa: PLC0415

    assert parse_duration(text, unit=unit, what="x") == seconds


@pytest.mark.parametrize("text", ["", "5 s", "1w", "-5", "5sec", "ms", "1e3"])
def test_what_is_not_a_duration_is_named_in_one_line(text):
    from watchd.core.durations import parse_duration  # noqa: PLC0415
    from watchd.core.errors import UsageError  # noqa: PLC0415

    with pytest.raises(UsageError, match=r"^rotate_wait: .* is not a duration \(250ms, 5s"):
        parse_duration(text, unit="ms", what="rotate_wait")
