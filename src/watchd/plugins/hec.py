"""The ``hec`` sink: Splunk's HTTP Event Collector, batched, retried, never blocking the loop.

The loop formats events into HEC objects and hands whole batches (1 MB or 1 s,
whichever comes first) to one worker thread through a bounded queue; the worker
POSTs them and wakes the loop through a pipe when a batch is done. An event
counts as delivered when HEC answered 2xx for its batch, or, with indexer
acknowledgement, when HEC says the batch was indexed. Network errors, 5xx and
429 are retried with jittered backoff, without end; a 400 for bad data sends
the event HEC names (or the batch) to the dead-letter file and goes on; 401
and 403 stop the sink with one clear line. The token is never logged.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import os
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import structlog

from watchd import hookimpl
from watchd.core.context import RunContext
from watchd.core.deadletters import DeadLetters, dead_letters
from watchd.core.errors import SinkStoppedError, UsageError
from watchd.core.event import WatchEvent
from watchd.core.protocols import SinkFactory
from watchd.core.registry import TypeTable
from watchd.core.spec import Spec
from watchd.core.timestamps import event_time
from watchd.plugins.stream import (
    Backoff,
    QueueBounds,
    queue_bounds,
    tls_context,
    warn_undelivered,
)
from watchd.plugins.syslog_messages import local_hostname

TOKEN_ENV = "WATCHD_HEC_TOKEN"  # noqa: S105 - the variable's name, not a token
_EVENT_PATH = "/services/collector/event"
_ACK_PATH = "/services/collector/ack"
_BAD_DATA = frozenset((400, 413, 422))
_REFUSED = frozenset((401, 403))
_WRONG_PLACE = frozenset((404, 405))


@dataclass(slots=True)
class Batch:
    """The HEC objects sent in one request, one per event."""

    objects: list[bytes]
    size: int = 0  # bytes of the objects, as the queue bound counts them


@dataclass(slots=True)
class Result:
    """What became of a batch: delivered (count), dead-lettered (count), or a fatal refusal."""

    delivered: int = 0
    dead: int = 0
    fatal: str = ""
    size: int = 0  # bytes of the batch, no longer held


class HecObjects:
    """Turns events into HEC objects: ``time``, ``host``, ``source``, ``sourcetype``, ``event``."""

    def __init__(
        self,
        *,
        host: str,
        source: str | None,
        sourcetype: str,
        index: str | None,
        loki: bool,
    ) -> None:
        self._host = host
        self._source = source
        self._sourcetype = sourcetype
        self._index = index
        self._loki = loki

    def __call__(self, event: WatchEvent) -> bytes:
        """Return the HEC object of *event*."""
        when = event_time(event)
        if self._loki:
            return self._loki_object(event, when)
        obj: dict[str, Any] = {
            "time": round(when.timestamp(), 3),
            "host": self._host,
            "source": self._source or event.origin or event.source,
            "sourcetype": self._sourcetype,
        }
        if self._index:
            obj["index"] = self._index
        obj["event"] = event.to_dict()
        return orjson.dumps(obj)

    def _loki_object(self, event: WatchEvent, when: datetime) -> bytes:
        """loki-mode's own converter: its keys, its order, the record as it is."""
        obj: dict[str, Any] = {
            "time": int(when.timestamp()),
            "source": self._source or "loki-mode",
            "sourcetype": self._sourcetype,
            "event": event.record if event.record is not None else event.to_dict(),
        }
        if self._host:
            obj["host"] = self._host
        if self._index:
            obj["index"] = self._index
        return json.dumps(obj, separators=(",", ":")).encode()


