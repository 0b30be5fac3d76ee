"""An idle watchd sleeps in select() until something happens: it does not wake to look.

What is asserted is behaviour, how often the process wakes, not a share of a
core (that depends on the machine; bench/run.py measures idle CPU and RSS).
A process blocked in select() is switched out once and stays out; a loop that
polls every 250 ms wakes 40 times in 10 s; one that spins need not be switched
out at all, but runs the whole time (the bound there is half the time, which
no machine's noise reaches for a sleeping process).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from conftest import append


def cpu_seconds(pid: int) -> float:
    """Return the CPU time the process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def asleep(pid: int, seconds: float, *, most_wakeups: int) -> None:
    """Assert that the process neither polls (wakes often) nor spins (runs without waking)."""
    woke, used = wakeups(pid), cpu_seconds(pid)
    time.sleep(seconds)
    woke, used = wakeups(pid) - woke, cpu_seconds(pid) - used
    assert woke < most_wakeups, f"woke {woke} times in {seconds} s"
    assert used < seconds / 2, f"{used:.2f} s of CPU in {seconds} s: it spins"  # a spin is ~all


def wakeups(pid: int) -> int:
    """Return how many times the process's main thread was switched out, so far."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    counts = dict(line.split(":\t") for line in status if "ctxt_switches" in line)
    return int(counts["voluntary_ctxt_switches"]) + int(counts["nonvoluntary_ctxt_switches"])


def test_one_idle_file_source_sleeps_until_a_record_comes(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_text("")
    process = watchd("run", "--source", f"audit:{trail}", "--json", "-v")
    process.wait_log("following file", path=str(trail))
    time.sleep(0.2)  # let start-up work settle
    asleep(process.pid, 4.0, most_wakeups=8)  # polling every 250 ms would be 16
    append(trail, b'{"action":"x","container":"c"}\n')
    assert json.loads(process.read_line(timeout=10))["action"] == "x"


def test_ten_thousand_idle_files_wake_it_only_for_the_backstop_rescan(watchd, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for n in range(10_000):
        (logs / f"audit-{n:05}.jsonl").write_bytes(b'{"action":"x","container":"c"}\n')
    # The backstop rescan every 3 s instead of 10 (the rule is the same): two
    # rescans in 6.5 s; a 250 ms poll would wake it 26 times.
    process = watchd("run", "--source", f"audit:{logs}/*.jsonl,rescan=3s", "--json", "-v")
    process.wait_log("ready", timeout=60)
    time.sleep(0.5)
    asleep(process.pid, 6.5, most_wakeups=16)
    open_files = len(list(Path(f"/proc/{process.pid}/fd").iterdir()))
    assert open_files >= 10_000  # every file is followed
    append(logs / "audit-09999.jsonl", b'{"action":"last","container":"c"}\n')
    assert json.loads(process.read_line(timeout=10))["action"] == "last"
