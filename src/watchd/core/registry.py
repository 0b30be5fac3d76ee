"""A named table of what plugins provide, each entry knowing the plugin that added it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from watchd.core.errors import UsageError
from watchd.core.options import NoOptions, OptionSet
from watchd.core.spec import Spec

if TYPE_CHECKING:
    from watchd.core.context import Checking, RunContext

T = TypeVar("T")
R = TypeVar("R")


class PluginConflictError(Exception):
    """Two installed plugins register the same name for the same kind of thing."""


class RegistrationError(TypeError):
    """A plugin registered something watchd cannot use (options that are no OptionSet)."""


@dataclass(frozen=True)
class Registration(Generic[T]):
    """One named entry: what it is (a build function), its options, help, and its plugin."""

    name: str
    item: T
    help: str
    plugin: str
    options: type[OptionSet] = NoOptions


@dataclass(frozen=True)
class Parsed(Generic[T]):
    """A spec parsed by its type's declaration: ready to build, nothing opened yet.

    .. versionadded:: 0.1.0
    """

    registration: Registration[T]
    options: OptionSet
    spec: Spec

    def build(self: Parsed[Callable[[Any, RunContext], R]], context: RunContext) -> R:
        """Build what the spec names in the run *context*: the type's build function opens it."""
        return self.registration.item(self.options, context)


class TypeTable(Generic[T]):
    """The entries of one kind (say, source types), by name.

    A plugin's registration hook is handed :meth:`for_plugin`'s view, so each
    entry records who added it. An installed plugin may replace a built-in entry
    of the same name; two installed plugins may not claim the same name.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        kind: str,
        builtins: frozenset[str] = frozenset(),
        *,
        plugin: str = "?",
        _entries: dict[str, Registration[T]] | None = None,
    ) -> None:
        self.kind = kind
        self.plugin = plugin
        self._builtins = builtins
        self._entries: dict[str, Registration[T]] = {} if _entries is None else _entries

    def for_plugin(self, plugin: str) -> TypeTable[T]:
        """Return this table as plugin *plugin* adds to it: the same entries, its name on each."""
        return TypeTable(self.kind, self._builtins, plugin=plugin, _entries=self._entries)

    def add(
        self,
        name: str,
        item: T,
        options: type[OptionSet] = NoOptions,
        *,
        help: str | None = None,
    ) -> None:
        """Register *item* under *name*, taking the options *options* declares.

        *item* is the type's build function (``build(options, context)``), or
        for a dialect the dialect itself. The help line is *help*, else the
        first line of *options*' docstring.
        """
        previous = self._entries.get(name)
        if previous and previous.plugin not in self._builtins:
            raise PluginConflictError(
                f"plugins {previous.plugin!r} and {self.plugin!r} both register the {self.kind} "
                f"{name!r}; block one with -p no:NAME"
            )
        if not (isinstance(options, type) and issubclass(options, OptionSet)):
            raise RegistrationError(
                f"{self.kind} {name!r}: options must be an OptionSet class, "
                f"not {type(options).__name__} (a help line is help=...)"
            )
        if help is None:
            help = (options.__doc__ or "").strip().partition("\n")[0].rstrip(".")
        self._entries[name] = Registration(name, item, help, self.plugin, options)

    def entry(self, name: str, where: str) -> Registration[T]:
        """Return the registration *name*, or raise a usage error listing what is available."""
        entry = self._entries.get(name)
        if entry is None:
            available = ", ".join(sorted(self._entries)) or "none"
            raise UsageError(f"{where}: unknown {self.kind} {name!r} (available: {available})")
        return entry

    def get(self, name: str, where: str) -> T:
        """Return the item *name*, or raise a usage error listing what is available."""
        return self.entry(name, where).item

    def parse(self, spec: Spec, checking: Checking) -> Parsed[T]:
        """Parse *spec* with its type's declared options: every check, nothing opened."""
        entry = self.entry(spec.type, spec.options.where)
        given = spec.options.copy()  # the spec stays whole: a reload parses it again
        options = entry.options.take(given, spec.target, checking)
        given.finish()
        return Parsed(entry, options, spec)

    def build(self, spec: Spec, context: RunContext) -> Any:  # noqa: ANN401 - what the type builds
        """Parse *spec* and build it: a source, sink or filter of the run *context*."""
        return self.parse(spec, context.checking).build(context)  # type: ignore[misc]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Registration[T]]:
        return iter(sorted(self._entries.values(), key=lambda entry: entry.name))

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._entries)
