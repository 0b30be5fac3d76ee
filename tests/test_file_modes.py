"""What watchd creates is private whatever the umask, and it never writes through a planted link."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from conftest import clean_env


def watchd_under_umask(*args: str, umask: int = 0o000) -> subprocess.CompletedProcess[str]:
    """Run watchd to completion under *umask*, as a service manager might start it."""
    return subprocess.run(
        [sys.executable, "-m", "watchd", *args],
        check=False,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=30,
        umask=umask,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_emit_creates_its_parents_0700_and_the_trail_0600_under_umask_000(tmp_path: Path) -> None:
    trail = tmp_path / "a" / "b" / "audit.jsonl"
    result = watchd_under_umask("emit", str(trail), "--action", "start", "--container", "c")
    assert (result.returncode, result.stderr) == (0, "")
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", trail)] == [0o700, 0o700, 0o600]


def test_the_state_dir_and_its_parents_are_0700_under_umask_000(tmp_path: Path) -> None:
    trail = tmp_path / "audit.jsonl"
    trail.write_text(
        json.dumps({"ts": "2026-01-01T00:00:00Z", "action": "a", "container": "c"}) + "\n"
    )
    state = tmp_path / "var" / "lib" / "watchd"
    command = ["run", "--source", f"audit:{trail}", "--state-dir", str(state), "-v"]
    run = subprocess.Popen(
        [sys.executable, "-m", "watchd", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        umask=0,
    )
    try:
        for line in run.stderr:
            if '"ready"' in line:
                break
    finally:
        run.terminate()
        run.communicate(timeout=10)
    folders = [tmp_path / "var", tmp_path / "var" / "lib", state]
    assert [mode(p) for p in folders] == [0o700, 0o700, 0o700]
    assert {p.name: mode(p) for p in state.iterdir()} == dict.fromkeys(
        (p.name for p in state.iterdir()), 0o600
    )


def test_emit_refuses_a_link_planted_at_the_trail_path(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    trail = tmp_path / "audit.jsonl"
    trail.symlink_to(victim)
    result = watchd_under_umask("emit", str(trail), "--action", "start", "--container", "c")
    assert result.returncode == 1
    assert victim.read_text() == "untouched\n"
    [line] = result.stderr.splitlines()
    logged = json.loads(line)
    assert (logged["event"], logged["reason"]) == (
        "audit record not written",
        "a symbolic link; watchd does not write through one",
    )


def test_file_sinks_and_dead_letters_refuse_a_link(tmp_path: Path) -> None:
    trail = tmp_path / "in.jsonl"
    trail.write_text("")
    planted = tmp_path / "out.jsonl"
    planted.symlink_to(tmp_path / "victim")
    for sink in (f"file:{planted}", f"stdout,dead_letter={planted}"):
        result = watchd_under_umask("run", "--source", f"audit:{trail}", "--sink", sink)
        assert result.returncode == 2
        assert result.stderr == (
            f"watchd: error: --sink {sink!r}: "
            + (f"{planted}" if sink.startswith("file:") else f"dead_letter={str(planted)!r}")
            + ": a symbolic link; watchd does not write through one\n"
        )
    assert not (tmp_path / "victim").exists()
