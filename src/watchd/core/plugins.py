"""The plugin host: loads built-in and installed plugins and calls their hooks."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from watchd._version import __version__
from watchd.core import hookspecs
from watchd.core.context import Registry, RunContext
from watchd.core.errors import UsageError
from watchd.core.registry import RegistrationError, TypeTable

ENTRY_POINT_GROUP = "watchd"
AUTOLOAD_ENV = "WATCHD_DISABLE_PLUGIN_AUTOLOAD"
#: Set (not 0), every hook call is said on stderr with its plugins and its time,
#: and what each plugin registered.
TRACE_ENV = "WATCHD_TRACE_PLUGINS"

#: Built-in plugins, in load order. They use exactly the hooks a third party uses.
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("audit", "watchd.watchers.audit"),
    ("worktrees", "watchd.watchers.worktrees"),
    ("ito-branch", "watchd.watchers.itobranch"),
    ("syslog-listener", "watchd.watchers.syslog"),
    ("dialects", "watchd.watchers.dialects"),
    ("stdout", "watchd.plugins.sinks.stdout"),
    ("file", "watchd.plugins.sinks.file"),
    ("tcp", "watchd.plugins.sinks.tcp"),
    ("syslog", "watchd.plugins.sinks.syslog"),
    ("hec", "watchd.plugins.sinks.hec"),
    ("formats", "watchd.plugins.formats.text"),
    ("siem", "watchd.plugins.formats.siem"),
    ("filters", "watchd.plugins.filters"),
    ("loki-api", "watchd.http.routes"),
)


class PluginLoadError(Exception):
    """An installed plugin could not be imported or registered."""


@dataclass(frozen=True)
class PluginInfo:
    """Where a loaded plugin came from."""

    name: str
    kind: str  # "builtin", "entrypoint" or "module"
    version: str
    distribution: str


def autoload_disabled() -> bool:
    """Return True when the environment turns entry-point autoloading off."""
    return os.environ.get(AUTOLOAD_ENV, "") not in ("", "0")


def scan_plugin_args(argv: Iterable[str]) -> list[str]:
    """Return the values of every ``-p VALUE`` / ``-pVALUE`` / ``--plugin VALUE`` in *argv*.

    The plugins must be known before the command line can be parsed (they add
    options to it), so ``-p`` is read ahead, as pytest does.
    """
    values: list[str] = []
    args = list(argv)
    for index, arg in enumerate(args):
        if arg in ("-p", "--plugin") and index + 1 < len(args):
            values.append(args[index + 1])
        elif arg.startswith("--plugin="):
            values.append(arg.partition("=")[2])
        elif arg.startswith("-p") and len(arg) > 2 and not arg.startswith("--"):
            values.append(arg[2:].lstrip("="))
    return values


class PluginHost:
    """A fresh plugin manager for one run, with typed calls for every hook.

    Load order: blocked names first (``-p no:NAME``), then the built-ins, then
    installed packages' entry points in the ``watchd`` group (unless
    ``WATCHD_DISABLE_PLUGIN_AUTOLOAD`` is set), then ``-p NAME`` requests.
    """

    def __init__(self, plugin_args: Iterable[str] = (), *, autoload: bool | None = None) -> None:
        self.pm = pluggy.PluginManager("watchd")
        self.pm.add_hookspecs(hookspecs)
        self._trace = os.environ.get(TRACE_ENV, "") not in ("", "0")
        if self._trace:
            self.pm.add_hookcall_monitoring(*_timed_calls())
        self.info: dict[str, PluginInfo] = {}
        requested: list[str] = []
        blocked: list[str] = []
        for arg in plugin_args:
            if arg.startswith("no:"):
                self.pm.set_blocked(arg[3:])
                blocked.append(arg[3:])
            else:
                requested.append(arg)
        installed = list(entry_points(group=ENTRY_POINT_GROUP))  # scanned once: it reads metadata
        known = {name for name, _ in BUILTIN_PLUGINS} | set(requested)
        known |= {ep.name for ep in installed}
        #: Blocked names no plugin here has: allowed (a shared configuration may
        #: block one not installed on this machine), but likely misspelt.
        self.unknown_blocked = [name for name in dict.fromkeys(blocked) if name not in known]
        for name, module in BUILTIN_PLUGINS:
            if not self.pm.is_blocked(name):
                self._register(importlib.import_module(module), name, "builtin", __version__, "")
        if autoload is None:
            autoload = not autoload_disabled()
        self._load_entry_points(installed, requested, autoload=autoload)
        for name in requested:
            if self.pm.get_plugin(name) is None and not self.pm.is_blocked(name):
                self._import_module_plugin(name)
        self.pm.check_pending()

    def _register(self, plugin: object, name: str, kind: str, version: str, dist: str) -> None:
        self.pm.register(plugin, name=name)
        self.info[name] = PluginInfo(name, kind, version, dist)

    def _load_entry_points(
        self, installed: list[EntryPoint], requested: list[str], *, autoload: bool
    ) -> None:
        for ep in installed:
            if self.pm.is_blocked(ep.name) or self.pm.get_plugin(ep.name) is not None:
                continue
            if not autoload and ep.name not in requested:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginLoadError(
                    f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}; "
                    f"skip it with -p no:{ep.name}"
                ) from exc
            dist = ep.dist
            self._register(
                plugin,
                ep.name,
                "entrypoint",
                dist.version if dist else "?",
                dist.name if dist else "",
            )

    def _import_module_plugin(self, name: str) -> None:
        try:
            module: ModuleType = importlib.import_module(name)
        except ImportError as exc:
            raise UsageError(f"-p {name}: no plugin or module of that name ({exc})") from None
        if self.pm.is_registered(module):  # its entry point, under the name it installs
            return
        self._register(module, name, "module", getattr(module, "__version__", "?"), "")

    # Typed calls, so the rest of watchd never calls an untyped hook.

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        """Let every plugin add its ``watchd run`` options."""
        self.pm.hook.watchd_addoption(parser=parser)

    def collect(self) -> Registry:
        """Return a registry filled by every plugin's registration hooks."""
        builtins = frozenset(name for name, info in self.info.items() if info.kind == "builtin")
        registry = Registry(builtins)
        self._register_per_plugin("watchd_register_source_types", "sources", registry.sources)
        self._register_per_plugin("watchd_register_sink_types", "sinks", registry.sinks)
        self._register_per_plugin("watchd_register_formats", "formats", registry.formats)
        self._register_per_plugin("watchd_register_dialects", "dialects", registry.dialects)
        self._register_per_plugin("watchd_register_filters", "filters", registry.filters)
        self._register_per_plugin("watchd_register_routes", "routes", registry.routes)
        return registry

    def _register_per_plugin(self, hook: str, argname: str, table: TypeTable[Any]) -> None:
        # Each plugin's implementation once, in load order, with a view of the table
        # that names the plugin: so every entry records who added it, and a later
        # plugin replaces a built-in (pluggy's own call order is the reverse). The
        # call goes through pluggy (a subset caller without the other plugins'
        # registrations), so every wrapper and the tracing see it.
        impls = getattr(self.pm.hook, hook).get_hookimpls()
        registering = [impl for impl in impls if not (impl.hookwrapper or impl.wrapper)]
        for impl in registering:
            view = table.for_plugin(impl.plugin_name)
            others = [other.plugin for other in registering if other is not impl]
            try:
                self.pm.subset_hook_caller(hook, remove_plugins=others)(**{argname: view})
            except RegistrationError as exc:
                raise PluginLoadError(
                    f"plugin {impl.plugin_name!r}: {exc}; skip it with -p no:{impl.plugin_name}"
                ) from None
            if self._trace:
                added = sorted(e.name for e in table if e.plugin == impl.plugin_name)
                _say(f"{impl.plugin_name} registered {argname}: {', '.join(added) or 'none'}")

    def configure(self, context: RunContext) -> None:
        """Call every plugin's ``watchd_configure``."""
        self.pm.hook.watchd_configure(context=context)

    def unconfigure(self, context: RunContext) -> None:
        """Call every plugin's ``watchd_unconfigure``."""
        self.pm.hook.watchd_unconfigure(context=context)

    def hooks_of(self, name: str) -> list[str]:
        """Return the names of the hooks plugin *name* implements."""
        plugin = self.pm.get_plugin(name)
        if plugin is None:
            return []
        return sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])


def _say(line: str) -> None:
    print(f"watchd: plugins: {line}", file=sys.stderr)


def _timed_calls() -> tuple[Any, Any]:
    """Return pluggy's before and after monitors: each hook call said with its plugins and time."""
    started: list[float] = []

    def before(hook_name: str, hook_impls: list[Any], kwargs: dict[str, Any]) -> None:  # noqa: ARG001
        started.append(time.perf_counter())

    def after(outcome: Any, hook_name: str, hook_impls: list[Any], kwargs: dict[str, Any]) -> None:  # noqa: ANN401, ARG001
        took = (time.perf_counter() - started.pop()) * 1000
        names = ", ".join(impl.plugin_name for impl in hook_impls)
        _say(f"{hook_name} ({names}): {took:.2f} ms")

    return before, after
