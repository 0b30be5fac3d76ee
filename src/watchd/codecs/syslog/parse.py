"""Reading syslog: RFC 5424 and RFC 3164 messages.

The parser is strict where a sender cannot be misread (PRI, the 5424 header)
and lenient where real senders differ (a 3164 message may lack its timestamp or
hostname, as loki-mode's ``<134>loki-audit: {...}`` does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from watchd.codecs.syslog.grammar import MONTHS

_PRI = re.compile(rb"<(\d{1,3})>")
_BOM = "\ufeff"
_SD_ELEMENT = re.compile(r'\[([^\s=\]"]+)((?:\s+[^\s=\]"]+="(?:[^"\\]|\\.)*")*)\s*\]')
_SD_PARAM = re.compile(r'([^\s=\]"]+)="((?:[^"\\]|\\.)*)"')
_SD_UNESCAPE = re.compile(r'\\(["\\\]])')
_BSD_STAMP = re.compile(r"([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) ")
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
    if month not in MONTHS:
        return ""
    now = datetime.now().astimezone()
    try:
        when = now.replace(
            month=MONTHS.index(month) + 1,
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
