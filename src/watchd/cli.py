"""The ``watchd`` command line: one parser, with examples in every help; a handler a command."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import resource
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import orjson
import structlog

from watchd import config
from watchd._version import __version__
from watchd.core.context import StartAt
from watchd.core.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError
from watchd.core.event import LEVELS
from watchd.core.heap import keep_heap
from watchd.core.logging import configure_logging
from watchd.core.plugins import PluginHost, PluginLoadError, scan_plugin_args
from watchd.core.registry import PluginConflictError, Registry
from watchd.core.reload import Reloader, fall_back, take_handover
from watchd.core.run import RunPlan, execute
from watchd.core.spec import Options, Spec, parse_spec
from watchd.core.timestamps import parse_when
from watchd.plugins.stdout import silence


class _Parser(argparse.ArgumentParser):
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
        _unrecognized(commands.get(getattr(ns, "command", ""), parser), extra)
    return ns


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


class _Once(argparse.Action):
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


def _positive_int(text: str) -> int:
    return _whole_number(text, 1)


def _non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def _examples(*commands: str) -> str:
    """Return a help's closing examples."""
    return "examples:\n" + "\n".join(f"  {command}" for command in commands)


def _command(
    commands: argparse._SubParsersAction[_Parser],
    name: str,
    common: _Parser,
    summary: str,
    description: str,
    *,
    examples: tuple[str, ...],
) -> _Parser:
    """Add subcommand *name* with its one-line *summary*, its *description* and examples."""
    return commands.add_parser(
        name,
        parents=[common],
        help=summary,
        description=description,
        epilog=_examples(*examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _common() -> _Parser:
    common = _Parser(add_help=False)
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
    _add_plugin_option(common, "plugins")
    return common


def _add_plugin_option(parser: argparse.ArgumentParser, dest: str) -> None:
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


def _add_output_options(parser: argparse.ArgumentParser, formats: list[str]) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--format",
        metavar="FMT",
        help=f"stdout's format: {', '.join(formats)} (default: human on a terminal, else json)",
    )
    group.add_argument(
        "--json", dest="format", action="store_const", const="json", help="same as --format json"
    )


def _add_filter_options(parser: argparse.ArgumentParser) -> None:
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
        action=_Once,
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


def _add_batch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        action="append",
        required=True,
        metavar="SPEC",
        help="audit:PATH|GLOB|DIR[,schema=NAME] (repeatable)",
    )
    parser.add_argument(
        "--since", metavar="T", help="from this time: RFC 3339, or back from now (90s, 15m, 2h, 7d)"
    )
    parser.add_argument("--until", metavar="T", help="up to this time (same forms as --since)")
    _add_filter_options(parser)


def _add_batch_commands(
    commands: argparse._SubParsersAction[_Parser], common: _Parser, formats: list[str]
) -> None:
    """Add ``query`` and ``summary``: read what is there, and exit."""
    query = _command(
        commands,
        "query",
        common,
        "print what the trails hold, filtered, and exit",
        "Read what the sources hold now (no following), filter it, print it.",
        examples=(
            "watchd query --source audit:/var/lib/app/audit.jsonl --last 20",
            "watchd query --source 'audit:/var/log/loki/*.jsonl' --since 2h --action 'de*'",
            "watchd query --source audit:/var/lib/app/ --level warning --format csv > out.csv",
        ),
    )
    _add_batch_options(query)
    query.add_argument(
        "--last", type=_positive_int, metavar="N", help="only the last N matching records"
    )
    _add_output_options(query, formats)
    _add_config_option(query)
    query.set_defaults(handler=_cmd_query)

    summary = _command(
        commands,
        "summary",
        common,
        "count events by action, level, actor and container",
        "Count what the sources hold by action, level, actor and container.",
        examples=(
            "watchd summary --source audit:/var/lib/app/audit.jsonl",
            "watchd summary --source audit:/var/lib/app/ --since 7d --name 'web*' --json",
        ),
    )
    _add_batch_options(summary)
    summary.add_argument("--json", action="store_true", help="one JSON object")
    _add_config_option(summary)
    summary.set_defaults(handler=_cmd_summary)


