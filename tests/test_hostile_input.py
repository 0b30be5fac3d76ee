"""Fuzzing: hostile records through every dialect, format and syslog message, random bytes
through the syslog listener's framing. Bounded by WATCHD_FUZZ_EXAMPLES (examples a property).

Properties: no dialect raises; every format gives exactly one frame per event;
every field reads back unchanged (after the format's documented sanitising)
through a parser that is not the code under test: ``json`` for json and ecs,
``cefp`` (PyPI) for CEF, ``csv`` for CSV, a split on the delimiter for LEEF.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import unicodedata

import cefp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hostile import hostile_text, nested, records
from watchd.codecs.syslog.framing import FrameSplitter, lf_terminated, octet_counted
from watchd.codecs.syslog.messages import (
    LokiSyslog,
    Rfc3164,
    Rfc5424,
    Sender,
)
from watchd.codecs.syslog.parse import MalformedError, parse_message
from watchd.core.event import WatchEvent
from watchd.core.interfaces import RecordSource
from watchd.core.printable import printable, quoted
from watchd.core.terminal import LEVEL_TAGS, local_stamp
from watchd.plugins.formats.loki_cef import LokiCefFormat
from watchd.plugins.formats.siem import CefFormat, EcsFormat, LeefFormat
from watchd.plugins.formats.text import CsvFormat, HumanFormat
from watchd.watchers.dialects.generic import GenericDialect, event_from
from watchd.watchers.dialects.ito import ItoDialect
from watchd.watchers.dialects.loki import LokiDialect
from watchd.watchers.dialects.lokt import LoktDialect
from watchd.watchers.dialects.terok import TerokDialect
from watchd.watchers.dialects.watchd import WatchdDialect

FUZZ = settings(
    max_examples=int(os.environ.get("WATCHD_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DIALECTS = [
    GenericDialect(),
    ItoDialect(),
    LokiDialect(),
    LoktDialect(),
    TerokDialect(),
    WatchdDialect(),
]
WHERE = RecordSource("audit", "/var/log/audit.jsonl")
#: What CEF and LEEF write as a space: every C0 and C1 control but CR and LF, DEL, and the
#: line and paragraph separators (a reader's splitlines() ends a line at U+2028).
_CONTROLS = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
FIELDS = ("action", "container", "dest", "detail", "actor", "origin", "worktree")

events = st.builds(
    WatchEvent,
    ts=st.one_of(st.just("2026-02-15T14:30:00.250Z"), hostile_text),
    source=st.one_of(st.just("audit"), hostile_text),
    action=hostile_text,
    container=hostile_text,
    dest=st.one_of(st.just("192.0.2.1"), hostile_text),
    detail=hostile_text,
    level=st.sampled_from(["info", "warning", "error", "critical", "debug", "notice"]),
    actor=hostile_text,
    origin=hostile_text,
    worktree=hostile_text,
)
deep = {"timestamp": "t", "action": "a", "resource_type": "r", "details": nested(1000)}


def mapped(record: dict[str, object]) -> list[WatchEvent]:
    return [dialect.to_event(dict(record), WHERE, None) for dialect in DIALECTS]


@FUZZ
@given(records)
@example({"action": ["list"], "resource_type": {}, "timestamp": 1, "success": False})
def test_no_dialect_raises_and_every_event_serialises(record: dict[str, object]) -> None:
    for event in mapped(record):
        assert isinstance(json.loads(event.to_json()), dict)


def test_a_record_nested_1000_deep_goes_through_every_dialect_and_format() -> None:
    # Outside hypothesis: its reporting reprs an example recursively.
    formats = [EcsFormat("h"), CefFormat("v", "p", "1"), LeefFormat("v", "p", "1", "^")]
    formats += [HumanFormat(color=False), CsvFormat(), LokiCefFormat("A", "L", "1")]
    for event in mapped(deep):
        for fmt in (WatchEvent.to_json, *formats):
            try:
                frame = fmt(event)
            except (TypeError, ValueError, RecursionError):
                continue  # refused: the sink sets it aside as a dead letter (tests/faults)
            assert b"\n" not in frame


def one_line(frame: bytes) -> bool:
    """Whether *frame* is one line to every line reader: Python's splitlines() ends one at
    U+0085, U+2028, U+2029, VT, FF and FS-RS too, not only at CR and LF."""
    text = frame.decode()
    return text.splitlines() == [text] or text == ""


@FUZZ
@given(events)
def test_json_and_ecs_read_back_through_json(event: WatchEvent) -> None:
    out = event.to_json()
    assert one_line(out)
    assert json.loads(out) == event.to_dict()
    ecs = EcsFormat("host")(event)
    assert one_line(ecs)
    doc = json.loads(ecs)
    assert doc["event"]["action"] == event.action
    assert doc["message"] == (event.detail or event.action)
    assert doc.get("user", {}).get("name", "") == event.actor


def cef_text(value: str, *, header: bool) -> str:
    """What a CEF field holds after watchd's documented sanitising: controls become spaces."""
    if header:
        value = value.replace("\r", " ").replace("\n", " ")
    return _CONTROLS.sub(" ", value)


@FUZZ
@given(events)
def test_cef_fields_read_back_through_an_independent_parser(event: WatchEvent) -> None:
    line = CefFormat("ven|dor\\", "prod", "1.0")(event)
    assert one_line(line)
    parsed = cefp.parse(line.decode())
    assert parsed["device"]["vendor"] == "ven|dor\\"
    assert parsed["device"]["event_class_id"] == cef_text(event.action, header=True)
    assert parsed["name"] == cef_text(event.action, header=True)
    extension = parsed["extension"]
    wanted = {"act": event.action, "suser": event.actor, "msg": event.detail}
    for key, value in wanted.items():
        assert extension.get(key, "") == cef_text(value, header=False)
    assert set(extension) <= {
        "rt", "act", "suser", "src", "dst", "dhost", "msg", "outcome", "cs1", "cs1Label",
        "cs2", "cs2Label", "cs3", "cs3Label", "cs4", "cs4Label", "cs6", "cs6Label",
    }  # fmt: skip


