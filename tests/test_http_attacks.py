"""What a hostile web page or client can do to ``watchd run --http``: nothing it should.

Raw sockets, so that what is sent and answered is exactly the bytes on the wire.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import statistics
import time
from pathlib import Path

import trustme

from conftest import append, clean_env, line
from watchd.http.connections import Connections
from watchd.http.server import MAX_CONNECTIONS

TOKEN = "s3cret-token-of-the-test-0123456789"  # noqa: S105 - the test's own


def serve(watchd, tmp_path: Path, *options: str, env=None):
    trail = tmp_path / "audit.jsonl"
    append(trail, line(1) + line(2))
    process = watchd(
        "run",
        "--source",
        f"audit:{trail}",
        "--json",
        "--http",
        "127.0.0.1:0",
        *options,
        env=env,
    )
    url = process.wait_log("serving HTTP")["url"]
    return process, int(url.rsplit(":", 1)[1])


def ask(port: int, request: bytes, *, timeout: float = 10.0) -> bytes:
    """Send *request* on a new connection and return everything until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def get(path: str, host: str, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_rebound_name_cannot_read_the_trail_without_a_token(watchd, tmp_path):
    """DNS rebinding: evil.example resolves to 127.0.0.1, the browser sends its name."""
    _process, port = serve(watchd, tmp_path)
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "[::2]"):
        answer = ask(port, get("/api/events", host))
        assert status_of(answer) == 403, host
        assert b"n=1" not in answer
        assert status_of(ask(port, get("/", host))) == 403
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST.", "127.0.0.1"):
        answer = ask(port, get("/api/events", host))
        assert status_of(answer) == 200, host
        assert b"n=1" in answer


def test_names_given_with_http_host_are_served_and_a_token_lifts_the_check(watchd, tmp_path):
    _process, port = serve(watchd, tmp_path, "--http-host", "watchd.lan")
    assert status_of(ask(port, get("/api/events", f"watchd.lan:{port}"))) == 200
    assert status_of(ask(port, get("/api/events", "other.lan"))) == 403
    (tmp_path / "guarded").mkdir()  # a page cannot send the token: any name is served with it
    _guarded, port = serve(watchd, tmp_path / "guarded", env=clean_env(WATCHD_HTTP_TOKEN=TOKEN))
    bearer = f"Authorization: Bearer {TOKEN}"
    assert status_of(ask(port, get("/api/events", "evil.example", bearer))) == 200
    assert status_of(ask(port, get("/api/events", "evil.example"))) == 401


def test_a_time_before_the_year_one_is_a_400_that_names_since(watchd, tmp_path):
    _process, port = serve(watchd, tmp_path)
    answer = ask(port, get("/api/events?since=99999999999d", "127.0.0.1"))
    assert status_of(answer) == 400
    assert b"since" in answer.split(b"\r\n\r\n", 1)[1]


def test_a_bodys_bytes_are_never_read_as_the_next_request(watchd, tmp_path):
    """Request smuggling: a POST's body holding a GET on a kept-alive connection."""
    _process, port = serve(watchd, tmp_path)
    hidden = get("/api/events", "127.0.0.1").replace(b"Connection: close\r\n", b"")
    post = (
        b"POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Content-Length: {len(hidden)}\r\n\r\n".encode()
        + hidden
    )
    answer = ask(port, post)
    assert status_of(answer) == 405
    assert answer.count(b"HTTP/1.1 ") == 1, "the body was served as a request"
    assert b"n=1" not in answer
    smuggled_in_get = (
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Content-Length: {len(hidden)}\r\n\r\n".encode()
        + hidden
    )
    answer = ask(port, smuggled_in_get)
    assert status_of(answer) == 400
    assert answer.count(b"HTTP/1.1 ") == 1


def test_kept_alive_requests_are_not_held_by_nagle(watchd, tmp_path):
    """Head and body were two writes: each answer waited ~40 ms for the client's delayed ACK."""
    _process, port = serve(watchd, tmp_path)
    request = b"GET /favicon.svg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    took = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(21):
            started = time.perf_counter()
            sock.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(65536)
            length = int(head.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
            body = head.split(b"\r\n\r\n", 1)[1]
            while len(body) < length:
                body += sock.recv(65536)
            took.append(time.perf_counter() - started)
    # 40 ms is the delayed ACK's own timer: well above what a loaded machine adds.
    assert statistics.median(took) < 0.02, took


def test_answers_stay_json(watchd, tmp_path):
    _process, port = serve(watchd, tmp_path)
    answer = ask(port, get("/api/events", "evil.example"))
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"].startswith("the Host header")


def test_slowloris_connections_make_room_for_real_requests(watchd, tmp_path):
    """Every slot held by clients trickling one header line at a time: requests still served."""
    _process, port = serve(watchd, tmp_path)
    trickling = []
    try:
        for _ in range(MAX_CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            trickling.append(sock)
        for round_ in range(3):
            for sock in trickling:
                with contextlib.suppress(OSError):  # the ones taken back are closed
                    sock.sendall(f"X-Slow-{round_}: 1\r\n".encode())
            for path in ("/healthz", "/api/events"):
                answer = ask(port, get(path, "127.0.0.1"))
                assert status_of(answer) == 200, answer[:200]
    finally:
        for sock in trickling:
            sock.close()


def test_tls_clients_that_never_say_hello_make_room(watchd, tmp_path):
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    pem, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(pem)
    cert.private_key_pem.write_to_path(key)
    _process, port = serve(watchd, tmp_path, "--http-cert", str(pem), "--http-key", str(key))
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
    try:
        client = ssl.create_default_context()
        authority.configure_trust(client)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(get("/api/events", "127.0.0.1"))
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
        assert status_of(answer) == 200
        assert b"n=1" in answer
    finally:
        for sock in silent:
            sock.close()


def test_waiting_connections_are_reaped_at_the_deadline_and_per_address(monkeypatch):
    """The bounds of Connections, with an injected clock (no sleeping through 20 s)."""
    now = [100.0]
    shut = []
    monkeypatch.setattr(socket.socket, "shutdown", lambda sock, how: shut.append(sock))
    held = Connections(deadline=20.0, per_address=2, clock=lambda: now[0])
    a, b, c, d = (object() for _ in range(4))
    assert held.admit(a, "10.0.0.1", full=False)
    now[0] += 5
    assert held.admit(b, "10.0.0.1", full=False)
    held.busy(b)  # in a request: never taken back
    # Its address holds its share: its own longest waiter (a) makes room.
    assert held.admit(c, "10.0.0.1", full=False)
    assert shut == [a]
    held.gone(a)
    held.busy(c)
    assert not held.admit(d, "10.0.0.1", full=False)  # none of its own waits: refused
    assert held.admit(d, "10.0.0.2", full=True) is False  # full, and nobody waits
    held.waiting(c)
    assert held._reap_once() == 20.0  # the reaper sleeps until then: an idle server wakes nobody
    now[0] += 25
    assert held._reap_once() is None  # c taken back; nobody else waits
    assert shut == [a, c]
