"""``watchd new-plugin NAME``: a plugin package to start from, whose tests pass as written.

The package has the entry point watchd finds it by, a source and a sink with
declared options, and tests that use :mod:`watchd.testing`; its templates are
in ``watchd/scaffold``.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib.resources import files
from pathlib import Path
from string import Template

from watchd._version import __version__
from watchd.core.context import Registry
from watchd.core.errors import EXIT_OK, UsageError
from watchd.core.plugins import PluginHost

_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")


def plugin_files(name: str) -> dict[str, str]:
    """Return the package's files by path: what ``new-plugin NAME`` writes."""
    module = "watchd_" + name.replace("-", "_")
    values = {"name": name, "module": module, "watchd_version": __version__}
    templates = files("watchd") / "scaffold"

    def filled(template: str) -> str:
        return Template((templates / template).read_text(encoding="utf-8")).substitute(values)

    return {
        "pyproject.toml": filled("pyproject.toml.tmpl"),
        "README.md": filled("README.md.tmpl"),
        f"src/{module}/__init__.py": filled("plugin.py.tmpl"),
        f"src/{module}/py.typed": "",
        f"tests/test_{module.removeprefix('watchd_')}.py": filled("test_plugin.py.tmpl"),
    }


def cmd_new_plugin(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:
    """Write the package of plugin NAME into DIR (``watchd-NAME``); return 0."""
    name: str = ns.name
    if not _NAME.match(name):
        raise UsageError(f"new-plugin {name!r}: expected lower-case words joined by -, as in acme")
    taken = [f"{name}-ticks", f"{name}-jsonl"]
    clash = [t for t in taken if t in registry.sources or t in registry.sinks]
    if name in host.info or clash:
        raise UsageError(f"new-plugin {name!r}: a plugin here already has that name")
    target = Path(ns.dir or f"watchd-{name}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"new-plugin: {target} exists and is not an empty directory")
    written = plugin_files(name)
    for path, text in written.items():
        where = target / path
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(text, encoding="utf-8")
    out = sys.stdout
    out.write(f"wrote {target}/: {', '.join(written)}\n")
    out.write(f"next: cd {target} && pip install -e '.[test]' && python -m pytest\n")
    return EXIT_OK
