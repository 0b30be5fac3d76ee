"""What every sink that writes text shares: its format and colour options, a format's header."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, ClassVar

from watchd.core.context import RunContext
from watchd.core.interfaces import FormatContext, FormatFactory, Formatter, HeaderedFormatter
from watchd.core.option_kinds import Choice, OptionalText
from watchd.core.options import OptionSet

if TYPE_CHECKING:
    from watchd.core.context import Checking


def wants_color(option: str, *, tty: bool) -> bool:
    """Decide on colour: ``always``, ``never``, or ``auto`` (a terminal, and no NO_COLOR)."""
    if option != "auto":
        return option == "always"
    return tty and not os.environ.get("NO_COLOR")


class Formatted(OptionSet):
    """The options of a sink that writes text: its format (and that format's options), colour."""

    format = OptionalText(
        "the output format: json, human, csv, cef, leef, ecs or a plugin's "
        "(its options are taken too)",
        metavar="FORMAT",
    )
    color = Choice(
        ("auto", "always", "never"), "auto", "colour: auto is a terminal without NO_COLOR"
    )
    #: The format when none is given.
    default_format: ClassVar[str] = "json"

    def format_default(self, checking: Checking) -> str:
        """Return the format used when ``format=`` is not given."""
        del checking
        return self.default_format

    def check(self, checking: Checking) -> None:
        """Name the format and parse its options from the rest of the spec."""
        super().check(checking)
        name = self.format or self.format_default(checking)
        self._values["format"] = name  # the plan says which
        entry = self.named(checking.registry.formats, "format")
        self.format_build: FormatFactory = entry.item
        self.format_options = self.take_nested(entry.options, checking)


def formatter_for(
    options: Formatted, context: RunContext, *, tty: bool, own_lines: bool = False
) -> Formatter:
    """Build the formatter a text sink's options name, coloured if asked and *tty*.

    With *own_lines* the sink's output is read by people (see FormatContext).
    """
    color = wants_color(options.color, tty=tty)
    several = context.settings.several_origins
    return options.format_build(options.format_options, FormatContext(color, several, own_lines))


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
