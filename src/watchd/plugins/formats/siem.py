"""SIEM formats: CEF (ArcSight), LEEF 2.0 (QRadar) and ECS (Elastic), each one line per event.

Registered like any format, so every text sink can use them: ``stdout,format=cef``,
``tcp://…,format=leef``, ``syslog:…,body=cef``. ``compat=loki`` makes ``cef``
reproduce loki-mode's own converter, byte for byte.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from watchd._version import __version__
from watchd.codecs.hostname import local_hostname
from watchd.core.event import WatchEvent, event_time
from watchd.core.hookspecs import hookimpl
from watchd.core.interfaces import FormatContext, FormatFactory, Formatter
from watchd.core.jsonform import ascii_json, dumps_compact
from watchd.core.option_kinds import Choice, OptionalText, Text
from watchd.core.options import OptionSet
from watchd.core.printable import utf8
from watchd.core.registry import TypeTable
from watchd.core.timestamps import iso_millis
from watchd.plugins.formats.loki_cef import LokiCefFormat

if TYPE_CHECKING:
    from watchd.core.context import Checking

ECS_VERSION = "8.11.0"

#: CEF and LEEF severity (0-10) of each level.
SEVERITY_0_10 = {"debug": 1, "info": 3, "notice": 4, "warning": 6, "error": 8, "critical": 10}
_CEF_HEADER = str.maketrans({"\\": "\\\\", "|": "\\|", "\r": " ", "\n": " "})
_CEF_VALUE = str.maketrans({"\\": "\\\\", "=": "\\=", "\r": "\\r", "\n": "\\n"})
#: Written as a space: every C0 and C1 control but CR and LF (each escape has its own rule for
#: those), and the line and paragraph separators: no line reader may find a line end in a value.
_OTHER_CONTROLS = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
#: Whatever either escape changes: text without any of it (nearly all) is written as it is.
_TO_ESCAPE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\\|=]")
#: What an IP address can be spelled with: anything else is no address, without asking.
_IP_CHARS = re.compile(r"[0-9A-Fa-f.:]+(%\S+)?")
_CLIENT_KEYS = ("ip_address", "src", "source_ip", "client_ip")
_CLIENT_KEY_SET = frozenset(_CLIENT_KEYS)


def outcome(event: WatchEvent) -> str:
    """Return ``success``, ``failure`` or ``unknown``: the record's ``success`` says."""
    success = event.extra.get("success")
    if success is True:
        return "success"
    if success is False:
        return "failure"
    return "unknown"


def epoch_ms(event: WatchEvent) -> int:
    """Return the event's time in epoch milliseconds (the read time when it had none)."""
    return int(event_time(event).timestamp() * 1000)


def is_ip(value: str) -> bool:
    """Return True when *value* is an IPv4 or IPv6 address."""
    # Asked first: a ValueError raised and caught costs microseconds.
    if not value or _IP_CHARS.fullmatch(value) is None:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def client_ip(event: WatchEvent) -> str:
    """Return the address the record says the actor came from, if it says one."""
    record = event.record
    if not record or _CLIENT_KEY_SET.isdisjoint(record):  # nearly every record: in C
        return ""
    for key in _CLIENT_KEYS:
        value = record.get(key)
        if isinstance(value, str) and is_ip(value):
            return value
    return ""


def cef_header(value: str) -> str:
    r"""Escape a CEF header field: ``\`` and ``|``; CR and LF become spaces."""
    if _TO_ESCAPE.search(value) is None:
        return value
    return _OTHER_CONTROLS.sub(" ", value.translate(_CEF_HEADER))


def cef_value(value: str) -> str:
    r"""Escape a CEF extension value: ``\``, ``=``, CR and LF."""
    if _TO_ESCAPE.search(value) is None:
        return value
    return _OTHER_CONTROLS.sub(" ", value.translate(_CEF_VALUE))


def cef_line(header: list[str], severity: int, keys: Sequence[str], values: list[str]) -> bytes:
    """Return one CEF line from its header fields, severity and extension (the empty left out)."""
    # One search over all of them: nearly every line has nothing to escape.
    if _TO_ESCAPE.search("".join(header)) is not None:
        header = list(map(cef_header, header))
    if _TO_ESCAPE.search("".join(values)) is not None:
        values = list(map(cef_value, values))
    pairs = " ".join([f"{key}={value}" for key, value in zip(keys, values, strict=True) if value])
    return utf8(f"CEF:0|{'|'.join(header)}|{severity}|{pairs}")


