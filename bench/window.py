"""How long ``watchd query --since`` takes for the last minute of a large trail.

Writes 1,000,000 records (two days of them, the last 160 in the last minute)
and times ``query --since 1m`` and ``query --until 47h``: a window is found by
bisection, so both should cost about what a small trail does.

    python bench/window.py [--records N] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def write_trail(path: Path, records: int) -> None:
    """Write *records* over two days, the last 160 in the last minute."""
    now = datetime.now(UTC)
    start = now - timedelta(days=2)
    step = (timedelta(days=2) - timedelta(seconds=60)) / (records - 160)
    with path.open("w") as out:
        for n in range(records - 160):
            when = (start + step * n).isoformat()
            out.write(f'{{"ts":"{when}","action":"allowed","container":"c{n % 7}"}}\n')
        for n in range(160):
            when = (now - timedelta(seconds=59 - n * 0.3)).isoformat()
            out.write(f'{{"ts":"{when}","action":"blocked","container":"c"}}\n')


def timed(*args: str) -> tuple[float, int]:
    """Return the seconds ``watchd ARGS`` took and how many lines it printed."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "watchd", *args], capture_output=True, check=True)
    return time.perf_counter() - started, done.stdout.count(b"\n")


def main() -> None:
    """Write the trail, time each window, print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        trail = Path(folder) / "audit.jsonl"
        write_trail(trail, ns.records)
        for window in (("--since", "1m"), ("--until", "47h")):
            runs = [timed("query", "--source", f"audit:{trail}", "--json", *window)
                    for _ in range(ns.runs)]  # fmt: skip
            seconds = statistics.median(s for s, _ in runs)
            print(f"query {' '.join(window)}: {seconds:.2f} s, {runs[-1][1]:,} events")


if __name__ == "__main__":
    main()
