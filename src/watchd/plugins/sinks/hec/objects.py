"""What HEC is sent and answers: its event objects, a batch of them, an answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from watchd.core.event import WatchEvent, event_time
from watchd.core.jsonform import dumps_compact

EVENT_PATH = "/services/collector/event"
ACK_PATH = "/services/collector/ack"
BAD_DATA = frozenset((400, 413, 422))
REFUSED = frozenset((401, 403))
WRONG_PLACE = frozenset((404, 405))
_ENCODER = msgspec.json.Encoder()


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
        obj["event"] = event  # encoded as its JSON form, in C: no dict copied from it
        try:
            return _ENCODER.encode(obj)
        except (TypeError, ValueError, UnicodeEncodeError, RecursionError):  # a lone surrogate...
            obj["event"] = event.to_dict()
            return dumps_compact(obj)  # ... written as the JSON sink writes it

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
