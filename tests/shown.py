"""Checking a watchd command line as shown to people (in the docs, in a command's help)."""

from __future__ import annotations

import shlex

from watchd.cli.app import build_parser
from watchd.cli.arguments import parse_command_line
from watchd.cli.config import with_config
from watchd.cli.run import plan_from_args
from watchd.commands.selection import filter_specs
from watchd.core.plugins import PluginHost
from watchd.core.run import RunPlan
from watchd.core.spec import parse_spec


def check_shown(command: str, stand_ins: dict[str, str] | None = None) -> None:
    """Parse *command* (``watchd ...``) with watchd's own parser and plan it as it would run.

    A redirection or pipe after it is left out; *stand_ins* replace words
    (a config file's path, say). Exits 2 (SystemExit) when it does not parse,
    raises UsageError when it names a type no plugin has.
    """
    words = shlex.split(command.split(" > ", maxsplit=1)[0].split(" | ", maxsplit=1)[0])
    assert words[0] == "watchd", command
    words = [(stand_ins or {}).get(word, word) for word in words[1:]]
    host = PluginHost([word for word in words if word.startswith("no:")], autoload=False)
    parser = build_parser(host)
    registry = host.collect()
    ns = parse_command_line(parser, with_config(parser, words))
    # Each type looked up; its values are not parsed: the docs name files this host lacks.
    if ns.command == "run":
        plan = plan_from_args(ns)
    elif ns.command in ("query", "summary"):
        sources = [parse_spec(text, "--source") for text in ns.source]
        plan = RunPlan(sources=sources, sinks=[], filters=filter_specs(ns))
    else:
        return
    for table, specs in (
        (registry.sources, plan.sources),
        (registry.sinks, plan.sinks),
        (registry.filters, plan.filters),
    ):
        for spec in specs:
            table.entry(spec.type, spec.options.where)
