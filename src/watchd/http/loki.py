"""loki-mode's audit endpoints, answered from the loki-mode dashboard trails of the run.

So that loki-mode's own clients and dashboards work against watchd, each
endpoint takes loki-mode's parameter names and answers in its shapes:

- the dashboard's ``/api/v2/audit``, ``/api/v2/audit/export``,
  ``/api/v2/audit/verify``, ``/api/enterprise/audit`` and
  ``/api/enterprise/audit/summary`` (what its ``query_logs``,
  ``get_audit_summary`` and ``verify_all_logs`` return);
- the documented ``/audit`` and ``/audit/summary`` (also under ``/api/``),
  whose ``event``, ``level`` and ``actor`` are watchd's own mapping of a record.

The records are the dashboard's (those with ``resource_type`` and
``timestamp``), as they were written, newest first. Parameters are read as
loki-mode's FastAPI reads them: a repeated one is its last value, a
``start_date`` or ``end_date`` is compared as text (``garbage`` matches
nothing), ``days`` may be negative, any ``format`` but ``csv`` is JSON. Where
watchd differs on purpose: the dates are compared with each record's UTC date
rather than with file names (the same for loki-mode's daily files, and right
for any other name), and a parameter loki-mode would ignore, or a value it
would answer 422 or 500 to, is a 400 that names it.
"""

from __future__ import annotations

import csv
import heapq
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from watchd.codecs.integrity import GENESIS, HASH_KEY, is_chained, link_hash
from watchd.codecs.records import Skip, decode_link, decode_record
from watchd.commands.reading import Window
from watchd.commands.verify import trail_files
from watchd.core.errors import UsageError
from watchd.core.event import WatchEvent
from watchd.core.jsonform import dumps_compact
from watchd.core.routes import Answer, BadRequestError, Handler, RunTrails
from watchd.core.timestamps import parse_when
from watchd.http.api import MAX_READ, parameters

Record = dict[str, Any]
#: What loki-mode's ``get_audit_summary`` and export read at most: its newest records.
SUMMARY_READ = 10_000
_DATES = ("start_date", "end_date")


def _parameters(query: str, names: tuple[str, ...]) -> dict[str, list[str]]:
    """Return the query's parameters; any may be repeated, and its last value counts (FastAPI)."""
    allowed = frozenset(names)
    return parameters(query, allowed, repeatable=allowed)


