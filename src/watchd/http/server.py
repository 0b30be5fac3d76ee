"""The HTTP server of a run: routes, headers, access, and its threads.

Why the standard library's ``ThreadingHTTPServer``: what is served is a few
JSON endpoints and a stream per client, each request on a thread of its own,
so a slow client or a long query waits only for itself; the select loop stays
the only thing on the main thread and an async framework would be a second
event loop beside it for no gain. It has no dependencies, and TLS is the
standard ``ssl`` module's. A live stream's request thread ends once its
headers are sent: one writer thread sends every stream (``http/streams.py``).
The server's threads run at the lowest priority (``http/priority.py``):
what it serves must never cost the following.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson
import structlog

from watchd.core.errors import UsageError, setup_error
from watchd.core.interfaces import delivering
from watchd.core.registry import TypeTable
from watchd.core.routes import Answer, BadRequestError, Handler, RoutesFactory, RunTrails
from watchd.core.run import Running
from watchd.core.spec import Spec
from watchd.http.access import Access, Address
from watchd.http.api import STREAM_PARAMETERS, Api, count_of, parameters
from watchd.http.connections import Connections
from watchd.http.live import LiveFeed, held_island
from watchd.http.metrics import CONTENT_TYPE, RunCollector, exposition, registry_for
from watchd.http.priority import yield_to_the_loop
from watchd.http.streams import Stream, StreamWriter
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
#: Connections served at once (a stream's counts until it ends); past that, the one
#: waiting longest for a request makes room, and with none waiting the new one gets a 503.
MAX_CONNECTIONS = 256
#: Seconds a new connection waits for the slot a connection taken back gives up.
ROOM_WAIT = 2.0


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


def mounted(sets: TypeTable[RoutesFactory], trails: RunTrails) -> dict[str, Handler]:
    """Return every registered route set's handlers by path; a path taken twice stops the run."""
    taken: dict[str, str] = dict.fromkeys(OWN_PATHS, "watchd")
    handlers: dict[str, Handler] = {}
    for entry in sets:
        for path, handler in entry.item(trails).items():
            owner = taken.setdefault(path, f"{entry.plugin}'s {entry.name}")
            if owner != f"{entry.plugin}'s {entry.name}":
                raise UsageError(
                    f"--http: {path} is served by {owner} and by {entry.plugin}'s {entry.name}; "
                    "block one with -p no:NAME"
                )
            handlers[path] = handler
    return handlers


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
        #: Who holds the slots; connections that only wait are taken back (connections.py).
        self.connections = Connections()
        super().__init__((address.host, address.port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:  # noqa: ANN401 - socketserver types them so
        """Serve on a thread of its own; when every slot is taken, a waiter makes room, or 503."""
        host = str(client_address[0])
        full = not self._slots.acquire(blocking=False)
        admitted = self.connections.admit(request, host, full=full)
        if full and admitted and not self._slots.acquire(timeout=ROOM_WAIT):
            self.connections.gone(request)  # the waiter taken back did not end in time
            admitted = False
        elif not full and not admitted:
            self._slots.release()
        if not admitted:
            with contextlib.suppress(OSError):
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:  # noqa: ANN401
        """Serve, then close and give the slot back, or hand a live stream to its writer."""
        stream = None
        try:
            stream = _Handler(request, client_address, self).stream
        except Exception:  # noqa: BLE001 - as socketserver does: logged, the connection closed
            self.handle_error(request, client_address)
        finally:
            if stream is None:
                self.stream_ended(request)
            else:  # its connection and its slot live on with the stream
                self.service.streams.add(stream)

    def stream_ended(self, request: Any) -> None:  # noqa: ANN401
        """Close *request*'s connection and give its slot back."""
        self.connections.gone(request)
        self.shutdown_request(request)
        self._slots.release()

    def handle_error(self, request: object, client_address: object) -> None:  # noqa: ARG002
        """Log a request that failed, by its type only: the request may hold anything."""
        log.exception("HTTP request failed")


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
        self.routes = mounted(running.context.registry.routes, self.api)
        self.metrics = registry_for(RunCollector(running, live, self._checkpoint_time))
        try:
            self._server = _Server(address, self)
        except OSError as exc:
            raise setup_error(f"--http {address.host}:{address.port}", exc) from None
        if tls is not None:
            # The handshake happens on the request's thread (see _Handler.setup): one
            # client that never sends its hello must not hold the accepting thread.
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.tls = tls is not None
        self.streams = StreamWriter(live, self._server.stream_ended)
        self._thread = threading.Thread(target=self._serve, name="watchd-http", daemon=True)

    @property
    def url(self) -> str:
        """Return where the server answers (with the port it got, for port 0)."""
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{shown}:{port}"

    def _serve(self) -> None:
        yield_to_the_loop()  # every request thread is made by this one, and inherits it
        self._server.serve_forever()

    def start(self) -> None:
        """Start answering."""
        self._server.connections.start()
        self.streams.start()
        self._thread.start()
        log.info("serving HTTP", url=self.url, token=self.access.token is not None)

    def close(self) -> None:
        """Stop answering; end every live stream."""
        self.live.close()
        self.streams.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server.connections.close()

    # -- what the handlers ask ------------------------------------------------

    def _checkpoint_time(self) -> float | None:
        store = self.running.context.existing(CHECKPOINTS)
        return store.written_at() if store is not None else None

    def healthy(self) -> bool:
        """Return True when the loop turns (it is woken, and must answer within a bound)."""
        return self.running.loop.ping().wait(HEALTH_WAIT)

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
    # An answer's head and body are written apart: with Nagle's algorithm the
    # body waited for the client's delayed ACK, 40 ms a request on a kept-alive connection.
    disable_nagle_algorithm = True
    timeout = 30.0  # a client that neither asks nor reads gives its thread back
    #: A live stream whose headers were sent: its writer takes it when this thread is done.
    stream: Stream | None = None
    # The page and its files hold no data: without a token the page asks for one.
    _PUBLIC: ClassVar[frozenset[str]] = frozenset(("/healthz", "/readyz", *PAGE))

    def setup(self) -> None:
        """Set the request's timeout, and finish a TLS handshake under it."""
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def handle_one_request(self) -> None:
        """Wait for a request head (the connection may be taken back meanwhile), answer it."""
        self.server.connections.waiting(self.connection)
        super().handle_one_request()

    def parse_request(self) -> bool:
        """Parse the head; once it is whole, the connection is in a request."""
        parsed = super().parse_request()
        self.server.connections.busy(self.connection)
        return parsed

    def log_message(self, format: str, *args: object) -> None:
        """Print nothing: requests are logged by path at debug, never with their query."""

    def do_GET(self) -> None:
        """Answer a GET."""
        parts = urlsplit(self.path)
        service = self.server.service
        path = parts.path.rstrip("/") or "/"
        log.debug("http request", path=path)
        if not service.access.allows_host(self.headers.get("Host")):
            self._json(
                HTTPStatus.FORBIDDEN,
                {"error": "the Host header names no address of this server (see --http-host)"},
            )
            return
        if self._has_body():
            return
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
        self._has_body()
        self._not_allowed()

    def _has_body(self) -> bool:
        """Return True for a request that says it has a body; its connection ends after it.

        A body is never read here: left on a kept-alive connection, it would be
        parsed as the next request (request smuggling). A GET with one gets a 400.
        """
        if self.headers.get("Content-Length") in (None, "0") and not self.headers.get(
            "Transfer-Encoding"
        ):
            return False
        self.close_connection = True
        if self.command == "GET":
            self._json(HTTPStatus.BAD_REQUEST, {"error": "a GET has no body"})
        return True

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST  # noqa: N815

    def _route(self, service: HttpService, path: str, query: str) -> None:
        own = self.OWN.get(path)
        if path in PAGE:
            media_type, body = PAGE[path]
            if path == "/" and service.access.allows(None):  # open to all: its rows at once
                body = body.replace(b"<!--held-->", held_island(service.live))
            self._send(HTTPStatus.OK, media_type, [body])
        elif own is not None:
            own(self, service, query)
        elif path in service.routes:  # a plugin's (loki-mode's endpoints are one)
            self._answer(service.routes[path](query))
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such endpoint"})

    def _healthz(self, service: HttpService, _query: str) -> None:
        ok = service.healthy()
        status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
        self._json(status, {"status": "ok" if ok else "the loop does not answer"})

    def _readyz(self, service: HttpService, _query: str) -> None:
        ok, why = service.ready()
        self._json(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, {"status": why})

    def _metrics(self, service: HttpService, query: str) -> None:
        parameters(query, frozenset())
        self._send(HTTPStatus.OK, CONTENT_TYPE, [exposition(service.metrics)])

    def _events(self, service: HttpService, query: str) -> None:
        self._answer(service.api.events(query))

    def _summary(self, service: HttpService, query: str) -> None:
        self._send(HTTPStatus.OK, "application/json", [service.api.summary(query)])

    def _verify(self, service: HttpService, query: str) -> None:
        self._send(HTTPStatus.OK, "application/json", [service.api.verify(query)])

    def _answer(self, answer: Answer) -> None:
        self._send(HTTPStatus.OK, answer.media_type, answer.chunks, answer.headers.items())

    # -- answers ---------------------------------------------------------------

    def _not_allowed(self) -> None:
        self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "only GET is served"}, ("Allow", "GET"))

    def _json(self, status: HTTPStatus, body: object, *extra: tuple[str, str]) -> None:
        self._send(status, "application/json", [orjson.dumps(body)], extra)

    def _head(self, status: HTTPStatus, media_type: str, extra: Iterable[tuple[str, str]]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        if self.close_connection:
            self.send_header("Connection", "close")
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
        self._head(
            HTTPStatus.OK, "text/event-stream; charset=utf-8", (("X-Accel-Buffering", "no"),)
        )
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(b": watchd live events\n\n")
        self.wfile.flush()
        # Handed to the stream writer once this thread is done with the connection.
        self.stream = Stream(self.connection, seq, filters, with_record=raw == "1")

    #: The endpoints the server answers itself (besides the page's files): no route set
    #: may take one of these paths.
    OWN: ClassVar[dict[str, Callable[[_Handler, HttpService, str], None]]] = {
        "/healthz": _healthz,
        "/readyz": _readyz,
        "/metrics": _metrics,
        "/api/events": _events,
        "/api/summary": _summary,
        "/api/verify": _verify,
        "/api/events/stream": _stream,
    }


#: The paths the server answers itself: no route set may take one.
OWN_PATHS = frozenset((*PAGE, *_Handler.OWN))
