"""``watchd plugins``: every plugin loaded, where it came from, and what it provides."""

from __future__ import annotations

import argparse
import sys
from difflib import get_close_matches

import orjson

from watchd.cli.arguments import CommandParser, command
from watchd.cli.config import key_schemas
from watchd.cli.describe import UNDECLARED, describe, reference, schema, usage
from watchd.cli.scaffold import cmd_new_plugin
from watchd.core.context import Registry
from watchd.core.errors import EXIT_OK, UsageError
from watchd.core.plugins import PluginHost


def cmd_schema(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:  # noqa: ARG001
    """Print the configuration file's JSON Schema; return 0."""
    run = ns.parser.commands["run"]
    document = schema(registry, key_schemas(run))
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    return EXIT_OK


def _show_named(host: PluginHost, registry: Registry, name: str) -> int:
    """Describe the types called *name*, or every type of the plugin *name*."""
    tables = registry.tables()
    found = [
        (table_name, entry)
        for table_name, table in tables.items()
        for entry in table
        if name in (entry.name, entry.plugin)
    ]
    if not found:
        names = sorted({e.name for t in tables.values() for e in t} | set(host.info))
        meant = get_close_matches(name, names, 1)
        hint = f"; did you mean {meant[0]}?" if meant else " (watchd plugins lists them)"
        raise UsageError(f"plugins: no type or plugin is called {name!r}{hint}")
    blocks = ["\n".join(describe(table_name, entry)) for table_name, entry in found]
    sys.stdout.write("\n\n".join(blocks) + "\n")
    return EXIT_OK


def cmd_plugins(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:
    """List every plugin, what it provides and (with -v) each type's help; return 0."""
    if ns.reference:
        sys.stdout.write(reference(registry))
        return EXIT_OK
    if ns.name:
        return _show_named(host, registry, ns.name)
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
        if ns.verbose:  # each type with its line of help and its whole grammar
            for kind, table in tables.items():
                for entry in table:
                    if entry.plugin == name:
                        out.write(f"        {entry.name}: {entry.help or '(no help)'}\n")
                        if kind not in UNDECLARED:
                            out.write(f"            {usage(entry.name, entry.options)}\n")
    return EXIT_OK


def add_plugin_commands(
    commands: argparse._SubParsersAction[CommandParser], common: CommandParser
) -> None:
    """Add ``plugins``, ``schema`` and ``new-plugin``: what a plugin's author and an editor use."""
    plugins = command(
        commands,
        "plugins",
        common,
        "list plugins, or show a type and every option it takes",
        "List every plugin and what it provides; with NAME, show that type (or every\n"
        "type of that plugin) with its usage and every option it takes.",
        examples=("watchd plugins", "watchd plugins syslog", "watchd -p no:siem plugins --json"),
    )
    plugins.add_argument("name", nargs="?", metavar="NAME", help="a type or a plugin")
    plugins.add_argument("--json", action="store_true", help="one JSON object per plugin")
    plugins.add_argument(
        "--reference", action="store_true", help="every type's options as a Markdown page"
    )
    plugins.set_defaults(handler=cmd_plugins)

    schema = command(
        commands,
        "schema",
        common,
        "print the configuration file's JSON Schema",
        "Print the JSON Schema of 'watchd run --config FILE', for an editor to check\n"
        "and complete the file: every option of run, and every type's declared options.",
        examples=("watchd schema > watchd.schema.json",),
    )
    schema.set_defaults(handler=cmd_schema)

    new_plugin = command(
        commands,
        "new-plugin",
        common,
        "write a plugin package to start from",
        "Write a plugin package: its entry point, a source and a sink with declared\n"
        "options, and tests with watchd.testing that pass as written.",
        examples=("watchd new-plugin acme", "watchd new-plugin acme --dir ~/src/watchd-acme"),
    )
    new_plugin.add_argument("name", metavar="NAME", help="the plugin's name (lower case, -)")
    new_plugin.add_argument("--dir", metavar="DIR", help="where to write it (watchd-NAME)")
    new_plugin.set_defaults(handler=cmd_new_plugin)
