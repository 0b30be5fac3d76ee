"""``watchd run``: the command line made into a plan, checked, and run with reloads."""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import sys
from collections.abc import Callable
from dataclasses import replace

from watchd.cli import config
from watchd.cli.arguments import parse_quietly
from watchd.cli.validate import dry_run
from watchd.commands.selection import filter_specs
from watchd.core.context import Registry, RunSettings, StartAt
from watchd.core.errors import EXIT_FAILURE, EXIT_USAGE, FailureError, UsageError
from watchd.core.notify import ServiceNotifier
from watchd.core.plugins import PluginHost
from watchd.core.reload import Reloader, fall_back
from watchd.core.run import Running, RunPlan, execute, parse_plan
from watchd.core.spec import Spec, parse_spec
from watchd.core.timestamps import parse_when
from watchd.http.setup import http_setup
from watchd.watchers.audit import scope_of
from watchd.watchers.files.scope import Scope
from watchd.watchers.files.symlinks import INSIDE


def plan_from_args(ns: argparse.Namespace) -> RunPlan:
    """Turn ``watchd run`` options into a plan; every spec is parsed here."""
    settings = settings_from_args(ns)
    sources = [parse_spec(text, "--source") for text in ns.source]
    return RunPlan(
        sources=sources,
        sinks=[parse_spec(text, "--sink") for text in ns.sink or ["stdout"]],
        filters=filter_specs(ns),
        settings=replace(settings, several_origins=_several_origins(sources)),
    )


def settings_from_args(ns: argparse.Namespace) -> RunSettings:
    """Return the run's settings the options give (where to start, state, timings)."""
    if ns.until is not None:
        raise UsageError(
            "run: --until ends what is read, and following has no end: use 'watchd query --until T'"
        )
    if ns.since is not None:
        start = StartAt("since", since=parse_when(ns.since, "--since"))
    elif ns.from_beginning:
        start = StartAt("beginning")
    elif ns.last is not None:
        start = StartAt("last", ns.last)
    else:
        start = StartAt("end")
    return RunSettings(
        start=start,
        poll_interval=ns.poll_interval,
        default_format=ns.format,
        state_dir=ns.state_dir,
        checkpoint_interval=ns.checkpoint_interval,
        state_ttl=ns.state_ttl,
        reorder_window=ns.reorder_window,
        continued=getattr(ns, "reloaded", False),
    )


def _several_origins(sources: list[Spec]) -> bool:
    """Return True when the sources may read more than one file: several, a directory, a glob."""
    if len(sources) != 1:
        return len(sources) > 1
    spec = sources[0]
    # A directory's scope is its files' glob: a glob either way, as the audit source sees it.
    return spec.type == "audit" and Scope(scope_of(spec.target or ""), INSIDE).is_glob


def _raise_open_files_limit() -> None:
    """Follow as many files as the system allows: a descriptor is held per file."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cmd_run(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:
    """Run ``watchd run``: plan, check, follow, and reload on SIGHUP."""
    if ns.dry_run:
        return dry_run(registry, ns, settings_from_args, sys.stdout)
    # Every spec is checked before anything is opened: an error in the last one must
    # not come after the first created its state directory or its output file.
    if ns.previous is None and dry_run(registry, ns, settings_from_args, io.StringIO()):
        return EXIT_USAGE
    _raise_open_files_limit()
    plan = plan_from_args(ns)
    check = reload_check(ns.parser, registry, ns.raw_args)
    reloader = Reloader(ns.raw_args, ns.args, plan.settings.state_dir, check)
    plan.settings = replace(
        plan.settings, state_dir=reloader.state_dir, durable_state=reloader.durable
    )
    service = ServiceNotifier.from_environment()  # run by systemd: it is told what happens
    if service is not None:
        reloader.on_reload = service.reloading
    try:
        http = http_setup(ns)
        if http is not None:
            plan.observers.append(http.live)
        sources = list(plan.sources)

        def on_ready(running: Running) -> None:
            if http is not None:
                http.start(running, sources)
            if service is not None:
                service.attach(running)

        try:
            status = execute(
                host,
                registry,
                ns,
                plan,
                sys.stdout.buffer,
                on_ready=on_ready,
                on_hup=reloader.on_hup,
            )
        finally:
            if http is not None:
                http.close()
            if service is not None:
                service.close()
    except (UsageError, FailureError) as exc:
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


def reload_check(
    parser: argparse.ArgumentParser, registry: Registry, raw_args: list[str]
) -> Callable[[], str | None]:
    """Return the check a SIGHUP runs first: the command line, its file read again, must plan."""

    def check() -> str | None:
        try:
            args = config.with_config(parser, config.read_ahead_plugins(list(raw_args)))
            ns = parse_quietly(parser, args)
            parse_plan(registry, plan_from_args(ns))
            http_setup(ns)
        except UsageError as exc:
            return str(exc)
        return None

    return check
