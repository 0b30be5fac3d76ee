"""The syslog sink against real collectors: what rsyslog and syslog-ng parse from watchd."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

from collectors import COLLECTORS, Collector, require
from conftest import append, line
from hostile import DELIMITERS, FORMAT_CHARACTERS, FRAGMENTS
from watchd.core.printable import printable

pytestmark = pytest.mark.collector

HOSTILE = {
    "ts": "2026-02-15T14:30:01.5Z",
    "container": 'c"]\\ x',
    "action": "bad action\nnew",
    "dest": "a=b|c]",
    "detail": "l1\nl2\r\u0000<13>1 - - - - - injected",
}
PLAIN = {
    "ts": "2026-02-15T14:30:00.250Z",
    "container": "web-1",
    "action": "blocked",
    "dest": "192.0.2.1",
    "detail": "dossier: ünïcode 日本",
}
LOKI = {
    "timestamp": "2026-02-15T14:31:05.000001+00:00",
    "action": "delete",
    "resource_type": "task",
    "resource_id": "42",
    "user_id": "alice",
    "success": True,
}


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test CA, and a server certificate for 127.0.0.1 signed by it."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    return files


@pytest.fixture(params=sorted(COLLECTORS))
def syslog_collector(
    request: pytest.FixtureRequest, tmp_path: Path, tls_files: dict[str, Path]
) -> Iterator[Collector]:
    """A real rsyslog or syslog-ng, started for this test on its own ports."""
    kind = COLLECTORS[request.param]
    require(kind.binary, kind.name)
    collector = kind(tmp_path / kind.name, tls_files)
    collector.start()
    yield collector
    collector.stop()


def trail(tmp_path: Path, *records: dict[str, Any]) -> Path:
    path = tmp_path / "audit.jsonl"
    append(path, b"".join(json.dumps(r).encode() + b"\n" for r in records))
    return path


def sink(collector: Collector, transport: str, tls: dict[str, Path], *options: str) -> str:
    extra = [f"ca={tls['ca']}"] if transport == "tls" else []
    framing = "lf" if "framing=lf" in options else "octet"
    return ",".join([f"syslog:{collector.address(transport, framing)}", *extra, *options])


def follow(watchd: Any, path: Path, sink_spec: str, *more: str) -> Any:
    """Start watchd reading *path* from its start into the sink *sink_spec*."""
    return watchd(
        "run", "--source", f"audit:{path}", "--from-beginning", "--sink", sink_spec, *more
    )


def by_msgid(received: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {message["msgid"]: message for message in received}


def millis(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_rfc5424_is_parsed_field_by_field(
    syslog_collector: Collector,
    transport: str,
    tls_files: dict[str, Path],
    tmp_path: Path,
    watchd: Any,
) -> None:
    path = trail(tmp_path, PLAIN, HOSTILE, LOKI)
    proc = follow(watchd, path, sink(syslog_collector, transport, tls_files, "hostname=edge-1"))
    received = syslog_collector.wait_for(3)
    assert len(received) == 3
    got = by_msgid(received)
    assert set(got) == {"blocked", "bad_action_new", "delete"}
    for message in received:
        assert message["app"] == "watchd"
        assert message["host"] == "edge-1"
        assert message["procid"] == str(proc.pid)

    plain, hostile, loki = got["blocked"], got["bad_action_new"], got["delete"]
    assert plain["pri"] == 16 * 8 + 6  # local0.info
    assert loki["pri"] == 16 * 8 + 4  # local0.warning: loki-mode's security action
    assert millis(plain["time"]) == millis("2026-02-15T14:30:00.250Z")
    assert millis(hostile["time"]) == millis("2026-02-15T14:30:01.500Z")
    # MSG is the event's own JSON, whatever the fields held.
    assert json.loads(plain["msg"]) == {
        "ts": PLAIN["ts"],
        "source": "audit",
        "action": "blocked",
        "container": "web-1",
        "dest": "192.0.2.1",
        "detail": PLAIN["detail"],
        "origin": str(path),
    }
    assert json.loads(hostile["msg"])["detail"] == HOSTILE["detail"]
    assert json.loads(hostile["msg"])["container"] == HOSTILE["container"]
    assert json.loads(loki["msg"])["extra"]["success"] is True

    # The structured data: rsyslog shows it raw, syslog-ng unescaped, field by field.
    origin = str(path)
    if syslog_collector.name == "rsyslog":
        assert hostile["sd"] == (
            '[watchd@32473 source="audit" action="bad action\\\\nnew" container="c\\"\\]\\\\ x" '
            'level="info" dest="a=b|c\\]" origin="' + origin + '" '
            'detail="l1\\\\nl2\\\\r\\\\x00<13>1 - - - - - injected"]'
        )
    else:
        assert hostile["sd"] == {
            "watchd@32473": {
                "source": "audit",
                "action": "bad action\\nnew",
                "container": 'c"]\\ x',
                "level": "info",
                "dest": "a=b|c]",
                "origin": origin,
                "detail": "l1\\nl2\\r\\x00<13>1 - - - - - injected",
            }
        }
        assert loki["sd"]["watchd@32473"]["actor"] == "alice"
        assert loki["sd"]["watchd@32473"]["container"] == "task/42"


@pytest.mark.parametrize("framing", ["octet", "lf"])
def test_rfc3164_over_tcp_in_either_framing(
    syslog_collector: Collector,
    framing: str,
    tls_files: dict[str, Path],
    tmp_path: Path,
    watchd: Any,
) -> None:
    path = trail(tmp_path, PLAIN, HOSTILE)
    options = ("format=rfc3164", f"framing={framing}", "app_name=shield", "facility=auth")
    follow(watchd, path, sink(syslog_collector, "tcp", tls_files, *options))
    received = syslog_collector.wait_for(2)
    assert len(received) == 2
    assert [m["app"] for m in received] == ["shield", "shield"]
    assert [m["pri"] for m in received] == [4 * 8 + 6, 4 * 8 + 6]
    bodies = [json.loads(m["msg"]) for m in received]
    assert [b["action"] for b in bodies] == ["blocked", HOSTILE["action"]]
    assert bodies[1]["detail"] == HOSTILE["detail"]


def test_local_socket_gets_what_syslog3_sends(
    syslog_collector: Collector, tls_files: dict[str, Path], tmp_path: Path, watchd: Any
) -> None:
    path = trail(tmp_path, PLAIN, LOKI)
    follow(watchd, path, sink(syslog_collector, "unix", tls_files))
    received = syslog_collector.wait_for(2)
    assert len(received) == 2
    assert [m["app"] for m in received] == ["watchd", "watchd"]
    assert [json.loads(m["msg"])["action"] for m in received] == ["blocked", "delete"]
    assert [m["pri"] for m in received] == [16 * 8 + 6, 16 * 8 + 4]


def test_loki_format_is_what_loki_mode_sends(
    syslog_collector: Collector, tls_files: dict[str, Path], tmp_path: Path, watchd: Any
) -> None:
    path = trail(tmp_path, LOKI, {**LOKI, "action": "start", "resource_type": "session"})
    follow(watchd, path, sink(syslog_collector, "udp", tls_files, "format=loki"))
    received = syslog_collector.wait_for(2)
    assert len(received) == 2
    assert [m["app"] for m in received] == ["loki-audit", "loki-audit"]
    assert [m["pri"] for m in received] == [132, 134]
    # The record as loki-mode serialises it: its own keys, in its own order.
    # (rsyslog keeps the space after the tag in its msg property; syslog-ng does not.)
    assert received[0]["msg"].strip(" \x00") == json.dumps(LOKI, separators=(",", ":"))


def test_certificate_is_verified_by_default(
    syslog_collector: Collector, tmp_path: Path, watchd: Any
) -> None:
    path = trail(tmp_path, PLAIN)
    untrusted = follow(watchd, path, f"syslog:{syslog_collector.address('tls')}")
    warning = untrusted.wait_log("connection lost, retrying with backoff")
    assert warning["reason"].startswith("TLS certificate not accepted: ")
    assert warning["level"] == "warning"
    time.sleep(0.5)
    assert syslog_collector.received() == []
    untrusted.stop()

    unverified = follow(watchd, path, f"syslog:{syslog_collector.address('tls')},verify=no")
    assert [json.loads(m["msg"])["action"] for m in syslog_collector.wait_for(1)] == ["blocked"]
    unverified.stop()


def test_collector_outage_loses_nothing(
    syslog_collector: Collector, tls_files: dict[str, Path], tmp_path: Path, watchd: Any
) -> None:
    path = tmp_path / "audit.jsonl"
    append(path, b"".join(line(n, seq=n) for n in range(100)))
    state = ("--state-dir", str(tmp_path / "state"))
    proc = follow(watchd, path, sink(syslog_collector, "tcp", tls_files, "backoff_max=1"), *state)
    syslog_collector.wait_for(100)
    syslog_collector.stop()
    # Written while the collector is down for 5 s: the first writes after the
    # stop may be taken by the kernel before the reset is seen, and go again.
    for n in range(100, 200):
        append(path, line(n, seq=n))
        time.sleep(0.05)
    proc.wait_log("connection lost, retrying with backoff")
    syslog_collector.start()
    append(path, b"".join(line(n, seq=n) for n in range(200, 300)))
    deadline = time.monotonic() + 60
    while True:
        seqs = {json.loads(m["msg"])["extra"]["seq"] for m in syslog_collector.received()}
        if seqs >= set(range(300)) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert set(range(300)) - seqs == set()
    assert proc.wait_log("connection restored")["sink"].startswith("syslog:tcp://")


def hostile_records(count: int) -> list[dict[str, Any]]:
    """Seeded hostile records: the fuzzers' characters and fragments in every mapped field."""
    chooser = random.Random(15)
    pieces = [*FRAGMENTS, *DELIMITERS, *FORMAT_CHARACTERS[:64], "é", "日本", "x", "y"]

    def text() -> str:
        return "".join(chooser.choice(pieces) for _ in range(chooser.randint(1, 8)))

    return [
        {
            "ts": "2026-02-15T14:30:00.250Z",
            "action": text(),
            "container": text(),
            "dest": text(),
            "detail": text() * chooser.choice([1, 1, 1, 40]),
            "n": n,
        }
        for n in range(count)
    ]


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_hostile_events_read_back_field_by_field_through_the_collectors_parsers(
    syslog_collector: Collector,
    transport: str,
    tls_files: dict[str, Path],
    tmp_path: Path,
    watchd: Any,
) -> None:
    count = 200 if transport == "tcp" else 30  # a burst of datagrams overflows a collector
    records = hostile_records(count)
    path = trail(tmp_path, *records)
    follow(watchd, path, sink(syslog_collector, transport, tls_files, "hostname=edge-1"))
    received = syslog_collector.wait_for(count)
    assert len(received) == count  # one message per event: no frame broken, none forged
    for record, message in zip(records, received, strict=True):
        assert (message["host"], message["app"]) == ("edge-1", "watchd")
        if syslog_collector.name == "rsyslog":
            params = message["sd_parsed"]["watchd@32473"]  # mmpstrucdata's reading
        else:
            params = message["sd"]["watchd@32473"]
        cut = params.pop("truncated", None) == "true"
        for name in ("action", "container", "dest"):
            assert params[name] == printable(record[name])
        if cut:  # over UDP's 2048 bytes: the detail is cut, the header and short fields whole
            assert transport == "udp"
            assert printable(record["detail"]).startswith(params["detail"].rstrip("\\"))
        else:
            assert params["detail"] == printable(record["detail"])
            assert json.loads(message["msg"])["extra"]["n"] == record["n"]
