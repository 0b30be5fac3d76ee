"""R-HTTP: 100 live clients and 20 queries a second while watchd follows 20,000 records/s for 30 s.

Run through the load harness (``bench/http_load.py``), which reports what each
client received. The rule: every record reaches the sink; every live client
received every event or was told it was dropped, and each drop is counted in
``/metrics``; no client silently missed events; every query was answered.
The harness also reports how far behind the writer the loop ended, which
``bench/RESULTS.md`` gives; no time is asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import TESTS, clean_env

HARNESS = TESTS.parent / "bench" / "http_load.py"


def test_live_clients_get_every_event_or_are_dropped_and_counted() -> None:
    done = subprocess.run(
        [sys.executable, str(HARNESS), "--served-only", "--seconds", "30", "--clients", "100"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(result)
    assert result["server"] is True
    assert result["delivered"] == result["written"] >= 500_000
    assert result["clients_neither"] == 0
    assert result["clients_every_event"] + result["clients_dropped"] == 100
    assert result["dropped_in_metrics"] == result["clients_dropped"]
    answered, asked = (int(n) for n in result["queries"].split()[::2])
    assert answered == asked > 0
