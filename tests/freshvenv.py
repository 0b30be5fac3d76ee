"""A fresh virtualenv with a plugin package installed in it, as its author would install it.

The venv is new (``python -m venv``, its own pip); watchd and its dependencies
come from the environment the tests run in, through a ``.pth`` file (the
machine may have no package index), and the plugin is installed into the venv
itself, with its entry point, by pip.
"""

from __future__ import annotations

import site
import subprocess
import sys
import sysconfig
from pathlib import Path

from conftest import clean_env


class Venv:
    """A virtualenv under *root* whose python sees watchd, and the package installed in it."""

    def __init__(self, root: Path, package: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=120)
        self.python = root / "bin" / "python"
        purelib = subprocess.run(
            [str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        ours = sorted({sysconfig.get_paths()["purelib"], *site.getsitepackages()})
        # addsitedir, not a bare path: their own .pth files (an editable watchd's) count too.
        lines = [f"import site; site.addsitedir({path!r})" for path in ours]
        (Path(purelib) / "watchd-under-test.pth").write_text("\n".join(lines) + "\n")
        self.run("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                 str(package))  # fmt: skip

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run the venv's python with *args*; return the finished process."""
        return subprocess.run(
            [str(self.python), *args], capture_output=True, text=True, timeout=300,
            check=False, cwd=cwd, env=clean_env(PYTHONDONTWRITEBYTECODE="1"),
        )  # fmt: skip

    def watchd(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``watchd ARGS`` in the venv."""
        return self.run("-m", "watchd", *args)
