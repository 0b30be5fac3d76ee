"""The ``file:PATH`` sink: private files, rotation without a signal, and on disk when asked."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

from conftest import append, clean_env, line, missing, wait_for_lines

STRACE = shutil.which("strace")


def events_in(path: Path, count: int) -> list[dict[str, object]]:
    """Wait for *count* events in *path*; return every event it holds."""
    return [json.loads(row) for row in wait_for_lines(path, count).splitlines()]


def test_the_file_and_its_directories_are_private_and_rotation_needs_no_signal(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(line(0))
    out = tmp_path / "new" / "dir" / "out.jsonl"
    env = clean_env()
    process = watchd(
        "run", "--source", f"audit:{trail}", "--from-beginning", "--sink", f"file:{out}", env=env
    )
    assert [e["detail"] for e in events_in(out, 1)] == ["n=0"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(out.parent.parent.stat().st_mode) == 0o700
    out.rename(out.with_name("out.jsonl.1"))  # logrotate's create: moved away, no signal
    append(trail, line(1))
    assert [e["detail"] for e in events_in(out, 1)] == ["n=1"]
    out.unlink()  # deleted under it
    append(trail, line(2))
    assert [e["detail"] for e in events_in(out, 1)] == ["n=2"]
    assert [e["detail"] for e in events_in(out.with_name("out.jsonl.1"), 1)] == ["n=0"]
    assert process.stop() == 0


def fsyncs_of(tmp_path: Path, *options: str) -> list[str]:
    """Run watchd under strace while it writes one record; return its fsync calls on the output.

    watchd is strace's own child (no attaching to another process, which
    needs CAP_SYS_PTRACE), and is stopped by its own PID.
    """
    if STRACE is None:
        missing("strace is not installed; .ci/run installs it")
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(line(0))
    out = tmp_path / "out.jsonl"
    out.unlink(missing_ok=True)
    traced = tmp_path / "strace.log"
    command = [STRACE, "-f", "-y", "-e", "trace=fsync", "-o", str(traced), sys.executable]
    command += ["-m", "watchd", "run", "--source", f"audit:{trail}", "--from-beginning", *options]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, env=clean_env()) as strace:
        wait_for_lines(out, 1)
        children = Path(f"/proc/{strace.pid}/task/{strace.pid}/children").read_text().split()
        os.kill(int(children[0]), signal.SIGTERM)  # watchd itself; strace ends with it
        assert strace.wait(timeout=30) == 0
    return [call for call in traced.read_text().splitlines() if f"<{out}>" in call]


def test_a_batch_is_on_disk_before_it_counts_with_a_state_dir(tmp_path):
    out = tmp_path / "out.jsonl"
    for options, synced in (
        ([f"file:{out}", f"--state-dir={tmp_path / 'state'}"], True),
        ([f"file:{out},fsync=no", f"--state-dir={tmp_path / 'state2'}"], False),
        ([f"file:{out}"], False),
        ([f"file:{out},fsync=yes"], True),
    ):
        assert bool(fsyncs_of(tmp_path, "--sink", *options)) == synced, options


def test_a_bad_option_of_the_last_spec_is_refused_before_anything_is_created(tmp_path):
    trail = tmp_path / "a.jsonl"
    trail.write_bytes(line(1))
    state, out = tmp_path / "state", tmp_path / "out.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "watchd", "run", "--source", f"audit:{trail}",
         "--state-dir", str(state), "--sink", f"file:{out}",
         "--sink", f"file:{tmp_path}/b.jsonl,dead_letter={tmp_path}/missing/dead.jsonl"],
        capture_output=True, text=True, env=clean_env(), timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("watchd: error:") == 1
    assert "dead_letter=" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl"]  # no state, no output
