"""The ``TYPE[:TARGET][,KEY=VALUE]...`` grammar of ``--source``, ``--sink`` and ``--apply``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import get_close_matches
from urllib.parse import urlsplit

from watchd.core.errors import UsageError

_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*\Z")
# An option starts at a comma followed by KEY=, so a comma inside a target or a
# value (``fields=dest,detail``) stays where it is unless ``word=`` follows it.
_OPTION_START = re.compile(r",(?=[A-Za-z_][A-Za-z0-9_.-]*=)")
# Values of these options never appear in a message: they are credentials.
_SECRET_VALUE = re.compile(r"(,(?:token|password|secret)=)[^,]*")
_SECRET_KEYS = frozenset(("token", "password", "secret"))


@dataclass
class Options:
    """A spec's ``KEY=VALUE`` options as given, before a type's declaration parses them.

    A type's :class:`~watchd.core.options.OptionSet` takes the keys it declares
    (a sink's format then takes its own from the rest); :meth:`finish` rejects
    what is left, so a misspelt option is an error, never silently ignored.
    """

    values: dict[str, str] = field(default_factory=dict)
    where: str = ""
    #: Values with their TOML types, from a ``[[sink]]``-style table (checked by type).
    typed: dict[str, object] = field(default_factory=dict)
    #: Every key some declaration took, for the did-you-mean of :meth:`finish`.
    known: list[str] = field(default_factory=list)
    #: The flag and the spec's text, for *where* once a type names its credentials.
    what: str = ""
    text: str = ""
    #: The credential options of the declarations that took keys so far.
    secrets: frozenset[str] = frozenset()

    def copy(self) -> Options:
        """Return the options as given, for one more parse (a parse takes its keys out)."""
        return Options(
            dict(self.values), self.where, dict(self.typed), what=self.what, text=self.text
        )

    def redact_for(self, secrets: frozenset[str]) -> None:
        """Write *where* again with the values of credential options hidden.

        The secrets of every declaration that took keys from these options
        count (a sink's and its format's), so a later one cannot undo an earlier.
        """
        self.secrets |= secrets
        if self.text and self.secrets:
            self.where = f"{self.what} {redact(self.text, self.secrets)!r}"

    def __contains__(self, key: str) -> bool:
        return key in self.values or key in self.typed

    def finish(self) -> None:
        """Raise a usage error naming any option no declaration took, and the one meant if clear."""
        left = sorted({*self.values, *self.typed})
        if left:
            unknown = ", ".join(left)
            taken = sorted(set(self.known))
            known = ", ".join(taken) or "none"
            meant = [m for key in left for m in get_close_matches(key, taken, 1)]
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


def redact(text: str, secrets: frozenset[str] = frozenset()) -> str:
    """Return a spec's text with the values of credential options replaced by ``***``.

    *secrets* names a type's own credential options besides the usual ones.
    """
    text = _SECRET_VALUE.sub(r"\1***", text)
    for key in secrets - _SECRET_KEYS:
        text = re.sub(rf"(,{re.escape(key)}=)[^,]*", r"\1***", text)
    return text


class TableSpec(str):
    """A spec written as a TOML table: its text, and its values with their TOML types.

    It travels through the command line's parser as the text; :func:`parse_spec`
    takes the values from the table, so a declared option checks their types
    (``queue = "5"`` is a string, not a number) and a value holding ``,k=`` stays whole.
    """

    __slots__ = ("kind", "table", "target")

    kind: str
    target: str
    table: dict[str, object]

    def __new__(cls, text: str, kind: str, target: str, table: dict[str, object]) -> TableSpec:  # noqa: D102
        spec = super().__new__(cls, text)
        spec.kind, spec.target, spec.table = kind, target, table
        return spec


def parse_spec(text: str, what: str) -> Spec:
    """Parse ``TYPE[:TARGET][,KEY=VALUE]...``; *what* names the option for errors."""
    where = f"{what} {redact(text)!r}"
    if isinstance(text, TableSpec):
        options = Options({}, where, dict(text.table), what=what, text=text)
        return Spec(text.kind, text.target, options, text)
    head, *option_texts = _OPTION_START.split(text)
    type_name, _, target = head.partition(":")
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
    return Spec(type_name, target, Options(values, where, what=what, text=text), text)


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
