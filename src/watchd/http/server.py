"""The HTTP server of a run: routes, headers, access, and its threads.

Why the standard library's ``ThreadingHTTPServer``: what is served is a few
JSON endpoints and a stream per client, each request on a thread of its own,
so a slow client or a long query waits only for itself; the select loop stays
the only thing on the main thread and an async framework would be a second
event loop beside it for no gain. It has no dependencies, and TLS is the
standard ``ssl`` module's. Its threads run at the lowest priority (see
:func:`_yield_to_the_loop`): what it serves must never cost the following.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson
import structlog

from watchd.core.errors import UsageError
from watchd.core.interfaces import delivering
from watchd.core.run import Running
from watchd.core.spec import Spec
from watchd.http.access import Access, Address
from watchd.http.api import STREAM_PARAMETERS, Api, BadRequestError, count_of, parameters
from watchd.http.live import Dropped, LiveFeed, frames
from watchd.http.loki import LokiApi
from watchd.http.metrics import CONTENT_TYPE, RunCollector, exposition, registry_for
from watchd.watchers.audit import CHECKPOINTS

log = structlog.get_logger("watchd")

#: Headers of every answer: nothing framed, sniffed, cached or sent elsewhere.
SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
#: How long ``/healthz`` waits for the loop to turn.
HEALTH_WAIT = 2.0
#: A stream's keep-alive comment, this often while nothing matches.
KEEPALIVE = 15.0
#: Connections served at once; one more is answered 503 and closed (each holds a thread).
MAX_CONNECTIONS = 256
#: Streams are checked this often for their client having left, or the run stopping.
_STREAM_WAKE = 1.0
#: After sending, a stream rests this long so that what comes meanwhile goes in one write:
#: a hundred busy clients then wake 10 times a second each, not once per batch of the loop
#: (at 20 ms, bench/http_load.py saw them take the CPU the loop needed: 11 s behind, not 0.1).
_COALESCE = 0.1
#: The nice value of the server's threads. Linux schedules threads, not processes: at the
#: loop's own priority a hundred stream threads left the loop a small share of the CPU, and
#: it ended 24-29 s behind a 20,000 records/s writer (bench/http_load.py; 0.6 s at this one).
SERVER_NICE = 19


def _page_files() -> dict[str, tuple[str, bytes]]:
    """Return the live view's files by path: one page, its script and style, from the package."""
    folder = resources.files("watchd.http") / "page"
    kinds = {
        "/": ("index.html", "text/html; charset=utf-8"),
        "/app.js": ("app.js", "text/javascript; charset=utf-8"),
        "/app.css": ("app.css", "text/css; charset=utf-8"),
        "/favicon.svg": ("favicon.svg", "image/svg+xml"),
    }
    return {path: (media, (folder / name).read_bytes()) for path, (name, media) in kinds.items()}


