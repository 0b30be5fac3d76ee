"""The command line's parts: argument types, shared option groups, a parser with examples."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
from collections.abc import Sequence
from typing import Any, NoReturn

from watchd.core.durations import EXAMPLES, parse_duration, shown
from watchd.core.errors import EXIT_USAGE, UsageError
from watchd.core.event import LEVELS


class CommandParser(argparse.ArgumentParser):
    """argparse, with usage errors on one line, and its subcommands' parsers by name.

    No abbreviations (``--fr`` is not ``--from-beginning``: a later option
    could make it ambiguous); an unknown option is reported by the parser of
    the command it was given to, with the closest known option.
    """

    commands: dict[str, argparse.ArgumentParser]

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - argparse's own
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Print one line naming the problem and exit 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def parse_command_line(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace:
    """Parse *args*; arguments nobody takes are the error of the command they followed."""
    commands: dict[str, argparse.ArgumentParser] = getattr(parser, "commands", {})
    command = next((arg for arg in args if arg in commands), "")
    if command:  # a misspelt option first: it may be why a required one seems missing
        owner = commands[command]
        known = set(_options(owner))
        after = args[args.index(command) + 1 :]
        after = after[: after.index("--")] if "--" in after else after
        unknown = [
            arg for arg in after if arg.startswith("--") and arg.split("=", 1)[0] not in known
        ]
        if unknown:
            _unrecognized(owner, unknown)
    ns, extra = parser.parse_known_args(args)
    if extra:
        owner = commands.get(getattr(ns, "command", ""), parser)
        if owner is not parser:
            _misplaced(parser, owner, extra)
        _unrecognized(owner, extra)
    return ns


def _misplaced(
    parser: argparse.ArgumentParser, owner: argparse.ArgumentParser, words: list[str]
) -> None:
    """Refuse an option of the command given before the command (``watchd -q run``)."""
    known = set(_options(owner))
    early = next((w for w in words if w.split("=", 1)[0] in known), None)
    if early is not None:
        option = early.split("=", 1)[0]
        parser.error(
            f"{option} is an option of '{owner.prog}': give it after the command,"
            f" as in '{owner.prog} {option}'"
        )


def _unrecognized(parser: argparse.ArgumentParser, words: list[str]) -> NoReturn:
    """Refuse *words*, naming the closest option *parser* knows for the first one near one."""
    known = _options(parser)
    hint = ""
    for word in words:
        if not word.startswith("-"):
            continue
        close = difflib.get_close_matches(word.split("=", 1)[0], known, n=1, cutoff=0.6)
        if close:
            hint = f"; did you mean {close[0]}?"
            break
    parser.error(f"unrecognized arguments: {' '.join(words)}{hint}")


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """Return every option string *parser* takes."""
    return [option for action in parser._actions for option in action.option_strings]


class Once(argparse.Action):
    """An option given at most once: where the last would win, a second is an error.

    ``--level warning --level error`` cannot mean both floors; taking the last
    silently would hide that the first was ignored.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        """Store the value; refuse a second one."""
        before = getattr(namespace, self.dest, None)
        if before is not None:
            parser.error(f"{option_string} is given once ({before} and {values} given)")
        setattr(namespace, self.dest, values)


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least {least}")
    return value


def positive_int(text: str) -> int:
    """Parse a whole number of at least 1 (an argparse type)."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """Parse a whole number of at least 0 (an argparse type)."""
    return _whole_number(text, 0)


class Duration:
    """An argparse type for a duration flag: ``250ms``, ``5s``, ``2m``, ``1h``; seconds out.

    A bare number is in *unit*, the flag's unit before units were accepted.
    """

    def __init__(self, unit: str, *, least: float = 0.0) -> None:
        self.unit = unit
        self.least = least
        self.__name__ = "duration"  # argparse names the type in its error

    def __call__(self, text: str) -> float:
        """Return *text* in seconds, or raise argparse's error naming the grammar."""
        try:
            seconds = parse_duration(text, unit=self.unit, what="")
        except UsageError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a duration ({EXAMPLES}; a bare number is {self.unit})"
            ) from None
        if seconds < self.least:
            raise argparse.ArgumentTypeError(f"{text!r} is below {shown(self.least)}")
        return seconds


