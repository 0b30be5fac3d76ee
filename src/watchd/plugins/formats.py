"""The ``json``, ``human`` and ``csv`` output formats."""

from __future__ import annotations

import csv
import io
from datetime import date

from watchd import hookimpl
from watchd.core.event import WatchEvent, dumps_compact
from watchd.core.printable import printable
from watchd.core.protocols import FormatContext, FormatFactory, Formatter
from watchd.core.registry import TypeTable
from watchd.core.spec import Options


def json_format(options: Options, context: FormatContext) -> Formatter:  # noqa: ARG001
    """Build the compact JSON format (terok-shield's ``to_json`` shape)."""
    return WatchEvent.to_json


_LEVEL_TAGS = {
    "debug": ("DEBUG", "2"),
    "notice": ("NOTICE", "36"),
    "warning": ("WARNING", "33"),
    "error": ("ERROR", "31"),
    "critical": ("CRITICAL", "1;31"),
}


class HumanFormat:
    """One readable line: time, level (when not info), action, container, dest, detail, actor.

    Times are shown in local time, with the date when it is not today; a
    timestamp that could not be parsed is shown as written.
    """

    def __init__(self, *, color: bool) -> None:
        self._color = color

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self._color and text else text

    def _when(self, event: WatchEvent) -> str:
        if event.time is None:
            return printable(event.ts)
        local = event.time.astimezone()
        if local.date() == date.today():
            return local.strftime("%H:%M:%S")
        return local.strftime("%Y-%m-%d %H:%M:%S")

    def __call__(self, event: WatchEvent) -> bytes:
        """Return the line for *event*."""
        head = self._paint(self._when(event), "2")
        if event.worktree:
            head = f"[{printable(event.worktree)}] {head}"
        tag = _LEVEL_TAGS.get(event.level)
        if tag:
            head += " " + self._paint(tag[0], tag[1])
        head += " " + self._paint(printable(event.action), "1")
        parts = [head, self._paint(printable(event.container), "36")]
        parts.extend(printable(value) for value in (event.dest, event.detail) if value)
        if event.actor:
            parts.append(self._paint(f"({printable(event.actor)})", "2"))
        return "  ".join(part for part in parts if part).encode("utf-8", "replace")


def human_format(options: Options, context: FormatContext) -> Formatter:  # noqa: ARG001
    """Build the readable one-line-per-event format."""
    return HumanFormat(color=context.color)


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
        return out.getvalue().removesuffix("\r\n").encode()


def csv_format(options: Options, context: FormatContext) -> Formatter:  # noqa: ARG001
    """Build the CSV export (every new output starts with the header row)."""
    return CsvFormat()


@hookimpl
def watchd_register_formats(formats: TypeTable[FormatFactory]) -> None:
    """Register ``json``, ``human`` and ``csv``."""
    formats.add("json", json_format, "one compact JSON object per line (terok-compatible)")
    formats.add("human", human_format, "one readable line per event, coloured on a terminal")
    formats.add("csv", csv_format, "CSV rows (RFC 4180) after a header line naming the columns")