class CefFormat:
    """``CEF:0|Vendor|Product|Version|SignatureID|Name|Severity|Extension``.

    SignatureID and Name are the action; severity follows the level, and a
    failure counts at least 8. The extension uses the CEF dictionary's keys
    (``rt``, ``act``, ``suser``, ``src``, ``dst``/``dhost``, ``msg``,
    ``outcome``) and custom strings with labels for container, origin, source
    and worktree; ``extra`` goes along as JSON in ``cs6``.
    """

    def __init__(self, vendor: str, product: str, version: str) -> None:
        self._header = [vendor, product, version]

    def __call__(self, event: WatchEvent) -> bytes:
        """Return the CEF line of *event*."""
        result = outcome(event)
        severity = SEVERITY_0_10.get(event.level, 3)
        if result == "failure":
            severity = max(severity, 8)
        source = client_ip(event)
        dest = event.dest if event.dest != source else ""
        extra = event.extra
        container, origin, worktree = event.container, event.origin, event.worktree
        values = [
            str(epoch_ms(event)),
            event.action,
            event.actor,
            source,
            dest,
            event.detail,
            result if result != "unknown" else "",
            container,
            "container" if container else "",
            origin,
            "origin" if origin else "",
            event.source,
            "source",
            worktree,
            "worktree" if worktree else "",
            dumps_compact(extra).decode() if extra else "",
            "extra" if extra else "",
        ]
        keys = _CEF_KEYS_IP if is_ip(dest) else _CEF_KEYS
        return cef_line([*self._header, event.action, event.action], severity, keys, values)


#: The CEF extension's keys, in the order :class:`CefFormat` gives their values.
_CEF_KEYS = (
    "rt",
    "act",
    "suser",
    "src",
    "dhost",
    "msg",
    "outcome",
    "cs1",
    "cs1Label",
    "cs2",
    "cs2Label",
    "cs3",
    "cs3Label",
    "cs4",
    "cs4Label",
    "cs6",
    "cs6Label",
)
#: The same where the destination is an address.
_CEF_KEYS_IP = tuple("dst" if key == "dhost" else key for key in _CEF_KEYS)


class LeefFormat:
    """``LEEF:2.0|Vendor|Product|Version|EventID|Delimiter|key=value^key=value...``.

    LEEF defines no escaping, so values are sanitised: the delimiter, CR, LF
    and (in header fields) ``|`` become spaces.
    """

    def __init__(self, vendor: str, product: str, version: str, delimiter: str) -> None:
        self._delimiter = delimiter
        self._header_bad = str.maketrans(dict.fromkeys(f"|\r\n{delimiter}", " "))
        self._value_bad = str.maketrans(dict.fromkeys(f"\r\n{delimiter}", " "))
        shown = delimiter if delimiter.isprintable() else f"x{ord(delimiter):02X}"
        self._head = "|".join(self._header(f) for f in (vendor, product, version))
        self._shown = shown

    def _header(self, value: str) -> str:
        return _OTHER_CONTROLS.sub(" ", value.translate(self._header_bad))

    def _value(self, value: str) -> str:
        return _OTHER_CONTROLS.sub(" ", value.translate(self._value_bad))

    def __call__(self, event: WatchEvent) -> bytes:
        """Return the LEEF line of *event*."""
        when = event_time(event)
        source = client_ip(event)
        dest = event.dest if event.dest != source else ""
        pairs = [
            ("cat", event.source),
            ("devTime", iso_millis(when, "+0000")),
            ("devTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSZ"),
            ("sev", str(SEVERITY_0_10.get(event.level, 3))),
            ("usrName", event.actor),
            ("src", source),
            ("dst" if is_ip(dest) else "dstHost", dest),
            ("action", event.action),
            ("container", event.container),
            ("origin", event.origin),
            ("worktree", event.worktree),
            ("outcome", outcome(event)),
            ("msg", event.detail),
        ]
        body = self._delimiter.join(f"{k}={self._value(v)}" for k, v in pairs if v)
        event_id = self._header(event.action)
        return utf8(f"LEEF:2.0|{self._head}|{event_id}|{self._shown}|{body}")


_CATEGORIES = {
    "login": "authentication",
    "logout": "authentication",
    "create_token": "iam",
    "revoke_token": "iam",
}


