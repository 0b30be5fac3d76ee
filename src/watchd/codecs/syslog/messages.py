"""Writing syslog messages: RFC 5424, RFC 3164 and loki-mode's own bytes.

Every header field is reduced to what its grammar allows (printable US-ASCII,
bounded length), and structured-data values are escaped, so no field value can
end a frame, start a second message or shift a collector's parse.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from watchd.codecs.hostname import local_hostname
from watchd.codecs.loki import loki_warns
from watchd.codecs.syslog.grammar import FACILITIES, MONTHS, SEVERITIES, severity
from watchd.core.event import WatchEvent, event_time
from watchd.core.interfaces import Formatter
from watchd.core.printable import printable, utf8
from watchd.core.timestamps import iso_millis

#: RFC 5612's documentation enterprise number: the SD-ID is ours, not a registered one.
DEFAULT_SD_ID = "watchd@32473"

_NOT_PRINTUSASCII = re.compile(r"[^\x21-\x7e]")
_NOT_SD_NAME = re.compile(r'[^\x21-\x7e]|[=\]"]')
_NOT_TAG = re.compile(r"[^A-Za-z0-9_.\-]")
_SD_SPECIALS = str.maketrans({"\\": "\\\\", '"': '\\"', "]": "\\]"})
#: The structured data's PARAM-NAMEs, in the order of the fields in Rfc5424._head.
_SD_PARAMS = (
    "source",
    "action",
    "container",
    "level",
    "dest",
    "actor",
    "origin",
    "worktree",
    "detail",
)
#: Message heads an Rfc5424 format remembers before it starts afresh.
HEADS_KEPT = 4096
_TRUNCATED = 'truncated="true"'


def header_field(value: str, limit: int, filler: str = "_") -> str:
    """Return *value* as a 5424 header field: printable US-ASCII, at most *limit*, else ``-``."""
    if value.isascii() and value.isprintable() and " " not in value:  # as most are
        return value[:limit] or "-"
    return _NOT_PRINTUSASCII.sub(filler, value)[:limit] or "-"


def sd_name(value: str) -> str:
    """Return *value* as an SD-ID or PARAM-NAME: 1 to 32 printable characters, no ``= ] "``."""
    return _NOT_SD_NAME.sub("_", value)[:32] or "_"


def sd_value(value: str) -> str:
    r"""Return *value* as a PARAM-VALUE: control characters shown escaped, ``\ " ]`` escaped."""
    # Most values need neither: isprintable() is False for every control character.
    if value.isprintable() and "\\" not in value and '"' not in value and "]" not in value:
        return value
    return printable(value).translate(_SD_SPECIALS)


def cut_utf8(data: bytes, size: int) -> bytes:
    """Return at most *size* bytes of *data*, never splitting a UTF-8 sequence."""
    if len(data) <= size:
        return data
    size = max(size, 0)
    while 0 < size < len(data) and data[size] & 0xC0 == 0x80:
        size -= 1
    return data[:size]


@dataclass(frozen=True, slots=True)
class Sender:
    """What every message says of who sent it: facility, host, application, process."""

    facility: int = FACILITIES["local0"]
    hostname: str | None = None  # None: this host's name
    app_name: str = "watchd"
    procid: str | None = None  # None: this process's PID

    def host(self) -> str:
        """Return HOSTNAME as a header field."""
        return header_field(self.hostname or local_hostname(), 255)

    def proc(self) -> str:
        """Return PROCID as a header field."""
        return header_field(self.procid if self.procid is not None else str(os.getpid()), 128)


class SyslogFormat(Protocol):
    """Builds one syslog message per event, without framing."""

    def __call__(self, event: WatchEvent) -> bytes:
        """Return the whole message for *event*."""
        ...

    def cut(self, event: WatchEvent, limit: int) -> bytes:
        """Return the message for *event* cut to *limit* bytes, marked as cut where it can be."""
        ...