@FUZZ
@given(records)
def test_loki_cef_is_one_line_with_its_header_whole(record: dict[str, object]) -> None:
    line = LokiCefFormat("Autonomi", "Loki Mode", "9.9.9")(event_from(LokiDialect(), record, WHERE))
    # loki-mode's own bytes: it turns CR and LF into spaces and leaves every other character.
    assert b"\n" not in line
    assert b"\r" not in line
    parsed = cefp.parse(line.decode())
    assert (parsed["device"]["vendor"], parsed["device"]["product"]) == ("Autonomi", "Loki Mode")
    assert 0 <= int(parsed["severity"]) <= 10


@FUZZ
@given(events)
def test_leef_pairs_read_back_by_the_delimiter(event: WatchEvent) -> None:
    line = LeefFormat("v", "p", "1", "^")(event).decode()
    assert one_line(line.encode())
    head = line.split("|", 6)
    assert head[:5] == ["LEEF:2.0", "v", "p", "1", head[4]]
    assert head[5] == "^"
    pairs = dict(pair.split("=", 1) for pair in head[6].split("^"))
    for key, value in {"action": event.action, "usrName": event.actor, "msg": event.detail}.items():
        clean = _CONTROLS.sub(" ", value.replace("\r", " ").replace("\n", " ").replace("^", " "))
        assert pairs.get(key, "") == clean


@FUZZ
@given(events)
def test_human_is_one_line_without_a_character_a_terminal_obeys(event: WatchEvent) -> None:
    line = HumanFormat(color=False)(event).decode()  # one line an event: a syslog body's
    when = event.time
    assert line.splitlines() == [line]
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp") for c in line)
    if event.worktree:  # ito's prefix: "[worktree] "
        prefix = f"[{printable(event.worktree)}] "
        assert line.startswith(prefix)
        line = line[len(prefix) :]
    # Every field reads back exactly: the columns, then the labelled fields.
    clock = local_stamp(when) if when is not None else quoted(event.ts)
    assert line.startswith(clock + "  ")
    tokens = _TOKEN.findall(line[len(clock) :])
    level, action, container, *labelled = tokens
    assert (level, _unquoted(action)) == (LEVEL_TAGS[event.level][0], event.action)
    assert container == "-" if not event.container else _unquoted(container) == event.container
    shown = dict(token.split("=", 1) for token in labelled)
    wanted = {k: getattr(event, k) for k in ("dest", "detail", "actor") if getattr(event, k)}
    assert {k: _unquoted(v) for k, v in shown.items()} == wanted


_TOKEN = re.compile(r'(?:[^\s"]*"(?:[^"\\]|\\.)*")|[^\s"]+')
_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[nrt\"\\])")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _unquoted(token: str) -> str:
    """Read one token of the human format back to the text it shows."""
    if not token.startswith('"'):
        return token
    inner = token[1:-1]
    return _ESCAPE.sub(lambda m: _SIMPLE.get(m[1]) or chr(int(m[1][1:], 16)), inner)


@FUZZ
@given(events)
def test_csv_reads_back_one_row(event: WatchEvent) -> None:
    [row] = list(csv.reader(io.StringIO(CsvFormat()(event).decode(), newline="")))
    assert len(row) == 11
    assert row[3].removeprefix("'") == event.action.removeprefix("'")


@FUZZ
@given(events, st.integers(480, 4096))
def test_syslog_messages_are_one_frame_and_a_cut_keeps_the_header(
    event: WatchEvent, limit: int
) -> None:
    sender = Sender(hostname="edge-1", procid="42")
    rfc5424 = Rfc5424(WatchEvent.to_json, sender)
    whole = rfc5424(event)
    message = parse_message(whole)
    assert (message.hostname, message.app_name, message.procid) == ("edge-1", "watchd", "42")
    params = message.structured_data["watchd@32473"]
    for name in FIELDS:
        assert params.get(name, "") == printable(getattr(event, name))
    splitter = FrameSplitter(1 << 20)
    assert splitter.feed(octet_counted(whole)) == [whole]
    framed = lf_terminated(Rfc3164(WatchEvent.to_json, sender)(event))
    assert framed.count(b"\n") == 1
    assert framed.endswith(b"\n")
    loki = LokiSyslog()(event)
    assert loki.count(b"\x00") == 1
    assert loki.endswith(b"\x00")
    cut = rfc5424.cut(event, limit)
    assert len(cut) <= limit
    cut_message = parse_message(cut)
    assert (cut_message.hostname, cut_message.procid) == ("edge-1", "42")
    assert cut_message.structured_data["watchd@32473"]["truncated"] == "true"


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(480, 2048))
@example([b"999999999 " + b"x" * 100], 480)
@example([b"<13>" + b"x" * 296, b"y" * 299 + b"\n"], 480)
@example([b"12 <13>1 - - -", b" - - x\n<13>junk\x00", b"0 "], 480)
def test_the_listener_framing_takes_any_bytes(chunks: list[bytes], limit: int) -> None:
    splitter = FrameSplitter(limit)
    taken = 0
    with contextlib.suppress(MalformedError):  # a framing it cannot take closes the connection
        for chunk in chunks:
            for frame in splitter.feed(chunk):
                taken += len(frame)
                assert len(frame) <= limit
                with contextlib.suppress(MalformedError):
                    parse_message(frame)
    assert taken <= sum(map(len, chunks))
