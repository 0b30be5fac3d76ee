"""Declared options: each type states every option it takes, once, as one class.

A source, sink, format or filter type declares an :class:`OptionSet` subclass
whose attributes are options (:class:`Text`, :class:`Number`,
:class:`Duration`, :class:`Size`, :class:`Flag`, :class:`Choice`, ...). That
one declaration is at once the parser of ``NAME:TARGET,key=value`` and of a
TOML table, the validation (types, bounds, allowed values, then the class's
own :meth:`OptionSet.check`), and every view of the type: ``watchd plugins
NAME``, the reference pages in ``docs/`` and ``watchd schema``. Parsing opens
nothing; the type's build function, handed the parsed options, opens what it
needs. ``watchd validate`` parses and stops there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from watchd.core.errors import UsageError
from watchd.core.option_kinds import (
    Option,
    OptionError,
    Secret,
)
from watchd.core.spec import Options

if TYPE_CHECKING:
    from watchd.core.context import Checking
    from watchd.core.registry import Registration, TypeTable

T = TypeVar("T")


#: Keys no option may take: a TOML table's type and target, and what an OptionSet holds.
_RESERVED = frozenset(("type", "target", "where", "given"))


class OptionSet:
    """The options of one type, declared as class attributes; an instance holds them parsed.

    Subclass it, declare each option, and say what the target is::

        class TsvOptions(OptionSet):
            '''Append ts, action and container as TSV rows.'''

            target_form = "PATH"
            target_required = True
            fsync = Flag(False, "flush every batch to the disk")

    Groups of options shared by several types are OptionSet subclasses too,
    combined by inheritance. :meth:`check` makes the checks a value can have
    without opening anything (an address, a port, a name in the registry);
    parsing calls it, so ``watchd validate`` makes every such check.

    .. versionadded:: 0.1.0
    """

    #: How the target is written (``PATH``, ``HOST:PORT``); None: the type takes no target.
    target_form: ClassVar[str | None] = None
    #: Whether a target must be given.
    target_required: ClassVar[bool] = False
    #: An example of the whole spec, for help and errors (``tsv:/var/log/a.tsv``).
    example: ClassVar[str] = ""
    _declared: ClassVar[dict[str, Option[Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:  # noqa: ANN401 - passed on
        super().__init_subclass__(**kwargs)
        own = [value for value in vars(cls).values() if isinstance(value, Option)]
        keys = [option.key for option in own]
        for key in keys:
            if key in _RESERVED or keys.count(key) > 1:
                why = "is the spec's own" if key in _RESERVED else "is declared twice"
                raise TypeError(f"{cls.__name__}: option {key!r} {why}")
        declared: dict[str, Option[Any]] = {}
        for klass in cls.__mro__:  # its own options first, then its groups'
            for value in vars(klass).values():
                if isinstance(value, Option):
                    declared.setdefault(value.key, value)
        cls._declared = declared

    def __init__(self, target: str = "", **values: Any) -> None:  # noqa: ANN401 - typed per option
        """Make the options in code (as a test does): *values* by option key, others default."""
        unknown = set(values) - set(self._declared)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no option {', '.join(sorted(unknown))}")
        self.target = target
        self.where = type(self).__name__
        self.given = frozenset(values)
        self._values = {key: values.get(key, o.default) for key, o in self._declared.items()}
        self._rest = Options()
        self._nested: list[OptionSet] = []
        self._unused: set[str] = set()

    @classmethod
    def declared(cls) -> Iterator[Option[Any]]:
        """Return every option, its own first, then those of its groups."""
        return iter(cls._declared.values())

    @classmethod
    def secret_keys(cls) -> frozenset[str]:
        """Return the keys whose values are credentials."""
        return frozenset(key for key, o in cls._declared.items() if isinstance(o, Secret))

    @classmethod
    def take(cls, given: Options, target: str, checking: Checking) -> Self:
        """Parse *cls*'s keys out of *given* (the rest stay there), then :meth:`check` them.

        Raises :class:`UsageError` naming the option, the value and the
        accepted form (and the file's line, for a TOML table).
        """
        given.redact_for(cls.secret_keys())
        self = cls.__new__(cls)
        self.target, self.where, self._rest, self._nested = target, given.where, given, []
        self._unused = set()
        self.given = frozenset(key for key in cls._declared if key in given)
        given.known.extend(cls._declared)
        values: dict[str, Any] = {}
        for key, option in cls._declared.items():
            values[key] = _value_of(option, given, key)
        self._values = values
        self._check_target()
        self.check(checking)
        return self

    @classmethod
    def parse(cls, target: str = "", checking: Checking | None = None, **values: str) -> Self:
        """Parse *target* and *values* (as text, as a spec gives them) and check them.

        What a test or a tool calls to get options exactly as a spec would make
        them: ``CefOptions.parse(compat="loki")``. *checking* defaults to an
        empty registry and the default settings.
        """
        if checking is None:
            from watchd.core.context import Checking, Registry  # noqa: PLC0415 - it imports us

            checking = Checking(Registry())
        given = Options(dict(values), f"{cls.__name__} options")
        parsed = cls.take(given, target, checking)
        given.finish()
        return parsed

    def _check_target(self) -> None:
        form = self.target_form
        if form is None and self.target:
            raise UsageError(f"{self.where}: takes no target (nothing after the type's ':')")
        if form is not None and self.target_required and not self.target:
            example = f", as in {self.example}" if self.example else ""
            raise UsageError(f"{self.where}: needs {form}{example}")

    def check(self, checking: Checking) -> None:
        """Check what single options cannot: combinations, addresses, names. Opens nothing.

        A subclass overrides it, calls ``super().check(checking)``, and raises
        :class:`UsageError` (:meth:`refuse` says it in the one style).
        """

    def refuse(self, key: str, why: str) -> UsageError:
        """Return the error of option *key*: ``WHERE: key='value': why``."""
        option = self._declared.get(key)
        value = self._values.get(key)
        shown_value = option.written(value) if option is not None else str(value)
        return UsageError(f"{self.where}: {key}={shown_value!r}: {why}")

    def refuse_given(self, keys: Iterable[str], why: str) -> None:
        """Refuse the first of options *keys* the user gave: they do not apply here (*why*)."""
        given = sorted(self.given.intersection(keys))
        if given:
            raise self.refuse(given[0], why)

    def named(self, table: TypeTable[T], key: str) -> Registration[T]:
        """Return the entry of *table* that option *key* names (a dialect, a format), or refuse."""
        name = self._values[key]
        if name not in table:
            raise self.refuse(key, f"unknown {table.kind} (available: {', '.join(table.names())})")
        return table.entry(name, self.where)

    def unused(self, *keys: str) -> None:
        """Say that options *keys* do not apply as configured: the plan leaves them out."""
        self._unused.update(keys)

    def take_nested(self, nested: type[OptionSet], checking: Checking) -> OptionSet:
        """Parse the options of a part this type builds (its format, say) from what is left."""
        parsed = nested.take(self._rest, "", checking)
        self._nested.append(parsed)
        return parsed

    def shown(self) -> dict[str, str]:
        """Return every option with its value as typed, for the plan (credentials as ``***``).

        The options of the parts it builds (its format's) follow its own.
        """
        shown = {
            key: o.written(self._values[key])
            for key, o in self._declared.items()
            if key not in self._unused
        }
        for nested in self._nested:
            shown.update({k: v for k, v in nested.shown().items() if k not in shown})
        return shown


def _value_of(option: Option[Any], given: Options, key: str) -> Any:  # noqa: ANN401 - per option
    typed = given.typed.pop(key, _MISSING)
    text = given.values.pop(key, None)
    try:
        if typed is not _MISSING:
            return option.read_toml(typed)
        if text is not None:
            return option.read(text)
    except OptionError as exc:
        shown_value = "***" if isinstance(option, Secret) else text if text is not None else typed
        raise UsageError(f"{given.where}: {key}={shown_value!r}: {exc}") from None
    if isinstance(option, Secret) and option.env:
        return os.environ.get(option.env) or None
    return option.default


_MISSING = object()


#: What a type without options declares.
class NoOptions(OptionSet):
    """Takes no options."""
