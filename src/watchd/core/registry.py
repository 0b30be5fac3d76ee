"""A named table of what plugins provide, each entry knowing the plugin that added it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from watchd.core.errors import UsageError

T = TypeVar("T")


class PluginConflictError(Exception):
    """Two installed plugins register the same name for the same kind of thing."""


@dataclass(frozen=True)
class Registration(Generic[T]):
    """One named entry: what it is, a line of help, and the plugin that added it."""

    name: str
    item: T
    help: str
    plugin: str


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

    def add(self, name: str, item: T, help: str = "") -> None:
        """Register *item* under *name*."""
        previous = self._entries.get(name)
        if previous and previous.plugin not in self._builtins:
            raise PluginConflictError(
                f"plugins {previous.plugin!r} and {self.plugin!r} both register the {self.kind} "
                f"{name!r}; block one with -p no:NAME"
            )
        self._entries[name] = Registration(name, item, help, self.plugin)

    def get(self, name: str, where: str) -> T:
        """Return the entry *name*, or raise a usage error listing what is available."""
        entry = self._entries.get(name)
        if entry is None:
            available = ", ".join(sorted(self._entries)) or "none"
            raise UsageError(f"{where}: unknown {self.kind} {name!r} (available: {available})")
        return entry.item

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Registration[T]]:
        return iter(sorted(self._entries.values(), key=lambda entry: entry.name))

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._entries)
