"""The package's layout as the README's Develop section describes it."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "watchd"


def test_no_module_is_longer_than_fits_in_a_head():
    lengths = {
        str(path.relative_to(SRC)): len(path.read_text().splitlines()) for path in SRC.rglob("*.py")
    }
    assert {path: n for path, n in lengths.items() if n > 460} == {}


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        ("watchd.hookspecs", "watchd.core.hookspecs", "hookimpl"),
        ("watchd.core.protocols", "watchd.core.interfaces", "Watcher"),
        ("watchd.plugins.stream", "watchd.plugins.sinks.tcp", "StreamSink"),
    ],
)
def test_a_moved_import_path_works_for_one_release_with_a_warning(old, new, name):
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert getattr(module, name) is not None
    messages = [str(w.message) for w in caught if w.category is DeprecationWarning]
    assert len(messages) == 1
    assert f"{old} moved to {new}" in messages[0]


def test_the_old_stream_sink_is_the_tcp_sink():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from watchd.plugins.stream import StreamSink  # noqa: PLC0415
    from watchd.plugins.sinks.tcp import TcpSink  # noqa: PLC0415

    assert StreamSink is TcpSink


def test_the_public_api_imports_without_a_warning():
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import watchd; from watchd import *"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
