"""``auto``: each record is recognised by its keys and mapped by the dialect it fits."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from itertools import compress, repeat
from operator import is_
from typing import Any, cast

from watchd.core.event import Cursor, WatchEvent
from watchd.core.interfaces import Dialect, KeyedDialect, RecordSource
from watchd.core.registry import TypeTable
from watchd.watchers.dialects.base import ToEvents, batch_mapper

ToEvent = Callable[[dict[str, Any], RecordSource, Cursor | None], WatchEvent]

#: Built-in dialects, most specific first; ``generic`` takes what none of them fit.
BUILTIN_ORDER = ("watchd", "ito", "loki", "lokt", "terok", "generic")
#: Key sets remembered at most: a trail has a handful; hostile input must not grow memory.
KEY_SETS = 1024


class AutoDialect:
    """Tries installed plugins' dialects first, then the built-ins, ``generic`` last."""

    name = "auto"

    def __init__(self, table: TypeTable[Dialect]) -> None:
        self._table = table
        self._order: list[Dialect] | None = None
        #: The dialects whose choice follows from a record's keys alone: each of
        #: them, and every dialect tried before it, matches by keys.
        self._keyed: set[int] = set()
        #: The ``to_event`` of the dialect each key set was found to fit.
        self._by_keys: dict[tuple[str, ...], ToEvent] = {}
        #: The block mapper of the dialect each key set was found to fit.
        self._blocks_by_keys: dict[tuple[str, ...], ToEvents] = {}
        self._mappers: dict[int, ToEvents] = {}  # by id() of the dialect

    def _dialects(self) -> list[Dialect]:
        # Resolved on first use: plugins loaded after this one have registered by then.
        if self._order is None:
            by_name = {entry.name: entry.item for entry in self._table if entry.item is not self}
            plugins = [d for n, d in by_name.items() if n not in BUILTIN_ORDER]
            self._order = plugins + [by_name[n] for n in BUILTIN_ORDER if n in by_name]
            for dialect in self._order:
                if not (isinstance(dialect, KeyedDialect) and dialect.matches_by_keys):
                    break
                self._keyed.add(id(dialect))
        return self._order

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Return True when some dialect fits *record*."""
        return any(d.matches(record) for d in self._dialects())

    def to_event(
        self, record: dict[str, Any], where: RecordSource, cursor: Cursor | None
    ) -> WatchEvent:
        """Map *record* with the first dialect that fits it."""
        keys = tuple(record)
        to_event = self._by_keys.get(keys)
        if to_event is None:
            dialect = self._first_fit(record)
            to_event = dialect.to_event
            if id(dialect) in self._keyed and len(self._by_keys) < KEY_SETS:
                self._by_keys[keys] = to_event
        return to_event(record, where, cursor)

    def to_events(self, records: list[dict[str, Any]], where: RecordSource) -> list[WatchEvent]:
        """Map *records*: those each dialect fits in one call to it, the events in their order.

        Records are sorted out by their key sets in C; a block of one producer
        (the usual trail) is one call. Where producers alternate, each
        dialect's records go to it together, and the events are put back in
        order: every block mapper gives one event per record (``BatchDialect``).
        """
        found = list(map(self._blocks_by_keys.get, map(tuple, records)))
        if None in found:  # a key set not seen yet, or one a dialect must see every time
            mappers = [m or self._mapper_for(r) for m, r in zip(found, records, strict=True)]
        else:
            mappers = cast("list[ToEvents]", found)
        if not mappers:
            return []
        first = mappers[0]
        if mappers.count(first) == len(mappers):
            return first(records, where)
        made: dict[ToEvents, Iterator[WatchEvent]] = {}
        for mapper in set(mappers):
            own = list(compress(records, map(is_, mappers, repeat(mapper))))
            events = mapper(own, where)
            if len(events) != len(own):
                raise ValueError(f"a block mapper gave {len(events)} events for {len(own)} records")
            made[mapper] = iter(events)
        return list(map(next, map(made.__getitem__, mappers)))

    def _mapper_for(self, record: dict[str, Any]) -> ToEvents:
        """Return the block mapper of the first dialect that fits *record*, remembered by keys."""
        dialect = self._first_fit(record)
        mapper = self._mappers.get(id(dialect))
        if mapper is None:
            mapper = self._mappers[id(dialect)] = batch_mapper(dialect)
        if id(dialect) in self._keyed and len(self._blocks_by_keys) < KEY_SETS:
            self._blocks_by_keys[tuple(record)] = mapper
        return mapper

    def _first_fit(self, record: dict[str, Any]) -> Dialect:
        for dialect in self._dialects():
            if dialect.matches(record):
                return dialect
        raise ValueError("no dialect fits this record")  # generic fits all; a plugin blocked it
