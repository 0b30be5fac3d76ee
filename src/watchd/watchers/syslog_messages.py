"""What a syslog message becomes: a record through the dialects, or a ``syslog`` event.

A body that is a JSON object is a record (loki-mode's own forwarding arrives
as loki events, another watchd's as the events it sent); any other message
becomes a ``syslog`` event with its header in ``extra``.
"""

from __future__ import annotations

from typing import Any

import structlog

from watchd.codecs.records import decode_record
from watchd.codecs.syslog.grammar import FACILITIES, LEVEL_OF_SEVERITY
from watchd.codecs.syslog.parse import MalformedError, SyslogMessage, parse_message
from watchd.core.event import WatchEvent
from watchd.core.interfaces import Dialect, RecordSource
from watchd.core.skips import SkipCounter
from watchd.core.timestamps import record_ts
from watchd.watchers.dialects.generic import event_from

_FACILITY_NAMES = {number: name for name, number in FACILITIES.items()}


class MessageMapper:
    """Turns parsed messages into events: JSON bodies through a dialect, others as ``syslog``."""

    def __init__(self, dialect: Dialect, skips: SkipCounter, name: str) -> None:
        self._dialect = dialect
        self._skips = skips
        self._name = name
        self._log = structlog.get_logger("watchd").bind(source=name)

    def map(self, data: bytes, peer: str, out: list[WatchEvent]) -> None:
        """Append the event of the message *data* from *peer*, or count it as malformed."""
        try:
            message = parse_message(data)
        except MalformedError as exc:
            self._skips.note(f"malformed message ({exc})", peer, -1)
            return
        # The sender's own name; else its address (the port is the sender's socket, noise here).
        origin = message.hostname or peer.rpartition(":")[0].strip("[]") or peer
        body = message.message.strip()
        if body.startswith("{"):
            record = decode_record(body.encode())
            if isinstance(record, dict):
                where = RecordSource(source="syslog", origin=origin)
                out.append(event_from(self._dialect, record, where, self._log))
                return
        out.append(plain_event(message, origin, peer))


def plain_event(message: SyslogMessage, origin: str, peer: str) -> WatchEvent:
    """Return the event of a message whose body is text, not a record."""
    extra: dict[str, Any] = {
        "facility": _FACILITY_NAMES[message.facility],
        "severity": message.severity,
        "protocol": message.protocol,
        "peer": peer,
    }
    for key in ("hostname", "app_name", "procid", "msgid"):
        value = getattr(message, key)
        if value:
            extra[key] = value
    if message.structured_data:
        extra["structured_data"] = message.structured_data
    return WatchEvent(
        ts=record_ts(message.timestamp),
        source="syslog",
        action=message.msgid or "message",
        container=message.app_name,
        detail=message.message,
        level=LEVEL_OF_SEVERITY[message.severity],
        origin=origin,
        extra=extra,
    )
