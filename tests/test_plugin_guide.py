"""A plugin package written only from docs/plugins.md installs, runs, and passes its own tests."""

from __future__ import annotations

import re
from pathlib import Path

from freshvenv import Venv

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
_FILE = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)\n```", re.DOTALL)
_COMMANDS = re.compile(r"<!-- commands -->\n```bash\n(.*?)\n```", re.DOTALL)


def guide_files() -> dict[str, str]:
    """Return the files the guide writes out whole, by path."""
    return {path: text + "\n" for path, text in _FILE.findall(GUIDE.read_text())}


def test_the_guide_writes_a_whole_package():
    assert set(guide_files()) == {
        "pyproject.toml",
        "src/watchd_beat/__init__.py",
        "src/watchd_beat/sink.py",
        "src/watchd_beat/source.py",
        "tests/test_beat.py",
    }
    sink = guide_files()["src/watchd_beat/sink.py"]
    assert len(sink.splitlines()) <= 50  # the sink in about 30 lines (with its docstrings)


def test_a_package_written_from_the_guide_installs_and_runs(tmp_path: Path):
    package = tmp_path / "watchd-beat"
    for path, text in guide_files().items():
        (package / path).parent.mkdir(parents=True, exist_ok=True)
        (package / path).write_text(text)
    venv = Venv(tmp_path / "venv", package)
    listed = venv.watchd("plugins", "lines")
    assert listed.returncode == 0, listed.stderr
    assert "    usage: lines:PATH[,prefix=WORD][,fsync=yes|no]" in listed.stdout
    assert "beat" in venv.watchd("plugins").stdout
    out = tmp_path / "beat.log"
    args = ["--source", "beat:web,count=3,interval=10ms", "--sink", f"lines:{out}"]
    checked = venv.watchd("validate", *args)
    assert (checked.returncode, checked.stderr) == (0, "")
    assert not out.exists()
    wrong = venv.watchd("validate", "--sink", f"lines:{out},fsync=maybe", "--source", "beat")
    assert wrong.returncode == 2
    assert wrong.stderr == (
        f"watchd: error: --sink 'lines:{out},fsync=maybe': fsync='maybe': "
        "expected yes or no (true/false, on/off, 1/0)\n"
    )
    ran = venv.watchd("run", *args)
    assert ran.returncode == 0, ran.stderr
    assert out.read_text().splitlines() == ["beat beat web"] * 3
    # The guide's own commands, as shown (the package is installed: pip's line is done).
    (shown,) = _COMMANDS.findall(GUIDE.read_text())
    shown_log = tmp_path / "shown.log"
    for line in shown.replace("/tmp/beat.log", str(shown_log)).splitlines():
        if line.startswith("watchd "):
            done = venv.watchd(*line.split()[1:])
            assert (done.returncode, done.stderr) == (0, ""), line
    assert len(shown_log.read_text().splitlines()) == 3
    tests = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=package)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout
