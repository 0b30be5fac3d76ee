"""The kinds of a declared option: text, a choice, a number, a duration, a size, yes or no.

Each kind reads the option's text as a spec gives it, and a TOML value (where
a wrong type is an error, not a conversion), and writes a value back as it
would be typed, for the plan and the reference. An
:class:`~watchd.core.options.OptionSet` declares its options with them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar, overload

from watchd.core.durations import EXAMPLES, parse_duration, shown
from watchd.core.errors import UsageError
from watchd.core.sizes import parse_size, shown_size

if TYPE_CHECKING:
    from watchd.core.options import OptionSet

T = TypeVar("T")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
}


class OptionError(ValueError):
    """A value an option does not accept; the message says what it accepts."""


class Option(Generic[T]):
    """One declared option: its key, default, accepted form and one line of help.

    A subclass reads the option's text (:meth:`read`) and a TOML value
    (:meth:`read_toml`, where a wrong type is an error), and writes a value back
    the way it would be typed (:meth:`written`), for the plan and the docs.

    .. versionadded:: 0.1.0
    """

    #: What a TOML value of this option must be (its Python type from tomllib).
    toml: ClassVar[tuple[type, ...]] = (str,)

    def __init__(
        self, default: T, help: str, *, key: str | None = None, metavar: str | None = None
    ) -> None:
        self.default = default
        self.help = help
        self.key = key or ""
        self.attr = ""
        #: How a value is written in a usage line (``FILE``); None: the kind's own word.
        self.metavar = metavar

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = name
        self.key = self.key or name

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: OptionSet, owner: type) -> T: ...
    def __get__(self, obj: OptionSet | None, owner: type) -> Self | T:
        if obj is None:
            return self
        value: T = obj._values[self.key]
        return value

    def form(self) -> str:
        """Return the accepted form, as an error and the reference say it."""
        return "text"

    def read(self, text: str) -> T:
        """Return the value *text* gives, or raise :class:`OptionError`."""
        raise NotImplementedError

    def read_toml(self, value: object) -> T:
        """Return the value of a TOML *value*: a wrong type is an error, not a conversion."""
        if isinstance(value, bool) and bool not in self.toml:
            raise OptionError(f"expected {self.form()}, not a boolean")
        if not isinstance(value, self.toml):
            raise OptionError(f"expected {self.form()}, not {_toml_kind(value)}")
        return self.from_toml(value)

    def from_toml(self, value: Any) -> T:  # noqa: ANN401 - of the types in toml
        """Return the value of a TOML value of an accepted type."""
        return self.read(str(value))

    def written(self, value: T) -> str:
        """Return *value* as it would be typed after ``key=``."""
        return "" if value is None else str(value)

    def default_written(self) -> str:
        """Return the default as the reference shows it (``-`` when there is none)."""
        written = "" if self.default is None else self.written(self.default)
        return written or "-"

    def schema(self) -> dict[str, Any]:
        """Return this option's JSON Schema (the help as its description)."""
        schema: dict[str, Any] = {"type": _JSON_TYPES[self.toml[0]], "description": self.help}
        if self.default is not None:
            schema["default"] = self.default
        return schema


#: A check of a text's form: None when it is good, else what is wrong ("at most 48 characters").
TextCheck = Callable[[str], "str | None"]


def _of_form(text: str, valid: TextCheck | None) -> str:
    """Return *text* if *valid* (a text option's check of its form) finds nothing wrong."""
    why = valid(text) if valid is not None else None
    if why:
        raise OptionError(why)
    return text


class Text(Option[str]):
    """Any text (a name, a path, a template), with an optional check of its form.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        default: str,
        help: str,
        *,
        key: str | None = None,
        metavar: str | None = None,
        valid: TextCheck | None = None,
    ) -> None:
        super().__init__(default, help, key=key, metavar=metavar)
        self.valid = valid

    def read(self, text: str) -> str:
        """Return *text*, if its form is good."""
        return _of_form(text, self.valid)


class OptionalText(Option[str | None]):
    """Text that may be left out (None then), with an optional check of its form.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        help: str,
        *,
        key: str | None = None,
        metavar: str | None = None,
        valid: TextCheck | None = None,
    ) -> None:
        super().__init__(None, help, key=key, metavar=metavar)
        self.valid = valid

    def read(self, text: str) -> str | None:
        """Return *text*, if its form is good."""
        return _of_form(text, self.valid)


class Secret(OptionalText):
    """A credential: never written in a plan, a log line or an error; may come from the environment.

    .. versionadded:: 0.1.0
    """

    def __init__(self, help: str, *, env: str | None = None, key: str | None = None) -> None:
        super().__init__(help, key=key, metavar="SECRET")
        self.env = env

    def written(self, value: str | None) -> str:
        """Return ``***`` for a value, whatever it is."""
        return "" if value is None else "***"