class LokiApi:
    """loki-mode's endpoints over the dashboard records of one run's audit sources."""

    def __init__(
        self, api: RunTrails, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._api = api
        self._clock = clock
        self.routes: dict[str, Handler] = {
            "/api/v2/audit": self._v2_query,
            "/api/v2/audit/export": self._v2_export,
            "/api/v2/audit/verify": self._v2_verify,
            "/api/enterprise/audit": self._enterprise_query,
            "/api/enterprise/audit/summary": self._enterprise_summary,
            "/audit": self._documented_query,
            "/api/audit": self._documented_query,
            "/audit/summary": self._documented_summary,
            "/api/audit/summary": self._documented_summary,
        }

    # -- the dashboard's endpoints ---------------------------------------------

    def _v2_query(self, query: str) -> Answer:
        found = _parameters(query, (*_DATES, "action", "resource_type", "limit", "offset"))
        return _json(self._page(found, most=10_000))

    def _enterprise_query(self, query: str) -> Answer:
        names = (*_DATES, "action", "resource_type", "resource_id", "limit", "offset")
        return _json(self._page(_parameters(query, names), most=1_000))

    def _v2_export(self, query: str) -> Answer:
        found = _parameters(query, (*_DATES, "format"))
        records = self._newest(_matcher(found), SUMMARY_READ)
        if _one(found, "format") != "csv":  # loki-mode's test: anything else is JSON
            return _json(records)
        attachment = {"Content-Disposition": "attachment; filename=audit-export.csv"}
        return Answer("text/csv; charset=utf-8", iter([_csv(records)]), attachment)

    def _enterprise_summary(self, query: str) -> Answer:
        found = _parameters(query, ("days",))
        days = _number(found, "days", 7, low=-36_500, high=36_500)  # loki-mode: any int
        start = (self._clock() - timedelta(days=days)).strftime("%Y-%m-%d")
        entries = self._newest(_matcher({"start_date": [start]}), SUMMARY_READ)
        by_action: Counter[object] = Counter()
        by_resource: Counter[object] = Counter()
        by_user: Counter[object] = Counter()
        failures: list[Record] = []
        for entry in entries:
            action = entry.get("action", "unknown")
            resource_type = entry.get("resource_type", "unknown")
            by_action[action] += 1
            by_resource[resource_type] += 1
            by_user[entry.get("user_id") or entry.get("token_id") or "anonymous"] += 1
            if not entry.get("success") and len(failures) < 10:
                failures.append(
                    {
                        "timestamp": entry.get("timestamp"),
                        "action": action,
                        "resource_type": resource_type,
                        "error": entry.get("error"),
                    }
                )
        successful = sum(1 for e in entries if e.get("success"))
        return _json(
            {
                "period_days": days,
                "total_events": len(entries),
                "successful_events": successful,
                "failed_events": len(entries) - successful,
                "by_action": dict(by_action),
                "by_resource_type": dict(by_resource),
                "by_user": dict(by_user),
                "recent_failures": failures,
            }
        )

    def _v2_verify(self, query: str) -> Answer:
        _parameters(query, ())
        return _json(verify_dashboard(self._dashboard_files()))

    # -- the documented endpoints ------------------------------------------------

    def _documented_query(self, query: str) -> Answer:
        found = _parameters(query, ("start", "end", "event", "level", "actor", "limit", "offset"))
        limit = _number(found, "limit", 100, low=1, high=10_000)
        offset = _number(found, "offset", 0, low=0, high=MAX_READ)
        now = self._clock()
        window = Window(
            _when(found, "start", now),
            _when(found, "end", now),
        )
        wanted = {
            field: value
            for field, name in (("action", "event"), ("level", "level"), ("actor", "actor"))
            if (value := _one(found, name))
        }

        def keep(event: WatchEvent, _record: Record) -> bool:
            return window.holds(event) and all(getattr(event, f) == v for f, v in wanted.items())

        return _json(self._newest(keep, offset + limit)[offset:])

    def _documented_summary(self, query: str) -> Answer:
        _parameters(query, ())
        since = self._clock() - timedelta(hours=24)
        by_type: Counter[str] = Counter()
        by_level: Counter[str] = Counter()
        for event, _ in self._records():
            when = event.time
            if when is not None and when >= since:
                by_type[event.action] += 1
                by_level[event.level] += 1
        return _json(
            {
                "period": "24h",
                "total_events": by_type.total(),
                "by_type": dict(by_type),
                "by_level": dict(by_level),
            }
        )

    # -- reading ------------------------------------------------------------------

    def _page(self, found: Mapping[str, list[str]], most: int) -> list[Record]:
        limit = _number(found, "limit", 100, low=1, high=most)
        offset = _number(found, "offset", 0, low=0, high=MAX_READ)
        return self._newest(_matcher(found), offset + limit)[offset:]

    def _records(self) -> Iterator[tuple[WatchEvent, Record]]:
        """Yield each dashboard record of the run's trails with its event (a bounded read)."""
        for event in self._api.every_event():
            record = event.record
            if record is not None and is_chained(record):
                yield event, record

    def _newest(self, keep: Callable[[WatchEvent, Record], bool], count: int) -> list[Record]:
        """Return the newest *count* records that *keep* takes, as loki-mode sorts them.

        ``nlargest`` is ``sorted(..., reverse=True)[:count]``, stable for equal
        timestamps, holding only *count* records whatever the trail's length.
        """
        kept = (record for event, record in self._records() if keep(event, record))
        return heapq.nlargest(count, kept, key=_stamp)

    def _dashboard_files(self) -> dict[Path, bool]:
        """Return the run's files whose first record is a dashboard one, oldest first.

        Each with whether it has integrity (loki-mode's ``_file_has_integrity``),
        from one read of its first line: which files are loki-mode's is read
        leniently (a byte order mark before a dashboard record still makes a
        dashboard file), whether one has integrity strictly, as loki-mode reads.
        """
        files: dict[Path, bool] = {}
        for target in self._api.targets:
            try:
                found = trail_files(target)
            except UsageError:  # a trail not there yet holds no links
                continue
            for path in found:
                first, strict = _first_records(path)
                if isinstance(first, dict) and is_chained(first):
                    files[path] = isinstance(strict, dict) and HASH_KEY in strict
        order = sorted(files, key=lambda p: (p.stat().st_mtime_ns, str(p)))
        return {path: files[path] for path in order}


def _stamp(record: Record) -> str:
    stamp = record.get("timestamp")
    return stamp if isinstance(stamp, str) else ""


def _matcher(found: Mapping[str, list[str]]) -> Callable[[WatchEvent, Record], bool]:
    """Return query_logs' test: the record's UTC date in range, named fields equal.

    The dates are compared as text, as loki-mode compares them with its file
    names: ``2026-12-07T00:00:00`` starts after the 7th, ``garbage`` after every date.
    """
    start, end = (_one(found, name) or "" for name in _DATES)
    wanted = {
        name: v for name in ("action", "resource_type", "resource_id") if (v := _one(found, name))
    }

    def keep(_event: WatchEvent, record: Record) -> bool:
        day = _stamp(record)[:10]
        if (start and day < start) or (end and day > end):
            return False
        return all(record.get(name) == value for name, value in wanted.items())

    return keep


def _one(found: Mapping[str, list[str]], name: str) -> str | None:
    values = found.get(name)
    return values[-1] if values else None


def _number(found: Mapping[str, list[str]], name: str, default: int, *, low: int, high: int) -> int:
    text = _one(found, name)
    if text is None:
        return default
    digits = text.removeprefix("-") if low < 0 else text
    if not (digits.isascii() and digits.isdigit()) or not low <= int(text) <= high:
        raise BadRequestError(f"{name}: a whole number from {low:,} to {high:,}, not {text!r}")
    return int(text)


def _when(found: Mapping[str, list[str]], name: str, now: datetime) -> datetime | None:
    text = _one(found, name)
    if not text:
        return None
    try:
        return parse_when(text, name, now)
    except UsageError as exc:
        raise BadRequestError(str(exc)) from None


def _json(body: object) -> Answer:
    return Answer("application/json", iter([_dumps(body)]), {})


def _dumps(body: object) -> bytes:
    try:  # keys loki-mode counts by may be null or numbers: written as Python's json writes them
        return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # integers wider than 64 bits, nesting past orjson's limit
        return dumps_compact(body)


def _csv(records: list[Record]) -> bytes:
    """Return the export as loki-mode writes it: the first record's keys, nested values as JSON."""
    if not records:
        return b""
    out = io.StringIO()
    # A key the first record lacks is left out (loki-mode's writer would fail on it).
    writer = csv.DictWriter(out, fieldnames=list(records[0]), extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in record.items()}
        )
    return out.getvalue().encode()