def _add_trail_tools(commands: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    """Add ``emit`` and ``verify``: write a record, check a chain."""
    emit = _command(
        commands,
        "emit",
        common,
        "append one audit record",
        "Append one record to PATH the way terok-shield, lokt or loki-mode write "
        "it (one locked, fsynced write of a whole line).",
        examples=(
            "watchd emit /tmp/audit.jsonl --action blocked --container web --dest 192.0.2.1",
            "watchd emit /tmp/locks.jsonl --schema lokt --action acquire --container build",
            "watchd emit /tmp/loki.jsonl --schema loki --action delete --container task/42 --chain",
        ),
    )
    emit.add_argument("path", metavar="PATH", help="the trail to append to (created 0600)")
    emit.add_argument("--action", required=True, help="the action (lokt: its event)")
    emit.add_argument(
        "--container", help="terok: the container; lokt: the lock name; loki: TYPE[/ID]"
    )
    emit.add_argument("--dest", help="terok: dest; loki: ip_address")
    emit.add_argument("--detail", help="terok: detail; lokt: extra.detail; loki: error")
    emit.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other key of the record; VALUE is JSON when it parses as JSON (repeatable)",
    )
    emit.add_argument(
        "--schema",
        choices=("terok", "lokt", "loki"),
        default="terok",
        help="the record's shape: terok, lokt or loki (default terok)",
    )
    emit.add_argument("--chain", action="store_true", help="loki: add the integrity hash")
    emit.set_defaults(handler=_cmd_emit)

    verify = _command(
        commands,
        "verify",
        common,
        "check loki-mode integrity chains",
        "Check loki-mode's integrity chain over a file, or a directory of daily "
        "files in modification-time order, the chain carried across files. "
        "Exit 0 valid, 1 broken, 2 usage.",
        examples=("watchd verify ~/.loki/audit/", "watchd verify /tmp/loki.jsonl --json"),
    )
    verify.add_argument("path", metavar="PATH|DIR", help="a trail file or a directory of them")
    verify.add_argument("--json", action="store_true", help="one JSON object")
    verify.set_defaults(handler=_cmd_verify)


