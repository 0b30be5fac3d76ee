"""Sink outages (R12, R13, and R7 with the sink down): reading pauses, nothing is lost."""

from __future__ import annotations

import signal
import socket
import time
from collections import Counter

from conftest import append, line
from test_idle import asleep
from trails import follow, records


def in_order_at_least_once(seqs: list[int], expected: range) -> None:
    assert set(seqs) == set(expected)
    firsts = list(dict.fromkeys(seqs))
    assert firsts == list(expected)  # order kept; a re-sent frame may repeat once


def test_r12_outage_then_recovery_delivers_everything(watchd, tmp_path, collector):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    sink = f"tcp://127.0.0.1:{collector.port},backoff_max=1,queue=100"
    process = follow(watchd, trail, "--sink", sink, state=tmp_path / "state")
    append(trail, records(0, 100))
    assert collector.wait_for(100) == list(range(100))
    collector.stop()
    process.wait_log("connection lost, retrying with backoff")
    append(trail, records(100, 2100))  # far more than the queue holds
    asleep(process.pid, 2.0, most_wakeups=50)  # paused, backing off (1 s), not spinning
    collector.start()
    in_order_at_least_once(collector.wait_for(2100), range(2100))
    process.wait_log("connection restored")
    counts = Counter(collector.seqs())
    assert sum(c - 1 for c in counts.values()) <= 1  # at most the frame in flight again


def test_r13_restart_during_an_outage_reads_the_undelivered_again(watchd, tmp_path, collector):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    state = tmp_path / "state"
    sink = f"tcp://127.0.0.1:{collector.port},backoff_max=1"
    process = follow(watchd, trail, "--sink", sink, state=state)
    append(trail, records(0, 50))
    collector.wait_for(50)
    collector.stop()
    process.wait_log("connection lost, retrying with backoff")
    append(trail, records(50, 150))
    time.sleep(0.5)
    assert process.stop() == 1  # events read and not delivered: a failure, however it stopped
    assert any(
        r.get("event", "").startswith("events not delivered at exit") for r in process.logs()
    ), process.stderr
    again = follow(watchd, trail, "--sink", sink, state=state)
    collector.start()
    in_order_at_least_once(collector.wait_for(150), range(150))
    assert again.proc.poll() is None


def test_r7_file_deleted_while_the_sink_is_down_is_still_delivered(watchd, tmp_path, collector):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    sink = f"tcp://127.0.0.1:{collector.port},backoff_max=1,queue=10"
    process = follow(watchd, trail, "--sink", sink, source_options=",rotate_wait=200ms")
    collector.stop()
    time.sleep(0.2)
    append(trail, records(0, 500))
    trail.unlink()
    time.sleep(0.3)  # past rotate_wait: a deleted file is held while its events wait
    collector.start()
    in_order_at_least_once(collector.wait_for(500), range(500))
    process.wait_log("file let go", path=str(trail))


def test_stopping_with_a_sink_down_says_at_once_that_it_drains_and_a_second_signal_cuts_it(
    watchd, tmp_path, collector
):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    sink = f"tcp://127.0.0.1:{collector.port},backoff_max=1"
    for signals, status in ((1, 1), (2, 130)):
        process = follow(watchd, trail, "--sink", sink)
        collector.stop()
        append(trail, records(0, 20))
        process.wait_log("connection lost, retrying with backoff")
        process.proc.send_signal(signal.SIGINT)
        said = process.wait_log(
            "stopping: delivering what the sinks hold (Ctrl-C again to stop at once)"
        )
        assert (said["events"], said["at_most_seconds"]) == (20, 2.0)
        if signals == 2:
            process.proc.send_signal(signal.SIGINT)
        assert process.proc.wait(timeout=30) == status
        assert process.stop() == status  # stderr read to its end
        events = [record["event"] for record in process.logs()]
        assert ("drain cut short by a second signal" in events) == (signals == 2)
        assert any(e.startswith("events not delivered at exit") for e in events), events
        assert "Traceback" not in process.stderr
        collector.start()


def test_a_udp_peer_that_refuses_is_said_once_and_its_return_once(watchd, tmp_path):
    """A UDP connect() proves nothing: it said "restored" and "lost" ~13 times a second."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody there: every datagram is answered "port unreachable"
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(b"")
    process = watchd(
        "run", "--source", f"audit:{trail}", "--sink", f"syslog:udp://127.0.0.1:{port}",
        "-v", "--json",
    )  # fmt: skip
    process.wait_log("following file", path=str(trail))
    for n in range(40):
        append(trail, line(n))
        time.sleep(0.05)  # paces the writer: two seconds of traffic to a refusing port
    process.wait_log("connection lost, retrying with backoff")
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", port))
    peer.settimeout(15)
    try:
        append(trail, line(100))
        got = peer.recv(65536)
        assert b"n=" in got
        for n in range(101, 130):  # the outage ends once datagrams flow for a while
            append(trail, line(n))
            time.sleep(0.05)
        process.wait_log("connection restored")
    finally:
        peer.close()
    said = [r["event"] for r in process.logs() if r.get("level") in ("warning", "info")]
    assert said.count("connection lost, retrying with backoff") == 1, said
    assert said.count("connection restored") == 1, said
