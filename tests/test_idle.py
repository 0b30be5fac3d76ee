"""An idle watchd costs no CPU: it sleeps in select() until something happens."""

from __future__ import annotations

import os
import time
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_one_idle_file_source_does_not_spin(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_text("")
    process = watchd("run", "--source", f"audit:{trail}", "--json", "-v")
    process.wait_log("following file", path=str(trail))
    time.sleep(0.2)  # let start-up work settle
    before, started = cpu_seconds(process.pid), time.monotonic()
    time.sleep(2.0)
    used = cpu_seconds(process.pid) - before
    elapsed = time.monotonic() - started
    assert used / elapsed < 0.05, f"{used:.3f}s of CPU in {elapsed:.2f}s"
    assert process.proc.poll() is None