def build_parser(host: PluginHost, registry: Registry | None = None) -> argparse.ArgumentParser:
    """Return the parser, with the options every loaded plugin adds to ``run``.

    *registry* (the plugins' types, collected when not given) names the formats
    the help lists.
    """
    registry = registry if registry is not None else host.collect()
    formats = registry.formats.names()
    common = _common()
    parser = _Parser(
        prog="watchd",
        description="Follow audit trails and route every record.",
        epilog=_examples(
            "watchd demo",
            "watchd run --source audit:/var/lib/app/audit.jsonl",
            "watchd query --source audit:/var/lib/app/ --since 1h --level warning",
        )
        + "\n\nEach command's own help: watchd COMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-V", "--version", action="version", version=f"watchd {__version__}")
    _add_plugin_option(parser, "plugins_first")  # before the command, as after it
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    run = _command(
        commands,
        "run",
        common,
        "follow sources, write to sinks",
        "Follow sources live and route events to sinks.",
        examples=(
            "watchd run --source audit:/var/lib/app/audit.jsonl",
            "watchd run --source 'audit:/var/log/app/*.jsonl' --since 1h --level warning",
            "watchd run --source audit:/var/lib/app/ --sink syslog:tcp://127.0.0.1:514 "
            "--state-dir /var/lib/watchd",
        ),
    )
    run.add_argument(
        "--source",
        action="append",
        required=True,
        metavar="SPEC",
        help="TYPE[:TARGET][,KEY=VALUE]..., e.g. audit:/var/lib/app/audit.jsonl (repeatable)",
    )
    run.add_argument(
        "--sink",
        action="append",
        default=[],
        metavar="SPEC",
        help="where events go (default: stdout), e.g. file:/var/log/w.jsonl (repeatable)",
    )
    _add_output_options(run, formats)
    _add_config_option(run)
    start = run.add_mutually_exclusive_group()
    start.add_argument(
        "--from-beginning",
        action="store_true",
        help="print what the sources already hold, then follow",
    )
    start.add_argument(
        "--last",
        type=_positive_int,
        metavar="N",
        help="print the last N records of each source, then follow",
    )
    start.add_argument(
        "--since",
        metavar="T",
        help="print each file's records from this time, then follow: RFC 3339, "
        "or back from now (90s, 15m, 2h, 7d)",
    )
    _add_filter_options(run)
    run.add_argument("--until", help=argparse.SUPPRESS)  # refused: see plan_from_args
    run.add_argument(
        "--reorder-window",
        type=_non_negative_int,
        default=250,
        metavar="MS",
        help="merge several trails in time order, holding events this long (default 250, 0 off)",
    )
    run.add_argument(
        "--poll-interval",
        type=_positive_int,
        default=250,
        metavar="MS",
        help="stat-polling interval where inotify is unavailable (default 250)",
    )
    run.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep checkpoints here and resume after the last delivered record",
    )
    run.add_argument(
        "--checkpoint-interval",
        type=_positive_int,
        default=1000,
        metavar="MS",
        help="write checkpoints at most this often (default 1000)",
    )
    run.add_argument(
        "--state-ttl",
        type=_positive_int,
        default=86400,
        metavar="S",
        help="forget files not seen for this long (default 86400)",
    )
    host.add_options(run)
    run.set_defaults(handler=_cmd_run)

    plugins = _command(
        commands,
        "plugins",
        common,
        "list plugins",
        "List every plugin and what it provides.",
        examples=("watchd plugins", "watchd -p no:siem plugins --json"),
    )
    plugins.add_argument("--json", action="store_true", help="one JSON object per plugin")
    plugins.set_defaults(handler=_cmd_plugins)

    _add_batch_commands(commands, common, formats)
    _add_trail_tools(commands, common)

    demo = _command(
        commands,
        "demo",
        common,
        "show watchd on sample events",
        "Append sample audit records to a temporary file and follow it, as 'watchd run' would.",
        examples=("watchd demo", "watchd demo --count 3 --interval 100 --format json"),
    )
    demo.add_argument("--count", type=_positive_int, default=12, help="records to write")
    demo.add_argument(
        "--interval",
        type=_positive_int,
        default=300,
        metavar="MS",
        help="pause between records (default 300)",
    )
    _add_output_options(demo, formats)
    demo.set_defaults(handler=_cmd_demo)
    parser.commands = dict(commands.choices)
    return parser


def _shortcut(kind: str, target: str, flag: str) -> Spec:
    """Build a filter spec from a command-line shortcut (the value is taken verbatim)."""
    return Spec(kind, target, Options({}, f"{flag} {target!r}"), f"{kind}:{target}")


def filter_specs(ns: argparse.Namespace) -> list[Spec]:
    """Return the filters of ``--apply`` and the shortcut options, in that order."""
    filters = [parse_spec(text, "--apply") for text in ns.apply]
    if ns.name:
        filters.append(_shortcut("name", ",".join(ns.name), "--name"))
    if ns.action:
        filters.append(_shortcut("action", ",".join(ns.action), "--action"))
    if ns.level is not None:
        filters.append(_shortcut("level", ns.level, "--level"))
    filters.extend(_shortcut("field", text, "--filter") for text in ns.filter)
    if ns.change is not None:
        filters.append(_shortcut("change", ns.change, "--change"))
    return filters


