"""One grammar for every length of time an option or a flag takes.

``250ms``, ``5s``, ``2m``, ``1h``, ``7d`` (a decimal is allowed: ``1.5s``). A
bare number keeps the unit the option had before units were accepted (say
milliseconds for ``rotate_wait=``), so existing command lines and
configuration files mean what they meant.
"""

from __future__ import annotations

import re

from watchd.core.errors import UsageError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?\Z")
#: Seconds in one of each unit.
UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
EXAMPLES = "250ms, 5s, 2m, 1h"


def parse_duration(text: str, *, unit: str | None, what: str) -> float:
    """Return *text* in seconds; a bare number is in *unit* (None: a unit is required).

    *what* names the option or flag in the one-line error.
    """
    match = _DURATION.match(text.strip())
    if match is None or (match.group(2) is None and unit is None):
        raise UsageError(f"{what}: {text!r} is not a duration ({EXAMPLES})")
    return float(match.group(1)) * UNITS[match.group(2) or unit or "s"]


def shown(seconds: float) -> str:
    """Write *seconds* the way a person would type it: ``250ms``, ``5s``, ``2m``, ``1.5h``."""
    for unit in ("d", "h", "m", "s"):
        amount = seconds / UNITS[unit]
        if amount >= 1 and round(amount, 3) == round(amount):
            return f"{round(amount)}{unit}"
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"