class Rfc5424:
    """``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`` (RFC 5424).

    TIMESTAMP is the event's time in UTC with milliseconds; MSGID is the
    action; the structured data repeats the event's fields under our SD-ID, so
    a collector can filter on them without parsing MSG, the event's body.
    """

    def __init__(
        self, body: Formatter, sender: Sender = Sender(), *, sd_id: str = DEFAULT_SD_ID
    ) -> None:
        self._body = body
        self._facility = sender.facility * 8
        self._middle = f" {sender.host()} {header_field(sender.app_name, 48)} {sender.proc()} "
        self._sd_id = sd_name(sd_id)
        #: The head around the timestamp, by the fields it is made of: a trail
        #: repeats its actions, locks and actors, so most events find theirs.
        self._heads: dict[tuple[str, ...], tuple[str, str]] = {}

    @staticmethod
    def _fields(event: WatchEvent) -> tuple[str, ...]:
        """Return the fields the head is made of, in the order of ``_SD_PARAMS``."""
        return (
            event.source,
            event.action,
            event.container,
            event.level,
            event.dest,
            event.actor,
            event.origin,
            event.worktree,
            event.detail,
        )

    def _head(self, event: WatchEvent) -> str:
        fields = self._fields(event)
        known = self._heads.get(fields)
        if known is None:
            if len(self._heads) >= HEADS_KEPT:  # bounded, whatever the trail holds
                self._heads.clear()
            known = self._heads[fields] = self._around_stamp(fields, fields[1], "")
        before, after = known
        return f"{before}{iso_millis(event_time(event))}{after}"

    def _around_stamp(self, fields: tuple[str, ...], action: str, flag: str) -> tuple[str, str]:
        """Return ``<PRI>1 `` and `` HOSTNAME APP-NAME PROCID MSGID [SD]`` for *fields*."""
        pri = self._facility + severity(fields[3])
        msgid = header_field(action, 32)
        params = [
            f'{name}="{sd_value(value)}"'
            for name, value in zip(_SD_PARAMS, fields, strict=True)
            if value
        ]
        if flag:
            params.append(flag)
        return f"<{pri}>1 ", f"{self._middle}{msgid} [{self._sd_id} {' '.join(params)}]"

    def __call__(self, event: WatchEvent) -> bytes:
        """Return the message for *event*."""
        return utf8(self._head(event)) + b" " + self._body(event)

    def cut(self, event: WatchEvent, limit: int) -> bytes:
        """Return the message cut to *limit* bytes, flagged ``truncated="true"`` in the SD.

        The longest values are cut first: every value (MSG and each SD value)
        is cut to the largest common length at which the message fits, so the
        header and the short fields stay whole. Only when the header and the
        flag alone do not fit are the SD values left out.
        """
        fields, body = self._fields(event), self._body(event)
        stamp = iso_millis(event_time(event))

        def build(cap: int) -> bytes:
            cut_fields = tuple(
                value if key == "level" else fit_sd_value(value, cap)
                for key, value in zip(_SD_PARAMS, fields, strict=True)
            )
            before, after = self._around_stamp(cut_fields, fields[1], _TRUNCATED)
            return utf8(f"{before}{stamp}{after} ") + cut_utf8(body, cap)

        if len(build(0)) > limit:  # hostile header sizes: the header and the flag, no SD values
            only_level = tuple(
                v if k == "level" else "" for k, v in zip(_SD_PARAMS, fields, strict=True)
            )
            before, after = self._around_stamp(only_level, fields[1], _TRUNCATED)
            head = utf8(f"{before}{stamp}{after} ")
            if len(head) > limit:
                pri = self._facility + severity(event.level)
                head = f"<{pri}>1 - - - - - [{self._sd_id} {_TRUNCATED}] ".encode()
            return cut_utf8(head + body, limit)
        return build(largest(limit, lambda cap: len(build(cap)) <= limit))


def fit_sd_value(value: str, size: int) -> str:
    """Return the longest start of *value* whose PARAM-VALUE takes at most *size* bytes."""
    if len(sd_value(value).encode()) <= size:
        return value
    return value[: largest(len(value), lambda n: len(sd_value(value[:n]).encode()) <= size)]


def largest(high: int, fits: Callable[[int], bool]) -> int:
    """Return the largest n in 0..*high* with fits(n), for a *fits* true up to some n (and 0)."""
    low = 0
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


class Rfc3164:
    """``<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`` (RFC 3164, the BSD format).

    The timestamp is local time without a zone, as the format defines it. On a
    local socket (``/dev/log``) the HOSTNAME is left out, as syslog(3) does:
    the daemon there reads the word after the timestamp as the tag.
    """

    def __init__(self, body: Formatter, sender: Sender = Sender(), *, local: bool = False) -> None:
        self._body = body
        self._facility = sender.facility * 8
        host = "" if local else " " + sender.host()
        tag = _NOT_TAG.sub("_", sender.app_name)[:32] or "watchd"
        self._tail = f"{host} {tag}[{sender.proc()}]: "

    def __call__(self, event: WatchEvent) -> bytes:
        """Return the message for *event*."""
        when = event_time(event).astimezone()
        pri = self._facility + severity(event.level)
        stamp = f"{MONTHS[when.month - 1]} {when.day:2d} {when:%H:%M:%S}"
        return utf8(f"<{pri}>{stamp}{self._tail}") + self._body(event)

    def cut(self, event: WatchEvent, limit: int) -> bytes:
        """Return the message cut to *limit* bytes (the format has no place for a flag)."""
        return cut_utf8(self(event), limit)


class LokiSyslog:
    """loki-mode's own forwarding: ``<PRI>loki-audit: {record as compact JSON}`` and a NUL.

    The record is the one read from the trail (loki-mode serialises it with
    Python's ``json.dumps``, so this does too); events that did not come from a
    record are sent in their JSON form. WARNING for failures and loki-mode's
    security actions, INFO otherwise, as loki-mode decides.
    """

    def __init__(self, *, facility: int = FACILITIES["local0"]) -> None:
        self._facility = facility * 8

    def _parts(self, event: WatchEvent) -> tuple[bytes, bytes]:
        record: dict[str, Any] | None = event.record
        if record is None:
            body = event.to_json()
            warn = severity(event.level) <= SEVERITIES["warning"]
        else:
            body = json.dumps(record, separators=(",", ":")).encode()
            warn = loki_warns(record)
        pri = self._facility + (SEVERITIES["warning"] if warn else SEVERITIES["info"])
        return f"<{pri}>loki-audit: ".encode(), body

    def __call__(self, event: WatchEvent) -> bytes:
        """Return loki-mode's bytes for *event*, the trailing NUL included."""
        head, body = self._parts(event)
        return head + body + b"\x00"

    def cut(self, event: WatchEvent, limit: int) -> bytes:
        """Return the message cut to *limit* bytes, still ending in its NUL."""
        head, body = self._parts(event)
        return cut_utf8(head + body, limit - 1) + b"\x00"