class EcsFormat:
    """One Elastic Common Schema document per line (NDJSON)."""

    def __init__(self, hostname: str) -> None:
        self._host_doc = {"name": hostname}

    def __call__(self, event: WatchEvent) -> bytes:
        """Return the ECS document of *event*."""
        when = event_time(event)
        dest = event.dest
        dest_is_ip = is_ip(dest)
        category = _CATEGORIES.get(event.action) or ("network" if dest_is_ip else "host")
        raw = event.raw  # the record's line as read; re-serialised only where there is none
        if raw is not None:
            original = raw.decode("utf-8", "replace")
        else:
            record = event.record
            original = dumps_compact(record if record is not None else event.to_dict()).decode()
        log: dict[str, Any] = {"level": event.level}
        doc: dict[str, Any] = {
            "@timestamp": iso_millis(when),
            "ecs": _ECS,
            "message": event.detail or event.action,
            "log": log,
            "event": {
                "action": event.action,
                "kind": "event",
                "category": [category],
                "outcome": outcome(event),
                "original": original,
                "module": event.source,
            },
            "host": self._host_doc,
            "labels": _labels(event),
        }
        if event.actor:
            doc["user"] = {"name": event.actor}
        source_ip = client_ip(event)
        if source_ip:
            doc["source"] = {"ip": source_ip}
        if dest_is_ip and dest != source_ip:
            doc["destination"] = {"ip": dest}
        origin = event.origin
        if origin.startswith("/"):
            log["file"] = {"path": origin}
            cursor = event.cursor
            if cursor is not None and cursor.start >= 0:
                # Where the record starts: no ECS field says it (log.offset is Filebeat's own).
                doc["watchd"] = {"offset": cursor.start}
        return ascii_json(dumps_compact(doc))


_ECS = {"version": ECS_VERSION}


def _labels(event: WatchEvent) -> dict[str, str]:
    """Return ECS labels (their keys are of ``[A-Za-z0-9_]`` already), the empty left out."""
    labels = {}
    if event.container:
        labels["container"] = event.container
    if event.origin:
        labels["origin"] = event.origin
    if event.worktree:
        labels["worktree"] = event.worktree
    return labels


class CefOptions(OptionSet):
    """ArcSight CEF; compat=loki for loki-mode's own converter."""

    vendor = OptionalText("Device Vendor (watchd; Autonomi with compat=loki)", metavar="NAME")
    product = OptionalText("Device Product (watchd; Loki Mode with compat=loki)", metavar="NAME")
    version = Text(__version__, "Device Version", metavar="VERSION")
    compat = Choice(("none", "loki"), "none", "loki: loki-mode's own CEF bytes")


def cef_format(options: CefOptions, context: FormatContext) -> Formatter:  # noqa: ARG001
    """Build ``cef``."""
    if options.compat == "loki":
        vendor, product = options.vendor or "Autonomi", options.product or "Loki Mode"
        return LokiCefFormat(vendor, product, options.version)
    return CefFormat(options.vendor or "watchd", options.product or "watchd", options.version)


class LeefOptions(OptionSet):
    """QRadar LEEF 2.0; delimiter=^ by default."""

    vendor = Text("watchd", "Vendor", metavar="NAME")
    product = Text("watchd", "Product", metavar="NAME")
    version = Text(__version__, "Version", metavar="VERSION")
    delimiter = Text("^", "the attribute delimiter: one character, or xHH", metavar="CHAR")

    def check(self, checking: Checking) -> None:
        """Read the delimiter: one character other than a letter, a digit, |, = or a newline."""
        super().check(checking)
        delimiter = self.delimiter
        if delimiter.lower().startswith(("x", "0x")) and len(delimiter) > 1:
            try:
                delimiter = chr(int(delimiter.lower().removeprefix("0x").removeprefix("x"), 16))
            except ValueError:
                delimiter = ""
        if len(delimiter) != 1 or delimiter in "|=\r\n" or delimiter.isalnum():
            raise self.refuse(
                "delimiter",
                "must be one character (or xHH) other than a letter, a digit, |, = or a newline",
            )
        self.character = delimiter


def leef_format(options: LeefOptions, context: FormatContext) -> Formatter:  # noqa: ARG001
    """Build ``leef``."""
    return LeefFormat(options.vendor, options.product, options.version, options.character)


class EcsOptions(OptionSet):
    """Elastic Common Schema, one JSON document per line."""

    hostname = OptionalText("host.name (this host's name)", metavar="NAME")


def ecs_format(options: EcsOptions, context: FormatContext) -> Formatter:  # noqa: ARG001
    """Build ``ecs``."""
    return EcsFormat(options.hostname or local_hostname())


@hookimpl
def watchd_register_formats(formats: TypeTable[FormatFactory]) -> None:
    """Register ``cef``, ``leef`` and ``ecs``."""
    formats.add("cef", cef_format, CefOptions)
    formats.add("leef", leef_format, LeefOptions)
    formats.add("ecs", ecs_format, EcsOptions)