#: The live view, read once when the server is first imported.
PAGE = _page_files()

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 32\r\n\r\n"
    b'{"error":"too many connections"}'
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stream still open does not hold the run's exit
    request_queue_size = 128

    def __init__(self, address: Address, service: HttpService) -> None:
        self.address_family = socket.AF_INET6 if address.ipv6 else socket.AF_INET
        self.service = service
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__((address.host, address.port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:  # noqa: ANN401 - socketserver types them so
        """Serve on a thread of its own, unless every slot is taken: then 503 at once."""
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:  # noqa: ANN401
        """Serve, then give the slot back."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: object, client_address: object) -> None:  # noqa: ARG002
        """Log a request that failed, by its type only: the request may hold anything."""
        log.exception("HTTP request failed")


def _yield_to_the_loop() -> None:
    """Lower this thread's priority (and that of the threads it makes) below the loop's."""
    if sys.platform != "linux":  # elsewhere PRIO_PROCESS with a thread's id is not per thread
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SERVER_NICE)
    except OSError as exc:  # a sandbox may refuse it; serving still works
        log.warning("could not lower the HTTP server's priority", error=exc.strerror)


class HttpService:
    """The API, the live stream, health and metrics of one run, on their own threads."""

    def __init__(
        self,
        address: Address,
        access: Access,
        running: Running,
        live: LiveFeed,
        sources: Sequence[Spec],
        *,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.access = access
        self.running = running
        self.live = live
        self.api = Api(running.context, sources)
        self.loki = LokiApi(self.api)
        self.metrics = registry_for(RunCollector(running, live, self._checkpoint_time))
        try:
            self._server = _Server(address, self)
        except OSError as exc:
            raise UsageError(f"--http {address.host}:{address.port}: {exc.strerror}") from None
        if tls is not None:
            # The handshake happens on the request's thread (see _Handler.setup): one
            # client that never sends its hello must not hold the accepting thread.
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.tls = tls is not None
        self._thread = threading.Thread(target=self._serve, name="watchd-http", daemon=True)

    @property
    def url(self) -> str:
        """Return where the server answers (with the port it got, for port 0)."""
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{shown}:{port}"

    def _serve(self) -> None:
        _yield_to_the_loop()  # every request thread is made by this one, and inherits it
        self._server.serve_forever()

    def start(self) -> None:
        """Start answering."""
        self._thread.start()
        log.info("serving HTTP", url=self.url, token=self.access.token is not None)

    def close(self) -> None:
        """Stop answering; end every live stream."""
        self.live.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # -- what the handlers ask ------------------------------------------------

    def _checkpoint_time(self) -> float | None:
        store = self.running.context.existing(CHECKPOINTS)
        return store.written_at() if store is not None else None

    def healthy(self) -> bool:
        """Return True when the loop turns (it is woken, and must answer within a bound)."""
        loop = self.running.loop
        before = loop.turns
        loop.ping()
        deadline = time.monotonic() + HEALTH_WAIT
        while loop.turns == before:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def ready(self) -> tuple[bool, str]:
        """Return whether every source has started and some sink can deliver, and why not."""
        loop = self.running.loop
        if not loop.started:
            return False, "sources starting"
        sinks = list(loop.pipeline.sinks)
        if not sinks:
            return False, "no sink left"
        if not any(delivering(sink) for sink in sinks):
            return False, "no sink connected"
        return True, "ready"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "watchd"
    sys_version = ""

    def version_string(self) -> str:
        """Return the Server header: the name alone, no versions to fingerprint."""
        return "watchd"

    protocol_version = "HTTP/1.1"
    timeout = 30.0  # a client that neither asks nor reads gives its thread back
    # The page and its files hold no data: without a token the page asks for one.
    _PUBLIC: ClassVar[frozenset[str]] = frozenset(("/healthz", "/readyz", *PAGE))

    def setup(self) -> None:
        """Set the request's timeout, and finish a TLS handshake under it."""
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def log_message(self, format: str, *args: object) -> None:
        """Print nothing: requests are logged by path at debug, never with their query."""

    def do_GET(self) -> None:
        """Answer a GET."""
        parts = urlsplit(self.path)
        service = self.server.service
        path = parts.path.rstrip("/") or "/"
        log.debug("http request", path=path)
        if path not in self._PUBLIC and not service.access.allows(
            self.headers.get("Authorization")
        ):
            self._json(
                HTTPStatus.UNAUTHORIZED,
                {"error": "a valid bearer token is needed"},
                ("WWW-Authenticate", 'Bearer realm="watchd"'),
            )
            return
        try:
            self._route(service, path, parts.query)
        except BadRequestError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except (OSError, ssl.SSLError):  # the client left, or stopped reading
            self.close_connection = True

    def do_HEAD(self) -> None:
        """HEAD is not served: GET is what the API is."""
        self._not_allowed()

    def do_POST(self) -> None:
        """Nothing is written through the API."""
        self._not_allowed()

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST  # noqa: N815

    def _route(self, service: HttpService, path: str, query: str) -> None:
        api = service.api
        if path in PAGE:
            media_type, body = PAGE[path]
            self._send(HTTPStatus.OK, media_type, [body])
        elif path == "/healthz":
            ok = service.healthy()
            status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
            self._json(status, {"status": "ok" if ok else "the loop does not answer"})
        elif path == "/readyz":
            ok, why = service.ready()
            self._json(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, {"status": why})
        elif path == "/metrics":
            parameters(query, frozenset())
            self._send(HTTPStatus.OK, CONTENT_TYPE, [exposition(service.metrics)])
        elif path == "/api/events":
            answer = api.events(query)
            self._send(HTTPStatus.OK, answer.media_type, answer.chunks, answer.headers.items())
        elif path == "/api/summary":
            self._send(HTTPStatus.OK, "application/json", [api.summary(query)])
        elif path == "/api/verify":
            self._send(HTTPStatus.OK, "application/json", [api.verify(query)])
        elif path == "/api/events/stream":
            self._stream(service, query)
        elif path in service.loki.routes:
            answer = service.loki.routes[path](query)
            self._send(HTTPStatus.OK, answer.media_type, answer.chunks, answer.headers.items())
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such endpoint"})

    # -- answers ---------------------------------------------------------------

    def _not_allowed(self) -> None:
        self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "only GET is served"}, ("Allow", "GET"))

    def _json(self, status: HTTPStatus, body: object, *extra: tuple[str, str]) -> None:
        self._send(status, "application/json", [orjson.dumps(body)], extra)

    def _head(self, status: HTTPStatus, media_type: str, extra: Iterable[tuple[str, str]]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        for name, value in (*SECURITY_HEADERS, *extra):
            self.send_header(name, value)

    def _send(
        self,
        status: HTTPStatus,
        media_type: str,
        chunks: Iterable[bytes],
        extra: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Send a whole answer: its length is known, the connection stays open."""
        body = b"".join(chunks)
        self._head(status, media_type, extra)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, service: HttpService, query: str) -> None:
        """Server-sent events: each matching event as it comes, its cursor as its id."""
        live = service.live
        found = parameters(query, STREAM_PARAMETERS)
        filters = service.api.stream_filters(found)
        raw = found.get("raw", ["0"])[0]
        if raw not in ("0", "1"):
            raise BadRequestError(f"raw: 0 or 1, not {raw!r}")
        backlog = count_of(found, "backlog", 0, live.size) or 0
        last_id = self.headers.get("Last-Event-ID")
        seq = live.start_after(last_id) if last_id or not backlog else live.start_back(backlog)
        with_record = raw == "1"
        self._head(
            HTTPStatus.OK, "text/event-stream; charset=utf-8", (("X-Accel-Buffering", "no"),)
        )
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(b": watchd live events\n\n")
        self.wfile.flush()
        live.joined(+1)
        quiet_since = time.monotonic()
        try:
            while True:
                try:
                    taken = live.wait(seq, filters, _STREAM_WAKE)
                except Dropped:
                    self.wfile.write(b'event: dropped\ndata: {"reason":"fell behind"}\n\n')
                    log.warning("live client dropped: it fell behind the buffer")
                    return
                if taken is None:
                    return  # the run is stopping
                seq, held = taken
                if held:
                    self.wfile.write(frames(held, with_record=with_record))
                    self.wfile.flush()
                    quiet_since = time.monotonic()
                    time.sleep(_COALESCE)
                elif time.monotonic() - quiet_since >= KEEPALIVE:
                    self.wfile.write(b": keep-alive\n\n")  # finds a client that left
                    self.wfile.flush()
                    quiet_since = time.monotonic()
        finally:
            live.joined(-1)