# -- loki-mode's verification, file by file ---------------------------------------


def _lines(path: Path) -> Iterator[tuple[int, Record | None]]:
    """Yield (line number, record, or None when unreadable) for each line that is not blank.

    Read strictly, as loki-mode's verifier reads (a byte order mark is not JSON).
    """
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            record = decode_link(line)
            if record is Skip.BLANK:
                continue
            yield number, None if isinstance(record, Skip) else record


def _first_records(path: Path) -> tuple[Record | Skip | None, Record | Skip | None]:
    """Return the file's first line that is not blank, read leniently and read strictly.

    Each reading has its own first line: one holding only a byte order mark
    is blank to the lenient one, not to the strict one. None where there is none.
    """
    strict: Record | Skip | None = None
    try:
        with path.open("rb") as handle:
            for line in handle:
                if strict is None and (link := decode_link(line)) is not Skip.BLANK:
                    strict = link
                record = decode_record(line)
                if record is not Skip.BLANK:
                    return record, strict
    except OSError:
        return None, None
    return None, strict


def verify_file(path: Path, start: str) -> dict[str, object]:
    """Return loki-mode's ``verify_log_integrity`` of one file, its chain starting at *start*."""
    head, checked = start, 0

    def verdict(line: int | None) -> dict[str, object]:
        valid = line is None
        return {
            "valid": valid,
            "entries_checked": checked,
            "first_tampered_line": line,
            "last_hash": head,
        }

    try:
        for number, record in _lines(path):
            stated = record.get(HASH_KEY) if record is not None else None
            if record is None or stated is None or link_hash(head, record) != stated:
                return verdict(number)  # the first link that does not hold ends the check
            head = stated
            checked += 1
    except FileNotFoundError:
        pass
    return verdict(None)


def verify_dashboard(integrity: Mapping[Path, bool]) -> dict[str, object]:
    """Return ``/api/v2/audit/verify``: the chain across the files and each one's check.

    *integrity* holds the files, oldest first, each with whether it has
    integrity (loki-mode's ``_file_has_integrity``).

    As loki-mode walks them: files without hashes before the chain begins are
    skipped; once it has begun, each file must continue it. The per-file list
    skips every file without hashes and carries a file's last hash on only
    when that file held.
    """
    aggregate: dict[str, object] = {
        "valid": True,
        "files_checked": 0,
        "files_skipped": 0,
        "entries_checked": 0,
        "first_tampered_file": None,
        "first_tampered_line": None,
        "genesis_file": None,
    }
    head, checked, skipped, entries = GENESIS, 0, 0, 0
    files = list(integrity)
    for path in files:
        if aggregate["genesis_file"] is None:
            if not integrity[path]:
                skipped += 1
                continue
            aggregate["genesis_file"] = str(path)
        result = verify_file(path, head)
        checked += 1
        entries += _int(result["entries_checked"])
        if not result["valid"]:
            aggregate.update(
                valid=False,
                first_tampered_file=str(path),
                first_tampered_line=result["first_tampered_line"],
            )
            break
        head = str(result["last_hash"])
    aggregate.update(files_checked=checked, files_skipped=skipped, entries_checked=entries)
    results: list[dict[str, object]] = []
    head = GENESIS
    for path in files:
        if not integrity[path]:
            results.append(
                {
                    "file": path.name,
                    "valid": True,
                    "skipped_pre_integrity": True,
                    "entries_checked": 0,
                }
            )
            continue
        result = verify_file(path, head)
        results.append({**result, "file": path.name})
        if result["valid"]:
            head = str(result["last_hash"])
    order = ("valid", "files_checked", "files_skipped", "entries_checked", "genesis_file")
    return {
        **{key: aggregate[key] for key in order},
        "first_tampered_file": aggregate["first_tampered_file"],
        "first_tampered_line": aggregate["first_tampered_line"],
        "results": results,
    }


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0
