"""Syslog bytes: golden vectors of each format and framing, and the parser that reads them back."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from watchd.codecs.syslog import messages as syslog_messages
from watchd.codecs.syslog.framing import FrameSplitter, lf_terminated, octet_counted
from watchd.codecs.syslog.messages import (
    LokiSyslog,
    Rfc3164,
    Rfc5424,
    Sender,
)
from watchd.codecs.syslog.parse import MalformedError, parse_message
from watchd.core.event import WatchEvent, set_time
from watchd.core.interfaces import RecordSource
from watchd.core.timestamps import parse_timestamp
from watchd.plugins.formats.text import HumanFormat
from watchd.watchers.dialects.generic import event_from
from watchd.watchers.dialects.loki import LokiDialect


def event(**fields: object) -> WatchEvent:
    base: dict[str, object] = {
        "ts": "2026-02-15T14:30:00.123456Z",
        "source": "audit",
        "action": "blocked",
        "container": "web-1",
    }
    base.update(fields)
    return set_time(WatchEvent(**base), parse_timestamp(base["ts"]))  # type: ignore[arg-type]


HOSTILE = event(
    action="a b\nc]",
    container='x"]\\y',
    dest="p|q=r",
    detail="one\ntwo\r\x00\x1b[31m<13>1 forged - - - - -",
    level="error",
    actor="ünï",
)


@pytest.fixture
def utc() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "UTC")
        time.tzset()
        yield
    time.tzset()


def test_rfc5424_golden() -> None:
    message = Rfc5424(WatchEvent.to_json, Sender(hostname="edge-1", procid="42"))(
        event(dest="192.0.2.1")
    )
    assert message == (
        b"<134>1 2026-02-15T14:30:00.123Z edge-1 watchd 42 blocked "
        b'[watchd@32473 source="audit" action="blocked" container="web-1" level="info" '
        b'dest="192.0.2.1"] '
        b'{"ts":"2026-02-15T14:30:00.123456Z","source":"audit","action":"blocked",'
        b'"container":"web-1","dest":"192.0.2.1"}'
    )


def test_rfc5424_heads_are_remembered_by_their_fields_within_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(syslog_messages, "HEADS_KEPT", 2)
    fmt = Rfc5424(WatchEvent.to_json, Sender(hostname="edge-1", procid="42"))
    first, later = event(), event(ts="2026-02-15T14:30:01.5Z")
    assert fmt(first).startswith(b"<134>1 2026-02-15T14:30:00.123Z edge-1 watchd 42 blocked [")
    assert fmt(later).startswith(b"<134>1 2026-02-15T14:30:01.500Z edge-1 watchd 42 blocked [")
    for n in range(5):
        warning = event(container=f"c{n}", level="warning")
        assert fmt(warning).startswith(b"<132>1 2026-02-15T14:30:00.123Z edge-1 watchd 42 blocked ")
        assert f'container="c{n}" level="warning"]'.encode() in fmt(warning)
    assert len(fmt._heads) <= 2  # the bound is the point


def test_rfc5424_hostile_fields_golden() -> None:
    sender = Sender(hostname="h o\nst", app_name="my app", procid="7")
    fmt = Rfc5424(WatchEvent.to_json, sender, sd_id="x=y")
    assert fmt(HOSTILE) == (
        b"<131>1 2026-02-15T14:30:00.123Z h_o_st my_app 7 a_b_c] "
        b'[x_y source="audit" action="a b\\\\nc\\]" container="x\\"\\]\\\\y" level="error" '
        b'dest="p|q=r" actor="\xc3\xbcn\xc3\xaf" '
        b'detail="one\\\\ntwo\\\\r\\\\x00\\\\x1b[31m<13>1 forged - - - - -"] ' + HOSTILE.to_json()
    )


@pytest.mark.parametrize("framer", [octet_counted, lf_terminated])
@pytest.mark.parametrize("fmt", ["rfc5424", "rfc3164"])
def test_hostile_event_is_one_frame_whose_fields_read_back(framer: object, fmt: str) -> None:
    build = (Rfc5424 if fmt == "rfc5424" else Rfc3164)(WatchEvent.to_json, Sender(hostname="h"))
    stream = framer(build(HOSTILE)) * 2  # type: ignore[operator]
    frames = FrameSplitter(65536).feed(stream)
    assert len(frames) == 2
    message = parse_message(frames[0])
    assert json.loads(message.message) == HOSTILE.to_dict()
    assert (message.facility, message.severity, message.app_name) == (16, 3, "watchd")
    if fmt == "rfc5424":
        sd = message.structured_data["watchd@32473"]
        assert sd["container"] == 'x"]\\y'
        assert sd["detail"] == "one\\ntwo\\r\\x00\\x1b[31m<13>1 forged - - - - -"


def test_lf_framing_escapes_a_newline_a_body_format_left() -> None:
    assert lf_terminated(b"<13>a\nb") == b"<13>a\\nb\n"
    assert octet_counted(b"<13>a\nb") == b"7 <13>a\nb"


def test_rfc3164_golden(utc: None) -> None:
    fmt = Rfc3164(WatchEvent.to_json, Sender(hostname="edge-1", procid="42", app_name="shield"))
    assert fmt(event(ts="2026-02-05T09:08:07Z", level="warning")) == (
        b"<132>Feb  5 09:08:07 edge-1 shield[42]: "
        b'{"ts":"2026-02-05T09:08:07Z","source":"audit","action":"blocked",'
        b'"container":"web-1","level":"warning"}'
    )
    local = Rfc3164(HumanFormat(color=False), Sender(facility=4, procid="42"), local=True)
    assert local(event(ts="2026-02-05T09:08:07Z")) == (
        b"<38>Feb  5 09:08:07 watchd[42]: 2026-02-05 09:08:07  INFO      blocked"
        b"               web-1"  # one line: the date before the time, no line of its own
    )


LOKI_COMPAT = [
    (
        '{"timestamp":"2026-02-15T14:31:05.000001+00:00","action":"delete",'
        '"resource_type":"task","resource_id":"42","success":true}',
        b'<132>loki-audit: {"timestamp":"2026-02-15T14:31:05.000001+00:00","action":"delete",'
        b'"resource_type":"task","resource_id":"42","success":true}\x00',
    ),
    (
        '{"timestamp":"2026-02-15T14:30:00+00:00","action":"start",'
        '"resource_type":"session","success":true}',
        b'<134>loki-audit: {"timestamp":"2026-02-15T14:30:00+00:00","action":"start",'
        b'"resource_type":"session","success":true}\x00',
    ),
]


@pytest.mark.parametrize(("record", "expected"), LOKI_COMPAT)
def test_loki_bytes_are_loki_modes_own(record: str, expected: bytes) -> None:
    loki = event_from(LokiDialect(), json.loads(record), RecordSource("audit", "f"))
    assert LokiSyslog()(loki) == expected


def test_loki_warns_on_failure_and_sends_non_loki_events_as_their_json() -> None:
    failed = event_from(
        LokiDialect(),
        {"timestamp": "t", "action": "start", "resource_type": "s", "success": False},
        RecordSource("audit", "f"),
    )
    assert LokiSyslog()(failed).startswith(b"<132>loki-audit: {")
    assert LokiSyslog()(event(level="critical")) == (
        b"<132>loki-audit: " + event(level="critical").to_json() + b"\x00"
    )
    assert LokiSyslog()(event(level="notice")).startswith(b"<134>")


def test_cut_to_a_datagram_keeps_the_frame_and_flags_it() -> None:
    big = event(detail="é" * 3000)
    cut = Rfc5424(WatchEvent.to_json, Sender(hostname="h", procid="1")).cut(big, 2048)
    assert len(cut) <= 2048
    assert len(cut) >= 2046  # only a split UTF-8 sequence is left out
    cut.decode("utf-8")
    assert parse_message(cut).structured_data["watchd@32473"]["truncated"] == "true"

    huge = event(container="c" * 5000)
    cut = Rfc5424(WatchEvent.to_json, Sender(hostname="h", procid="1")).cut(huge, 480)
    assert cut.startswith(
        b'<134>1 2026-02-15T14:30:00.123Z h watchd 1 blocked [watchd@32473 source="audit" '
        b'action="blocked" container="ccc'
    )
    assert 478 <= len(cut) <= 480  # both long values grow by one byte a step

    hopeless = Rfc5424(WatchEvent.to_json, Sender(hostname="h" * 255, procid="1")).cut(huge, 300)
    assert hopeless.startswith(b'<134>1 - - - - - [watchd@32473 truncated="true"] {"ts":')
    assert len(hopeless) == 300
    loki = LokiSyslog().cut(big, 1024)
    assert len(loki) <= 1024
    assert loki.endswith(b"\x00")
    assert loki.count(b"\x00") == 1


def test_a_cut_keeps_the_header_and_the_short_fields_and_cuts_the_longest() -> None:
    long = event(detail="d" * 2100, actor="alice", dest="10.0.0.9")
    cut = Rfc5424(WatchEvent.to_json, Sender(hostname="h", procid="1")).cut(long, 2048)
    message = parse_message(cut)
    assert len(cut) == 2048
    assert (message.timestamp, message.hostname, message.app_name, message.procid) == (
        "2026-02-15T14:30:00.123Z",
        "h",
        "watchd",
        "1",
    )
    assert message.msgid == "blocked"
    params = message.structured_data["watchd@32473"]
    detail = params.pop("detail")
    assert params == {
        "source": "audit",
        "action": "blocked",
        "container": "web-1",
        "level": "info",
        "dest": "10.0.0.9",
        "actor": "alice",
        "truncated": "true",
    }
    # MSG and detail are cut to one length, the largest that fits.
    assert detail == "d" * len(detail)
    assert len(message.message) in (len(detail), len(detail) - 1)
    assert long.to_json().startswith(message.message.encode())


def test_parse_rfc5424() -> None:
    message = parse_message(
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Appli\\]cation"][other@1 a="\\"q\\\\"] '
        b"\xef\xbb\xbfAn application event"
    )
    assert (message.facility, message.severity, message.protocol) == (20, 5, "rfc5424")
    assert message.timestamp == "2003-10-11T22:14:15.003Z"
    assert (message.hostname, message.app_name, message.procid, message.msgid) == (
        "mymachine.example.com",
        "evntslog",
        "",
        "ID47",
    )
    assert message.structured_data == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Appli]cation"},
        "other@1": {"a": '"q\\'},
    }
    assert message.message == "An application event"
    assert parse_message(b"<13>1 - - - - - -").message == ""
    assert parse_message(b"<13>1 - - - - - - body").message == "body"


def test_parse_rfc3164_with_and_without_header(utc: None) -> None:
    full = parse_message(b"<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed on /dev/pts/8")
    assert (full.facility, full.severity, full.protocol) == (4, 2, "rfc3164")
    assert full.timestamp.endswith("-10-11T22:14:15+00:00")
    assert (full.hostname, full.app_name, full.procid) == ("mymachine", "su", "230")
    assert full.message == "'su root' failed on /dev/pts/8"

    local = parse_message(b"<38>Feb  5 09:08:07 sshd[1]: hello")  # syslog(3): no hostname
    assert (local.hostname, local.app_name, local.message) == ("", "sshd", "hello")

    loki = parse_message(b'<134>loki-audit: {"a":1}\x00')
    assert (loki.timestamp, loki.hostname, loki.app_name) == ("", "", "loki-audit")
    assert loki.message == '{"a":1}'

    bare = parse_message(b"<13>just words")
    assert (bare.app_name, bare.message) == ("", "just words")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"no pri", "no <PRI> at the start"),
        (b"<192>1 - - - - - -", "PRI 192 is above 191"),
        (b"<13>1 - - -", "RFC 5424 header is incomplete"),
        (b'<13>1 - - - - - [id a="unterminated]', "RFC 5424 structured data is not well formed"),
        (b"<13>1 - - - - - x", "RFC 5424 structured data is neither '-' nor [...]"),
    ],
)
def test_malformed_messages_say_what_is_wrong(data: bytes, error: str) -> None:
    with pytest.raises(MalformedError, match=f"^{re.escape(error)}$"):
        parse_message(data)


def test_splitter_takes_both_framings_split_anywhere() -> None:
    stream = b"11 <13>1 - - -" + b"<13>lf one\n" + b"<13>nul one\x00" + b"5 <13>x" + b"\r\n<13>y\n"
    for cut in range(len(stream) + 1):
        splitter = FrameSplitter(100)
        frames = splitter.feed(stream[:cut]) + splitter.feed(stream[cut:])
        assert frames == [b"<13>1 - - -", b"<13>lf one", b"<13>nul one", b"<13>x", b"<13>y"]


def test_splitter_skips_over_long_delimited_frames_and_goes_on() -> None:
    splitter = FrameSplitter(10)
    frames = splitter.feed(b"<13>" + b"x" * 20 + b"\n<13>ok\n" + b"<13>" + b"y" * 20)
    assert frames == [b"<13>ok"]
    assert splitter.feed(b"yy\n<13>next\n") == [b"<13>next"]
    assert splitter.too_long == 2


def test_an_octet_count_over_the_limit_is_malformed() -> None:
    with pytest.raises(MalformedError, match="octet count 20 is over limit=10"):
        FrameSplitter(10).feed(b"20 " + b"x" * 20)


def test_splitter_refuses_a_count_that_is_not_one() -> None:
    with pytest.raises(MalformedError, match="octet count is not followed by a space"):
        FrameSplitter(100).feed(b"123456789012345")
    assert FrameSplitter(100).rest() == b""
    splitter = FrameSplitter(100)
    assert splitter.feed(b"<13>unterminated") == []
    assert splitter.rest() == b"<13>unterminated"
