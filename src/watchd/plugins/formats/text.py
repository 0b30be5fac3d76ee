"""The ``json``, ``human`` and ``csv`` output formats."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

from watchd.core.event import WatchEvent, encode_lines
from watchd.core.hookspecs import hookimpl
from watchd.core.interfaces import FormatContext, FormatFactory, Formatter
from watchd.core.jsonform import dumps_compact
from watchd.core.options import OptionSet
from watchd.core.printable import printable, quoted, utf8
from watchd.core.registry import TypeTable
from watchd.core.terminal import day_line, level_column, local_clock, local_stamp, paint


class JsonFormat:
    """The compact JSON form (terok-shield's ``to_json`` shape); a batch is encoded in one call."""

    def __call__(self, event: WatchEvent) -> bytes:
        """Return the JSON form of *event*."""
        return event.to_json()

    def encode_lines(self, events: Sequence[WatchEvent]) -> bytes:
        """Return the JSON forms of *events*, one line each (raises on a lone surrogate)."""
        return encode_lines(events)


def json_format(options: OptionSet, context: FormatContext) -> Formatter:  # noqa: ARG001
    """Build the compact JSON format (terok-shield's ``to_json`` shape)."""
    return JsonFormat()


#: The labelled fields after the columns, in this order; empty ones are left out.
_LABELLED = ("dest", "detail", "actor")
#: The widths of the time, action and container columns: fixed, so no row moves another's
#: columns (task.status_change and test-change/1.1 fit); a longer value pushes its own row.
_TIME, _ACTION, _CONTAINER = 8, 20, 16


class HumanFormat:
    """Aligned columns, then labelled fields, as ``journalctl`` and ``kubectl`` print them.

    ``TIME  LEVEL  ACTION  CONTAINER  dest=... detail=... actor=...``: the
    columns have fixed widths (an empty container is ``-``), so rows stay
    aligned as they come, whatever came before; a longer value pushes the
    rest of its own row. Every value is one token (:func:`quoted`): text with
    spaces is quoted, an escape never reads like the characters of one. Times
    are local, ``HH:MM:SS``. Where the output is read by people (*own_lines*:
    stdout, a file, a query), a ``-- Sun 2026-12-06 --`` line comes before
    the first row of a day other than today and whenever the day changes (a
    follow across midnight); where each event must be one line (a syslog
    message's body), another day's date stands before its time instead. A
    timestamp that could not be parsed is shown as written.

    Where an event comes from is said as its tool says it: an ito worktree's
    event starts with ``[worktree]``, as ``ito audit stream`` prints it; when
    the run reads several files (and the output is read by people), a
    ``==> file <==`` line comes before the events of each file whenever the
    file changes, as ``tail -F a b`` prints.
    """

    def __init__(
        self, *, color: bool, several_origins: bool = False, own_lines: bool = False
    ) -> None:
        self._color = color
        self._own_lines = own_lines  # else one line an event: a day is said in the time column
        self._several = several_origins and own_lines
        self._origin: str | None = None  # the file of the last event shown
        self._day = date.today()  # the day of the last row shown (today before any)

    def _column(self, text: str, width: int, code: str) -> str:
        return paint(text, code, color=self._color) + " " * max(width - len(text), 0)

    def __call__(self, event: WatchEvent) -> bytes:
        """Return the line for *event*, after the lines that say its file or its day."""
        when = event.time
        if when is None:
            clock = quoted(event.ts)
        else:
            clock = local_clock(when) if self._own_lines else local_stamp(when)
        parts = [
            self._column(clock, _TIME, "2"),
            level_column(event.level, color=self._color),
            self._column(quoted(event.action), _ACTION, "1"),
            self._column(_container(event.container), _CONTAINER, "36"),
        ]
        for name in _LABELLED:
            value = getattr(event, name)
            if value:
                parts.append(paint(f"{name}=", "2", color=self._color) + quoted(value))
        line = "  ".join(parts).rstrip()
        above: list[str] = []
        if event.worktree:
            line = paint(f"[{printable(event.worktree)}]", "35", color=self._color) + " " + line
        elif self._several and event.origin.startswith("/") and event.origin != self._origin:
            gap = "" if self._origin is None else "\n"
            self._origin = event.origin
            above.append(f"{gap}==> {printable(event.origin)} <==")
        if self._own_lines and when is not None and (day := when.astimezone().date()) != self._day:
            self._day = day
            above.append(paint(day_line(day), "2", color=self._color))
        return utf8("\n".join([*above, line]))


def _container(name: str) -> str:
    """Return the container column: ``-`` when there is none, so ``"-"`` for one named so."""
    if not name:
        return "-"
    return '"-"' if name == "-" else quoted(name)


def human_format(options: OptionSet, context: FormatContext) -> Formatter:  # noqa: ARG001
    """Build the readable one-line-per-event format."""
    return HumanFormat(
        color=context.color, several_origins=context.several_origins, own_lines=context.own_lines
    )


CSV_COLUMNS = (
    "ts", "level", "source", "action", "container", "dest", "detail", "actor", "origin",
    "worktree", "extra",
)  # fmt: skip
_FORMULA_STARTS = ("=", "+", "@", "\t", "\r")


def _cell(value: str) -> str:
    """Keep a spreadsheet from running a value as a formula (OWASP's CSV injection advice)."""
    if value.startswith(_FORMULA_STARTS) or (value.startswith("-") and not _is_number(value)):
        return "'" + value
    return value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


class CsvFormat:
    """RFC 4180 rows (quoted where needed), ``extra`` as JSON; ``header`` names the columns."""

    header = ",".join(CSV_COLUMNS).encode()

    def __call__(self, event: WatchEvent) -> bytes:
        """Return the row of *event* (a value with a newline is quoted, as RFC 4180 says)."""
        out = io.StringIO()
        extra = dumps_compact(event.extra).decode() if event.extra else ""
        values = [getattr(event, column) for column in CSV_COLUMNS[:-1]] + [extra]
        # The row's own terminator is CRLF, so the writer quotes a value holding CR or LF
        # (with an empty one it quotes neither, and a newline in a value ends the row).
        csv.writer(out, lineterminator="\r\n").writerow([_cell(str(value)) for value in values])
        return utf8(out.getvalue().removesuffix("\r\n"))


def csv_format(options: OptionSet, context: FormatContext) -> Formatter:  # noqa: ARG001
    """Build the CSV export (every new output starts with the header row)."""
    return CsvFormat()


@hookimpl
def watchd_register_formats(formats: TypeTable[FormatFactory]) -> None:
    """Register ``json``, ``human`` and ``csv``."""
    formats.add("json", json_format, help="one compact JSON object per line (terok-compatible)")
    formats.add("human", human_format, help="one readable line per event, coloured on a terminal")
    formats.add(
        "csv", csv_format, help="CSV rows (RFC 4180) after a header line naming the columns"
    )
