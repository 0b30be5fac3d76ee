"""What a line for a person looks like on a terminal: levels, colours, local times.

The human event format and watchd's own diagnostics on a terminal share these,
so an event and a warning beside it read alike.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import IO, Any

from watchd.core.printable import quoted

#: How each level is shown, and its colour (SGR) on a terminal; info is plain.
LEVEL_TAGS = {
    "debug": ("DEBUG", "2"),
    "info": ("INFO", ""),
    "notice": ("NOTICE", "36"),
    "warning": ("WARNING", "33"),
    "error": ("ERROR", "31"),
    "critical": ("CRITICAL", "1;31"),
}
LEVEL_WIDTH = max(len(tag) for tag, _ in LEVEL_TAGS.values())


def isatty(stream: IO[Any]) -> bool:
    """Return True when *stream* is a terminal (False for closed or odd streams)."""
    try:
        return stream.isatty()
    except (ValueError, OSError):
        return False


def level_column(level: str, *, color: bool) -> str:
    """Return *level* as its column shows it: the tag, coloured, padded to the column's width."""
    tag, code = LEVEL_TAGS.get(level, (level.upper(), ""))
    shown = quoted(tag)  # a plugin's event may carry any level
    return paint(shown, code, color=color) + " " * (LEVEL_WIDTH - len(shown))


def paint(text: str, code: str, *, color: bool) -> str:
    """Return *text* in SGR colour *code* when colour is on."""
    return f"\x1b[{code}m{text}\x1b[0m" if color and code and text else text


def local_clock(when: datetime) -> str:
    """Return *when*'s local time of day, ``HH:MM:SS`` (its day is said by :func:`day_line`)."""
    return when.astimezone().strftime("%H:%M:%S")


def local_stamp(when: datetime) -> str:
    """Return *when* in local time on one line: ``HH:MM:SS`` today, with its date on other days."""
    local = when.astimezone()
    if local.date() == date.today():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def day_line(day: date) -> str:
    """Return the line that says the rows after it are of *day*: ``-- Sun 2026-12-06 --``."""
    return f"-- {day:%a %Y-%m-%d} --"
