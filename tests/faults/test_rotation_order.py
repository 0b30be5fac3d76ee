"""R27: after a ``create`` rotation, what the writer still puts into the renamed file
comes before the new file's records, and names the file it was read from."""

from __future__ import annotations

import json
import os

from conftest import append
from trails import finish, follow, record, wait_for, write


def test_r27_the_renamed_file_is_drained_first_under_its_new_name(watchd, tmp_path):
    trail, rotated = tmp_path / "audit.jsonl", tmp_path / "audit.jsonl.1"
    trail.touch()
    # A long poll interval: a write to the renamed file must wake watchd by itself.
    process = follow(watchd, trail, "--poll-interval", "2000", source_options=",rotate_wait=5000")
    writer = write(
        f"open:{trail}",
        "write:0:50",
        f"signal:{tmp_path}/m1",
        f"await:{tmp_path}/m2",
        "write:50:60",
        f"signal:{tmp_path}/m3",
    )
    wait_for(tmp_path / "m1")
    first = [json.loads(process.read_line()) for _ in range(50)]
    os.rename(trail, rotated)
    trail.touch()
    process.wait_log("file rotated out of scope, draining it")
    (tmp_path / "m2").touch()
    wait_for(tmp_path / "m3")
    append(trail, b"".join(record(n) for n in range(1000, 1010)))
    finish(writer)
    rest = [json.loads(process.read_line()) for _ in range(20)]
    assert process.quiet_for(0.5)
    assert [(e["extra"]["seq"], e["origin"]) for e in first] == [(n, str(trail)) for n in range(50)]
    assert [(e["extra"]["seq"], e["origin"]) for e in rest] == [
        *((n, str(rotated)) for n in range(50, 60)),
        *((n, str(trail)) for n in range(1000, 1010)),
    ]
