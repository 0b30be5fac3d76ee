"""R21: one event a format or a sink refuses never stops the sink, nor a restart.

A record nested 300 levels deep is past what the cef, ecs and HEC encoders
take; one nested 1,000 levels is past the json and syslog ones. Each goes to
the sink's dead letters (``dead_letter=FILE``), or is counted and reported with
its file and offset, and everything after it flows; with ``--state-dir`` the
checkpoint moves past it, so a restart does not die on it again.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from ledger import seq_line, seqs_of

from conftest import append
from hec_server import HecServer

#: The record's seq in any format's frame (ECS quotes the record inside a JSON string).
SEQ = re.compile(rb'seq\\?"\s*:\s*(\d+)')


def nested(depth: int) -> bytes:
    """Return a JSON object *depth* levels deep (built as text: json.dumps cannot go so deep)."""
    return b'{"a":' * depth + b"1" + b"}" * depth


def deep_trail(path, depth: int) -> tuple[bytes, int]:
    """Write seq 1, a record *depth* levels deep (seq 2), seq 3; return the trail, offset."""
    first = seq_line(1)
    deep = b'{"action":"deep","seq":2,"d":' + nested(depth) + b"}\n"
    path.write_bytes(first + deep + seq_line(3))
    return path.read_bytes(), len(first)


def refusal(process, timeout: float = 10.0) -> dict:
    """Return watchd's report of the refused event (its reason names the error's type)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in process.logs():
            if record["event"].startswith("event not sent: the format failed on it ("):
                return record
        time.sleep(0.02)
    raise AssertionError(f"no refusal reported; stderr:\n{process.stderr}")


def start(watchd, trail, sink, state):
    process = watchd(
        "run",
        "--source",
        f"audit:{trail},from=beginning",
        "--sink",
        sink,
        "--state-dir",
        str(state),
        "-v",
    )
    process.wait_log("ready")
    return process


@pytest.mark.parametrize(("fmt", "depth"), [("cef", 300), ("ecs", 300), ("json", 1000)])
def test_stdout_sets_the_event_aside_and_goes_on_also_after_a_restart(watchd, tmp_path, fmt, depth):
    trail, dead, state = tmp_path / "audit.jsonl", tmp_path / "dead.jsonl", tmp_path / "state"
    _, offset = deep_trail(trail, depth)
    process = start(watchd, trail, f"stdout,format={fmt},dead_letter={dead}", state)
    printed = [process.read_line(), process.read_line()]
    assert process.quiet_for(0.5)
    assert [int(SEQ.search(line).group(1)) for line in printed] == [1, 3]
    told = refusal(process)
    assert (told["path"], told["offset"], told["sink"]) == (str(trail), offset, "stdout")
    letter = json.loads(dead.read_bytes())
    assert (letter["sink"], letter["origin"], letter["offset"]) == ("stdout", str(trail), offset)
    assert ("event" in letter) == (fmt != "json")  # what even json cannot write is not copied
    assert process.stop() == 0
    # The checkpoint went past the refused record: a restart prints only what is new.
    append(trail, seq_line(4))
    again = start(watchd, trail, f"stdout,format=json,dead_letter={dead}", state)
    assert seqs_of([again.read_line()]) == [4]
    assert again.quiet_for(0.7)
    assert again.stop() == 0


def test_tcp_sink_sets_the_event_aside_and_goes_on(watchd, tmp_path, collector):
    trail, state = tmp_path / "audit.jsonl", tmp_path / "state"
    _, offset = deep_trail(trail, 300)
    process = start(watchd, trail, f"tcp://127.0.0.1:{collector.port},format=ecs", state)
    deadline = time.monotonic() + 10
    while len(collector.lines) < 2:
        assert time.monotonic() < deadline, process.stderr
        time.sleep(0.02)
    assert [json.loads(json.loads(doc)["event"]["original"])["seq"] for doc in collector.lines] == [
        1,
        3,
    ]
    told = refusal(process)
    assert told["offset"] == offset
    assert process.stop() == 0


def test_hec_sink_sets_the_event_aside_and_goes_on(watchd, tmp_path):
    trail, dead, state = tmp_path / "audit.jsonl", tmp_path / "dead.jsonl", tmp_path / "state"
    _, offset = deep_trail(trail, 300)
    server = HecServer()
    try:
        process = start(
            watchd, trail, f"hec:{server.url},token=t0k,flush_ms=50,dead_letter={dead}", state
        )
        (request,) = server.wait_for_requests(1)
        assert [o["event"]["extra"]["seq"] for o in request.objects()] == [1, 3]
        assert json.loads(dead.read_bytes())["offset"] == offset
        assert process.stop() == 0
    finally:
        server.close()


def test_a_dead_letter_file_that_cannot_be_opened_is_a_usage_error(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    process = watchd(
        "run", "--source", f"audit:{trail}", "--sink", f"stdout,dead_letter={tmp_path}/no/dead"
    )
    assert process.proc.wait(timeout=10) == 2
    assert "dead_letter=" in process.stderr
    assert "No such file or directory" in process.stderr