def plan_from_args(ns: argparse.Namespace) -> RunPlan:
    """Turn ``watchd run`` options into a plan; every spec is parsed here."""
    if ns.until is not None:
        raise UsageError(
            "run: --until ends what is read, and following has no end: use 'watchd query --until T'"
        )
    filters = filter_specs(ns)
    if ns.since is not None:
        start = StartAt("since", since=parse_when(ns.since, "--since"))
    elif ns.from_beginning:
        start = StartAt("beginning")
    elif ns.last is not None:
        start = StartAt("last", ns.last)
    else:
        start = StartAt("end")
    return RunPlan(
        sources=[parse_spec(text, "--source") for text in ns.source],
        sinks=[parse_spec(text, "--sink") for text in ns.sink or ["stdout"]],
        filters=filters,
        start=start,
        poll_interval=ns.poll_interval / 1000,
        default_format=ns.format,
        state_dir=ns.state_dir,
        checkpoint_interval=ns.checkpoint_interval / 1000,
        state_ttl=float(ns.state_ttl),
        reorder_window=ns.reorder_window / 1000,
        continued=getattr(ns, "reloaded", False),
    )


def _raise_open_files_limit() -> None:
    """Follow as many files as the system allows: a descriptor is held per file."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _cmd_run(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:
    _raise_open_files_limit()
    plan = plan_from_args(ns)
    check = _reload_check(ns.parser, registry, ns.raw_args)
    reloader = Reloader(ns.raw_args, ns.args, plan.state_dir, check)
    plan.state_dir, plan.durable_state = reloader.state_dir, reloader.durable
    try:
        status = execute(host, registry, ns, plan, sys.stdout.buffer, on_hup=reloader.on_hup)
    except UsageError as exc:
        if ns.previous is not None:  # a reload whose plan does not start: back to the last one
            fall_back(ns.previous, str(exc), reloader.ephemeral)
        reloader.requested = False
        reloader.finish(EXIT_FAILURE)
        raise
    except BaseException:
        reloader.requested = False
        reloader.finish(EXIT_FAILURE)
        raise
    return reloader.finish(status)


def check_types(registry: Registry, plan: RunPlan) -> None:
    """Raise UsageError naming the first source, sink or filter type *plan* has and no plugin."""
    for spec in plan.sources:
        registry.sources.get(spec.type, spec.options.where)
    for spec in plan.sinks:
        registry.sinks.get(spec.type, spec.options.where)
    for spec in plan.filters:
        registry.filters.get(spec.type, spec.options.where)


def _reload_check(
    parser: argparse.ArgumentParser, registry: Registry, raw_args: list[str]
) -> Callable[[], str | None]:
    """Return the check a SIGHUP runs first: the command line, its file read again, must plan."""

    def check() -> str | None:
        try:
            args = _with_config(parser, config.read_ahead_plugins(list(raw_args)))
            check_types(registry, plan_from_args(_parse_quietly(parser, args)))
        except UsageError as exc:
            return str(exc)
        return None

    return check


def _parse_quietly(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace:
    """Parse *args*; what argparse would print and exit with becomes a UsageError."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            return parse_command_line(parser, args)
    except SystemExit:
        lines = said.getvalue().strip().splitlines()
        raise UsageError(lines[-1] if lines else "the command line does not parse") from None


