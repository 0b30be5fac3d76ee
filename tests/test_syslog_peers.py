"""Hostile peers of the syslog TCP listener: idle and trickling connections, floods, huge counts."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from collectors import free_ports

MESSAGE = b"<134>1 2026-02-15T14:30:00Z h app - - - hello"


def listen(watchd: Any, *options: str) -> tuple[Any, int]:
    port = free_ports(1)[0]
    spec = ",".join([f"syslog:tcp://127.0.0.1:{port}", *options])
    proc = watchd("run", "--source", spec, "--json", "-v")
    proc.wait_log("ready")
    return proc, port


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    sock.settimeout(10)
    return sock


def closed_by_watchd(sock: socket.socket, within: float) -> bool:
    """Return True when watchd closes *sock* within *within* seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def octet(message: bytes) -> bytes:
    return b"%d %b" % (len(message), message)


@pytest.fixture
def sockets() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def test_idle_connections_holding_every_slot_do_not_lock_out_a_sender(
    watchd: Any, sockets: ExitStack
) -> None:
    proc, port = listen(watchd, "connections=20", "idle_timeout=30", "per_peer=100")
    idle = [sockets.enter_context(connect(port)) for _ in range(30)]  # 10 more than slots
    time.sleep(0.5)
    sender = sockets.enter_context(connect(port))
    sender.sendall(octet(MESSAGE))
    assert proc.read_json(1)[0]["detail"] == "hello"
    # Each newcomer past the 20th closed the connection longest without a message.
    assert sum(closed_by_watchd(sock, 0.2) for sock in idle) == 11
    room = proc.wait_log("skipped connection closed to make room: every slot was taken")
    assert room["path"] == "127.0.0.1"  # by address: one line for a flood


def test_a_connection_without_a_complete_message_is_closed_after_idle_timeout(
    watchd: Any, sockets: ExitStack
) -> None:
    proc, port = listen(watchd, "idle_timeout=1500ms")
    silent = sockets.enter_context(connect(port))
    trickle = sockets.enter_context(connect(port))
    talker = sockets.enter_context(connect(port))
    started = time.monotonic()
    for _ in range(3):  # one byte each quarter second: never a whole frame
        trickle.sendall(b"<")
        talker.sendall(octet(MESSAGE))
        time.sleep(0.25)
    assert len(proc.read_json(3)) == 3
    assert closed_by_watchd(silent, 10)
    assert closed_by_watchd(trickle, 10)
    assert time.monotonic() - started >= 1.5
    talker.sendall(octet(MESSAGE))  # a connection completing messages stays
    assert proc.read_json(1)[0]["detail"] == "hello"
    proc.wait_log("skipped connection closed: no complete message for idle_timeout")
    proc.wait_log(
        "skipped connection closed: no complete message for idle_timeout, a partial one dropped"
    )


def test_one_address_holds_at_most_per_peer_connections(watchd: Any, sockets: ExitStack) -> None:
    proc, port = listen(watchd, "per_peer=5")
    first = [sockets.enter_context(connect(port)) for _ in range(5)]
    extra = sockets.enter_context(connect(port))
    assert closed_by_watchd(extra, 5)
    proc.wait_log("connections refused: too many from one address", peer="127.0.0.1")
    other = sockets.enter_context(connect(port, source="127.0.0.2"))  # another address
    other.sendall(octet(MESSAGE))
    assert proc.read_json(1)[0]["origin"] == "h"
    assert not any(closed_by_watchd(sock, 0.1) for sock in first)


def test_an_octet_count_over_the_limit_closes_the_connection_at_once(
    watchd: Any, sockets: ExitStack
) -> None:
    proc, port = listen(watchd, "limit=4096")
    huge = sockets.enter_context(connect(port))
    huge.sendall(b"999999999 " + b"x" * 1000)
    assert closed_by_watchd(huge, 5)
    proc.wait_log(
        "skipped malformed framing (octet count 999999999 is over limit=4096), connection closed"
    )
    after = sockets.enter_context(connect(port))
    after.sendall(octet(MESSAGE))
    assert proc.read_json(1)[0]["detail"] == "hello"
