"""``watchd run --http``: the API, the live stream, health and metrics, through a real client.

Each test starts a real ``watchd run --http 127.0.0.1:0`` (loopback, the port
the kernel gives, read from its log) and talks to it with ``http.client``.
What ``/api/*`` answers is compared byte for byte with what ``watchd query``,
``summary --json`` and ``verify --json`` print for the same trail.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import re
import socket
import ssl
import sys
import time
import weakref
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trustme
from prometheus_client.parser import text_string_to_metric_families

from conftest import append, clean_env, run_watchd, through_head
from watchd.core.context import RunContext
from watchd.core.event import WatchEvent
from watchd.core.interfaces import delivering
from watchd.core.pipeline import Pipeline
from watchd.core.plugins import PluginHost, scan_plugin_args
from watchd.core.spec import parse_spec
from watchd.http.live import Dropped, LiveFeed, frames, held_of
from watchd.http.priority import SERVER_NICE
from watchd.http.server import MAX_CONNECTIONS
from watchd.writer import AuditWriter

TOKEN = "s3cret-token-of-the-test-0123456789"  # noqa: S105 - the test's own
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def terok(n: int, action: str = "allowed", container: str = "c1") -> bytes:
    body = {
        "ts": f"2026-04-01T12:{n // 60:02d}:{n % 60:02d}+00:00",
        "container": container,
        "action": action,
        "dest": f"10.0.0.{n % 250}",
        "detail": f"n={n} <img src=x onerror=alert(1)> | = ] \u202e",
    }
    return json.dumps(body).encode() + b"\n"


def trail_of(path: Path, count: int) -> Path:
    actions = ("allowed", "denied", "blocked")
    path.write_bytes(
        b"".join(terok(n, actions[n % 3], f"c{n % 4}") for n in range(count))
        + b"not json\n"  # a skipped line, counted in /metrics
    )
    return path


class Server:
    """A running ``watchd run --http``, and requests to it."""

    def __init__(self, process, token: str | None = None, tls: ssl.SSLContext | None = None):
        self.process = process
        url = urlsplit(process.wait_log("serving HTTP")["url"])
        self.host, self.port = url.hostname, url.port
        self.token = token
        self.tls = tls

    def connection(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        if self.tls is not None:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=self.tls
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def get(self, path: str, headers: dict[str, str] | None = None, *, token: str | None = ""):
        """Return (status, headers, body) of GET *path* (the server's token unless given)."""
        sent = dict(headers or {})
        token = self.token if token == "" else token
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        conn = self.connection()
        try:
            conn.request("GET", path, headers=sent)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


def serve(watchd, trail: Path, *options: str, env=None, sink: str | None = None) -> Server:
    args = [
        "run",
        "--source",
        f"audit:{trail}",
        "--from-beginning",
        "--http",
        "127.0.0.1:0",
        "--sink",
        sink or f"file:{trail.parent / 'out.jsonl'}",
        *options,
    ]
    return Server(watchd(*args, env=env))


def query(trail: Path, *args: str) -> bytes:
    done = run_watchd("query", "--source", f"audit:{trail}", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.encode()


def wait_until(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("fmt", ["json", "csv", "ecs", "cef"])
def test_events_are_what_query_prints(watchd, tmp_path, fmt):
    trail = trail_of(tmp_path / "audit.jsonl", 60)
    server = serve(watchd, trail)
    status, headers, body = server.get(f"/api/events?format={fmt}&action=denied&action=blocked")
    assert status == 200
    assert body == query(trail, "--format", fmt, "--action", "denied", "--action", "blocked")
    assert headers["X-Watchd-Count"] == "40"
    assert "X-Watchd-More" not in headers
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value
    assert not any(name.lower().startswith("access-control") for name in headers)


def test_filters_and_window_are_query_s(watchd, tmp_path):
    trail = trail_of(tmp_path / "audit.jsonl", 120)
    server = serve(watchd, trail)
    cases = [
        (
            "since=2026-04-01T12:01:00Z&until=2026-04-01T12:01:30Z",
            ["--since", "2026-04-01T12:01:00Z", "--until", "2026-04-01T12:01:30Z"],
        ),
        ("name=c1,c2&filter=dest=10.0.0.1*", ["--name", "c1,c2", "--filter", "dest=10.0.0.1*"]),
        ("last=7&action=allowed", ["--last", "7", "--action", "allowed"]),
        ("actor=nobody", ["--filter", "actor=nobody"]),
        ("level=warning", ["--level", "warning"]),
    ]
    for params, args in cases:
        status, _, body = server.get(f"/api/events?{params}")
        assert status == 200, body
        assert body == query(trail, "--json", *args), params


def test_pages_put_together_are_the_whole_answer(watchd, tmp_path):
    trail = trail_of(tmp_path / "audit.jsonl", 50)
    server = serve(watchd, trail)
    pages, offset = [], 0
    while True:
        status, headers, body = server.get(f"/api/events?limit=15&offset={offset}")
        assert status == 200
        pages.append(body)
        more = headers.get("X-Watchd-More")
        if more is None:
            break
        assert more == f"offset={offset + 15}"
        offset += 15
    assert len(pages) == 4
    assert b"".join(pages) == query(trail, "--json")


def test_summary_and_verify_are_the_commands_json(watchd, tmp_path):
    trail = trail_of(tmp_path / "audit.jsonl", 30)
    server = serve(watchd, trail)
    status, _, body = server.get("/api/summary?action=denied")
    assert status == 200
    done = run_watchd("summary", "--source", f"audit:{trail}", "--action", "denied", "--json")
    assert json.loads(body) == json.loads(done.stdout)

    loki = tmp_path / "loki" / "audit.jsonl"
    loki.parent.mkdir()
    writer = AuditWriter(str(loki), "loki", chain=True)
    for n in range(5):
        writer.emit(action="start", container=f"job{n}")
    server = serve(watchd, loki)
    status, _, body = server.get("/api/verify")
    assert status == 200
    verified = json.loads(run_watchd("verify", str(loki), "--json").stdout)
    assert json.loads(body) == {
        "valid": True,
        "trails": [{"source": f"audit:{loki}", **verified}],
    }
    tampered = loki.read_bytes().replace(b"job2", b"job9")
    loki.write_bytes(tampered)
    answer = json.loads(server.get("/api/verify")[2])
    assert answer["valid"] is False
    assert answer["trails"][0]["first_broken"] == f"{loki}:3"


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/api/events?bogus=1", "unknown parameter 'bogus'"),
        ("/api/events?level=loud", "--level 'loud': unknown level"),
        ("/api/events?since=yesterday", "--since 'yesterday'"),
        ("/api/events?limit=10001", "limit: a whole number from 0 to 10,000"),
        ("/api/events?limit=-1", "limit: a whole number"),
        ("/api/events?format=xml", "format: one of json, ecs, csv, cef"),
        ("/api/events?format=json&format=csv", "format: given more than once"),
        ("/api/events?filter=nofield", "expected FIELD=GLOB"),
        ("/api/events?since=2h&until=3h", "is later than --until"),
        ("/api/summary?limit=3", "unknown parameter 'limit'"),
        ("/api/events?token=" + TOKEN, "token: a token is taken only from the Authorization"),
        ("/metrics?x=1", "unknown parameter 'x'"),
    ],
)
def test_a_bad_parameter_is_a_400_that_names_it(watchd, tmp_path, path, says):
    server = serve(watchd, trail_of(tmp_path / "audit.jsonl", 3))
    status, headers, body = server.get(path)
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    assert says in json.loads(body)["error"]
    assert TOKEN not in body.decode()


def test_unknown_paths_and_methods(watchd, tmp_path):
    server = serve(watchd, trail_of(tmp_path / "audit.jsonl", 3))
    assert server.get("/nothing/here")[0] == 404
    conn = server.connection()
    conn.request("POST", "/api/events", body=b"{}")
    response = conn.getresponse()
    assert (response.status, response.getheader("Allow")) == (405, "GET")
    response.read()
    conn.close()


def test_off_loopback_without_a_token_is_refused_before_anything_starts(tmp_path):
    trail = trail_of(tmp_path / "audit.jsonl", 3)
    done = run_watchd("run", "--source", f"audit:{trail}", "--http", "0.0.0.0:0")
    assert done.returncode == 2
    assert "--http 0.0.0.0: another machine could connect; give a token" in done.stderr
    done = run_watchd("run", "--source", f"audit:{trail}", "--http-token-file", "/x")
    assert done.returncode == 2
    assert "--http-token-file goes with --http HOST:PORT" in done.stderr
    for bad in ("localhost", "1.2.3.4:99999", "::1:80"):
        done = run_watchd("run", "--source", f"audit:{trail}", "--http", bad)
        assert done.returncode == 2, bad
        assert f"--http '{bad}'" in done.stderr


def test_the_token_is_checked_and_only_taken_from_the_header(watchd, tmp_path):
    trail = trail_of(tmp_path / "audit.jsonl", 3)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    server = serve(watchd, trail, "--http-token-file", str(token_file))
    server.token = TOKEN
    for path in ("/api/events", "/api/summary", "/api/verify", "/metrics", "/api/events/stream"):
        status, headers, _ = server.get(path, token=None)
        assert status == 401, path
        assert headers["WWW-Authenticate"] == 'Bearer realm="watchd"'
        assert server.get(path, token=TOKEN[:-1] + "x")[0] == 401
        assert server.get(path, {"Authorization": f"Basic {TOKEN}"}, token=None)[0] == 401
    assert server.get(f"/api/events?token={TOKEN}", token=None)[0] == 401
    assert server.get("/api/events")[0] == 200
    # Probes need no token and say nothing of the trails.
    assert server.get("/healthz", token=None)[:3:2] == (200, b'{"status":"ok"}')
    wait_until(lambda: server.get("/readyz", token=None)[0] == 200)  # once the source started
    assert TOKEN not in server.process.stderr


def test_the_token_from_the_environment_and_its_rules(watchd, tmp_path):
    trail = trail_of(tmp_path / "audit.jsonl", 3)
    server = serve(watchd, trail, env=clean_env(WATCHD_HTTP_TOKEN=TOKEN))
    assert server.get("/api/events", token=None)[0] == 401
    assert server.get("/api/events", token=TOKEN)[0] == 200
    short = run_watchd(
        "run", "--source", f"audit:{trail}", "--http", "127.0.0.1:0",
        env=clean_env(WATCHD_HTTP_TOKEN="short"),  # noqa: S106 - too short, refused
    )  # fmt: skip
    assert short.returncode == 2
    assert "at least 16 characters" in short.stderr
    assert "short" not in short.stderr.replace("at least", "")


def test_https_with_the_given_certificate(watchd, tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    trail = trail_of(tmp_path / "audit.jsonl", 5)
    process = watchd(
        "run", "--source", f"audit:{trail}", "--from-beginning", "--sink",
        f"file:{tmp_path / 'out.jsonl'}", "--http", "127.0.0.1:0",
        "--http-cert", str(cert_file), "--http-key", str(key_file),
    )  # fmt: skip
    client = ssl.create_default_context()
    ca.configure_trust(client)
    server = Server(process, tls=client)
    assert process.wait_log("serving HTTP")["url"].startswith("https://127.0.0.1:")
    status, _, body = server.get("/api/events")
    assert status == 200
    assert body == query(trail, "--json")
    with socket.create_connection((server.host, server.port), timeout=5) as plain:
        plain.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try:
            answer = plain.recv(4096)
        except ConnectionResetError:
            answer = b""
        assert b"allowed" not in answer  # no record over plain HTTP
    # A client that connects and never says hello holds its own thread, not the server.
    with socket.create_connection((server.host, server.port), timeout=5):
        status, _, body = server.get("/api/events?limit=1")
        assert status == 200
        assert body == query(trail, "--json", "--last", "5").splitlines(keepends=True)[0]
    # The live stream over TLS, written by the stream writer's non-blocking socket.
    wait_until(lambda: len((tmp_path / "out.jsonl").read_bytes().splitlines()) == 5)
    conn, response = stream(server, "?backlog=2")
    assert [data["detail"].split()[0] for _, data in read_events(response, 2)] == ["n=3", "n=4"]
    append(trail, b"".join(terok(n) for n in range(5, 2005)))  # more than one TLS record
    got = [data["detail"].split()[0] for _, data in read_events(response, 2000)]
    assert got == [f"n={n}" for n in range(5, 2005)]
    response.close()
    conn.close()


def test_connections_past_the_bound_are_answered_503_when_none_only_waits(watchd, tmp_path):
    """Live streams are in a request: none is taken back, so one more connection gets a 503.

    (Connections that only wait make room instead: tests/test_http_attacks.py.)
    """
    trail = trail_of(tmp_path / "audit.jsonl", 3)
    server = serve(watchd, trail)
    streams = [socket.create_connection((server.host, server.port)) for _ in range(MAX_CONNECTIONS)]
    try:
        for one in streams:
            one.sendall(b"GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        wait_until(lambda: metrics_refused(server), timeout=30)
        status, headers, body = server.get("/api/events")
        assert (status, headers["Retry-After"]) == (503, "1")
        assert json.loads(body) == {"error": "too many connections"}
    finally:
        for one in streams:
            one.close()
    wait_until(lambda: server.get("/api/events")[0] == 200)
    assert server.get("/api/events")[2] == query(trail, "--json")


def metrics_refused(server: Server) -> bool:
    """Return True once a request is turned away (every slot held by the idle clients)."""
    return server.get("/healthz")[0] == 503


def test_a_port_in_use_is_a_failure_a_restart_may_get_past(tmp_path):
    trail = trail_of(tmp_path / "audit.jsonl", 3)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_watchd("run", "--source", f"audit:{trail}", "--http", f"127.0.0.1:{port}")
    assert (done.returncode, done.stderr) == (
        1,
        f"watchd: error: --http 127.0.0.1:{port}: Address already in use\n",
    )


def test_http_from_the_config_file(watchd, tmp_path):
    trail = trail_of(tmp_path / "audit.jsonl", 4)
    config = tmp_path / "watchd.toml"
    config.write_text(
        f'source = ["audit:{trail}"]\nfrom-beginning = true\nhttp = "127.0.0.1:0"\n'
        f'sink = ["file:{tmp_path / "out.jsonl"}"]\n'
    )
    server = Server(watchd("run", "--config", str(config)))
    assert server.get("/api/events")[2] == query(trail, "--json")


def metrics(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, headers, body = server.get("/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_metrics_count_what_was_read_skipped_and_delivered(watchd, tmp_path):
    trail = trail_of(tmp_path / "audit.jsonl", 40)
    out = tmp_path / "out.jsonl"
    server = serve(watchd, trail, "--state-dir", str(tmp_path / "state"))
    source = (("source", f"audit:{trail}"),)
    sink = (("sink", f"file:{out}"),)
    wait_until(lambda: metrics(server).get(("watchd_sink_events_delivered_total", sink)) == 40)
    append(trail, b"".join(terok(n) for n in range(40, 45)))
    wait_until(lambda: metrics(server).get(("watchd_sink_events_delivered_total", sink)) == 45)
    found = metrics(server)
    assert len(out.read_bytes().splitlines()) == 45
    assert found["watchd_source_events_total", source] == 45
    assert found["watchd_source_lines_skipped_total", (("reason", "malformed JSON"), *source)] == 1
    assert found["watchd_source_read_bytes_total", source] == trail.stat().st_size
    assert found["watchd_source_unread_bytes", source] == 0
    assert found["watchd_source_files", source] == 1
    assert found["watchd_source_integrity_breaks_total", source] == 0
    assert found["watchd_sink_detached_total", sink] == 0
    assert found["watchd_http_live_clients", ()] == 0
    assert "process_resident_memory_bytes" in {name for name, _ in found}
    wait_until(lambda: ("watchd_checkpoint_age_seconds", ()) in metrics(server))


def test_readyz_says_no_while_no_sink_can_deliver(watchd, tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        trail = trail_of(tmp_path / "audit.jsonl", 3)
        server = serve(watchd, trail, sink=f"tcp:127.0.0.1:{port}")
        # Until the loop's first poll of the source it says "sources starting"; after that
        # it must say why it is not ready, never that it is.
        status, body = wait_until(lambda: not_starting(server.get("/readyz")))
        assert (status, body) == (503, {"status": "no sink connected"})
        assert server.get("/healthz")[0] == 200
        sink = (("sink", f"tcp:127.0.0.1:{port}"),)
        found = metrics(server)
        assert found["watchd_sink_connected", sink] == 0
        assert found["watchd_sink_queue_events", sink] == 3


def not_starting(answer: tuple[int, object, bytes]) -> tuple[int, dict] | None:
    status, _, body = answer
    found = json.loads(body)
    return None if found == {"status": "sources starting"} else (status, found)


def test_a_connection_still_being_made_is_not_one_that_delivers():
    """The rule /readyz and systemd's status share: connecting, or refused, is not connected."""
    registry = PluginHost(scan_plugin_args([])).collect()
    context = RunContext(argparse.Namespace(format=None), registry, io.BytesIO())
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
        sink = registry.sinks.build(
            parse_spec(f"tcp:127.0.0.1:{closed.getsockname()[1]}", "--sink"), context
        )
        assert not delivering(sink)  # not tried yet
        sink.on_timeout()  # the loop's first turn: a non-blocking connect, in progress
        assert sink.fileno() >= 0
        assert not delivering(sink)
        assert sink.measures().connected is False
        sink.on_writable()  # refused
        assert (sink.fileno(), delivering(sink)) == (-1, False)
        sink.close()
    assert delivering(object())  # a sink that is no connection always can


def read_events(response, count: int) -> list[tuple[str, dict]]:
    """Read *count* server-sent events (id, data) from *response*."""
    got, event_id = [], None
    while len(got) < count:
        line = response.fp.readline()
        assert line, "the stream ended"
        if line.startswith(b"id: "):
            event_id = line[4:].strip().decode()
        elif line.startswith(b"data: "):
            got.append((event_id, json.loads(line[6:])))
    return got


def stream(server: Server, query: str = "", last_id: str | None = None):
    conn = server.connection(timeout=10)
    headers = {"Last-Event-ID": last_id} if last_id else {}
    if server.token:
        headers["Authorization"] = f"Bearer {server.token}"
    conn.request("GET", f"/api/events/stream{query}", headers=headers)
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream; charset=utf-8"
    assert response.fp.readline() == b": watchd live events\n"
    return conn, response


def test_the_stream_sends_live_events_and_a_reconnect_gets_exactly_what_it_missed(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(b"")
    server = serve(watchd, trail)
    conn, response = stream(server)
    append(trail, b"".join(terok(n) for n in range(3)))
    first = read_events(response, 3)
    assert [data["detail"].split()[0] for _, data in first] == ["n=0", "n=1", "n=2"]
    ids = [event_id for event_id, _ in first]
    assert len(set(ids)) == 3
    assert all(event_id.endswith(f"@{end}") for event_id, end in zip(ids, ends(trail), strict=True))
    conn.close()

    append(trail, b"".join(terok(n) for n in range(3, 6)))
    wait_until(lambda: len((tmp_path / "out.jsonl").read_bytes().splitlines()) == 6)
    conn, response = stream(server, last_id=ids[-1])
    missed = read_events(response, 3)
    assert [data["detail"].split()[0] for _, data in missed] == ["n=3", "n=4", "n=5"]
    append(trail, terok(6))
    assert read_events(response, 1)[0][1]["detail"].startswith("n=6 ")
    conn.close()

    # Filtered on the server: only what matches is sent, from where the client left.
    conn, response = stream(server, "?action=denied", last_id=ids[0])
    append(trail, terok(7, "denied") + terok(8, "allowed") + terok(9, "denied"))
    got = [data["detail"].split()[0] for _, data in read_events(response, 2)]
    assert got == ["n=7", "n=9"]
    conn.close()


def ends(trail: Path) -> list[int]:
    end, found = 0, []
    for one in trail.read_bytes().splitlines(keepends=True):
        end += len(one)
        found.append(end)
    return found


def nice_of_threads(pid: int) -> dict[int, int]:
    """Return each thread of *pid* and its nice value, from /proc."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a request's thread that just ended
            fields = (task / "stat").read_text().rpartition(")")[2].split()
            found[int(task.name)] = int(fields[16])
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are Linux's")
def test_the_servers_threads_give_the_cpu_to_the_loop_first(watchd, tmp_path):
    """Linux schedules threads, not processes: the server's at the loop's own priority took
    the loop's share (bench/http_load.py: 20-29 s behind the writer)."""
    trail = trail_of(tmp_path / "audit.jsonl", 3)
    server = serve(watchd, trail)
    conn, _ = stream(server)
    wait_until(lambda: metrics(server)["watchd_http_live_clients", ()] == 1)
    pid = server.process.proc.pid
    nice = nice_of_threads(pid)
    assert nice.pop(pid) == 0  # the loop
    # The accepting thread and the streams' writer, at least; every other at the loop's.
    assert list(nice.values()).count(SERVER_NICE) >= 2, nice
    assert set(nice.values()) <= {0, SERVER_NICE}, nice
    conn.close()


def test_a_stalled_stream_client_never_holds_the_pipeline(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(b"")
    out = tmp_path / "out.jsonl"
    server = serve(watchd, trail, "--http-buffer", "100")
    stalled = socket.create_connection((server.host, server.port))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(
        b"GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )  # and never reads
    wait_until(lambda: metrics(server)["watchd_http_live_clients", ()] == 1)
    count = 20_000
    with open(trail, "ab") as handle:
        for first in range(0, count, 1000):
            handle.write(b"".join(terok(n) for n in range(first, first + 1000)))
            handle.flush()
    lines = wait_until(lambda: (n := len(out.read_bytes().splitlines())) == count and n, 60)
    assert lines == count
    # It fell behind the 100 events held: dropped, counted, and its connection closed
    # (what it did not read ends in the end of the stream, not in the 10 s timeout).
    wait_until(lambda: metrics(server)["watchd_http_live_clients", ()] == 0)
    assert metrics(server)["watchd_http_live_clients_dropped_total", ()] == 1
    stalled.settimeout(10)
    while stalled.recv(1 << 16):
        pass
    stalled.close()


def test_one_thread_writes_every_stream(watchd, tmp_path):
    """Twenty clients are twenty sockets of one writer, not twenty threads beside the loop."""
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(b"")
    server = serve(watchd, trail)
    pid = server.process.proc.pid
    first = [stream(server)]
    wait_until(lambda: metrics(server)["watchd_http_live_clients", ()] == 1)
    before = len(nice_of_threads(pid))
    streams = first + [stream(server) for _ in range(19)]
    wait_until(lambda: metrics(server)["watchd_http_live_clients", ()] == 20)
    # Their request threads end once the headers are sent (a thread per stream stays).
    wait_until(lambda: len(nice_of_threads(pid)) <= before)
    append(trail, b"".join(terok(n) for n in range(5)))
    for _, response in streams:
        got = [data["detail"].split()[0] for _, data in read_events(response, 5)]
        assert got == ["n=0", "n=1", "n=2", "n=3", "n=4"]
    for conn, response in streams[:10]:
        response.close()  # the socket is the response's too
        conn.close()
    wait_until(lambda: metrics(server)["watchd_http_live_clients", ()] == 10)
    append(trail, terok(5))
    for _, response in streams[10:]:
        assert read_events(response, 1)[0][1]["detail"].startswith("n=5 ")
    for conn, _ in streams[10:]:
        conn.close()


def test_the_buffer_drops_a_client_that_fell_behind(tmp_path):
    """The rule itself, without sockets: what is no longer held ends the client."""
    feed = LiveFeed(4)
    event = [WatchEvent(ts=f"t{n}", source="s", action="a", container=f"c{n}") for n in range(10)]
    start = feed.start_after(None)
    feed.observe(event[:3])
    upto, pieces = feed.read(start, [])
    held = held_of(pieces)
    assert (upto, [h.event.container for h in held]) == (3, ["c0", "c1", "c2"])
    assert [h.id for h in held] == ["#0", "#1", "#2"]  # no cursor: its number
    for one in event[3:9]:  # six more, a batch each: 5..8 are held
        feed.observe([one])
    with pytest.raises(Dropped):
        feed.read(upto, [])
    assert feed.dropped == 1
    assert feed.start_after("#6") == 7
    assert feed.start_after("#1") == 5  # gone: from the oldest held
    assert feed.start_back(3) == 6
    assert feed.start_back(100) == 5
    upto, pieces = feed.read(7, [lambda events: [e for e in events if e.container != "c7"]])
    held = held_of(pieces)
    assert (upto, [h.event.container for h in held]) == (9, ["c8"])
    assert feed.read(9, []) == (9, [])
    # A batch is held whole: seven events where four are asked, the older ones let go.
    feed.observe(event[:7])
    assert feed.start_back(100) == 9
    upto, pieces = feed.read(9, [])
    held = held_of(pieces)
    assert (upto, [h.event.container for h in held]) == (16, [f"c{n}" for n in range(7)])
    assert frames(pieces) == b"".join(h.sse() for h in held)
    upto, pieces = feed.read(11, [])  # from the middle of a batch: its rest
    assert (upto, [h.event.container for h in held_of(pieces)]) == (
        16,
        ["c2", "c3", "c4", "c5", "c6"],
    )
    assert frames(pieces) == b"".join(h.sse() for h in held[2:])
    feed.close()
    assert feed.read(16, []) is None


class _Marker(dict[str, str]):
    """A value an event holds (JSON can hold it) that says, by a weak reference, when freed."""


def test_a_batch_the_buffer_let_go_is_freed_at_once():
    """The feed holds its newest events and no more: memory follows --http-buffer."""
    feed = LiveFeed(4)
    markers = [_Marker() for _ in range(8)]
    alive = [weakref.ref(marker) for marker in markers]
    for n, marker in enumerate(markers):
        feed.observe(
            [WatchEvent(ts="t", source="s", action="a", container="", extra={"m": marker})]
        )
        del marker
        if n == 5:
            taken = feed.read(feed.start_back(4), [])  # a client reads 2..5 meanwhile
    del markers
    assert [ref() is not None for ref in alive] == [False, False] + [True] * 6
    assert taken is not None
    assert len(held_of(taken[1])) == 4
    del taken  # the client let them go: only the four newest are held
    assert [ref() is not None for ref in alive] == [False] * 4 + [True] * 4


def test_the_live_feed_never_keeps_a_run_alive_whose_reader_left(tmp_path):
    """``watchd run --http … --sink stdout | head -1`` ends when head does, as without --http."""
    trail = trail_of(tmp_path / "audit.jsonl", 5)
    command = [
        *("run", "--source", f"audit:{trail}", "--from-beginning", "--sink", "stdout"),
        *("--format", "json", "--http", "127.0.0.1:0", "--state-dir", str(tmp_path / "state")),
    ]
    more = b"".join(terok(n) for n in range(5, 5000))  # the next write finds the reader gone
    status, first, stderr = through_head(command, lambda: append(trail, more), timeout=30)
    assert json.loads(first)["container"] == "c0"
    assert status == 0, stderr


class _Refusing:
    name = "refusing"

    def __init__(self) -> None:
        self.closed = False

    def observe(self, events):
        raise RuntimeError("an observer's own bug")

    def close(self) -> None:
        self.closed = True


def test_an_observer_that_fails_costs_no_delivery_and_no_checkpoint():
    delivered: list[list[str]] = []
    acked: list[int] = []

    class Sink:
        name = "sink"

        def emit_batch(self, events):
            delivered.append([e.container for e in events])

        def flush(self) -> None: ...

        def close(self) -> None: ...

    observer = _Refusing()
    pipeline = Pipeline([], [Sink()], observers=[observer])
    for n in range(3):
        pipeline.dispatch(
            [WatchEvent(ts="t", source="s", action="a", container=f"c{n}")],
            lambda n=n: acked.append(n),
        )
    assert delivered == [["c0"], ["c1"], ["c2"]]
    assert acked == [0, 1, 2]
    assert (pipeline.alive, pipeline.lost, pipeline.failed) == (True, False, False)
    pipeline.close()
    assert observer.closed
    # Observers alone do not make a run: without a sink it is over.
    assert not Pipeline([], [], observers=[_Refusing()]).alive


def test_an_event_json_cannot_hold_is_left_out_of_the_stream_not_the_run():
    feed = LiveFeed(8)
    odd = WatchEvent(ts="t", source="s", action="a", container="odd", extra={"x": object()})
    events = [WatchEvent(ts="t", source="s", action="a", container=f"c{n}") for n in range(2)]
    feed.observe([events[0], odd, events[1]])
    upto, pieces = feed.read(0, [])
    held = held_of(pieces)
    assert [h.event.container for h in held] == ["c0", "c1"]
    assert [json.loads(h.frame)["container"] for h in held] == ["c0", "c1"]
    assert (upto, feed.unencodable) == (3, 1)  # numbered, and left out
    assert frames(pieces) == held[0].sse() + held[1].sse()


def test_the_page_is_served_with_its_files_and_no_inline_code(watchd, tmp_path):
    server = serve(
        watchd, trail_of(tmp_path / "audit.jsonl", 1), env=clean_env(WATCHD_HTTP_TOKEN=TOKEN)
    )
    kinds = {
        "/": "text/html; charset=utf-8",
        "/app.js": "text/javascript; charset=utf-8",
        "/app.css": "text/css; charset=utf-8",
        "/favicon.svg": "image/svg+xml",
    }
    for path, kind in kinds.items():
        status, headers, body = server.get(path, token=None)  # they hold no data: no token
        assert (status, headers["Content-Type"]) == (200, kind), path
        assert {k: headers[k] for k in SECURITY_HEADERS} == SECURITY_HEADERS
        assert b"innerHTML" not in body
        assert b"eval(" not in body
    page = server.get("/", token=None)[2].decode()
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/app.js" defer>']
    assert not re.search(r"\son[a-z]+=|\sstyle=|<style", page)
    assert server.get("/api/events", token=None)[0] == 401


def test_the_stream_backlog_record_and_text_parameters(watchd, tmp_path):
    trail = trail_of(tmp_path / "audit.jsonl", 6)
    server = serve(watchd, trail)
    wait_until(lambda: len((tmp_path / "out.jsonl").read_bytes().splitlines()) == 6)
    lines = trail.read_bytes().splitlines()
    conn, response = stream(server, "?backlog=2&raw=1")
    got = read_events(response, 2)
    assert [data["record"].encode() for _, data in got] == lines[4:6]
    assert [data["event"]["detail"].split()[0] for _, data in got] == ["n=4", "n=5"]
    conn.close()
    conn, response = stream(server, "?backlog=10000&text=N%3D3")  # in any case
    assert [data["detail"].split()[0] for _, data in read_events(response, 1)] == ["n=3"]
    append(trail, terok(13) + terok(30))
    assert [data["detail"].split()[0] for _, data in read_events(response, 1)] == ["n=30"]
    conn.close()
    assert server.get("/api/events/stream?raw=yes")[0] == 400
    assert server.get("/api/events/stream?backlog=10001")[0] == 400
