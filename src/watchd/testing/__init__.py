"""``watchd.testing``: the kit a plugin's own tests certify its types with, one line each.

Installed with watchd as a pytest plugin (the ``pytest11`` entry point), so a
plugin package's tests have its fixtures without importing anything:

- ``watchd_hostile_events``: events whose every field holds what breaks frames
  and parsers (controls, format characters, separators, huge values, text
  that was invalid UTF-8 as read);
- ``watchd_context``: a run's context in this process (see :func:`run_context`);
- ``watchd_clock``: a :class:`~watchd.core.clock.ManualClock` to inject, so a
  test sets the time instead of sleeping;
- ``watchd_cli``: runs ``watchd`` (``run``, ``validate``, ``plugins``, ...) as
  a user would, the plugin loaded as installed, and returns the finished process.

And the conformance checks, each one call, each failing with a line that
names what broke:

- :func:`check_format`: one frame an event, whatever the values hold;
- :func:`check_dialect`: any JSON object maps to an event, nothing raised;
- :func:`check_sink`: through the real loop, every event delivered exactly
  once and in order, and acknowledged only once delivered;
- :func:`check_sink_stall`: while its peer stalls, the sink says it is full
  (the loop pauses the sources) within its memory bound, and delivers
  everything, once and in order, when the peer reads again;
- :func:`check_sink_failure`: a peer lost for good is one log line, no
  traceback, no record content, and the run ends failed;
- :func:`check_source`: stopped part way and started again, the source gives
  every record once: no gap, no duplicate.

And :func:`run_context` (the ``watchd_context`` fixture) builds types in
process as a run would.

watchd's own types pass them (``tests/test_testing_kit.py``).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from watchd.core.clock import Clock, ManualClock, monotonic
from watchd.core.context import RunContext, RunSettings, StartAt
from watchd.core.event import WatchEvent
from watchd.core.plugins import PluginHost
from watchd.testing.hostile import (
    HOSTILE_TEXT,
    ConformanceError,
    hostile_events,
    hostile_records,
)
from watchd.testing.shapes import check_dialect, check_format
from watchd.testing.sinks import check_sink, check_sink_failure, check_sink_stall
from watchd.testing.sources import check_source

__all__ = [
    "HOSTILE_TEXT",
    "ConformanceError",
    "check_dialect",
    "check_format",
    "check_sink",
    "check_sink_failure",
    "check_sink_stall",
    "check_source",
    "hostile_events",
    "hostile_records",
    "run_context",
]


def run_context(
    state_dir: str | None = None, *, plugins: bool = True, clock: Clock = monotonic
) -> RunContext:
    """Return the context of a run in this process: the installed plugins' types, from the start.

    What a test builds a source or a sink with (``context.registry.sinks.build(spec,
    context)``), as ``watchd run`` would, without a process of its own. With
    *clock* (the ``watchd_clock`` fixture), the timing rules of what it builds
    (a trail's waits, a sink's retries) read that clock: the test sets the time.
    """
    registry = PluginHost(autoload=plugins).collect()
    settings = RunSettings(start=StartAt("beginning"), state_dir=state_dir)
    return RunContext(argparse.Namespace(), registry, io.BytesIO(), settings, clock=clock)


# -- the pytest plugin -----------------------------------------------------------------


@pytest.fixture
def watchd_hostile_events() -> list[WatchEvent]:
    """Return events whose every field holds what breaks frames and parsers."""
    return list(hostile_events())


@pytest.fixture
def watchd_context(tmp_path: Path) -> Iterator[RunContext]:
    """Return a run's context in this process, its state under the test's own directory."""
    context = run_context(str(tmp_path / "watchd-state"))
    yield context
    context.close_shared()


@pytest.fixture
def watchd_clock() -> ManualClock:
    """Return a clock that moves only when the test says (``clock.advance(5)``)."""
    return ManualClock()


@pytest.fixture
def watchd_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Return a runner of ``watchd ARGS...``: as installed, to its end, the finished process."""

    def run(
        *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "watchd", *args],
            capture_output=True,
            text=True,
            env=environment,
            timeout=timeout,
            check=False,
        )

    return run
