"""Every hook watchd calls. Plugins implement them with ``@watchd.hookimpl``.

All hooks are called at start-up (or shutdown), never per event: registration
hooks put factories into tables, and the per-event path calls those factories'
products directly, in batches.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from watchd.core.context import FilterFactory, RunContext, SinkFactory, SourceFactory
    from watchd.core.interfaces import Dialect, FormatFactory
    from watchd.core.registry import TypeTable
    from watchd.core.routes import RoutesFactory

_hookspec = pluggy.HookspecMarker("watchd")

#: Marks a function as an implementation of a ``watchd_*`` hook.
hookimpl = pluggy.HookimplMarker("watchd")


@_hookspec
def watchd_addoption(parser: argparse.ArgumentParser) -> None:
    """Add command-line options to ``watchd run``.

    Called once per invocation, before the command line is parsed, with the
    ``run`` sub-command's parser. Use long option names prefixed with your
    plugin's name (``--example-stamp``); read the values in
    :func:`watchd_configure` from ``context.options``.

    .. versionadded:: 0.1.0
    """


@_hookspec
def watchd_register_source_types(sources: TypeTable[SourceFactory]) -> None:
    """Register source types: ``sources.add(NAME, build, OptionsClass)``.

    ``OptionsClass`` (a :class:`watchd.OptionSet`) declares every option and
    the target; watchd parses ``--source NAME[:TARGET],...`` and TOML tables
    into it, and its ``check(checking)`` makes the checks that open nothing
    (``watchd validate`` stops there). ``build(options, context)`` is then
    called once per source and returns a :class:`watchd.Watcher`: it opens
    what it needs. Raise :class:`watchd.UsageError` for what cannot be used.

    .. versionadded:: 0.1.0
    """


@_hookspec
def watchd_register_sink_types(sinks: TypeTable[SinkFactory]) -> None:
    """Register sink types: ``sinks.add(NAME, build, OptionsClass)``.

    As for sources: ``OptionsClass`` declares the options, ``build(options,
    context)`` returns a :class:`watchd.Sink`. A sink that writes text should
    look its format up in ``context.registry.formats`` so every format works
    with it (the built-in sinks' ``Formatted`` options do this).

    .. versionadded:: 0.1.0
    """


@_hookspec
def watchd_register_formats(formats: TypeTable[FormatFactory]) -> None:
    """Register output formats: ``formats.add(NAME, build, OptionsClass)``.

    ``build(options, format_context)`` returns a callable that turns one
    :class:`watchd.WatchEvent` into one frame of bytes without a trailing
    newline. Its declared options are taken from the spec of the sink that
    uses it (``--sink file:x,format=NAME,key=value``).
    Output must stay one frame whatever the field values hold: escape or replace
    newlines and control characters.

    .. versionadded:: 0.1.0
    """


@_hookspec
def watchd_register_dialects(dialects: TypeTable[Dialect]) -> None:
    """Register record dialects: ``dialects.add(NAME, dialect, help="...")``.

    A :class:`watchd.Dialect` maps one producer's JSON record shape onto
    :class:`watchd.WatchEvent`; sources that read records select it with
    ``schema=NAME``.

    .. versionadded:: 0.1.0
    """


@_hookspec
def watchd_register_filters(filters: TypeTable[FilterFactory]) -> None:
    """Register event filters: ``filters.add(NAME, build, OptionsClass)``.

    ``build(options, context)`` is called once per ``--apply NAME[:ARG],...`` and
    returns a callable that takes a batch (a list of events) and returns the
    events to pass on. It runs on every batch, so keep it to plain Python.

    .. versionadded:: 0.1.0
    """


@_hookspec
def watchd_register_routes(routes: TypeTable[RoutesFactory]) -> None:
    """Register HTTP endpoints of ``--http``: ``routes.add(NAME, factory, help="...")``.

    ``factory(trails)`` is called once when the server starts, with the run's
    trails (:class:`watchd.core.routes.RunTrails`), and returns the set's
    handlers by path: ``{"/api/mine": handler}``. ``handler(query)`` gets the
    raw query string and returns an :class:`~watchd.core.routes.Answer`, or
    raises :class:`~watchd.core.routes.BadRequestError` (a 400 naming it). The
    routes sit behind the server's access checks; a path the server or another
    set serves already stops the run at start with a line naming both.
    loki-mode's endpoints are a built-in set registered this way.

    .. versionadded:: 0.1.0
    """


@_hookspec
def watchd_configure(context: RunContext) -> None:
    """Prepare for a run: the command line is parsed, nothing is opened yet.

    Called once, after every spec is parsed and before any source or sink is
    built. Read your options from ``context.options``. ``watchd validate``
    and ``run --dry-run`` do not call it: they build nothing.

    .. versionadded:: 0.1.0
    """


@_hookspec
def watchd_unconfigure(context: RunContext) -> None:
    """Clean up after a run: every source and sink is closed.

    Called once, also when the run ended with an error, if
    :func:`watchd_configure` was called.

    .. versionadded:: 0.1.0
    """
