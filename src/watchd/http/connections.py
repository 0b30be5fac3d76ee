"""Who holds the HTTP server's connections, and taking them back from those who only wait.

A connection that is not in a request (its head not yet whole, a TLS
handshake not yet done, or kept alive between requests) is *waiting*, and
waiting is bounded three ways, as the syslog listener bounds its connections:

- a deadline: a connection waiting longer than :data:`HEAD_DEADLINE` is closed
  (one header line every few seconds, or a TLS client that never sends its
  hello, held a thread and a slot for as long as it liked: slowloris);
- when every slot is taken, the connection waiting longest makes room for the
  new one, so that waiters can never lock a request out;
- one address holds at most :data:`PER_ADDRESS` connections: past that, its own
  longest waiter makes room, or the new one is refused.

A connection in a request, or a live stream, is never taken back here: those
have their own bounds (a request's work, a stream's buffer).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from watchd.http.priority import yield_to_the_loop

log = structlog.get_logger("watchd")

#: Seconds a connection may wait for its request head (or between kept-alive requests).
HEAD_DEADLINE = 20.0
#: Connections one address may hold.
PER_ADDRESS = 128


@dataclass
class _Held:
    sock: socket.socket  # or anything with the socket's identity, in tests
    host: str
    waiting_since: float | None  # None while in a request or streaming


class Connections:
    """The server's connections, each waiting or busy, and the thread that reaps waiters."""

    def __init__(
        self,
        *,
        deadline: float = HEAD_DEADLINE,
        per_address: int = PER_ADDRESS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deadline = deadline
        self._per_address = per_address
        self._clock = clock
        self._lock = threading.Lock()
        self._held: dict[int, _Held] = {}
        self._by_host: Counter[str] = Counter()
        self._stop = threading.Event()
        self._changed = threading.Event()  # a connection began to wait, or the server stops
        self._reaper = threading.Thread(target=self._reap, name="watchd-http-reaper", daemon=True)
        #: Connections closed for waiting too long, or to make room (for /metrics and tests).
        self.reaped = 0

    def start(self) -> None:
        """Start reaping connections past the deadline."""
        self._reaper.start()

    def close(self) -> None:
        """Stop reaping."""
        self._stop.set()
        self._changed.set()
        if self._reaper.is_alive():
            self._reaper.join()

    def admit(self, sock: socket.socket, host: str, *, full: bool) -> bool:
        """Take *sock* in (waiting); make room first when the server is *full*.

        Return False when there is no room for it: its address holds its share
        and none of its connections waits, or the server is full of requests.
        """
        with self._lock:
            if self._by_host[host] >= self._per_address:
                victim = self._longest_waiting(host)
                if victim is None:
                    return False
                self._take_back(victim, "too many connections from one address")
            elif full:
                victim = self._longest_waiting(None)
                if victim is None:
                    return False
                self._take_back(victim, "every connection taken")
            self._held[id(sock)] = _Held(sock, host, self._clock())
            self._by_host[host] += 1
        self._changed.set()
        return True

    def busy(self, sock: socket.socket) -> None:
        """Note that *sock* is in a request (its head came whole) or streams."""
        with self._lock:
            held = self._held.get(id(sock))
            if held is not None:
                held.waiting_since = None

    def waiting(self, sock: socket.socket) -> None:
        """Note that *sock* waits for a request head (new, or kept alive)."""
        with self._lock:
            held = self._held.get(id(sock))
            if held is not None:
                held.waiting_since = self._clock()
        self._changed.set()

    def gone(self, sock: socket.socket) -> None:
        """Forget *sock*: its connection ended."""
        with self._lock:
            held = self._held.pop(id(sock), None)
            if held is not None:
                self._by_host[held.host] -= 1
                if not self._by_host[held.host]:
                    del self._by_host[held.host]

    def _longest_waiting(self, host: str | None) -> _Held | None:
        waiting = [
            h
            for h in self._held.values()
            if h.waiting_since is not None and (host is None or h.host == host)
        ]
        return min(waiting, key=lambda h: h.waiting_since or 0.0, default=None)

    def _take_back(self, held: _Held, why: str) -> None:
        """End a waiting connection: its thread's read returns, and it gives its slot back."""
        held.waiting_since = None  # taken back once
        self.reaped += 1
        log.debug("HTTP connection closed", reason=why, peer=held.host)
        # The plain socket's shutdown, also under TLS: no alert to send to a waiter.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(held.sock, socket.SHUT_RDWR)

    def _reap(self) -> None:
        yield_to_the_loop()
        while not self._stop.is_set():
            # Asleep until the oldest waiter's deadline, or until one starts to wait:
            # an idle server wakes nobody.
            self._changed.wait(self._reap_once())
            self._changed.clear()

    def _reap_once(self) -> float | None:
        """Take back every connection past the deadline; return the seconds to the next one."""
        now = self._clock()
        cutoff = now - self._deadline
        with self._lock:
            for held in list(self._held.values()):
                if held.waiting_since is not None and held.waiting_since <= cutoff:
                    self._take_back(held, "no whole request in time")
            waiting = [h.waiting_since for h in self._held.values() if h.waiting_since is not None]
        return min(waiting) + self._deadline - now if waiting else None


__all__ = ["HEAD_DEADLINE", "PER_ADDRESS", "Connections"]
