"""A real HTTP(S) server on loopback that speaks enough of Splunk HEC for the tests.

It records every request (path, headers, body ungzipped), answers from a
script of (status, JSON) replies before falling back to success, and with
``ack=True`` hands out ackIds and answers ``/services/collector/ack`` as
told by ``acks_after`` (how many polls before an ackId reads true).
"""

from __future__ import annotations

import gzip
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    #: Whether the answer said success: 2xx with code 0 in a JSON object.
    success: bool = False

    def objects(self) -> list[dict[str, Any]]:
        """Return the concatenated JSON objects of an event request."""
        decoder, text, objects, at = json.JSONDecoder(), self.body.decode(), [], 0
        while at < len(text):
            obj, at = decoder.raw_decode(text, at)
            objects.append(obj)
        return objects


@dataclass
class HecServer:
    ack: bool = False
    acks_after: int = 0
    #: Answer ack polls with a list, as no HEC does (a wrong shape to survive).
    acks_as_list: bool = False
    #: Replies to give first: a JSON object, or bytes sent as they are (a body that is not JSON).
    script: list[tuple[int, dict[str, Any] | bytes]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    tls: dict[str, Path] | None = None
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next_ack = 0
        self._polls: dict[int, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = Request(self.path, dict(self.headers), body)
                status, answer = server.answer(request)
                request.status = status
                request.success = (
                    200 <= status < 300 and isinstance(answer, dict) and answer.get("code") == 0
                )
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.tls["cert"], self.tls["key"])
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def answer(self, request: Request) -> tuple[int, dict[str, Any] | bytes]:
        with self._lock:
            if request.path == "/services/collector/ack":
                acks = {}
                for ack_id in json.loads(request.body)["acks"]:
                    self._polls[ack_id] = self._polls.get(ack_id, 0) + 1
                    acks[str(ack_id)] = self._polls[ack_id] > self.acks_after
                if self.acks_as_list:
                    return 200, {"acks": list(acks.values())}
                return 200, {"acks": acks}
            self.requests.append(request)
            if self.script:
                return self.script.pop(0)
            if self.ack:
                self._next_ack += 1
                return 200, {"text": "Success", "code": 0, "ackId": self._next_ack - 1}
            return 200, {"text": "Success", "code": 0}

    def events(self) -> list[dict[str, Any]]:
        """Return the events of every request HEC answered with success, in order."""
        with self._lock:
            done = [r for r in self.requests if r.success]
        return [obj for request in done for obj in request.objects()]

    def wait_for_requests(self, count: int, timeout: float = 20.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} of {count} requests"
            time.sleep(0.02)
        return list(self.requests)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
