"""``cef,compat=loki``: loki-mode's own CEF converter, byte for byte.

loki-mode writes CEF in JavaScript (``toCEF`` in its
``src/observability/siem-export.js``), so its bytes follow JavaScript's
rules: which values count as absent (``0``, ``""`` and ``null`` do), how
``String()`` writes a number (``1.0`` is ``1``, ``1e21`` is ``1e+21``), an
array (joined with ``,``, null as nothing) or an object (``[object Object]``),
and in which order ``Object.entries`` lists keys (integer keys first, in
ascending order). Each rule is written down here once, so that a SIEM rule
made for loki-mode's bytes matches watchd's for every record loki-mode can
write, hostile ones included: keys are escaped like values, so no key can
start a line or inject a field.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from watchd.core.event import WatchEvent
from watchd.core.printable import utf8

#: loki-mode's severity table (critical is 9 there; alert and emergency are 10).
SEVERITY = {
    "debug": 1,
    "info": 3,
    "notice": 4,
    "warning": 6,
    "warn": 6,
    "error": 8,
    "critical": 9,
    "alert": 10,
    "emergency": 10,
}
#: How deep ``details`` is flattened: objects below this depth are left out.
MAX_DEPTH = 4
_HEADER = str.maketrans({"\\": "\\\\", "|": "\\|"})
_NEWLINES = re.compile(r"[\r\n]+")  # loki-mode's /[\r\n]+/g
_EXTENSION = str.maketrans({"\\": "\\\\", "=": "\\=", "\r": "\\r", "\n": "\\n"})
_MAX_INDEX = 2**32 - 2


def truthy(value: object) -> bool:
    """Return JavaScript's truthiness of a JSON value (``0``, ``""``, null and false are falsy)."""
    if isinstance(value, (dict, list)):
        return True
    return bool(value)


def js_number(value: float) -> str:
    """Return ``String(value)`` of a JavaScript number (ECMA-262 Number::toString)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr is the shortest decimal that reads back as the same double, as in JavaScript.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = k + int(exponent)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = f"0.{'0' * -n}{digits}"
    else:
        mantissa = digits[0] + (f".{digits[1:]}" if k > 1 else "")
        text = f"{mantissa}e{'+' if n >= 1 else '-'}{abs(n - 1)}"
    return sign + text


def js_string(value: object) -> str:  # noqa: PLR0911 - one case a JSON type
    """Return JavaScript's ``String(value)`` of a JSON value."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return js_number(float(value))  # JSON.parse reads every number as a double
        except OverflowError:
            return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    return "[object Object]"


def entries(value: dict[str, Any] | list[Any]) -> list[tuple[str, Any]]:
    """Return ``Object.entries(value)``: array-index keys first, ascending, then the rest."""
    if isinstance(value, list):
        return [(str(index), item) for index, item in enumerate(value)]
    indices: list[tuple[int, str, Any]] = []
    others: list[tuple[str, Any]] = []
    for key, item in value.items():
        if key.isascii() and key.isdigit() and (key == "0" or key[0] != "0"):
            number = int(key)
            if number <= _MAX_INDEX:
                indices.append((number, key, item))
                continue
        others.append((key, item))
    return [(key, item) for _, key, item in sorted(indices)] + others


def header_text(value: object) -> str:
    r"""Escape a header field as loki-mode does: ``\`` and ``|``; a run of CR and LF is a space."""
    text = "" if value is None else js_string(value)
    return _NEWLINES.sub(" ", text.translate(_HEADER))


def extension_text(value: object) -> str:
    r"""Escape an extension key or value as loki-mode does: ``\``, ``=``, CR and LF."""
    return ("" if value is None else js_string(value)).translate(_EXTENSION)


def severity(record: dict[str, Any]) -> int:
    """Return loki-mode's CEF severity: 8 on failure, otherwise by ``level`` (or ``severity``)."""
    if record.get("success") is False:
        return 8
    level = record.get("level")
    if not truthy(level):
        level = record.get("severity")
    if not truthy(level):
        return 3
    return SEVERITY.get(js_string(level).lower(), 3)


def flatten(
    value: dict[str, Any] | list[Any], prefix: str, out: dict[str, Any], depth: int
) -> None:
    """Add ``details`` to *out* as dotted ``loki.`` keys, as loki-mode's ``flattenDetails`` does."""
    if depth > MAX_DEPTH:
        return
    for key, item in entries(value):
        name = f"{prefix}.{key}"
        if isinstance(item, dict):
            flatten(item, name, out, depth + 1)
        else:
            out[name] = item  # an array is joined by js_string; null is written as nothing


def loki_record(event: WatchEvent) -> dict[str, Any]:
    """Return the record loki-mode would convert: the record itself, or the event in its names."""
    if event.record is not None:
        return event.record
    view: dict[str, Any] = {"timestamp": event.ts, "action": event.action, "level": event.level}
    if event.actor:
        view["user_id"] = event.actor
    if event.extra:
        view["details"] = event.extra
    return view


class LokiCefFormat:
    """``CEF:0|Autonomi|Loki Mode|VERSION|ACTION|ACTION|SEVERITY|EXTENSION``, loki-mode's order."""

    def __init__(self, vendor: str, product: str, version: str) -> None:
        self._head = "|".join(header_text(field) for field in ("CEF:0", vendor, product, version))

    def __call__(self, event: WatchEvent) -> bytes:
        """Return loki-mode's CEF line for the record behind *event*."""
        record = loki_record(event)
        action = record.get("action")
        if not truthy(action):
            action = record.get("event")
        signature = action if truthy(action) else "event"
        name = action if truthy(action) else "Loki audit event"
        ext: dict[str, Any] = {}
        for key, field in (("rt", "timestamp"), ("suser", "user_id"), ("src", "ip_address")):
            if truthy(record.get(field)):
                ext[key] = record[field]
        for number, field, label in (
            (1, "resource_type", "resourceType"),
            (2, "resource_id", "resourceId"),
            (3, "token_id", "tokenId"),
        ):
            if truthy(record.get(field)):
                ext[f"cs{number}"] = record[field]
                ext[f"cs{number}Label"] = label
        success = record.get("success")
        if isinstance(success, bool):
            ext["outcome"] = "success" if success else "failure"
        if truthy(record.get("error")):
            ext["msg"] = record["error"]
        details = record.get("details")
        if isinstance(details, (dict, list)):
            flatten(details, "loki", ext, 0)
        pairs = " ".join(f"{extension_text(k)}={extension_text(v)}" for k, v in ext.items())
        head = f"{self._head}|{header_text(signature)}|{header_text(name)}|{severity(record)}"
        return utf8(f"{head}|{pairs}")
