"""The package's layout as docs/develop.md describes it: module sizes, paths gone, markers."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "watchd"


def test_no_module_is_longer_than_fits_in_a_head():
    lengths = {
        str(path.relative_to(SRC)): len(path.read_text().splitlines()) for path in SRC.rglob("*.py")
    }
    assert {path: n for path, n in lengths.items() if n > 460} == {}


@pytest.mark.parametrize(
    "gone", ["watchd.hookspecs", "watchd.core.protocols", "watchd.plugins.stream", "watchd._moved"]
)
def test_the_unreleased_moved_paths_are_gone(gone):
    # They were kept "for one release" that never happened: no plugin can depend on them.
    sys.modules.pop(gone, None)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(gone)


def test_the_public_api_imports_without_a_warning():
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import watchd; from watchd import *"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_public_type_function_and_hook_says_the_version_that_added_it():
    import inspect  # noqa: PLC0415

    import watchd  # noqa: PLC0415
    from watchd.core import hookspecs  # noqa: PLC0415

    public = [getattr(watchd, name) for name in watchd.__all__]
    public = [obj for obj in public if inspect.isclass(obj) or inspect.isfunction(obj)]
    hooks = [
        f for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("watchd_")
    ]
    unmarked = [
        obj.__name__ for obj in [*public, *hooks] if ".. versionadded::" not in (obj.__doc__ or "")
    ]
    assert unmarked == []
