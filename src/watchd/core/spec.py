"""The ``TYPE[:TARGET][,KEY=VALUE]...`` grammar of ``--source``, ``--sink`` and ``--apply``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import TypeVar
from urllib.parse import urlsplit

from watchd.core.durations import parse_duration, shown
from watchd.core.errors import UsageError

_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*\Z")
# An option starts at a comma followed by KEY=, so a comma inside a target or a
# value (``fields=dest,detail``) stays where it is unless ``word=`` follows it.
_OPTION_START = re.compile(r",(?=[A-Za-z_][A-Za-z0-9_.-]*=)")
# Values of these options never appear in a message: they are credentials.
_SECRET_VALUE = re.compile(r"(,(?:token|password|secret)=)[^,]*")
_SECRET_KEYS = frozenset(("token", "password", "secret"))
_T = TypeVar("_T")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass
class Options:
    """A spec's ``KEY=VALUE`` options; each consumer takes the keys it knows.

    After every consumer has taken its keys, :meth:`finish` rejects what is left,
    so a misspelt option is an error, never silently ignored.

    .. versionadded:: 0.1.0
    """

    values: dict[str, str] = field(default_factory=dict)
    where: str = ""
    _known: list[str] = field(default_factory=list)
    #: Each option taken, with the value it has (given or default): the plan shows them.
    resolved: dict[str, str] = field(default_factory=dict)

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def _take(self, key: str) -> str | None:
        self._known.append(key)
        return self.values.pop(key, None)

    def _noted(self, key: str, value: _T) -> _T:
        """Keep *value* for the plan, written as the option would be; return it."""
        if key in _SECRET_KEYS:
            self.resolved[key] = "***"
        elif isinstance(value, bool):
            self.resolved[key] = "yes" if value else "no"
        elif isinstance(value, float):
            self.resolved[key] = shown(value)
        else:
            self.resolved[key] = str(value)
        return value

    def text(self, key: str, default: str) -> str:
        """Take *key* as a string."""
        value = self._take(key)
        return self._noted(key, default if value is None else value)

    def optional(self, key: str) -> str | None:
        """Take *key* as a string, None when absent."""
        value = self._take(key)
        return value if value is None else self._noted(key, value)

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        """Take *key*, which must be one of *choices*."""
        value = self._take(key)
        if value is None:
            return self._noted(key, default)
        if value not in choices:
            raise UsageError(f"{self.where}: {key}={value!r} is not one of {', '.join(choices)}")
        return self._noted(key, value)

    def number(self, key: str, default: int, *, minimum: int = 0) -> int:
        """Take *key* as an integer no smaller than *minimum*."""
        value = self._take(key)
        if value is None:
            return self._noted(key, default)
        try:
            number = int(value)
        except ValueError:
            raise UsageError(f"{self.where}: {key}={value!r} is not a whole number") from None
        if number < minimum:
            raise UsageError(f"{self.where}: {key}={value!r} is below {minimum}")
        return self._noted(key, number)

    def duration(
        self, key: str, default: float, *, unit: str | None, minimum: float = 0.0
    ) -> float:
        """Take *key* as a duration in seconds (``250ms``, ``5s``, ``2m``, ``1h``).

        A bare number is in *unit* (``"ms"`` or ``"s"``), the unit the option
        always had, so older specs keep their meaning; with None a unit is required.
        """
        value = self._take(key)
        if value is None:
            return self._noted(key, float(default))
        seconds = parse_duration(value, unit=unit, what=f"{self.where}: {key}")
        if seconds < minimum:
            raise UsageError(f"{self.where}: {key}={value!r} is below {shown(minimum)}")
        return self._noted(key, seconds)

    def flag(self, key: str, *, default: bool) -> bool:
        """Take *key* as a boolean (true/false, yes/no, on/off, 1/0)."""
        value = self._take(key)
        if value is None:
            return self._noted(key, default)
        if value.lower() in _TRUE:
            return self._noted(key, True)
        if value.lower() in _FALSE:
            return self._noted(key, False)
        raise UsageError(f"{self.where}: {key}={value!r} is not true or false")

    def finish(self) -> None:
        """Raise a usage error naming any option no consumer took, and the one meant if clear."""
        if self.values:
            unknown = ", ".join(sorted(self.values))
            taken = sorted(set(self._known))
            known = ", ".join(taken) or "none"
            meant = [m for key in sorted(self.values) for m in get_close_matches(key, taken, 1)]
            hint = f"; did you mean {', '.join(meant)}?" if meant else ""
            raise UsageError(f"{self.where}: unknown option {unknown} (accepted: {known}){hint}")


@dataclass
class Spec:
    """One parsed spec: its type, its target (may be empty) and its options.

    .. versionadded:: 0.1.0
    """

    type: str
    target: str
    options: Options
    text: str


def redact(text: str) -> str:
    """Return a spec's text with the values of credential options replaced by ``***``."""
    return _SECRET_VALUE.sub(r"\1***", text)


def parse_spec(text: str, what: str) -> Spec:
    """Parse ``TYPE[:TARGET][,KEY=VALUE]...``; *what* names the option for errors."""
    head, *option_texts = _OPTION_START.split(text)
    type_name, _, target = head.partition(":")
    where = f"{what} {redact(text)!r}"
    if not _TYPE.match(type_name):
        raise UsageError(
            f"{where}: expected TYPE[:TARGET][,KEY=VALUE]... with a TYPE such as audit"
        )
    values: dict[str, str] = {}
    for option in option_texts:
        key, _, value = option.partition("=")
        if key in values:
            raise UsageError(f"{where}: option {key} given twice")
        values[key] = value
    return Spec(type_name, target, Options(values, where), text)


def parse_address(target: str, where: str, default_port: int | None = None) -> tuple[str, int]:
    """Return (host, port) of ``//HOST:PORT`` or ``HOST:PORT`` (``[v6]:PORT`` too)."""
    parts = urlsplit(f"x:{target}" if target.startswith("//") else f"x://{target}")
    try:
        port = parts.port or default_port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise UsageError(f"{where}: expected HOST:PORT, as in 127.0.0.1:5170")
    return parts.hostname, port


def peer_name(address: object) -> str:
    """Return a socket address as ``host:port`` (``[v6]:port``), or a Unix path as it is."""
    if isinstance(address, tuple):
        host, port = str(address[0]), address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(address) or "unix"
