"""R26: large records to a TCP peer that accepts and never reads.

Memory stays bounded (queues are bounded by bytes as well as events), and when
the peer reads again every record is delivered.
"""

from __future__ import annotations

import socket
import threading
import time

from ledger import gaps, seq_line, seqs_of

from conftest import append
from trails import follow

RECORD_BYTES = 100_000


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class StalledPeer:
    """Accepts one connection and reads nothing until told to."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.reading = threading.Event()
        self.data = bytearray()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            self.reading.wait()
            while chunk := conn.recv(1 << 20):
                self.data += chunk

    def close(self) -> None:
        self.listener.close()
        self._thread.join(timeout=10)

    def lines(self) -> list[bytes]:
        return bytes(self.data[: self.data.rfind(b"\n") + 1]).splitlines()


def test_r26_memory_stays_bounded_while_the_peer_reads_nothing(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    peer = StalledPeer()
    process = follow(watchd, trail, "--sink", f"tcp://127.0.0.1:{peer.port}")
    start_rss = rss_mb(process.pid)
    peak, count = start_rss, 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # 200 records of 100 KB a second
        append(trail, b"".join(seq_line(count + n, pad=RECORD_BYTES) for n in range(20)))
        count += 20
        time.sleep(0.1)
        peak = max(peak, rss_mb(process.pid))
    # 200 MB were written; the queue holds at most 16 MiB of them.
    assert peak - start_rss < 80, f"RSS grew from {start_rss:.0f} MB to {peak:.0f} MB"
    peer.reading.set()
    deadline = time.monotonic() + 60
    while len(peer.lines()) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gaps(seqs_of(peer.lines()), range(count)) == ([], [])
    assert process.stop() == 0
    peer.close()
