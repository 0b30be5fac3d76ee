"""The ``watchd`` command line: one parser, with examples in every help; a handler a command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import orjson
import structlog

from watchd._version import __version__
from watchd.cli import config
from watchd.cli.arguments import (
    CommandParser,
    Duration,
    add_batch_options,
    add_config_option,
    add_filter_options,
    add_output_options,
    add_plugin_option,
    command,
    common_options,
    examples_epilog,
    parse_command_line,
    parse_quietly,
    positive_int,
)
from watchd.cli.install import add_service_commands
from watchd.cli.listing import add_plugin_commands
from watchd.cli.run import cmd_run
from watchd.commands.selection import filter_specs
from watchd.core.context import Registry
from watchd.core.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    FailureError,
    UsageError,
)
from watchd.core.heap import keep_heap
from watchd.core.logging import configure_logging
from watchd.core.plugins import PluginHost, PluginLoadError, scan_plugin_args
from watchd.core.registry import PluginConflictError
from watchd.core.reload import fall_back, take_handover
from watchd.http.setup import add_http_options
from watchd.plugins.sinks.stdout import silence


def add_batch_commands(
    commands: argparse._SubParsersAction[CommandParser], common: CommandParser, formats: list[str]
) -> None:
    """Add ``query`` and ``summary``: read what is there, and exit."""
    query = command(
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
    add_batch_options(query)
    query.add_argument(
        "--last", type=positive_int, metavar="N", help="only the last N matching records"
    )
    add_output_options(query, formats)
    add_config_option(query)
    query.set_defaults(handler=_cmd_query)

    summary = command(
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
    add_batch_options(summary)
    summary.add_argument("--json", action="store_true", help="one JSON object")
    add_config_option(summary)
    summary.set_defaults(handler=_cmd_summary)


def add_trail_tools(
    commands: argparse._SubParsersAction[CommandParser], common: CommandParser
) -> None:
    """Add ``emit`` and ``verify``: write a record, check a chain."""
    emit = command(
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

    verify = command(
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
    common = common_options()
    parser = CommandParser(
        prog="watchd",
        description="Follow audit trails and route every record.",
        epilog=examples_epilog(
            "watchd demo",
            "watchd run --source audit:/var/lib/app/audit.jsonl",
            "watchd query --source audit:/var/lib/app/ --since 1h --level warning",
        )
        + "\n\nEach command's own help: watchd COMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-V", "--version", action="version", version=f"watchd {__version__}")
    add_plugin_option(parser, "plugins_first")  # before the command, as after it
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=CommandParser
    )

    run = command(
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
    _add_run_options(run, host, formats)
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="check the configuration and print the plan, as 'watchd validate'; open nothing",
    )
    run.set_defaults(handler=cmd_run)

    validate = command(
        commands,
        "validate",
        common,
        "check a configuration: print the plan or every error",
        "Read the configuration and the command line as 'watchd run' would, build every\n"
        "source, sink, format and filter without opening anything, and print the plan,\n"
        "or every error with its key and line (exit 0 or 2). The same as 'run --dry-run'.",
        examples=(
            "watchd validate --config /etc/watchd/watchd.toml",
            "watchd validate --source audit:/var/log/app/ --sink syslog:tcp://127.0.0.1:514",
        ),
    )
    _add_run_options(validate, host, formats)
    validate.set_defaults(handler=cmd_run, dry_run=True)
    add_service_commands(commands, common)

    add_plugin_commands(commands, common)

    add_batch_commands(commands, common, formats)
    add_trail_tools(commands, common)

    demo = command(
        commands,
        "demo",
        common,
        "show watchd on sample events",
        "Append sample audit records to a temporary file and follow it, as 'watchd run' would.",
        examples=("watchd demo", "watchd demo --count 3 --interval 100 --format json"),
    )
    demo.add_argument("--count", type=positive_int, default=12, help="records to write")
    demo.add_argument(
        "--interval",
        type=Duration("ms", least=0.001),
        default=0.3,
        metavar="DURATION",
        help="pause between records (default 300ms; a bare number is ms)",
    )
    add_output_options(demo, formats)
    demo.set_defaults(handler=_cmd_demo)
    parser.commands = dict(commands.choices)
    return parser


def _add_run_options(run: argparse.ArgumentParser, host: PluginHost, formats: list[str]) -> None:
    """Add what ``run`` takes (``validate`` takes the same, to check it)."""
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
    add_output_options(run, formats)
    add_config_option(run)
    start = run.add_mutually_exclusive_group()
    start.add_argument(
        "--from-beginning",
        action="store_true",
        help="print what the sources already hold, then follow",
    )
    start.add_argument(
        "--last",
        type=positive_int,
        metavar="N",
        help="print the last N records of each source, then follow",
    )
    start.add_argument(
        "--since",
        metavar="T",
        help="print each file's records from this time, then follow: RFC 3339, "
        "or back from now (90s, 15m, 2h, 7d)",
    )
    add_filter_options(run)
    run.add_argument("--until", help=argparse.SUPPRESS)  # refused: see plan_from_args
    run.add_argument(
        "--reorder-window",
        type=Duration("ms"),
        default=0.25,
        metavar="DURATION",
        help="merge several trails in time order, holding events this long "
        "(default 250ms, 0 off; a bare number is ms)",
    )
    run.add_argument(
        "--poll-interval",
        type=Duration("ms", least=0.001),
        default=0.25,
        metavar="DURATION",
        help="stat-polling interval where inotify is unavailable (default 250ms)",
    )
    run.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep checkpoints here and resume after the last delivered record",
    )
    run.add_argument(
        "--checkpoint-interval",
        type=Duration("ms", least=0.001),
        default=1.0,
        metavar="DURATION",
        help="write checkpoints at most this often (default 1s)",
    )
    run.add_argument(
        "--state-ttl",
        type=Duration("s", least=0.1),
        default=86400.0,
        metavar="DURATION",
        help="forget files not seen for this long (default 1d; a bare number is seconds)",
    )
    add_http_options(run)
    host.add_options(run)


def _cmd_query(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:
    from watchd.commands.query import run_query  # noqa: PLC0415 - only query needs it

    return run_query(host, registry, ns, filter_specs(ns), sys.stdout.buffer)


def _cmd_summary(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:
    from watchd.commands.summary import run_summary  # noqa: PLC0415 - only summary needs it

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
    from watchd.commands.verify import as_dict, render, verify  # noqa: PLC0415 - only verify needs it

    report = verify(ns.path)
    if ns.json:
        sys.stdout.write(orjson.dumps(as_dict(report)).decode() + "\n")
    else:
        sys.stdout.write(render(report))
    return EXIT_OK if report.valid else EXIT_FAILURE


def _cmd_demo(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:
    from watchd.commands.demo import run_demo  # noqa: PLC0415 - only the demo needs it

    return run_demo(host, registry, ns)


def _overview() -> int:
    """Print the overview of the commands (what bare ``watchd`` does)."""
    try:
        build_parser(PluginHost(scan_plugin_args([]))).print_help()
    except (PluginLoadError, PluginConflictError) as exc:
        _say_error(exc)
        return EXIT_FAILURE if isinstance(exc, PluginLoadError) else EXIT_USAGE
    return EXIT_OK


def _say_error(exc: Exception) -> None:
    """Print an error, each of its lines as one (a configuration's errors come together)."""
    for text in str(exc).splitlines() or [""]:
        print(f"watchd: error: {text}", file=sys.stderr)


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
        args = config.with_config(parser, args)
        ns = (
            parse_quietly(parser, args)
            if previous is not None
            else parse_command_line(parser, args)
        )
    except (UsageError, PluginLoadError, PluginConflictError) as exc:
        if previous is not None:
            fall_back(previous, str(exc))
        _say_error(exc)
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
    except (UsageError, FailureError) as exc:
        _say_error(exc)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"watchd: {ns.command} interrupted, its output cut short", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of stdout went away (| head): nothing more to say
        silence(sys.stdout.buffer)
        return EXIT_OK
    return status