def examples_epilog(*commands: str) -> str:
    """Return a help's closing examples."""
    return "examples:\n" + "\n".join(f"  {command}" for command in commands)


def command(
    commands: argparse._SubParsersAction[CommandParser],
    name: str,
    common: CommandParser,
    summary: str,
    description: str,
    *,
    examples: tuple[str, ...],
) -> CommandParser:
    """Add subcommand *name* with its one-line *summary*, its *description* and examples."""
    return commands.add_parser(
        name,
        parents=[common],
        help=summary,
        description=description,
        epilog=examples_epilog(*examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def common_options() -> CommandParser:
    """Return the parent parser of the options every command takes (-v, -q, -p)."""
    common = CommandParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="count", default=0, help="more diagnostics on stderr (debug)"
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="fewer diagnostics on stderr (-q warnings, -qq errors)",
    )
    add_plugin_option(common, "plugins")
    return common


def add_plugin_option(parser: argparse.ArgumentParser, dest: str) -> None:
    """Add ``-p NAME``; its values are read ahead of parsing (``scan_plugin_args``)."""
    parser.add_argument(
        "-p",
        "--plugin",
        dest=dest,
        action="append",
        default=[],
        metavar="NAME",
        help="load plugin NAME (entry point or module); -p no:NAME blocks it (repeatable)",
    )


def add_output_options(parser: argparse.ArgumentParser, formats: list[str]) -> None:
    """Add ``--format`` (one of *formats*) and ``--color``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--format",
        metavar="FMT",
        help=f"stdout's format: {', '.join(formats)} (default: human on a terminal, else json)",
    )
    group.add_argument(
        "--json", dest="format", action="store_const", const="json", help="same as --format json"
    )


def add_filter_options(parser: argparse.ArgumentParser) -> None:
    """Add the filter options ``run`` and ``query`` share (--action, --level, ...)."""
    parser.add_argument(
        "--apply",
        action="append",
        default=[],
        metavar="SPEC",
        help="a filter plugin, e.g. level:warning (repeatable; see 'watchd plugins')",
    )
    parser.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="NAME",
        help="only these containers (repeatable; globs allowed)",
    )
    parser.add_argument(
        "--action",
        action="append",
        default=[],
        metavar="A",
        help="only these actions (repeatable; globs allowed)",
    )
    parser.add_argument(
        "--level",
        action=Once,
        metavar="LEVEL",
        help=f"only events of at least this severity: {', '.join(LEVELS)}",
    )
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="FIELD=GLOB",
        help="only events whose FIELD (or extra.KEY) matches GLOB (repeatable)",
    )
    parser.add_argument("--change", metavar="ID", help="only ito events of this change (its scope)")


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """Add what ``query`` and ``summary`` both take: the sources and the time window."""
    parser.add_argument(
        "--source",
        action="append",
        required=True,
        metavar="SPEC",
        help="audit:PATH|GLOB|DIR[,schema=NAME][,container=NAME][,max_line_bytes=N] (repeatable)",
    )
    parser.add_argument(
        "--since", metavar="T", help="from this time: RFC 3339, or back from now (90s, 15m, 2h, 7d)"
    )
    parser.add_argument("--until", metavar="T", help="up to this time (same forms as --since)")
    add_filter_options(parser)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--config FILE``."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="options from a TOML file (keys are the long options; the command line wins)",
    )


def parse_quietly(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace:
    """Parse *args*; what argparse would print and exit with becomes a UsageError."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            return parse_command_line(parser, args)
    except SystemExit:
        lines = said.getvalue().strip().splitlines()
        raise UsageError(lines[-1] if lines else "the command line does not parse") from None
