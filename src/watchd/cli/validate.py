"""``watchd validate`` and ``watchd run --dry-run``: the plan a configuration makes, or its errors.

Like ``vector validate`` or ``rsyslogd -N1``, for a deploy pipeline to run
before a reload: the configuration file and the command line are read as
``run`` reads them, every source, sink, filter and format is built as far as
checking its spec (each factory stops at ``context.opening()``), and nothing
is opened, bound, created or connected to. Out comes the plan, or every
error, each naming its key and line when it came from the file. Exit 0 or 2.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable
from typing import Any, TextIO

from watchd.cli import config
from watchd.commands.selection import filter_specs
from watchd.core.context import Registry, RunContext, RunSettings
from watchd.core.durations import shown
from watchd.core.errors import EXIT_OK, EXIT_USAGE, Checked, UsageError
from watchd.core.plugins import PluginHost
from watchd.core.private import why_not_writable
from watchd.core.spec import Spec, parse_spec, redact
from watchd.http.setup import http_setup


def dry_run(
    host: PluginHost,
    registry: Registry,
    ns: argparse.Namespace,
    settings: Callable[[argparse.Namespace], RunSettings],
    out: TextIO,
    *,
    plugins: bool = True,
) -> int:
    """Check what ``run`` would build from *ns*; print the plan or every error; return 0 or 2.

    Without *plugins* (``run``'s own check before it builds anything), the
    installed plugins are not configured and their types not built: a plugin's
    configure hook is called once per run, by the run itself.
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
    context = RunContext(ns, registry, io.BytesIO(), run_settings, dry_run=True)
    if plugins:
        host.configure(context)
    try:
        lines += _checked_specs(ns, registry, context, noted, plugins=plugins)
        try:
            http = http_setup(ns)
        except UsageError as exc:
            problems.append(str(exc))
        else:
            if http is not None:
                token = "a token" if http.access.token is not None else "no token (loopback)"
                lines.append(f"http    {ns.http}  {'https' if http.tls else 'http'}, {token}")
    finally:
        context.close_shared()
        if plugins:
            host.unconfigure(context)
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
    context: RunContext,
    noted: Callable[[UsageError, str, str], None],
    *,
    plugins: bool = True,
) -> list[str]:
    """Check every source, sink and filter; return the plan's lines of the good ones."""
    groups: list[tuple[str, str, list[str], Any]] = [
        ("source", "--source", list(ns.source), registry.sources),
        ("sink", "--sink", list(ns.sink or ["stdout"]), registry.sinks),
    ]
    lines: list[str] = []
    for kind, flag, texts, table in groups:
        for text in texts:
            try:
                spec = parse_spec(text, flag)
                _build(spec, table, context, plugins=plugins)
            except UsageError as exc:
                noted(exc, kind, text)
                continue
            lines.append(_shown(kind, spec))
    try:
        filters = filter_specs(ns)
    except UsageError as exc:  # an --apply that does not parse
        noted(exc, "apply", "")
        filters = []
    for spec in filters:  # each checked, so that every one's error is said
        try:
            _build(spec, registry.filters, context, plugins=plugins)
        except UsageError as exc:
            noted(exc, "apply", spec.text)
            continue
        lines.append(_shown("filter", spec))
    return lines


def _build(spec: Spec, table: Any, context: RunContext, *, plugins: bool = True) -> None:  # noqa: ANN401 - a TypeTable
    """Build *spec* in a dry run: the factory checks it and stops before opening anything."""
    factory = table.get(spec.type, spec.options.where)
    if not plugins and not getattr(factory, "__module__", "").startswith("watchd."):
        return  # an installed plugin's type: checked when the run builds it
    try:
        built = factory(spec, context)
    except Checked:
        return
    close = getattr(built, "close", None)  # a plugin that does not say when it opens
    if callable(close) and not callable(built):  # a filter is a function: nothing to close
        close()


def _shown(kind: str, spec: Spec) -> str:
    options = "  ".join(f"{key}={value}" for key, value in spec.options.resolved.items())
    head = f"{kind:<7} {redact(spec.text)}"
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
