"""R28: a burst of large UDP syslog datagrams.

The receive buffer is sized for bursts, and what the kernel still drops is
counted (SO_RXQ_OVFL) and reported: delivered plus reported is what was sent.
"""

from __future__ import annotations

import socket
import time

from ledger import needs_root

from collectors import free_ports

BURST = 600
SIZE = 5400


def burst(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for n in range(BURST):
            body = f"<134>1 2026-01-01T00:00:00Z host app - m{n} - ".encode()
            sender.sendto(body + b"x" * (SIZE - len(body)), ("127.0.0.1", port))


def listen(watchd, port: int, *options: str):
    source = f"syslog:udp://127.0.0.1:{port}{''.join(options)}"
    process = watchd("run", "--source", source, "--json", "-v")
    process.wait_log("listening")
    return process


def received(process) -> int:
    count = 0
    while not process.quiet_for(1.0):
        process.read_line()
        count += 1
    return count


def test_r28_a_burst_fits_the_receive_buffer(watchd):
    needs_root("a receive buffer past net.core.rmem_max (SO_RCVBUFFORCE)")
    (port,) = free_ports(1)
    process = listen(watchd, port)
    burst(port)
    assert received(process) == BURST
    assert process.stop() == 0
    assert "dropped by the kernel" not in process.stderr


def test_r28_what_the_kernel_drops_is_counted_and_reported(watchd):
    (port,) = free_ports(1)
    process = listen(watchd, port, ",rcvbuf=4096")
    burst(port)
    got = received(process)
    time.sleep(0.2)
    # The count arrives with the next datagram the socket takes.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"<134>1 2026-01-01T00:00:00Z host app - last - x", ("127.0.0.1", port))
    got += received(process)
    assert process.stop() == 0
    dropped = [
        r for r in process.logs() if r["event"].startswith("datagrams dropped by the kernel:")
    ]
    assert got < BURST + 1  # the small buffer did drop some
    assert got + sum(r["dropped"] for r in dropped) == BURST + 1
    (total,) = [r["total"] for r in process.logs() if r["event"].endswith("while listening")]
    assert total == BURST + 1 - got