class Choice(Option[str]):
    """One of a fixed set of words.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, choices: tuple[str, ...], default: str, help: str, *, key: str | None = None
    ) -> None:
        super().__init__(default, help, key=key)
        self.choices = choices

    def form(self) -> str:
        """Return the words accepted."""
        return "one of " + ", ".join(self.choices)

    def read(self, text: str) -> str:
        """Return *text* if it is one of the choices."""
        if text not in self.choices:
            raise OptionError(f"expected {self.form()}")
        return text

    def schema(self) -> dict[str, Any]:
        """Return a string schema with the words as its enum."""
        return {**super().schema(), "enum": list(self.choices)}


class Bounded(Option[int]):
    """A whole quantity within bounds: what :class:`Number` and :class:`Size` share.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        default: int,
        help: str,
        *,
        minimum: int = 0,
        maximum: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(default, help, key=key)
        self.minimum, self.maximum = minimum, maximum

    def within(self, value: int) -> int:
        """Return *value* if it is within the bounds, else raise :class:`OptionError`."""
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            raise OptionError(f"expected {self.form()}")
        return value

    def default_written(self) -> str:
        """Return ``-`` for a default below the floor: the option is unset unless given."""
        return "-" if self.default < self.minimum else super().default_written()


class Number(Bounded):
    """A whole number within bounds.

    .. versionadded:: 0.1.0
    """

    toml = (int,)

    def form(self) -> str:
        """Return "a whole number from N" (to M)."""
        top = f" to {self.maximum}" if self.maximum is not None else ""
        return f"a whole number from {self.minimum}{top}"

    def read(self, text: str) -> int:
        """Return *text* as an int within the bounds."""
        try:
            number = int(text.strip())
        except ValueError:
            raise OptionError(f"expected {self.form()}") from None
        return self.within(number)

    def from_toml(self, value: int) -> int:
        """Return *value* if it is within the bounds."""
        return self.within(value)

    def schema(self) -> dict[str, Any]:
        """Return an integer schema with its bounds."""
        schema = {**super().schema(), "minimum": self.minimum}
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema


class Duration(Option[float]):
    """A length of time in seconds, written ``250ms``, ``5s``, ``2m``, ``1h``, ``7d``.

    A bare number is in *unit* (the unit the option always had); with unit None
    a unit must be written.

    .. versionadded:: 0.1.0
    """

    toml = (str, int, float)

    def __init__(
        self,
        default: float,
        help: str,
        *,
        unit: str | None = "s",
        minimum: float = 0.0,
        key: str | None = None,
    ) -> None:
        super().__init__(float(default), help, key=key)
        self.unit, self.minimum = unit, minimum

    def form(self) -> str:
        """Return the grammar, the bare number's unit and the floor."""
        bare = f"; a bare number is in {self.unit}" if self.unit else ""
        floor = f", at least {shown(self.minimum)}" if self.minimum else ""
        return f"a duration ({EXAMPLES}{bare}){floor}"

    def read(self, text: str) -> float:
        """Return *text* in seconds."""
        try:
            seconds = parse_duration(text, unit=self.unit, what="")
        except UsageError:
            raise OptionError(f"expected {self.form()}") from None
        if seconds < self.minimum:
            raise OptionError(f"expected {self.form()}")
        return seconds

    def from_toml(self, value: str | float) -> float:
        """Return a TOML string as typed, or a TOML number in the option's unit."""
        if isinstance(value, str):
            return self.read(value)
        if self.unit is None:
            raise OptionError(f'expected {self.form()}: write the unit, as in "{value}s"')
        return self.read(f"{value:g}")

    def written(self, value: float) -> str:
        """Return *value* as a person would type it (``250ms``)."""
        return shown(value)

    def schema(self) -> dict[str, Any]:
        """Return a string-or-number schema (a number is in the option's unit)."""
        kinds = ["string", "number"] if self.unit else ["string"]
        return {"type": kinds, "description": self.help, "default": shown(self.default)}


class Size(Bounded):
    """A number of bytes, written ``512``, ``64KiB``, ``10MiB``, ``1GB``.

    .. versionadded:: 0.1.0
    """

    toml = (str, int)

    def form(self) -> str:
        """Return the grammar and the bounds."""
        top = f" to {shown_size(self.maximum)}" if self.maximum is not None else ""
        return f"a size (512, 64KiB, 10MiB, 1GB) from {shown_size(self.minimum)}{top}"

    def read(self, text: str) -> int:
        """Return *text* in bytes within the bounds."""
        size = parse_size(text)
        if size is None:
            raise OptionError(f"expected {self.form()}")
        return self.within(size)

    def written(self, value: int) -> str:
        """Return *value* in the largest unit that holds it whole (``64KiB``)."""
        return shown_size(value)

    def schema(self) -> dict[str, Any]:
        """Return a string-or-integer schema (an integer is in bytes)."""
        return {
            "type": ["string", "integer"],
            "description": self.help,
            "default": shown_size(self.default),
        }


class Flag(Option[bool]):
    """Yes or no (``yes``/``no``, ``true``/``false``, ``on``/``off``, ``1``/``0``).

    .. versionadded:: 0.1.0
    """

    toml = (bool,)

    def form(self) -> str:
        """Return the words accepted."""
        return "yes or no"

    def read(self, text: str) -> bool:
        """Return *text* as a boolean."""
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise OptionError(f"expected {self.form()} (true/false, on/off, 1/0)")

    def from_toml(self, value: bool) -> bool:  # noqa: FBT001
        """Return TOML's boolean as it is."""
        return value

    def written(self, value: bool) -> str:  # noqa: FBT001
        """Return ``yes`` or ``no``."""
        return "yes" if value else "no"


def _toml_kind(value: object) -> str:
    """Return what TOML calls *value*'s type, for a message."""
    kinds = (
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a float"),
        (str, "a string"),
        (list, "an array"),
        (dict, "a table"),
    )
    return next((name for kind, name in kinds if isinstance(value, kind)), "a date or time")
