"""R29: HEC with ``ack=yes``: a stop while a batch waits for its acknowledgement, and
acknowledgement answers of the wrong shape, against the project's HEC test server."""

from __future__ import annotations

import json
import time

from ledger import seq_lines

from conftest import wait_checkpointed
from hec_server import HecServer

TOKEN = "t0k-of-the-test"  # noqa: S105 - a test token


def follow(watchd, trail, url, state, *options):
    process = watchd(
        "run",
        "--source",
        f"audit:{trail},from=beginning",
        "--sink",
        f"hec:{url},token={TOKEN},ack=yes,flush_ms=50{''.join(options)}",
        "--state-dir",
        str(state),
        "-v",
    )
    process.wait_log("ready")
    return process


def test_a_stop_while_waiting_for_an_ack_sends_the_batch_no_more(watchd, tmp_path):
    trail, state = tmp_path / "audit.jsonl", tmp_path / "state"
    trail.write_bytes(seq_lines(0, 5))
    never = HecServer(ack=True, acks_after=10**9)
    try:
        process = follow(watchd, trail, never.url, state)
        never.wait_for_requests(1)
        time.sleep(0.5)  # polling for the ack
        assert process.stop() == 1  # never indexed: not delivered, and it says so
        time.sleep(0.5)
        assert len(never.requests) == 1  # was: re-POSTed in a tight loop until the join gave up
        assert "Traceback" not in process.stderr
    finally:
        never.close()


def test_an_ack_answer_of_the_wrong_shape_is_survived_and_the_batch_sent_again(watchd, tmp_path):
    trail, state = tmp_path / "audit.jsonl", tmp_path / "state"
    trail.write_bytes(seq_lines(0, 5))
    odd = HecServer(ack=True, acks_after=0, acks_as_list=True)
    try:
        process = follow(watchd, trail, odd.url, state, ",ack_timeout=300ms")
        process.wait_log("HEC answered an ack poll in an unexpected shape")
        odd.wait_for_requests(2, timeout=10)  # not acknowledged in time: sent again
        odd.acks_as_list = False  # HEC makes sense again: the worker is still there
        size = trail.stat().st_size  # the next send is acknowledged, and checkpointed
        wait_checkpointed(state, lambda files: [f["offset"] for f in files] == [size])
        assert process.stop() == 0
        sent = [o["event"]["extra"]["seq"] for r in odd.requests for o in r.objects()]
        assert sorted(set(sent)) == list(range(5))
        assert "AttributeError" not in process.stderr
        # Acknowledged means checkpointed: a restart sends nothing.
        again = follow(watchd, trail, odd.url, state)
        before = len(odd.requests)
        assert again.quiet_for(1.5)
        assert len(odd.requests) == before
        assert again.stop() == 0
    finally:
        odd.close()
    assert not [json.loads(x) for x in process.stderr.splitlines() if '"exception"' in x]


def test_the_wake_pipe_outlives_a_worker_still_inside_a_request():
    import os  # noqa: PLC0415

    from watchd.plugins.sinks.hec.sink import WakePipe  # noqa: PLC0415

    pipe = WakePipe()
    write_end = pipe._write
    pipe.close(worker_alive=True)  # the loop gave up waiting for the worker
    os.fstat(write_end)  # still the worker's: its number cannot be reused yet
    assert pipe.poke() is False  # the worker learns the loop is gone, and writes nothing
    pipe.worker_exited()
    try:
        os.fstat(write_end)
    except OSError:
        pass
    else:
        raise AssertionError("the worker's end was left open")
