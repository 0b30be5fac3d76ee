"""``watchd validate`` and ``watchd run --dry-run``: the plan a configuration makes, or its errors.

Like ``vector validate`` or ``rsyslogd -N1``, for a deploy pipeline to run
before a reload: the configuration file and the command line are read as
``run`` reads them, every source, sink, filter and format is parsed by its type's declared
options (:mod:`watchd.core.options`), which make every check a value can
have without opening anything; no build function and no plugin hook runs, so
nothing is opened, bound, created or connected to. Out comes the plan, or every
error, each naming its key and line when it came from the file. Exit 0 or 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TextIO

from watchd.cli import config
from watchd.commands.selection import filter_specs
from watchd.core.context import Checking, Registry, RunSettings
from watchd.core.durations import shown
from watchd.core.errors import EXIT_OK, EXIT_USAGE, UsageError
from watchd.core.private import why_not_writable
from watchd.core.registry import Parsed, TypeTable
from watchd.core.spec import parse_spec, redact
from watchd.core.terminal import isatty
from watchd.http.setup import http_setup


def dry_run(
    registry: Registry,
    ns: argparse.Namespace,
    settings: Callable[[argparse.Namespace], RunSettings],
    out: TextIO,
) -> int:
    """Parse what ``run`` would build from *ns*; print the plan or every error; return 0 or 2.

    Every spec is parsed by its type's declared options, plugins' types too;
    no build function and no plugin hook runs, so nothing is opened.
    """
    origins = config.origins(ns.raw_args)
    problems: list[str] = []
    lines: list[str] = []

    def noted(exc: UsageError, kind: str, text: str) -> None:
        where = origins.get((kind, text))
        problems.append(f"{where}: {exc}" if where else str(exc))

    try:
        run_settings = settings(ns)
    except UsageError as exc:
        problems.append(str(exc))
        run_settings = RunSettings()
    if run_settings.state_dir and (why := why_not_writable(run_settings.state_dir)):
        problems.append(f"--state-dir {run_settings.state_dir}: {why}")  # as run would say it
    checking = Checking(registry, run_settings, isatty(sys.stdout))
    lines += _checked_specs(ns, registry, checking, noted)
    try:
        http = http_setup(ns)
    except UsageError as exc:
        problems.append(str(exc))
    else:
        if http is not None:
            token = "a token" if http.access.token is not None else "no token (loopback)"
            lines.append(f"http    {ns.http}  {'https' if http.tls else 'http'}, {token}")
    if problems:
        for problem in problems:
            print(f"watchd: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    lines += _settings_lines(run_settings)
    print("\n".join(lines), file=out)
    return EXIT_OK


def _checked_specs(
    ns: argparse.Namespace,
    registry: Registry,
    checking: Checking,
    noted: Callable[[UsageError, str, str], None],
) -> list[str]:
    """Parse every source, sink and filter; return the plan's lines of the good ones."""
    groups: list[tuple[str, str, list[str], TypeTable[Any]]] = [
        ("source", "--source", list(ns.source), registry.sources),
        ("sink", "--sink", list(ns.sink or ["stdout"]), registry.sinks),
    ]
    lines: list[str] = []
    for kind, flag, texts, table in groups:
        for text in texts:
            try:
                parsed = table.parse(parse_spec(text, flag), checking)
            except UsageError as exc:
                noted(exc, kind, text)
                continue
            lines.append(_shown(kind, parsed))
    try:
        filters = filter_specs(ns)
    except UsageError as exc:  # an --apply that does not parse
        noted(exc, "apply", "")
        filters = []
    for spec in filters:  # each checked, so that every one's error is said
        try:
            parsed = registry.filters.parse(spec, checking)
        except UsageError as exc:
            noted(exc, "apply", spec.text)
            continue
        lines.append(_shown("filter", parsed))
    return lines


def _shown(kind: str, parsed: Parsed[Any]) -> str:
    """Return the plan's line of a part: its spec, then every option with its value."""
    values = parsed.options.shown()
    options = "  ".join(f"{key}={value}" for key, value in values.items() if value != "")
    head = f"{kind:<7} {redact(parsed.spec.text, parsed.options.secret_keys())}"
    return f"{head}\n        {options}" if options else head


def _settings_lines(settings: RunSettings) -> list[str]:
    start = settings.start
    begins = {
        "end": "what is appended from now",
        "beginning": "everything the sources hold, then what is appended",
        "last": f"the last {start.count} records of each source, then what is appended",
        "since": f"records since {start.since.isoformat() if start.since else ''}, then on",
    }[start.mode]
    state = (
        f"{settings.state_dir} (checkpoints every {shown(settings.checkpoint_interval)},"
        f" files forgotten after {shown(settings.state_ttl)})"
        if settings.state_dir
        else "none: a restart starts again from the end (give --state-dir)"
    )
    return [f"reads   {begins}", f"state   {state}"]
