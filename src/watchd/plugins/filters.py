"""Built-in event filters: by container name, action, level and any field.

The command line's ``--name``, ``--action``, ``--level`` and ``--filter`` build
these; ``--apply`` builds any registered filter, these included.
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase

from watchd.core.context import FilterFactory, RunContext
from watchd.core.errors import UsageError
from watchd.core.event import LEVEL_RANK, LEVELS, WatchEvent, normalize_level
from watchd.core.fields import field_reader
from watchd.core.hookspecs import hookimpl
from watchd.core.interfaces import EventFilter
from watchd.core.registry import TypeTable
from watchd.core.spec import Spec


def keep(predicate: Callable[[WatchEvent], bool]) -> EventFilter:
    """Return a batch filter that keeps the events *predicate* accepts."""
    return lambda events: [event for event in events if predicate(event)]


def _target(spec: Spec, example: str) -> str:
    spec.options.finish()
    if not spec.target:
        raise UsageError(f"{spec.options.where}: needs a value, as in {example}")
    return spec.target


def matcher(patterns: list[str]) -> Callable[[str], bool]:
    """Return a test of whether a value matches one of the globs *patterns* (or equals one)."""
    exact = frozenset(p for p in patterns if not any(c in p for c in "*?["))
    globs = [p for p in patterns if p not in exact]
    if not globs:  # the usual case, a set lookup
        return exact.__contains__
    return lambda value: value in exact or any(fnmatchcase(value, g) for g in globs)


def name_filter(spec: Spec, context: RunContext) -> EventFilter:  # noqa: ARG001
    """``name:GLOB[,GLOB]...``: the container (lock, resource, entity) matches one of the globs."""
    matches = matcher(_target(spec, "name:build").split(","))
    return keep(lambda event: matches(event.container))


def action_filter(spec: Spec, context: RunContext) -> EventFilter:  # noqa: ARG001
    """``action:GLOB[,GLOB]...``: the action matches one of the globs."""
    matches = matcher(_target(spec, "action:deny").split(","))
    return keep(lambda event: matches(event.action))


def level_filter(spec: Spec, context: RunContext) -> EventFilter:  # noqa: ARG001
    """``level:LEVEL``: at least that severity."""
    wanted = normalize_level(_target(spec, "level:warning"))
    if wanted is None:
        raise UsageError(f"{spec.options.where}: unknown level (levels: {', '.join(LEVELS)})")
    floor = LEVEL_RANK[wanted]
    return keep(lambda event: LEVEL_RANK.get(event.level, 1) >= floor)


def field_filter(spec: Spec, context: RunContext) -> EventFilter:  # noqa: ARG001
    """``field:FIELD=GLOB``: the field (``extra.KEY`` too) matches the glob."""
    text = _target(spec, "field:dest=10.*")
    path, sep, pattern = text.partition("=")
    if not sep:
        raise UsageError(f"{spec.options.where}: expected FIELD=GLOB, as in dest=10.*")
    read = field_reader(path, spec.options.where)

    def accept(event: WatchEvent) -> bool:
        value = read(event)
        return value is not None and fnmatchcase(value, pattern)

    return keep(accept)


def change_filter(spec: Spec, context: RunContext) -> EventFilter:  # noqa: ARG001
    """``change:ID``: ito events of that change (its scope, or the change entity itself)."""
    change = _target(spec, "change:005-01_add-x")
    prefix = change + "/"
    return keep(lambda event: event.container == change or event.container.startswith(prefix))


@hookimpl
def watchd_register_filters(filters: TypeTable[FilterFactory]) -> None:
    """Register ``name``, ``action``, ``level`` and ``field``."""
    filters.add("name", name_filter, "name:GLOB[,GLOB]: container matches a glob")
    filters.add("action", action_filter, "action:GLOB[,GLOB]: action matches a glob")
    filters.add("level", level_filter, "level:LEVEL: at least that severity")
    filters.add("field", field_filter, "field:FIELD=GLOB: a field (or extra.KEY) matches")
    filters.add("change", change_filter, "change:ID: ito events of that change")
