"""Built-in event filters: by container name, action, level and any field.

The command line's ``--name``, ``--action``, ``--level`` and ``--filter`` build
these; ``--apply`` builds any registered filter, these included.
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase

from watchd.core.context import Checking, FilterFactory, RunContext
from watchd.core.errors import UsageError
from watchd.core.event import LEVEL_RANK, LEVELS, WatchEvent, normalize_level
from watchd.core.fields import field_reader
from watchd.core.hookspecs import hookimpl
from watchd.core.interfaces import EventFilter
from watchd.core.options import OptionSet
from watchd.core.registry import TypeTable


def keep(predicate: Callable[[WatchEvent], bool]) -> EventFilter:
    """Return a batch filter that keeps the events *predicate* accepts."""
    return lambda events: [event for event in events if predicate(event)]


def matcher(patterns: list[str]) -> Callable[[str], bool]:
    """Return a test of whether a value matches one of the globs *patterns* (or equals one)."""
    exact = frozenset(p for p in patterns if not any(c in p for c in "*?["))
    globs = [p for p in patterns if p not in exact]
    if not globs:  # the usual case, a set lookup
        return exact.__contains__
    return lambda value: value in exact or any(fnmatchcase(value, g) for g in globs)


class GlobsOptions(OptionSet):
    """Globs a field must match one of (an exact value matches itself)."""

    target_form = "GLOB[,GLOB]..."
    target_required = True

    def check(self, checking: Checking) -> None:
        """Split the globs."""
        super().check(checking)
        self.patterns = self.target.split(",")


class NameOptions(GlobsOptions):
    """The container (lock, resource, entity) matches one of the globs."""

    example = "name:build"


class ActionOptions(GlobsOptions):
    """The action matches one of the globs."""

    example = "action:deny"


def name_filter(options: GlobsOptions, context: RunContext) -> EventFilter:  # noqa: ARG001
    """``name:GLOB[,GLOB]...``."""
    matches = matcher(options.patterns)
    return keep(lambda event: matches(event.container))


def action_filter(options: GlobsOptions, context: RunContext) -> EventFilter:  # noqa: ARG001
    """``action:GLOB[,GLOB]...``."""
    matches = matcher(options.patterns)
    return keep(lambda event: matches(event.action))


class LevelOptions(OptionSet):
    """At least that severity."""

    target_form = "LEVEL"
    target_required = True
    example = "level:warning"

    def check(self, checking: Checking) -> None:
        """Read the level."""
        super().check(checking)
        wanted = normalize_level(self.target)
        if wanted is None:
            raise UsageError(f"{self.where}: unknown level (levels: {', '.join(LEVELS)})")
        self.floor = LEVEL_RANK[wanted]


def level_filter(options: LevelOptions, context: RunContext) -> EventFilter:  # noqa: ARG001
    """``level:LEVEL``."""
    floor = options.floor
    return keep(lambda event: LEVEL_RANK.get(event.level, 1) >= floor)


class FieldOptions(OptionSet):
    """A field (or extra.KEY) matches the glob."""

    target_form = "FIELD=GLOB"
    target_required = True
    example = "field:dest=10.*"

    def check(self, checking: Checking) -> None:
        """Read the field's path and the glob."""
        super().check(checking)
        path, sep, self.pattern = self.target.partition("=")
        if not sep:
            raise UsageError(f"{self.where}: expected FIELD=GLOB, as in dest=10.*")
        self.read = field_reader(path, self.where)


def field_filter(options: FieldOptions, context: RunContext) -> EventFilter:  # noqa: ARG001
    """``field:FIELD=GLOB``."""
    read, pattern = options.read, options.pattern

    def accept(event: WatchEvent) -> bool:
        value = read(event)
        return value is not None and fnmatchcase(value, pattern)

    return keep(accept)


class ChangeOptions(OptionSet):
    """ito events of that change (its scope, or the change entity itself)."""

    target_form = "ID"
    target_required = True
    example = "change:005-01_add-x"


def change_filter(options: ChangeOptions, context: RunContext) -> EventFilter:  # noqa: ARG001
    """``change:ID``."""
    change = options.target
    prefix = change + "/"
    return keep(lambda event: event.container == change or event.container.startswith(prefix))


@hookimpl
def watchd_register_filters(filters: TypeTable[FilterFactory]) -> None:
    """Register ``name``, ``action``, ``level``, ``field`` and ``change``."""
    filters.add("name", name_filter, NameOptions)
    filters.add("action", action_filter, ActionOptions)
    filters.add("level", level_filter, LevelOptions)
    filters.add("field", field_filter, FieldOptions)
    filters.add("change", change_filter, ChangeOptions)
