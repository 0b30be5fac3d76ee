"""``watchd plugins``: every plugin loaded, where it came from, and what it provides."""

from __future__ import annotations

import argparse
import sys

import orjson

from watchd.core.context import Registry
from watchd.core.errors import EXIT_OK
from watchd.core.plugins import PluginHost


def cmd_plugins(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:
    """List every plugin, what it provides and (with -v) each type's help; return 0."""
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
        if ns.verbose:  # each type with its line of help
            for table in tables.values():
                for entry in table:
                    if entry.plugin == name:
                        out.write(f"        {entry.name}: {entry.help or '(no help)'}\n")
    return EXIT_OK