def _cmd_query(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:
    from watchd.batch import run_query  # noqa: PLC0415 - only query needs it

    return run_query(host, registry, ns, filter_specs(ns), sys.stdout.buffer)


def _cmd_summary(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:
    from watchd.batch import run_summary  # noqa: PLC0415 - only summary needs it

    return run_summary(host, registry, ns, filter_specs(ns), sys.stdout.buffer)


def _cmd_emit(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:  # noqa: ARG001
    from watchd.writer import AuditWriter, emit_fields, missing_fields  # noqa: PLC0415 - only emit needs it

    if ns.chain and ns.schema != "loki":
        raise UsageError("emit: --chain is loki-mode's integrity chain: use it with --schema loki")
    fields = emit_fields(
        ns.schema,
        action=ns.action,
        container=ns.container,
        dest=ns.dest,
        detail=ns.detail,
        pairs=ns.field,
    )
    missing = missing_fields(ns.schema, fields)
    if missing:  # what the command line left out, not a failure to write
        options = {"event": "--action", "name": "--container"}  # lokt's names for them
        named = ", ".join(options.get(key, f"--{key}") for key in missing)
        raise UsageError(f"emit: a {ns.schema} record needs {named}")
    writer = AuditWriter(ns.path, ns.schema, chain=ns.chain)
    return EXIT_OK if writer.emit(**fields) else EXIT_FAILURE


def _cmd_verify(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:  # noqa: ARG001
    from watchd.verify import as_dict, render, verify  # noqa: PLC0415 - only verify needs it

    report = verify(ns.path)
    if ns.json:
        sys.stdout.write(orjson.dumps(as_dict(report)).decode() + "\n")
    else:
        sys.stdout.write(render(report))
    return EXIT_OK if report.valid else EXIT_FAILURE


def _cmd_demo(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:
    from watchd.demo import run_demo  # noqa: PLC0415 - only the demo needs it

    return run_demo(host, registry, ns)


def _cmd_plugins(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:
    tables = registry.tables()
    out = sys.stdout
    for name, info in host.info.items():
        provides = {
            kind: [entry.name for entry in table if entry.plugin == name]
            for kind, table in tables.items()
        }
        if ns.json:
            row = {
                "name": name,
                "kind": info.kind,
                "version": info.version,
                "distribution": info.distribution,
                "hooks": host.hooks_of(name),
                **provides,
            }
            out.write(orjson.dumps(row).decode() + "\n")
            continue
        origin = "built-in" if info.kind == "builtin" else info.distribution or info.kind
        out.write(f"{name} {info.version} ({origin})\n")
        for kind, names in provides.items():
            if names:
                out.write(f"    {kind}: {', '.join(names)}\n")
    return EXIT_OK


def _with_config(parser: argparse.ArgumentParser, args: list[str]) -> list[str]:
    """Return *args* with ``--config FILE`` expanded into the options the file sets."""
    if not any(arg == "--config" or arg.startswith("--config=") for arg in args):
        return args
    command = args[0] if args else ""
    if command not in config.CONFIGURABLE:
        raise UsageError(f"--config is an option of {', '.join(config.CONFIGURABLE)}")
    commands: dict[str, argparse.ArgumentParser] = getattr(parser, "commands", {})
    return config.expand(args, commands[command])


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="options from a TOML file (keys are the long options; the command line wins)",
    )


def _overview() -> int:
    """Print the overview of the commands (what bare ``watchd`` does)."""
    try:
        build_parser(PluginHost(scan_plugin_args([]))).print_help()
    except (PluginLoadError, PluginConflictError) as exc:
        print(f"watchd: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE if isinstance(exc, PluginLoadError) else EXIT_USAGE
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``watchd`` command line; return the exit status."""
    given = list(sys.argv[1:] if argv is None else argv)
    if not given:  # bare watchd: the overview of its commands
        return _overview()
    handover = take_handover()  # set when this process is a reload
    # The command line as the user gave it, which every later reload reads again.
    raw_args = handover.raw if handover is not None else given
    previous = handover if handover is not None and handover.previous is not None else None
    try:
        args = config.read_ahead_plugins(given)
        host = PluginHost(scan_plugin_args(args))
        registry = host.collect()
        parser = build_parser(host, registry)
        args = _with_config(parser, args)
        ns = (
            _parse_quietly(parser, args)
            if previous is not None
            else parse_command_line(parser, args)
        )
    except (UsageError, PluginLoadError, PluginConflictError) as exc:
        if previous is not None:
            fall_back(previous, str(exc))
        print(f"watchd: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE if isinstance(exc, PluginLoadError) else EXIT_USAGE
    ns.raw_args, ns.args, ns.previous, ns.parser = raw_args, args, previous, parser
    ns.reloaded = handover is not None
    configure_logging(ns.verbose - ns.quiet)
    for name in host.unknown_blocked:
        structlog.get_logger("watchd").warning(
            "-p no:NAME names no plugin here (blocked all the same)", plugin=name
        )
    keep_heap()
    try:
        status: int = ns.handler(host, registry, ns)
    except UsageError as exc:
        print(f"watchd: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"watchd: {ns.command} interrupted, its output cut short", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of stdout went away (| head): nothing more to say
        silence(sys.stdout.buffer)
        return EXIT_OK
    return status
