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


def test_r40_a_peer_that_never_reads_then_dies_costs_at_most_its_receive_buffer(watchd, tmp_path):
    """Plain TCP: what the dead peer's kernel acknowledged is lost, nothing of the send buffer.

    Before, every byte the local kernel took counted as delivered: the send
    buffer's worth (about 3 MB, 15,152 of 15,153 records) was lost with the peer.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited when accepted
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    trail, state = tmp_path / "audit.jsonl", tmp_path / "state"
    trail.touch()
    process = follow(watchd, trail, "--sink", f"tcp://127.0.0.1:{port}", state=state)
    dead, _ = listener.accept()
    window = dead.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    count, record = 15_000, len(seq_line(0, pad=100))
    append(trail, b"".join(seq_line(n, pad=100) for n in range(count)))
    time.sleep(2)  # paces the peer: watchd fills what the kernels take, the peer reads nothing
    dead.close()  # it dies with unread bytes: the kernel resets the connection
    listener.close()
    second = socket.create_server(("127.0.0.1", port))
    received = bytearray()
    conn, _ = second.accept()
    conn.settimeout(10)
    with conn:
        while received.count(b"\n") < count:
            try:
                chunk = conn.recv(1 << 20)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
    second.close()
    missing, invented = gaps(seqs_of(bytes(received).splitlines()), range(count))
    assert invented == []
    # At most what fit in the dead peer's receive buffer (and its accept queue's first bytes).
    assert len(missing) * record <= 2 * window, (len(missing), window)
    assert process.stop() == 0
