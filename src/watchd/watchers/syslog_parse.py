"""Syslog's codes, and reading it: RFC 5424 and 3164 messages, RFC 6587's two TCP framings.

The parser is strict where a sender cannot be misread (PRI, the 5424 header)
and lenient where real senders differ (a 3164 message may lack its timestamp or
hostname, as loki-mode's ``<134>loki-audit: {...}`` does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

FACILITIES: dict[str, int] = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "audit": 13,
    "alert": 14,
    "clock": 15,
    **{f"local{n}": 16 + n for n in range(8)},
}

#: Syslog severity of each watchd level (RFC 5424 table 2).
SEVERITIES: dict[str, int] = {
    "critical": 2,
    "error": 3,
    "warning": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}

#: The level each syslog severity is read back as (emergency and alert are critical).
LEVEL_OF_SEVERITY: tuple[str, ...] = (
    "critical",
    "critical",
    "critical",
    "error",
    "warning",
    "notice",
    "info",
    "debug",
)

_PRI = re.compile(rb"<(\d{1,3})>")
_BOM = "\ufeff"
_SD_ELEMENT = re.compile(r'\[([^\s=\]"]+)((?:\s+[^\s=\]"]+="(?:[^"\\]|\\.)*")*)\s*\]')
_SD_PARAM = re.compile(r'([^\s=\]"]+)="((?:[^"\\]|\\.)*)"')
_SD_UNESCAPE = re.compile(r'\\(["\\\]])')
_BSD_STAMP = re.compile(r"([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) ")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TAG = re.compile(r"([^\s:\[\]]{1,48})(?:\[([^\]\s]{1,128})\])?: ?")


class MalformedError(ValueError):
    """A message that is not syslog; its text says what is wrong."""


@dataclass(slots=True)
class SyslogMessage:
    """One parsed message. Absent header fields are empty strings."""

    facility: int
    severity: int
    protocol: str  # "rfc5424" or "rfc3164"
    timestamp: str = ""
    hostname: str = ""
    app_name: str = ""
    procid: str = ""
    msgid: str = ""
    structured_data: dict[str, dict[str, str]] = field(default_factory=dict)
    message: str = ""


def parse_message(data: bytes) -> SyslogMessage:
    """Parse one message (its framing already removed); raise :class:`MalformedError`."""
    data = data.rstrip(b"\x00\r\n")
    match = _PRI.match(data)
    if match is None:
        raise MalformedError("no <PRI> at the start")
    pri = int(match.group(1))
    if pri > 191:
        raise MalformedError(f"PRI {pri} is above 191")
    text = data[match.end() :].decode("utf-8", "replace")
    if text.startswith("1 "):
        return _rfc5424(pri, text[2:])
    return _rfc3164(pri, text)


def _nil(value: str) -> str:
    return "" if value == "-" else value


def _rfc5424(pri: int, text: str) -> SyslogMessage:
    parts = text.split(" ", 5)
    if len(parts) < 6:
        raise MalformedError("RFC 5424 header is incomplete")
    timestamp, hostname, app_name, procid, msgid, rest = parts
    structured: dict[str, dict[str, str]] = {}
    if rest.startswith("-"):
        message = rest[2:] if rest.startswith("- ") else rest[1:]
    else:
        position = 0
        while rest.startswith("[", position):
            element = _SD_ELEMENT.match(rest, position)
            if element is None:
                raise MalformedError("RFC 5424 structured data is not well formed")
            structured[element.group(1)] = {
                name: _SD_UNESCAPE.sub(r"\1", value)
                for name, value in _SD_PARAM.findall(element.group(2))
            }
            position = element.end()
        if position == 0:
            raise MalformedError("RFC 5424 structured data is neither '-' nor [...]")
        message = rest[position + 1 :] if rest.startswith(" ", position) else rest[position:]
    return SyslogMessage(
        facility=pri >> 3,
        severity=pri & 7,
        protocol="rfc5424",
        timestamp=_nil(timestamp),
        hostname=_nil(hostname),
        app_name=_nil(app_name),
        procid=_nil(procid),
        msgid=_nil(msgid),
        structured_data=structured,
        message=message.removeprefix(_BOM),
    )


def _rfc3164(pri: int, text: str) -> SyslogMessage:
    timestamp = hostname = ""
    stamp = _BSD_STAMP.match(text)
    if stamp is not None:
        timestamp = _bsd_time(stamp)
        text = text[stamp.end() :]
        # After a timestamp comes the hostname, unless the word is already the tag.
        word, space, rest = text.partition(" ")
        if space and not word.endswith(":") and "[" not in word:
            hostname, text = word, rest
    app_name = procid = ""
    tag = _TAG.match(text)
    if tag is not None and text[: tag.end()].rstrip().endswith(":"):
        app_name, procid = tag.group(1), tag.group(2) or ""
        text = text[tag.end() :]
    return SyslogMessage(
        facility=pri >> 3,
        severity=pri & 7,
        protocol="rfc3164",
        timestamp=timestamp,
        hostname=hostname,
        app_name=app_name,
        procid=procid,
        message=text,
    )


def _bsd_time(stamp: re.Match[str]) -> str:
    """Return a 3164 timestamp (local time, no year) as ISO 8601 in this year and zone."""
    month, day, hour, minute, second = stamp.groups()
    if month not in _MONTHS:
        return ""
    now = datetime.now().astimezone()
    try:
        when = now.replace(
            month=_MONTHS.index(month) + 1,
            day=int(day),
            hour=int(hour),
            minute=int(minute),
            second=int(second),
            microsecond=0,
        )
    except ValueError:
        return ""
    if (when - now).days > 7:  # December's message read in January
        when = when.replace(year=now.year - 1)
    return when.isoformat()


class FrameSplitter:
    """Splits a TCP byte stream into messages: octet-counted or delimited, per message.

    A frame that starts with a digit is octet-counted (``LEN SP MSG``); any
    other ends at LF or NUL (non-transparent framing; loki-mode ends its
    messages with NUL). Delimited frames over *limit* bytes are skipped and
    counted; an octet count over *limit* is a malformed framing (the connection
    is closed: skipping would let a peer claim the connection for ever).
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buffer = bytearray()
        self._discarding = False  # inside an over-long delimited frame
        self.too_long = 0

    def pending(self) -> bool:
        """Return True while part of a message is buffered or being skipped."""
        return bool(self._buffer) or self._discarding

    def feed(self, data: bytes) -> list[bytes]:
        """Add *data*; return the complete messages it ends."""
        self._buffer += data
        messages: list[bytes] = []
        position: int | None = 0
        done = 0
        while position is not None and position < len(self._buffer):
            done = position
            position = self._step(position, messages)
        del self._buffer[: len(self._buffer) if position is not None else done]
        return messages

    def _step(self, position: int, messages: list[bytes]) -> int | None:
        """Take one frame (or a part to skip) at *position*; None when more data is needed."""
        if self._discarding:
            return self._dropping(position)
        first = self._buffer[position]
        if first in b"\n\x00\r ":
            return position + 1
        if 0x30 <= first <= 0x39:
            return self._counted(position, messages)
        return self._delimited(position, messages)

    def _dropping(self, position: int) -> int:
        """Skip what is left of an over-long delimited frame."""
        buffer = self._buffer
        end = _delimiter(buffer, position)
        self._discarding = end < 0
        return len(buffer) if end < 0 else end + 1

    def _delimited(self, position: int, messages: list[bytes]) -> int | None:
        """Take the LF- or NUL-terminated frame at *position*."""
        buffer = self._buffer
        end = _delimiter(buffer, position)
        if end >= 0:
            if end - position > self._limit:  # its end arrived with it: over the limit all the same
                self.too_long += 1
            else:
                messages.append(bytes(buffer[position:end]))
            return end + 1
        if len(buffer) - position > self._limit:
            self.too_long += 1
            self._discarding = True
            return len(buffer)
        return None

    def _counted(self, position: int, messages: list[bytes]) -> int | None:
        """Take the octet-counted frame at *position*."""
        buffer = self._buffer
        space = buffer.find(b" ", position, position + 12)
        if space < 0:
            if len(buffer) - position >= 12:  # longer than any count
                raise MalformedError("octet count is not followed by a space")
            return None
        digits = bytes(buffer[position:space])
        if not digits.isdigit():
            raise MalformedError("octet count is not a number")
        size, start = int(digits), space + 1
        if size > self._limit:  # swallowing it would let a peer hold the connection forever
            raise MalformedError(f"octet count {size} is over limit={self._limit}")
        if len(buffer) - start < size:
            return None
        messages.append(bytes(buffer[start : start + size]))
        return start + size

    def rest(self) -> bytes:
        """Return an unterminated last message (the peer closed after it), and forget it."""
        rest = b"" if self._discarding else bytes(self._buffer).strip(b"\x00\r\n ")
        self._buffer.clear()
        return rest


def _delimiter(buffer: bytearray, start: int) -> int:
    """Return the position of the first LF or NUL at or after *start*, -1 when none."""
    newline = buffer.find(b"\n", start)
    nul = buffer.find(b"\x00", start, newline if newline >= 0 else len(buffer))
    return nul if nul >= 0 else newline
