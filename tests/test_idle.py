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


def test_ten_thousand_idle_files_cost_under_one_percent_of_a_core(watchd, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for n in range(10_000):
        (logs / f"audit-{n:05}.jsonl").write_bytes(b'{"action":"x","container":"c"}\n')
    process = watchd("run", "--source", f"audit:{logs}/*.jsonl", "--json", "-v")
    process.wait_log("ready", timeout=60)
    time.sleep(0.5)
    before, started = cpu_seconds(process.pid), time.monotonic()
    time.sleep(11.0)  # spans one backstop rescan (every 10 s)
    used = cpu_seconds(process.pid) - before
    elapsed = time.monotonic() - started
    assert used / elapsed < 0.01, f"{used:.3f}s of CPU in {elapsed:.2f}s"
    open_files = len(list(Path(f"/proc/{process.pid}/fd").iterdir()))
    assert open_files >= 10_000  # every file is followed
