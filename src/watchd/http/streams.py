"""The live stream's writer: one thread sends every client what is new for it.

A thread per client cost the loop its share of the CPU: a hundred of them,
each waking ten times a second, were a hundred runnable threads taking the
GIL in turn with the loop's. Here one thread, at the server's low priority,
writes every stream through non-blocking sockets on one selector; the
kernel copies with the GIL released. A client that does not read keeps its
unsent bytes here and holds up nobody, and it is dropped once what it needs
next is no longer held.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence

import structlog

from watchd.core.interfaces import EventFilter
from watchd.http.live import Dropped, LiveFeed, frames
from watchd.http.priority import yield_to_the_loop

log = structlog.get_logger("watchd")

#: After a write, a stream is sent more no sooner than this: what comes meanwhile goes in
#: one write (at 20 ms, bench/http_load.py saw the streams take the CPU the loop needed).
COALESCE = 0.1
#: A stream's keep-alive comment, this often while nothing matches: it finds a client gone.
KEEPALIVE = 15.0
#: How long the writer sleeps with every stream caught up (a new event wakes it at once).
_IDLE = 1.0
#: At most this much is handed to one socket at a time, so that no stream waits for another.
_CHUNK = 1 << 18
_DROPPED = b'event: dropped\ndata: {"reason":"fell behind"}\n\n'
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class Stream:
    """One client of the live stream: its socket, where it is, and what it was not sent yet."""

    __slots__ = ("busy", "filters", "pending", "sent_at", "seq", "sock", "with_record")

    def __init__(
        self,
        sock: socket.socket,
        seq: int,
        filters: Sequence[EventFilter],
        *,
        with_record: bool,
    ) -> None:
        self.sock = sock
        self.seq = seq
        self.filters = filters
        self.with_record = with_record
        self.pending = memoryview(b"")
        self.sent_at = time.monotonic()
        #: Sent something at its last turn: its next comes after COALESCE.
        self.busy = False


class StreamWriter:
    """Writes the live feed to every stream client, on one thread of its own."""

    def __init__(self, live: LiveFeed, ended: Callable[[socket.socket], None]) -> None:
        self._live = live
        self._ended = ended  # closes the connection and gives its slot back
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._new: list[Stream] = []
        self._streams: set[Stream] = set()
        self._closing = False
        # Set while every stream is caught up: the feed's next batch wakes the writer.
        self._armed = False
        live.on_new = self._on_new
        self._thread = threading.Thread(target=self._run, name="watchd-streams", daemon=True)

    def start(self) -> None:
        """Start writing."""
        self._thread.start()

    def add(self, stream: Stream) -> None:
        """Take over *stream*: its headers are sent, its socket is the writer's from now."""
        self._live.joined(+1)
        with self._lock:
            self._new.append(stream)
        self._wake()

    def close(self) -> None:
        """End every stream and the thread."""
        self._closing = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join(5)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # -- the loop's side: one check per batch, a byte only after a quiet time ----

    def _on_new(self) -> None:
        if self._armed:
            self._armed = False
            self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full: a wakeup is pending anyway
            self._wake_w.send(b"\0")

    # -- the writer's thread ------------------------------------------------------

    def _run(self) -> None:
        yield_to_the_loop()
        while not self._closing:
            # Set before reading the feed, so that a batch after the read wakes the writer
            # (with no stream, nothing to wake for: a new one wakes it itself).
            self._armed = bool(self._streams)
            now = time.monotonic()
            for stream in list(self._streams):
                if not stream.busy or now - stream.sent_at >= COALESCE:
                    self._turn(stream, now)
            # A stream whose socket is full is woken by the selector, not by the clock.
            due = [s.sent_at + COALESCE for s in self._streams if s.busy and not s.pending]
            if due:
                self._armed = False  # a turn comes soon anyway: spare the loop the byte
            timeout = max(0.0, min(due) - time.monotonic()) if due else _IDLE
            for key, mask in self._selector.select(timeout):
                if key.data is None:
                    self._take_new()
                elif mask & selectors.EVENT_READ and self._left(key.data):
                    self._end(key.data)
                elif mask & selectors.EVENT_WRITE:
                    self._send(key.data)
        self._take_new()  # one handed over while closing is ended too
        for stream in list(self._streams):
            self._end(stream)

    def _take_new(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass
        with self._lock:
            taken, self._new = self._new, []
        for stream in taken:
            stream.sock.setblocking(False)
            self._selector.register(stream.sock, selectors.EVENT_READ, stream)
            self._streams.add(stream)

    def _turn(self, stream: Stream, now: float) -> None:
        """Give *stream* what is new for it, unless its socket still holds what came before."""
        try:
            if stream.pending:
                self._live.check(stream.seq)  # still held, or it fell behind
                stream.busy = False
                return
            taken = self._live.read(stream.seq, stream.filters)
        except Dropped:
            if not stream.pending:  # never in the middle of a frame: then the end says it
                with contextlib.suppress(OSError, ssl.SSLError):
                    stream.sock.send(_DROPPED)
            log.warning("live client dropped: it fell behind the buffer")
            self._end(stream)
            return
        if taken is None:  # the run is stopping
            self._end(stream)
            return
        stream.seq, pieces = taken
        if pieces:
            data = frames(pieces, with_record=stream.with_record)
        elif now - stream.sent_at >= KEEPALIVE:
            data = b": keep-alive\n\n"
        else:
            stream.busy = False
            return
        stream.busy = True
        stream.sent_at = now
        stream.pending = memoryview(data)
        self._send(stream)

    def _send(self, stream: Stream) -> None:
        if stream not in self._streams:  # ended earlier in the same round
            return
        while stream.pending:
            chunk = stream.pending[:_CHUNK]
            try:
                sent = stream.sock.send(chunk)
            except _WOULD_BLOCK:
                break
            except (OSError, ssl.SSLError):  # the client left
                self._end(stream)
                return
            stream.pending = stream.pending[sent:]
            if sent < len(chunk):
                break
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if stream.pending else 0)
        if self._selector.get_key(stream.sock).events != events:  # its socket filled or drained
            self._selector.modify(stream.sock, events, stream)

    @staticmethod
    def _left(stream: Stream) -> bool:
        """Return True when the client closed its side (what else it sends is not read)."""
        try:
            return not stream.sock.recv(4096)
        except _WOULD_BLOCK:
            return False
        except (OSError, ssl.SSLError):
            return True

    def _end(self, stream: Stream) -> None:
        if stream not in self._streams:
            return
        self._streams.discard(stream)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(stream.sock)
        self._live.joined(-1)
        self._ended(stream.sock)
