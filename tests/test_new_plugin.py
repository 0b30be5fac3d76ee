"""``watchd new-plugin NAME``: a package that installs and runs, its tests passing as written."""

from __future__ import annotations

from pathlib import Path

from conftest import run_watchd
from freshvenv import Venv


def test_a_new_plugin_installs_in_a_fresh_venv_runs_and_its_tests_pass(tmp_path: Path):
    made = run_watchd("new-plugin", "acme", "--dir", str(tmp_path / "watchd-acme"))
    assert (made.returncode, made.stderr) == (0, "")
    package = tmp_path / "watchd-acme"
    venv = Venv(tmp_path / "venv", package)
    listed = venv.watchd("plugins", "acme")
    assert listed.returncode == 0, listed.stderr
    assert "acme-ticks  (source, from acme)" in listed.stdout
    assert "    usage: acme-jsonl:PATH[,fsync=yes|no]" in listed.stdout
    out = tmp_path / "out.jsonl"
    args = ["--source", "acme-ticks:x,count=2,interval=5ms", "--sink", f"acme-jsonl:{out}"]
    checked = venv.watchd("validate", *args)
    assert (checked.returncode, checked.stderr) == (0, ""), checked.stderr
    assert not out.exists()
    ran = venv.watchd("run", *args)
    assert ran.returncode == 0, ran.stderr
    assert len(out.read_text().splitlines()) == 2
    tests = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=package)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout


def test_new_plugin_refuses_a_bad_name_and_a_directory_in_use(tmp_path: Path):
    bad = run_watchd("new-plugin", "Acme_1")
    assert (bad.returncode, bad.stderr) == (
        2, "watchd: error: new-plugin 'Acme_1': expected lower-case words joined by -, as in acme\n"
    )  # fmt: skip
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("mine")
    used = run_watchd("new-plugin", "acme", "--dir", str(tmp_path / "used"))
    assert used.returncode == 2
    assert used.stderr.endswith("used exists and is not an empty directory\n")
    assert (tmp_path / "used" / "x").read_text() == "mine"
    taken = run_watchd("new-plugin", "syslog")
    assert (
        taken.stderr == "watchd: error: new-plugin 'syslog': a plugin here already has that name\n"
    )
