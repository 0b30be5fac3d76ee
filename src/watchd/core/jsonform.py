r"""Writing any value a record holds as compact JSON, without ever failing.

A record is what Python's ``json.loads`` read (see ``codecs.records``): it may
hold integers wider than 64 bits, NaN and infinities, lone surrogates, nesting
hundreds of levels deep. orjson writes the common case fastest; what it
refuses goes to msgspec (wide integers, deep nesting), and what msgspec
refuses to the standard library with every non-ASCII character escaped (a
lone surrogate is then ``\\ud800``, valid JSON). NaN and the infinities are
written as ``null`` on every path: JSON has no spelling for them, and a
strict reader downstream must not choke on the output.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec
import orjson

_ENCODER = msgspec.json.Encoder()


def dumps_compact(obj: object) -> bytes:
    """Return *obj* as compact JSON bytes; any value a record can hold is written."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # wider than 64 bits, deeper than 255 levels, a surrogate, a key type
        pass
    try:
        return _ENCODER.encode(obj)
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError):
        pass
    return json.dumps(_finite(obj), separators=(",", ":"), ensure_ascii=True, default=str).encode()


def _finite(obj: object) -> object:
    """Return a copy of *obj* with NaN and infinities as None, as orjson and msgspec write them.

    Walked with a stack of its own, not by recursion: a record may be nested
    as deep as Python's own parser goes.
    """
    root: list[object] = [obj]
    todo: list[tuple[Any, Any]] = [(root, 0)]
    while todo:
        container, key = todo.pop()
        value = container[key]
        if isinstance(value, float) and not math.isfinite(value):
            container[key] = None
        elif isinstance(value, dict):
            container[key] = copy = dict(value)
            todo.extend((copy, k) for k in copy)
        elif isinstance(value, list | tuple):
            container[key] = items = list(value)
            todo.extend((items, i) for i in range(len(items)))
    return root[0]


#: What ``json.dumps`` escapes beyond what every JSON writer does: DEL and all non-ASCII.
_NON_ASCII = re.compile(r"[^\x00-\x7e]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # astral: a surrogate pair, as JSON spells it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def ascii_json(data: bytes) -> bytes:
    r"""Return JSON text *data* with DEL and every non-ASCII character escaped (``\u00e9``).

    What Python's ``json.dumps`` writes by default (terok-shield's ``to_json``
    among them); and so no line reader can end a line inside a value: U+0085,
    U+2028 and U+2029 end one for Python's ``splitlines()`` and for
    JavaScript. Outside strings JSON text is ASCII, so every match is in one.
    """
    if data.isascii() and b"\x7f" not in data:  # nearly every line: both checked in C
        return data
    return _NON_ASCII.sub(_escape, data.decode()).encode()
