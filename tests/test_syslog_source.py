"""The syslog source: loki-mode's bytes, plain messages, garbage, watchd forwarding to watchd."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from collectors import free_ports
from conftest import append, line, run_watchd

# loki-mode's own forwarding, byte for byte (shared/samples/loki-compat.md).
LOKI_BYTES = [
    b'<132>loki-audit: {"timestamp":"2026-02-15T14:31:05.000001+00:00","action":"delete",'
    b'"resource_type":"task","resource_id":"42","success":true}\x00',
    b'<134>loki-audit: {"timestamp":"2026-02-15T14:30:00+00:00","action":"start",'
    b'"resource_type":"session","success":true}\x00',
]
LOKI_EVENTS = [
    {
        "ts": "2026-02-15T14:31:05.000001+00:00",
        "source": "syslog",
        "action": "delete",
        "container": "task/42",
        "level": "warning",
        "origin": "127.0.0.1",
        "extra": {"success": True},
    },
    {
        "ts": "2026-02-15T14:30:00+00:00",
        "source": "syslog",
        "action": "start",
        "container": "session",
        "origin": "127.0.0.1",
        "extra": {"success": True},
    },
]


def listen(watchd: Any, transport: str, *options: str) -> tuple[Any, int]:
    port = free_ports(1)[0]
    spec = ",".join([f"syslog:{transport}://127.0.0.1:{port}", *options])
    proc = watchd("run", "--source", spec, "--json", "-v")
    proc.wait_log("ready")
    return proc, port


def test_loki_mode_over_udp_arrives_as_loki_events(watchd: Any) -> None:
    proc, port = listen(watchd, "udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in LOKI_BYTES:
            sock.sendto(datagram, ("127.0.0.1", port))
    assert proc.read_json(2) == LOKI_EVENTS


def test_loki_mode_over_tcp_unframed_and_split_anywhere(watchd: Any) -> None:
    proc, port = listen(watchd, "tcp")
    stream = b"".join(LOKI_BYTES)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for start, end in ((0, 7), (7, 150), (150, len(stream))):
            sock.sendall(stream[start:end])
            time.sleep(0.05)
    assert proc.read_json(2) == LOKI_EVENTS


def test_plain_messages_and_garbage(watchd: Any) -> None:
    proc, port = listen(watchd, "tcp")
    counted = b'<11>1 2026-02-15T14:30:00Z db app 9 login [a@1 k="v\\"\\]"] failed for bob'
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"<38>Feb  5 09:08:07 gw sshd[81]: Accepted key for alice\n"
            b"not syslog at all\n" + b"%d %b" % (len(counted), counted) + b"<999>too high\n"
        )
    first, second = proc.read_json(2)
    assert first["source"] == "syslog"
    assert first["action"] == "message"
    assert (first["container"], first["origin"], first["detail"]) == (
        "sshd",
        "gw",
        "Accepted key for alice",
    )
    assert first["extra"]["facility"] == "auth"
    assert first["extra"]["procid"] == "81"
    assert second == {
        "ts": "2026-02-15T14:30:00Z",
        "source": "syslog",
        "action": "login",
        "container": "app",
        "detail": "failed for bob",
        "level": "error",
        "origin": "db",
        "extra": {
            "facility": "user",
            "severity": 3,
            "protocol": "rfc5424",
            "peer": second["extra"]["peer"],
            "hostname": "db",
            "app_name": "app",
            "procid": "9",
            "msgid": "login",
            "structured_data": {"a@1": {"k": 'v"]'}},
        },
    }
    assert second["extra"]["peer"].startswith("127.0.0.1:")
    skipped = [r for r in proc.logs() if r["event"].startswith("skipped malformed message")]
    assert [r["event"] for r in skipped] == [
        "skipped malformed message (no <PRI> at the start)",
        "skipped malformed message (PRI 999 is above 191)",
    ]
    assert proc.stop() == 0


def test_one_watchd_forwards_to_another_over_tcp_losing_nothing(
    watchd: Any, tmp_path: Path
) -> None:
    receiver, port = listen(watchd, "tcp")
    path = tmp_path / "audit.jsonl"
    hostile = {"detail": 'a\nb]\x00"c\\', "container": "x|y=z"}
    append(path, b"".join(line(n, seq=n, **(hostile if n % 7 == 0 else {})) for n in range(500)))
    sender = watchd(
        "run",
        "--source", f"audit:{path}",
        "--from-beginning",
        "--sink", "stdout,format=json",
        "--sink", f"syslog:tcp://127.0.0.1:{port}",
    )  # fmt: skip
    sent = [sender.read_line() for _ in range(500)]
    received = [receiver.read_line() for _ in range(500)]
    assert received == sent  # the same events, byte for byte, in order
    assert receiver.quiet_for(0.5)
    assert [json.loads(r)["extra"]["seq"] for r in received] == list(range(500))


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (
            "syslog:smtp://h:1",
            "expected one of udp://, tcp://, tls://, relp://, unix://, as in udp://127.0.0.1:514",
        ),
        ("syslog:udp://h:1,facility=local9", "facility='local9': expected a syslog facility"),
        ("syslog:tls://h:1,key=/k", "key='/k': needs cert=, the client certificate it belongs to"),
        ("syslog:tls://h:1,ca=/nonexistent/ca.pem", "ca='/nonexistent/ca.pem': no such file"),
        ("syslog:udp://h:1,limit=70000", "limit='70000': is above UDP's 65507 bytes"),
        ("syslog:unix://dev/log", "expected unix:///PATH, as in unix:///dev/log"),
        ("syslog:tcp://h:1,framing=crlf", "framing='crlf': expected one of auto, octet, lf, none"),
        ("syslog:udp://h:1,body=xml", "body='xml': unknown format (available: cef,"),
        ("syslog:udp://h:1,framing=lf", "framing='lf': applies to tcp:// and tls:// only"),
        ("syslog:tcp://h:1,limit=1000", "limit='1000': applies to udp:// and unix:// only"),
        ("syslog:relp://h:1,framing=lf", "framing='lf': applies to tcp:// and tls:// only (RELP"),
        ("syslog:tcp://h:1,server_name=x,verify=no", "verify='no': applies to tls:// only"),
    ],
)
def test_sink_usage_errors_are_one_line(spec: str, error: str) -> None:
    result = run_watchd("run", "--source", "audit:/nonexistent.jsonl", "--sink", spec)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"watchd: error: --sink '{spec}': ")
    assert error in result.stderr


def test_source_refuses_an_address_in_use(watchd: Any) -> None:
    _, port = listen(watchd, "udp")
    result = run_watchd("run", "--source", f"syslog:udp://127.0.0.1:{port}")
    assert result.returncode == 1  # another holds it now: a failure, not a usage error
    assert result.stderr == (
        f"watchd: error: syslog:udp://127.0.0.1:{port}: cannot listen on 127.0.0.1:{port}: "
        "Address already in use\n"
    )


def open_files(pid: int) -> list[str]:
    """What each descriptor of process *pid* names (one closed while looked at is left out)."""
    links = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            links.append(os.readlink(fd))
        except FileNotFoundError:
            continue
    return links


def test_the_tcp_listener_and_its_connections_are_in_the_loops_own_selector(watchd: Any) -> None:
    # One epoll for the whole run: the listener nested a second one before.
    proc, port = listen(watchd, "tcp")
    peers = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    try:
        for n, peer in enumerate(peers):  # each connection read where it is ready
            peer.sendall(b"<13>1 2026-02-15T14:30:00Z h app - - - message %d\n" % n)
        got = sorted(event["detail"] for event in proc.read_json(3))
        assert got == ["message 0", "message 1", "message 2"]
        assert open_files(proc.pid).count("anon_inode:[eventpoll]") == 1
    finally:
        for peer in peers:
            peer.close()


def test_a_peer_that_leaves_while_another_comes_loses_nothing(watchd: Any) -> None:
    # A dropped connection's descriptor is let go by the loop before it is closed, so a
    # connection accepted in the same poll never takes a number the loop still selects.
    proc, port = listen(watchd, "tcp")
    for n in range(12):  # 24 connections: within the 32 one address may hold at once
        leaving = socket.create_connection(("127.0.0.1", port))
        leaving.sendall(b"<13>1 2026-02-15T14:30:00Z h app - - - gone %d\n" % n)
        leaving.close()
        with socket.create_connection(("127.0.0.1", port)) as coming:
            coming.sendall(b"<13>1 2026-02-15T14:30:00Z h app - - - came %d\n" % n)
    got = sorted(event["detail"] for event in proc.read_json(24))
    assert got == sorted([f"gone {n}" for n in range(12)] + [f"came {n}" for n in range(12)])

    def sockets() -> int:
        return sum(link.startswith("socket:") for link in open_files(proc.pid))

    deadline = time.monotonic() + 10
    while sockets() > 3 and time.monotonic() < deadline:  # the listener and the wakeup pair
        time.sleep(0.05)
    assert sockets() <= 3  # every dropped connection closed