class HecClient:
    """One keep-alive connection to HEC, used from the worker thread only."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        tls: ssl.SSLContext | None,
        compress: bool,
        channel: str | None,
        timeout: float = 30.0,
    ) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self._prefix = parts.path.rstrip("/") if parts.path not in ("", "/") else ""
        self._tls = tls
        self._timeout = timeout
        self._compress = compress
        self._token = token
        self._headers = {
            "Authorization": f"Splunk {token}",  # never logged: see redact()
            "Content-Type": "application/json",
            "User-Agent": "watchd",
        }
        if channel:
            self._headers["X-Splunk-Request-Channel"] = channel
        self._conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        """POST *body*; return the status and the JSON answer (None when it is not an object)."""
        headers = dict(self._headers)
        if self._compress:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        conn = self._connection()
        try:
            conn.request("POST", self._prefix + path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            return response.status, None
        return response.status, answer if isinstance(answer, dict) else None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self._timeout, context=self._tls
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self._timeout)
        return self._conn

    def redact(self, text: str) -> str:
        """Return *text* without the token: an answer may echo the Authorization header."""
        return text.replace(self._token, "<token>") if self._token else text

    def close(self) -> None:
        """Drop the connection (the next request opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class WakePipe:
    """The pipe a worker thread wakes the loop through, closed only once neither uses it.

    The loop's side may give up waiting for a worker still inside a request; if
    the worker's end were closed then, its descriptor number could be reused
    (by the checkpoint thread's file, say) before the worker writes its byte.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        self._lock = threading.Lock()
        self._closed = False

    def fileno(self) -> int:
        """Return the end the loop selects on."""
        return self._read

    def drain(self) -> None:
        """Take the wake-up bytes (the loop's side)."""
        with contextlib.suppress(BlockingIOError):
            os.read(self._read, 4096)

    def poke(self) -> bool:
        """Wake the loop (the worker's side); False once the loop's side is closed."""
        with self._lock:
            if self._closed:
                return False
            try:
                os.write(self._write, b"!")
            except OSError:
                return False
            return True

    def close(self, *, worker_alive: bool) -> None:
        """Close the loop's end; the worker's end too, unless the worker still runs."""
        with self._lock:
            self._closed = True
            os.close(self._read)
            if not worker_alive and self._write >= 0:
                os.close(self._write)
                self._write = -1

    def worker_exited(self) -> None:
        """Close the worker's end if the loop's side is already closed."""
        with self._lock:
            if self._closed and self._write >= 0:
                os.close(self._write)
                self._write = -1


class HecSink:
    """Events to Splunk HEC; an :class:`~watchd.AsyncSink` driven by a wake-up pipe."""

    def __init__(
        self,
        name: str,
        client: HecClient,
        objects: HecObjects,
        *,
        max_bytes: int = 1_000_000,
        flush_seconds: float = 1.0,
        bounds: QueueBounds | None = None,
        backoff: Backoff | None = None,
        ack: bool = False,
        ack_timeout: float = 300.0,
        letters: DeadLetters | None = None,
    ) -> None:
        self.name = name
        self._client = client
        self._objects = objects
        self._max_bytes = max_bytes
        self._flush_seconds = flush_seconds
        self._bounds = bounds or QueueBounds()
        self._held_bytes = 0  # of the events taken and not yet delivered
        self._backoff = backoff or Backoff(base=0.2)
        self._ack = ack
        self._ack_timeout = ack_timeout
        self._letters = letters or DeadLetters(name)
        self._log = structlog.get_logger("watchd").bind(sink=name)
        self._building: list[bytes] = []
        self._building_bytes = 0
        self._building_since = 0.0
        self._accepted = 0
        self._delivered = 0
        self._dead = 0
        # Batches for the worker, and what became of them; bounded by has_room().
        self._outbox: deque[Batch] = deque()
        self._results: deque[Result] = deque()
        self._ready = threading.Condition()
        self._stopping = threading.Event()
        self._wake = WakePipe()
        self._worker = threading.Thread(target=self._work, name=f"watchd {name}", daemon=True)
        self._worker.start()

    # -- the loop's side ---------------------------------------------------------------

    def emit_batch(self, events: Sequence[WatchEvent]) -> None:
        """Add *events* to the batch being built; hand it over at the size limit."""
        if not self._building:
            self._building_since = time.monotonic()
        encoded = self._letters.encode(events, self._objects)
        for data in encoded:
            if self._building and self._building_bytes + len(data) > self._max_bytes:
                self._hand_over()
                self._building_since = time.monotonic()
            self._building.append(data)
            self._building_bytes += len(data)
            self._held_bytes += len(data)
        self._accepted += len(encoded)

    def accepted(self) -> int:
        """Return how many events were taken so far."""
        return self._accepted

    def delivered(self) -> int:
        """Return how many events HEC took (or the dead-letter file did), in order."""
        return self._delivered

    def has_room(self) -> bool:
        """Return False while too many events wait (the sources pause)."""
        return (
            self._accepted - self._delivered < self._bounds.events
            and self._held_bytes < self._bounds.bytes
        )

    def fileno(self) -> int:
        """Return the pipe the worker wakes the loop through."""
        return self._wake.fileno()

    def wants_write(self) -> bool:
        """Return False: the worker writes, the loop only hears from it."""
        return False

    def timeout(self) -> float | None:
        """Return the time until the batch being built is due, if there is one."""
        if not self._building:
            return None
        return max(self._building_since + self._flush_seconds - time.monotonic(), 0.0)

    def on_timeout(self) -> None:
        """Hand the batch over when it is due."""
        if self._building and time.monotonic() >= self._building_since + self._flush_seconds:
            self._hand_over()

    def on_readable(self) -> None:
        """Take the worker's results; a refused token stops the sink."""
        self._wake.drain()
        while self._results:
            result = self._results.popleft()
            if result.fatal:
                raise SinkStoppedError(result.fatal)
            self._delivered += result.delivered + result.dead
            self._held_bytes -= result.size
            self._dead += result.dead

    def on_writable(self) -> None:
        """Nothing to do: the loop never selects this sink for writing."""

    def flush(self) -> None:
        """Hand over the batch being built (at shutdown)."""
        if self._building:
            self._hand_over()

    def close(self) -> None:
        """Stop the worker; say how many events were not delivered."""
        self._stopping.set()
        with self._ready:
            self._ready.notify()
        self._worker.join(timeout=5)
        with contextlib.suppress(SinkStoppedError):
            self.on_readable()
        undelivered = self._accepted - self._delivered
        if undelivered:
            warn_undelivered(self._log, undelivered)
        if self._dead:
            self._log.warning(
                "events HEC refused as bad data", count=self._dead, dead_letter=self._letters.path
            )
        self._letters.close()
        self._wake.close(worker_alive=self._worker.is_alive())

    def _hand_over(self) -> None:
        batch = Batch(self._building, self._building_bytes)
        self._building, self._building_bytes = [], 0
        with self._ready:
            self._outbox.append(batch)
            self._ready.notify()

    # -- the worker's side ------------------------------------------------------------------

    def _work(self) -> None:
        try:
            self._work_on()
        finally:
            self._wake.worker_exited()

    def _work_on(self) -> None:
        while True:
            with self._ready:
                while not self._outbox and not self._stopping.is_set():
                    self._ready.wait()
                if not self._outbox:
                    return
                batch = self._outbox.popleft()
            try:
                result = self._send(batch)
            except Exception as exc:  # noqa: BLE001 - the loop must hear of it, not a dead thread
                result = Result(fatal=f"HEC worker failed ({type(exc).__name__})")
                self._log.exception("HEC worker failed")
            result.size = batch.size
            self._results.append(result)
            if not self._wake.poke() or result.fatal:
                return

    def _send(self, batch: Batch) -> Result:
        """Deliver *batch*, retrying until it is in, dead-lettered, or refused."""
        result = Result()
        objects = batch.objects
        failures = 0
        # Once stopping, no batch is sent again: what is not in is read again after a restart.
        attempted = False
        while objects and not (attempted and self._stopping.is_set()):
            attempted = True
            answer: dict[str, Any] | None
            try:
                status, answer = self._client.post(_EVENT_PATH, b"".join(objects))
            except (OSError, http.client.HTTPException) as exc:
                status, answer = 0, {"text": str(exc) or type(exc).__name__}
            # HEC answers every request with a JSON object; a 2xx is a success only with code 0.
            accepted = 200 <= status < 300 and answer is not None and _code(answer) == 0
            if answer is None:
                answer = {"text": "the answer is not a JSON object"}
            if accepted:
                if self._ack and not self._wait_for_ack(answer):
                    continue  # not indexed in time (or stopping): send it again
                result.delivered += len(objects)
                self._backoff.reset()
                if failures:
                    self._log.info("HEC accepts events again", retries=failures)
                return result
            if status in _REFUSED:
                result.fatal = f"HEC refused the token (HTTP {status}: {self._reason(answer)})"
                return result
            if status in _WRONG_PLACE:
                result.fatal = f"HEC has no event endpoint here (HTTP {status}): check the URL"
                return result
            if status in _BAD_DATA:
                bad = answer.get("invalid-event-number")
                if isinstance(bad, int) and 0 <= bad < len(objects):
                    result.delivered += bad  # HEC indexed the events before the bad one
                    self._bury(objects[bad : bad + 1], status, answer)
                    result.dead += 1
                    objects = objects[bad + 1 :]
                    continue
                self._bury(objects, status, answer)
                result.dead += len(objects)
                return result
            failures += 1
            delay = self._backoff.next_delay()
            if failures == 1:
                self._log.warning(
                    "HEC did not take a batch, retrying with backoff",
                    status=status or None,
                    reason=self._reason(answer),
                    code=_code(answer),
                    events=len(objects),
                )
            self._stopping.wait(delay)
        return result

    def _wait_for_ack(self, answer: dict[str, Any]) -> bool:
        """Poll HEC until the batch's ackId is indexed; False when it timed out."""
        ack_id = answer.get("ackId")
        if not isinstance(ack_id, int):
            self._log.warning("HEC answered without an ackId; is indexer acknowledgement on?")
            return True
        deadline = time.monotonic() + self._ack_timeout
        delay, odd_said = 0.2, False
        while time.monotonic() < deadline:
            if self._stopping.wait(delay):
                return False
            try:
                status, acks = self._client.post(_ACK_PATH, orjson.dumps({"acks": [ack_id]}))
            except (OSError, http.client.HTTPException):
                continue
            indexed = acks.get("acks") if acks is not None else None
            if status == 200 and isinstance(indexed, dict) and indexed.get(str(ack_id)) is True:
                return True
            if status == 200 and not isinstance(indexed, dict) and not odd_said:
                odd_said = True
                self._log.warning("HEC answered an ack poll in an unexpected shape", ack=ack_id)
            delay = min(delay * 2, 5.0)
        self._log.warning("HEC did not acknowledge a batch in time, sending it again", ack=ack_id)
        return False

    def _reason(self, answer: dict[str, Any]) -> str:
        """Return HEC's ``text``, with the token taken out (a server may echo the request)."""
        text = answer.get("text")
        return self._client.redact(text) if isinstance(text, str) else ""

    def _bury(self, objects: list[bytes], status: int, answer: dict[str, Any]) -> None:
        """Write refused objects to the dead-letter file (one per line), or just count them."""
        self._log.error(
            "HEC refused events as bad data",
            status=status,
            reason=self._reason(answer),
            code=_code(answer),
            events=len(objects),
            dead_letter=self._letters.path,
        )
        self._letters.write(objects)


def _code(answer: dict[str, Any]) -> int | None:
    code = answer.get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def make_hec_sink(spec: Spec, context: RunContext) -> HecSink:  # noqa: ARG001
    """Build ``hec:https://HOST:8088[,token=…][,index=…][,sourcetype=…]…``."""
    options = spec.options
    where = options.where
    url = spec.target
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{where}: expected https://HOST:PORT, as in https://splunk:8088")
    token = options.optional("token") or os.environ.get(TOKEN_ENV, "")
    if not token:
        raise UsageError(f"{where}: no token: give token=… or set {TOKEN_ENV}")
    compat = options.choice("compat", ("none", "loki"), "none")
    loki = compat == "loki"
    objects = HecObjects(
        host=options.text("host", "" if loki else local_hostname()),
        source=options.optional("source"),
        sourcetype=options.text("sourcetype", "loki:audit" if loki else "watchd:audit"),
        index=options.optional("index"),
        loki=loki,
    )
    compress = options.flag("gzip", default=False)
    ack = options.flag("ack", default=False)
    tls = tls_context(options) if parts.scheme == "https" else None
    settings: dict[str, Any] = {
        "max_bytes": options.number("batch_bytes", 1_000_000, minimum=1024),
        "flush_seconds": options.number("flush_ms", 1000, minimum=1) / 1000,
        "bounds": queue_bounds(options),
        "backoff": Backoff(base=0.2, cap=float(options.number("backoff_max", 30, minimum=1))),
        "ack": ack,
        "ack_timeout": float(options.number("ack_timeout", 300, minimum=1)),
        "letters": dead_letters(options, f"hec:{url}"),
    }
    options.finish()
    channel = str(uuid.uuid4()) if ack else None
    client = HecClient(url, token, tls=tls, compress=compress, channel=channel)
    return HecSink(f"hec:{url}", client, objects, **settings)


@hookimpl
def watchd_register_sink_types(sinks: TypeTable[SinkFactory]) -> None:
    """Register ``hec``."""
    sinks.add(
        "hec",
        make_hec_sink,
        "Splunk HTTP Event Collector: hec:https://HOST:8088[,token=…][,index=…][,ack=yes]",
    )
