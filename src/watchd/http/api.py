"""watchd's own API: ``/api/events``, ``/api/summary``, ``/api/verify``, and the stream's filters.

A request's parameters become the options ``watchd query`` would have been
given, checked the same way (a bad one is a 400 that names it), and the answer
is made by the code of ``query``, ``summary`` and ``verify``. The sources are
always the run's own: a client narrows what the run reads, never widens it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from urllib.parse import parse_qsl

import msgspec
import orjson

from watchd.commands.query import formatted, formatter_named
from watchd.commands.reading import FileSource, Reading, Window, select
from watchd.commands.selection import build_filters, filter_specs, selection
from watchd.commands.summary import Summary
from watchd.commands.verify import as_dict, verify
from watchd.core.context import RunContext
from watchd.core.errors import UsageError
from watchd.core.event import WatchEvent
from watchd.core.interfaces import EventFilter
from watchd.core.progress import Progress
from watchd.core.routes import Answer, BadRequestError
from watchd.core.spec import Spec

#: ``limit`` when none is given, and the most a request may ask for.
DEFAULT_LIMIT, MAX_LIMIT = 1_000, 10_000
#: Records one request may read before its answer is cut (and says so).
MAX_READ = 2_000_000
#: What ``format=`` may name, and the media type of each.
MEDIA_TYPES = {
    "json": "application/x-ndjson",
    "ecs": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "cef": "text/plain; charset=utf-8",
}
_FILTERS = ("action", "name", "level", "actor", "filter", "change")
_REPEATABLE = frozenset(("action", "name", "filter", "actor"))
_WINDOW = ("since", "until")
EVENT_PARAMETERS = frozenset((*_FILTERS, *_WINDOW, "last", "limit", "offset", "format"))
SUMMARY_PARAMETERS = frozenset((*_FILTERS, *_WINDOW))
STREAM_PARAMETERS = frozenset((*_FILTERS, "text", "raw", "backlog"))


def parameters(
    query: str, allowed: frozenset[str], repeatable: frozenset[str] = _REPEATABLE
) -> dict[str, list[str]]:
    """Return the query string's parameters by name; BadRequestError for a wrong one.

    A name not *repeatable* given twice is a wrong one.
    """
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False, max_num_fields=64)
    except ValueError:
        raise BadRequestError("too many parameters (at most 64)") from None
    found: dict[str, list[str]] = {}
    for name, value in pairs:
        if name in {"token", "access_token", "auth"}:
            raise BadRequestError(f"{name}: a token is taken only from the Authorization header")
        if name not in allowed:
            raise BadRequestError(
                f"unknown parameter {name!r} (known: {', '.join(sorted(allowed))})"
            )
        found.setdefault(name, []).append(value)
        if len(found[name]) > 1 and name not in repeatable:
            raise BadRequestError(f"{name}: given more than once")
    return found


def _one(found: Mapping[str, list[str]], name: str) -> str | None:
    values = found.get(name)
    return values[0] if values else None


def count_of(
    found: Mapping[str, list[str]], name: str, default: int | None, most: int
) -> int | None:
    """Return parameter *name* as a whole number up to *most*; BadRequestError otherwise."""
    text = _one(found, name)
    if text is None:
        return default
    if not text.isdigit() or int(text) > most:
        raise BadRequestError(f"{name}: a whole number from 0 to {most:,}, not {text!r}")
    return int(text)


def _namespace(run_sources: Sequence[str], found: Mapping[str, list[str]]) -> argparse.Namespace:
    """Return the options ``query`` would have parsed from the parameters."""
    split = [piece for value in found.get("action", []) for piece in value.split(",") if piece]
    names = [piece for value in found.get("name", []) for piece in value.split(",") if piece]
    actors = [f"actor={value}" for value in found.get("actor", [])]
    return argparse.Namespace(
        source=list(run_sources),
        since=_one(found, "since") or None,
        until=_one(found, "until") or None,
        apply=[],
        name=names,
        action=split,
        level=_one(found, "level") or None,
        filter=[*found.get("filter", []), *actors],
        change=_one(found, "change") or None,
    )


class Cut(Exception):  # noqa: N818 - a bound reached, not a failure
    """A request read as many records as it may."""


class Bounded(Progress):
    """A reading's progress that ends the reading after *most* records."""

    def __init__(self, most: int) -> None:
        super().__init__(None, 0, 0)
        self._most = most

    def advance(self, records: int, read: int) -> None:
        """Count as reading does; raise Cut past the bound."""
        super().advance(records, read)
        if self.records > self._most:
            raise Cut


