"""The HEC sink the loop drives: batches formed on the loop, POSTed by one worker thread."""

from __future__ import annotations

import contextlib
import http.client
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import orjson
import structlog

from watchd.core.deadletters import DeadLetters
from watchd.core.errors import SinkStoppedError
from watchd.core.event import WatchEvent
from watchd.plugins.sinks.hec.client import HecClient
from watchd.plugins.sinks.hec.objects import (
    ACK_PATH,
    BAD_DATA,
    EVENT_PATH,
    REFUSED,
    WRONG_PLACE,
    Batch,
    HecObjects,
    Result,
)
from watchd.plugins.sinks.network import (
    Backoff,
    Delivery,
    QueueBounds,
    warn_undelivered,
)


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
        delivery: Delivery | None = None,
        ack: bool = False,
        ack_timeout: float = 300.0,
        letters: DeadLetters | None = None,
    ) -> None:
        self.name = name
        self._client = client
        self._objects = objects
        self._max_bytes = max_bytes
        self._flush_seconds = flush_seconds
        delivery = delivery or Delivery(QueueBounds(), Backoff(base=0.2))
        self._bounds = delivery.bounds
        self._held_bytes = 0  # of the events taken and not yet delivered
        self._backoff = delivery.backoff
        self._clock = delivery.backoff.clock  # one clock for the flush timer and the retries
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
            self._building_since = self._clock()
        encoded = self._letters.encode(events, self._objects)
        for data in encoded:
            if self._building and self._building_bytes + len(data) > self._max_bytes:
                self._hand_over()
                self._building_since = self._clock()
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
        return max(self._building_since + self._flush_seconds - self._clock(), 0.0)

    def on_timeout(self) -> None:
        """Hand the batch over when it is due."""
        if self._building and self._clock() >= self._building_since + self._flush_seconds:
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
                status, answer = self._client.post(EVENT_PATH, b"".join(objects))
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
            if status in REFUSED:
                result.fatal = f"HEC refused the token (HTTP {status}: {self._reason(answer)})"
                return result
            if status in WRONG_PLACE:
                result.fatal = f"HEC has no event endpoint here (HTTP {status}): check the URL"
                return result
            if status in BAD_DATA:
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
                status, acks = self._client.post(ACK_PATH, orjson.dumps({"acks": [ack_id]}))
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
