"""The benchmark harness runs: its quick mode measures every contender that is installed.

CI checks that the harness works, never its numbers (the machine is shared).
"""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import TESTS, clean_env

HARNESS = TESTS.parent / "bench" / "run.py"
CONTENDERS = (
    "watchd, file to stdout JSON",
    "watchd, mixed producers (terok, lokt, loki, ito) to stdout JSON",
    "watchd, file to a file",
    "watchd, file to stdout CEF",
    "watchd, file to stdout ECS",
    "watchd, file to rsyslog over TCP (RFC 5424)",
    "tail -n +1 -F (the I/O floor)",
    "bare orjson loads+dumps loop",
    "bare msgspec chunk loop (decode_lines + encode_lines)",
    "rsyslog imfile to omfile",
    "syslog-ng file to file",
)
#: The contenders that need rsyslog or syslog-ng (.ci/collectors).
NEED_A_COLLECTOR = {
    "watchd, file to rsyslog over TCP (RFC 5424)",
    "rsyslog imfile to omfile",
    "syslog-ng file to file",
}


def test_quick_mode_measures_every_contender() -> None:
    done = subprocess.run(
        [sys.executable, str(HARNESS), "--quick"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    throughput = done.stdout.split("## Throughput")[1].split("\n## ")[0]
    rows = {
        line.split(" | ")[0].lstrip("| "): line
        for line in throughput.splitlines()
        if line.startswith("| ") and not line.startswith("| contender")
    }
    assert set(rows) == set(CONTENDERS)
    collectors = os.environ.get("CI") == "true"  # CI unpacks them; elsewhere they may be absent
    for name, row in rows.items():
        peer_missing = "not measured: not installed" in row and not collectors
        assert "not measured" not in row or (peer_missing and name in NEED_A_COLLECTOR), row
    assert "- watchd (inotify): p50 " in done.stdout
    assert "| 1,000 | " in done.stdout  # idle files
    assert "| file to stdout JSON: at least 400,000 events/s | " in done.stdout  # the targets
    for merging in ("merged (reorder window 250 ms)", "merging off"):
        assert f"a new file in a watched glob, until its record is out, {merging}: p50 " in (
            done.stdout
        )
