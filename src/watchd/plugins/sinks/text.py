"""What every sink that writes text shares: its format and colour options, a format's header."""

from __future__ import annotations

import os
import stat

from watchd.core.context import RunContext
from watchd.core.interfaces import FormatContext, Formatter, HeaderedFormatter
from watchd.core.spec import Options


def wants_color(option: str, *, tty: bool) -> bool:
    """Decide on colour: ``always``, ``never``, or ``auto`` (a terminal, and no NO_COLOR)."""
    if option != "auto":
        return option == "always"
    return tty and not os.environ.get("NO_COLOR")


def formatter_for(
    options: Options,
    context: RunContext,
    *,
    tty: bool,
    default: str = "json",
    own_lines: bool = False,
) -> Formatter:
    """Build the formatter a text sink asked for (``format=``, ``color=``), else *default*.

    With *own_lines* the sink's output is read by people (see FormatContext).
    """
    color = wants_color(options.choice("color", ("auto", "always", "never"), "auto"), tty=tty)
    name = options.text("format", default)
    factory = context.registry.formats.get(name, options.where)
    several = context.settings.several_origins
    return factory(options, FormatContext(color, several, own_lines))


def header_of(formatter: Formatter) -> bytes | None:
    """Return the line a format puts first in a new output (CSV's column names), if any.

    A format declares it as :class:`~watchd.core.interfaces.HeaderedFormatter` says.
    """
    return formatter.header if isinstance(formatter, HeaderedFormatter) else None


def starts_output(fd: int) -> bool:
    """Return True when *fd* is at the start of its output: an empty file, or a fresh stream."""
    try:
        info = os.fstat(fd)
    except OSError:
        return True
    return not stat.S_ISREG(info.st_mode) or info.st_size == 0
