"""Named tables of what plugins provide: source and sink types, formats, dialects, filters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from watchd.core.errors import UsageError
from watchd.core.protocols import (
    Dialect,
    FilterFactory,
    FormatFactory,
    SinkFactory,
    SourceFactory,
)

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

    The plugin host sets :attr:`plugin` while it calls one plugin's hook, so each
    entry records who added it. An installed plugin may replace a built-in entry
    of the same name; two installed plugins may not claim the same name.
    """

    def __init__(self, kind: str, builtins: frozenset[str] = frozenset()) -> None:
        self.kind = kind
        self.plugin = "?"
        self._builtins = builtins
        self._entries: dict[str, Registration[T]] = {}

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


@dataclass
class Registry:
    """Every table a run looks things up in."""

    builtins: frozenset[str] = frozenset()
    sources: TypeTable[SourceFactory] = field(init=False)
    sinks: TypeTable[SinkFactory] = field(init=False)
    formats: TypeTable[FormatFactory] = field(init=False)
    dialects: TypeTable[Dialect] = field(init=False)
    filters: TypeTable[FilterFactory] = field(init=False)

    def __post_init__(self) -> None:
        self.sources = TypeTable("source type", self.builtins)
        self.sinks = TypeTable("sink type", self.builtins)
        self.formats = TypeTable("format", self.builtins)
        self.dialects = TypeTable("dialect", self.builtins)
        self.filters = TypeTable("filter", self.builtins)

    def tables(self) -> dict[str, TypeTable[Any]]:
        """Return the tables by the plural a listing shows them under."""
        return {
            "sources": self.sources,
            "sinks": self.sinks,
            "formats": self.formats,
            "dialects": self.dialects,
            "filters": self.filters,
        }
