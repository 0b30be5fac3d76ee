"""One grammar for every number of bytes an option takes: ``512``, ``64KiB``, ``10MiB``, ``1GB``.

A bare number is bytes, so the options that took bytes before units were
accepted keep their meaning. ``KiB``/``MiB``/``GiB`` are powers of 1024,
``KB``/``MB``/``GB`` powers of 1000, as IEC 80000-13 has them; the unit is
read without regard to case.
"""

from __future__ import annotations

import re

_SIZE = re.compile(r"(\d+)\s*([kmg]i?b|b)?\Z", re.IGNORECASE)
_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}


def parse_size(text: str) -> int | None:
    """Return *text* in bytes, or None when it is not a size."""
    match = _SIZE.match(text.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNITS[(match.group(2) or "b").lower()]


def shown_size(size: int) -> str:
    """Write *size* in the largest binary unit that holds it whole (``64KiB``), else bytes."""
    for unit in ("GiB", "MiB", "KiB"):
        amount, left = divmod(size, _UNITS[unit.lower()])
        if size and not left:
            return f"{amount}{unit}"
    return str(size)