class Api:
    """The answers to watchd's own endpoints, for the audit sources of one run."""

    def __init__(self, context: RunContext, sources: Sequence[Spec]) -> None:
        self._context = context
        self._specs = [spec for spec in sources if spec.type == "audit" and spec.target]
        self._sources = [spec.text for spec in self._specs]
        #: The paths (files, globs, directories) of the run's audit sources.
        self.targets = [spec.target for spec in self._specs]

    def _selected(
        self, found: Mapping[str, list[str]]
    ) -> tuple[argparse.Namespace, list[Spec], Reading]:
        if not self._sources:
            raise BadRequestError("this run follows no audit trail to read")
        ns = _namespace(self._sources, found)
        try:
            return ns, filter_specs(ns), Reading(Bounded(MAX_READ))
        except UsageError as exc:
            raise BadRequestError(str(exc)) from None

    def events(self, query: str) -> Answer:
        """``GET /api/events``: what ``watchd query`` prints for these options."""
        found = parameters(query, EVENT_PARAMETERS)
        name = _one(found, "format") or "json"
        if name not in MEDIA_TYPES:
            raise BadRequestError(f"format: one of {', '.join(MEDIA_TYPES)}, not {name!r}")
        last = count_of(found, "last", None, MAX_LIMIT)
        limit = count_of(found, "limit", DEFAULT_LIMIT, MAX_LIMIT) or 0
        offset = count_of(found, "offset", 0, MAX_READ) or 0
        ns, specs, reading = self._selected(found)
        try:
            formatter = formatter_named(self._context.registry, name)
            sources, filters, window = selection(ns, specs, self._context)
        except UsageError as exc:
            raise BadRequestError(str(exc)) from None
        # One more than asked for: whether there is more is said in a header. Those
        # before *offset* are read and let go: memory holds one page, whatever the offset.
        events = self._bounded(sources, filters, window, last, reading)
        page = list(islice(events, offset, offset + limit + 1))
        cut = reading.progress.records > MAX_READ
        more = len(page) > limit
        del page[limit:]
        headers = {"X-Watchd-Count": str(len(page))}
        if more:
            headers["X-Watchd-More"] = f"offset={offset + limit}"
        if cut:
            headers["X-Watchd-Cut"] = f"read {MAX_READ:,} records; narrow the query with since"
        return Answer(MEDIA_TYPES[name], formatted(page, formatter, name), headers)

    def every_event(self, reading: Reading | None = None) -> Iterator[WatchEvent]:
        """Yield every event of the run's audit trails in time order, until *reading*'s bound.

        The bound is a request's (``MAX_READ`` records) unless *reading* says another.
        """
        ns, specs, bounded = self._selected({})
        reading = bounded if reading is None else reading
        try:
            sources, filters, window = selection(ns, specs, self._context)
        except UsageError as exc:
            raise BadRequestError(str(exc)) from None
        return self._bounded(sources, filters, window, None, reading)

    def summary(self, query: str) -> bytes:
        """``GET /api/summary``: what ``watchd summary --json`` prints for these options."""
        found = parameters(query, SUMMARY_PARAMETERS)
        ns, specs, reading = self._selected(found)
        try:
            sources, filters, window = selection(ns, specs, self._context)
        except UsageError as exc:
            raise BadRequestError(str(exc)) from None
        summary = Summary()
        for event in self._bounded(sources, filters, window, None, reading):
            summary.add(event)
        body = summary.as_dict()
        if reading.progress.records > MAX_READ:
            body["cut"] = f"read {MAX_READ:,} records; narrow the query with since"
        return orjson.dumps(body)

    def verify(self, query: str) -> bytes:
        """``GET /api/verify``: ``watchd verify --json`` of every audit trail of the run."""
        parameters(query, frozenset())
        trails = []
        for spec in self._specs:
            try:
                report = as_dict(verify(spec.target, shown=False))
            except UsageError as exc:
                report = {"valid": None, "error": str(exc)}
            trails.append({"source": f"audit:{spec.target}", **report})
        valid = all(trail["valid"] is not False for trail in trails)
        return orjson.dumps({"valid": valid, "trails": trails})

    def stream_filters(self, found: Mapping[str, list[str]]) -> list[EventFilter]:
        """Return the filters the live stream applies for these parameters."""
        ns = _namespace(self._sources, found)
        try:
            built = build_filters(filter_specs(ns), self._context)
        except UsageError as exc:
            raise BadRequestError(str(exc)) from None
        text = _one(found, "text")
        if text:
            built.append(_containing(text))
        return built

    @staticmethod
    def _bounded(
        sources: list[FileSource],
        filters: list[EventFilter],
        window: Window,
        last: int | None,
        reading: Reading,
    ) -> Iterator[WatchEvent]:
        try:
            yield from select(sources, filters, window, last, reading)
        except Cut:
            return


def _containing(text: str) -> EventFilter:
    """Return the stream's free-text filter: *text*, in any case, in the event or its record."""
    needle = text.casefold()

    def keep(events: list[WatchEvent]) -> list[WatchEvent]:
        return [event for event in events if needle in _searchable(event)]

    return keep


def _searchable(event: WatchEvent) -> str:
    # Both: the record as read may escape what the event's JSON holds as UTF-8 (é as \u00e9).
    raw = event.raw or b""
    try:
        made = msgspec.json.encode(event)
    except (TypeError, ValueError):  # a plugin's value JSON cannot hold: the record alone
        made = b""
    return (raw + b"\n" + made).decode("utf-8", "replace").casefold()
