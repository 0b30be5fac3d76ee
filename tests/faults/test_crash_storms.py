"""R18 and R10: kill -9 while behind, rotations while stopped, and more kill -9 after them.

Every record of every file, rotated or live, is delivered at least once,
however many restarts come between; duplicates only after the last checkpoint;
first deliveries in file order, the rotated files before the ones that took
their names (R39).
"""

from __future__ import annotations

import os
import random
import time

from ledger import Follower, gaps, out_of_order, seq_lines

PER_FILE = 20_000


def rotate(trail, generation: int) -> None:
    """Rename rotation, ``rotate 3`` style: .2 -> .3, .1 -> .2, the trail -> .1, a new trail."""
    for n in (2, 1):
        older = trail.with_name(f"{trail.name}.{n}")
        if older.exists():
            os.rename(older, trail.with_name(f"{trail.name}.{n + 1}"))
    os.rename(trail, trail.with_name(f"{trail.name}.1"))
    trail.write_bytes(seq_lines(generation * PER_FILE, (generation + 1) * PER_FILE))


def test_r18_kill_while_behind_rotations_while_stopped_then_more_kills(tmp_path):
    trail, state = tmp_path / "a.jsonl", tmp_path / "state"
    trail.write_bytes(seq_lines(0, PER_FILE))
    args = ["run", "--source", f"audit:{trail},from=beginning", "--json", "--state-dir", str(state)]
    args += ["--checkpoint-interval", "200"]
    delivered: list[int] = []
    # Behind: the reader takes about 2,000 records a second.
    first = Follower(args, bytes_per_second=150_000)
    first.wait_for(3000)
    delivered += first.kill()
    for generation in (1, 2, 3):
        rotate(trail, generation)
    rng = random.Random(18)
    for _ in range(3):
        storm = Follower(args, bytes_per_second=1_500_000)
        time.sleep(rng.uniform(1.0, 3.0))
        delivered += storm.kill()
    final = Follower(args)
    final.settle()
    status, last = final.stop()
    delivered += last
    assert status == 0, final.stderr[-2000:]
    assert gaps(delivered, range(4 * PER_FILE)) == ([], [])
    assert out_of_order(delivered) == []
