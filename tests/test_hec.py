"""The HEC sink against a real HTTP server: exact objects, batches, retries, dead letters, acks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from collectors import free_ports
from conftest import append, clean_env, run_watchd, wait_checkpointed
from hec_server import HecServer

TOKEN = "s3cr3t-0f-the-hec"  # noqa: S105 - a test token, checked never to be printed
PLAIN = {
    "ts": "2026-02-15T14:30:00.250Z",
    "container": "web-1",
    "action": "blocked",
    "dest": "192.0.2.1",
}
LOKI = json.loads(
    '{"timestamp":"2026-02-15T14:30:00.000Z","action":"revoke_token","resource_type":"token",'
    '"resource_id":"tok_123","user_id":"alice","token_id":"tok_admin","ip_address":"10.0.0.4",'
    '"success":false,"error":"expired credential","level":"warning","details":{"provider":'
    '"claude","cost":4.25,"nested":{"region":"us-east"}}}'
)


@pytest.fixture
def hec() -> Iterator[HecServer]:
    server = HecServer()
    yield server
    server.close()


def trail(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / "audit.jsonl"
    append(path, b"".join(json.dumps(r).encode() + b"\n" for r in records))
    return path


def numbered(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{**PLAIN, "seq": n} for n in range(start, start + count)]


def follow(watchd: Any, path: Path, sink: str, *more: str) -> Any:
    return watchd(
        "run", "--source", f"audit:{path}", "--from-beginning", "--sink", sink, "-v", *more
    )


def seqs(server: HecServer) -> list[int]:
    return [obj["event"]["extra"]["seq"] for obj in server.events()]


def wait_seqs(server: HecServer, count: int, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(got := seqs(server)) < count:
        assert time.monotonic() < deadline, f"HEC has {len(got)} of {count} events"
        time.sleep(0.05)
    time.sleep(0.3)
    return seqs(server)


def test_objects_are_exact_and_the_token_is_never_printed(
    hec: HecServer, tmp_path: Path, watchd: Any
) -> None:
    path = trail(tmp_path, [PLAIN])
    proc = follow(watchd, path, f"hec:{hec.url},token={TOKEN},index=sec,host=edge-1")
    (request,) = hec.wait_for_requests(1)
    assert request.path == "/services/collector/event"
    assert request.headers["Authorization"] == f"Splunk {TOKEN}"
    assert request.body == (
        b'{"time":1771165800.25,"host":"edge-1","source":"' + str(path).encode() + b'",'
        b'"sourcetype":"watchd:audit","index":"sec","event":{"ts":"2026-02-15T14:30:00.250Z",'
        b'"source":"audit","action":"blocked","container":"web-1","dest":"192.0.2.1",'
        b'"origin":"' + str(path).encode() + b'"}}'
    )
    assert proc.stop() == 0
    assert TOKEN not in proc.stderr

    bad = run_watchd(
        "run", "--source", f"audit:{path}", "--sink", f"hec:{hec.url},token={TOKEN},x=1"
    )
    assert bad.returncode == 2
    assert "token=***" in bad.stderr
    assert TOKEN not in bad.stderr


def test_token_from_the_environment_and_loki_compat(
    hec: HecServer, tmp_path: Path, watchd: Any
) -> None:
    path = trail(tmp_path, [LOKI])
    watchd(
        "run", "--source", f"audit:{path}", "--from-beginning",
        "--sink", f"hec:{hec.url},compat=loki,index=security",
        env=clean_env(WATCHD_HEC_TOKEN=TOKEN),
    )  # fmt: skip
    (request,) = hec.wait_for_requests(1)
    assert request.headers["Authorization"] == f"Splunk {TOKEN}"
    # loki-mode's own HEC object: its key order, the record as it is.
    record = json.dumps(LOKI, separators=(",", ":")).encode()
    assert request.body == (
        b'{"time":1771165800,"source":"loki-mode","sourcetype":"loki:audit","event":'
        + record
        + b',"index":"security"}'
    )


def test_batches_are_bounded_gzipped_and_complete(
    hec: HecServer, tmp_path: Path, watchd: Any
) -> None:
    path = trail(tmp_path, numbered(3000))
    follow(watchd, path, f"hec:{hec.url},token={TOKEN},gzip=yes,batch_bytes=100000")
    assert wait_seqs(hec, 3000) == list(range(3000))
    assert len(hec.requests) > 3
    for request in hec.requests:
        assert request.headers["Content-Encoding"] == "gzip"
        assert len(request.body) <= 100_000


def test_503_and_a_server_that_is_down_are_retried_until_delivered(
    tmp_path: Path, watchd: Any
) -> None:
    port = free_ports(1)[0]
    path = trail(tmp_path, numbered(50))
    state = ("--state-dir", str(tmp_path / "state"))
    proc = follow(watchd, path, f"hec:http://127.0.0.1:{port},token={TOKEN},backoff_max=1", *state)
    warning = proc.wait_log("HEC did not take a batch, retrying with backoff")
    assert "Connection refused" in warning["reason"]
    busy = (503, {"text": "Server is busy", "code": 9})
    server = HecServer(port=port, script=[busy, busy, busy])
    try:
        assert wait_seqs(server, 50) == list(range(50))
        assert [r.status for r in server.requests] == [503, 503, 503, 200]
        proc.wait_log("HEC accepts events again")
        assert proc.stop() == 0
        # Delivered means checkpointed: a restart sends nothing again.
        append(path, json.dumps(numbered(1, 50)[0]).encode() + b"\n")
        again = follow(watchd, path, f"hec:{server.url},token={TOKEN}", *state)
        assert wait_seqs(server, 51) == list(range(51))
        assert again.stop() == 0
    finally:
        server.close()


def test_bad_data_goes_to_the_dead_letter_file_and_the_rest_goes_on(
    tmp_path: Path, watchd: Any
) -> None:
    refused = (400, {"text": "Invalid data format", "code": 6, "invalid-event-number": 1})
    server = HecServer(script=[refused])
    dead = tmp_path / "dead.jsonl"
    path = trail(tmp_path, numbered(3))
    state = ("--state-dir", str(tmp_path / "state"))
    try:
        proc = follow(watchd, path, f"hec:{server.url},token={TOKEN},dead_letter={dead}", *state)
        first, second = server.wait_for_requests(2)
        assert [o["event"]["extra"]["seq"] for o in first.objects()] == [0, 1, 2]
        assert [o["event"]["extra"]["seq"] for o in second.objects()] == [2]
        assert [json.loads(x)["event"]["extra"]["seq"] for x in dead.read_bytes().splitlines()] == [
            1
        ]
        refusal = proc.wait_log("HEC refused events as bad data")
        assert (refusal["status"], refusal["reason"], refusal["events"]) == (
            400,
            "Invalid data format",
            1,
        )
        assert proc.stop() == 0
        again = follow(watchd, path, f"hec:{server.url},token={TOKEN}", *state)
        assert again.quiet_for(1.5)
        assert len(server.requests) == 2  # nothing was sent again
    finally:
        server.close()


@pytest.mark.parametrize(
    ("status", "text", "reason"),
    [
        (401, "Invalid authorization", "Invalid authorization"),
        # A server that echoes the request: the token is taken out of what is logged.
        (403, f"Invalid: Authorization: Splunk {TOKEN}", "Invalid: Authorization: Splunk <token>"),
    ],
)
def test_a_refused_token_stops_the_sink_with_one_clear_line(
    tmp_path: Path, status: int, text: str, reason: str
) -> None:
    server = HecServer(script=[(status, {"text": text, "code": 3})])
    try:
        path = trail(tmp_path, [PLAIN])
        result = run_watchd(
            "run", "--source", f"audit:{path}", "--from-beginning",
            "--sink", f"hec:{server.url},token={TOKEN}", timeout=30,
        )  # fmt: skip
    finally:
        server.close()
    assert result.returncode == 1
    stopped = [json.loads(x) for x in result.stderr.splitlines() if '"sink stopped"' in x]
    assert [s["reason"] for s in stopped] == [f"HEC refused the token (HTTP {status}: {reason})"]
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stderr


def test_with_indexer_acknowledgement_only_indexed_batches_are_checkpointed(
    tmp_path: Path, watchd: Any
) -> None:
    path = trail(tmp_path, numbered(5))
    state = ("--state-dir", str(tmp_path / "state"))
    never = HecServer(ack=True, acks_after=10**9)
    try:
        proc = follow(watchd, path, f"hec:{never.url},token={TOKEN},ack=yes", *state)
        (request,) = never.wait_for_requests(1)
        assert request.headers["X-Splunk-Request-Channel"]
        assert proc.stop() == 1  # answered 200 but never indexed: not delivered, not checkpointed
    finally:
        never.close()
    acking = HecServer(ack=True, acks_after=2)
    try:
        again = follow(watchd, path, f"hec:{acking.url},token={TOKEN},ack=yes", *state)
        assert wait_seqs(acking, 5) == list(range(5))  # sent again, all of it
        size = path.stat().st_size  # the ack polls go on until indexed, then the checkpoint moves
        wait_checkpointed(tmp_path / "state", lambda files: [f["offset"] for f in files] == [size])
        assert again.stop() == 0
        third = follow(watchd, path, f"hec:{acking.url},token={TOKEN},ack=yes", *state)
        assert third.quiet_for(1.5)
        assert len(acking.requests) == 1
    finally:
        acking.close()


def test_https_verifies_the_certificate(tmp_path: Path, watchd: Any) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = {"cert": tmp_path / "cert.pem", "key": tmp_path / "key.pem"}
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    server = HecServer(tls=files)
    try:
        path = trail(tmp_path, [PLAIN])
        untrusted = follow(watchd, path, f"hec:{server.url},token={TOKEN}")
        warning = untrusted.wait_log("HEC did not take a batch, retrying with backoff")
        assert "CERTIFICATE_VERIFY_FAILED" in warning["reason"]
        untrusted.stop()
        follow(watchd, path, f"hec:{server.url},token={TOKEN},ca={tmp_path / 'ca.pem'}")
        deadline = time.monotonic() + 20
        while not server.events():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert [o["event"]["action"] for o in server.events()] == ["blocked"]
    finally:
        server.close()


@pytest.mark.parametrize(
    "odd",
    [
        (200, {"text": "Invalid data format", "code": 6}),
        (200, b"<html>proxy says hello</html>"),
        (200, b""),
        (200, {"acks": [True]}),
        (201, b'["not", "an", "object"]'),
    ],
    ids=["code-6", "html", "empty", "acks-list", "array"],
)
def test_an_answer_of_the_wrong_shape_is_retried_and_nothing_is_lost(
    tmp_path: Path, watchd: Any, odd: tuple[int, Any]
) -> None:
    server = HecServer(script=[odd, odd])
    try:
        proc = follow(
            watchd, trail(tmp_path, numbered(20)), f"hec:{server.url},token={TOKEN},backoff_max=1"
        )
        assert wait_seqs(server, 20) == list(range(20))
        assert [r.success for r in server.requests] == [False, False, True]
        warning = proc.wait_log("HEC did not take a batch, retrying with backoff")
        assert warning["status"] == odd[0]
        assert proc.stop() == 0
        assert "Traceback" not in proc.stderr
    finally:
        server.close()
