"""``syslog:relp://HOST:PORT``: syslog over RELP, where the receiver acknowledges every message.

Plain TCP cannot say what the peer's process took: bytes its kernel
acknowledged die with it. RELP (rsyslog's Reliable Event Logging Protocol,
``imrelp``) answers each message with a response once the receiver has it, so
an event counts as delivered only then, and whatever was not answered when a
connection ends is sent again, in order, on the next one: a receiver killed
mid-stream loses nothing (it may get a message twice).

The frames, as librelp writes them: ``TXNR SP COMMAND SP DATALEN [SP DATA] LF``.
A session opens with ``open`` (offering ``commands=syslog``), sends ``syslog``
frames with a window of unanswered ones, and ends with ``close``; the server
answers ``rsp`` frames (``200 OK``) and may say ``serverclose``.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from typing import Any

from watchd._version import __version__
from watchd.plugins.sinks.tcp import TcpSink

#: Messages sent and not yet answered, at most (omrelp's default window).
WINDOW = 128
#: Transaction numbers run from 1 to this, then start again at 1.
MAX_TXNR = 999_999_999
#: Largest response the receiver may send (a response is a code and a short text).
MAX_RESPONSE = 128 * 1024
_HEAD = re.compile(rb"(\d{1,9}) ([a-z]{1,32}) (\d{1,9})")
_OFFERS = (
    f"relp_version=0\nrelp_software=watchd,{__version__},https://github.com/watchd\ncommands=syslog"
).encode()


def relp_frame(txnr: int, command: bytes, data: bytes = b"") -> bytes:
    """Return one RELP frame."""
    if not data:
        return b"%d %s 0\n" % (txnr, command)
    return b"%d %s %d %s\n" % (txnr, command, len(data), data)


class ProtocolError(ValueError):
    """The receiver sent what RELP does not allow."""


def parse_frames(buffer: bytearray) -> list[tuple[int, bytes, bytes]]:
    """Take the complete frames off the front of *buffer*: (txnr, command, data) each."""
    frames: list[tuple[int, bytes, bytes]] = []
    while True:
        head = _HEAD.match(buffer)
        if head is None:
            if len(buffer) > 32 and not re.match(rb"\d{1,9} [a-z]{0,32}", buffer):
                raise ProtocolError("not a RELP frame")
            return frames
        length = int(head.group(3))
        if length > MAX_RESPONSE:
            raise ProtocolError(f"a frame of {length} bytes")
        start = head.end()
        end = start + (1 + length if length else 0)
        if len(buffer) < end + 1:
            return frames
        if (length and buffer[start] != ord(" ")) or buffer[end] != ord("\n"):
            raise ProtocolError("a frame without its trailer")
        frames.append((int(head.group(1)), head.group(2), bytes(buffer[start + 1 : end])))
        del buffer[: end + 1]


class RelpSink(TcpSink):
    """Syslog messages over RELP: counted delivered when the receiver answers 200."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - TcpSink's, as they are
        super().__init__(*args, **kwargs)
        self._reset()

    def _reset(self) -> None:
        """Forget the session: every message not answered goes again on the next one."""
        self._txnr = 2  # the open command is 1
        self._first_open = 2  # the transaction number of the oldest unanswered message
        self._next = 0  # messages of the queue sent in this session
        self._opening = True  # until the receiver answered the open command
        self._out = bytearray()
        self._in = bytearray()

    def _begin(self) -> None:
        """Start a session: the open command first, nothing else until it is answered."""
        self._reset()
        self._out += relp_frame(1, b"open", _OFFERS)

    # -- what the loop asks --------------------------------------------------------

    def connected(self) -> bool:
        """Return True once the RELP session is open."""
        return super().connected() and not self._opening

    def wants_write(self) -> bool:
        """Return True while frames wait to be written or messages to be sent."""
        if not self._ready():
            return super().wants_write()
        return bool(self._out) or self._can_send()

    def timeout(self) -> float | None:
        """Return the time until the next connection attempt, between connections."""
        return self._outage.wait() if self._sock is None else None

    def _heard(self, data: bytes) -> None:
        """Read the receiver's responses: what it answered 200 is delivered."""
        self._in += data
        try:
            for txnr, command, body in parse_frames(self._in):
                self._answered(txnr, command, body)
                if not self._ready():  # the frame ended the session
                    return
        except ProtocolError as exc:
            self._lost(f"RELP: {exc}")
            return
        if self._can_send() or self._out:
            self._send()

    def close(self) -> None:
        """End the session politely when it can, then close the connection."""
        if self._ready() and not self._opening and self._sock is not None:
            with contextlib.suppress(OSError, ValueError):
                self._sock.send(relp_frame(self._txnr, b"close"))
        super().close()

    # -- sending ---------------------------------------------------------------------

    def _connected(self) -> None:
        super()._connected()
        if self._ready():
            self._begin()
            self._send()

    def _can_send(self) -> bool:
        return not self._opening and self._next < len(self._queue) and self._next < WINDOW

    def _send(self) -> None:
        sock = self._sock
        assert sock is not None  # noqa: S101 - callers check
        while True:
            while self._can_send() and len(self._out) < 256 * 1024:
                self._out += relp_frame(self._txnr, b"syslog", self._queue[self._next])
                self._txnr = self._txnr % MAX_TXNR + 1
                self._next += 1
            if not self._out:
                return
            try:
                written = sock.send(self._out)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return
            except OSError as exc:
                self._lost(exc.strerror or str(exc))
                return
            del self._out[:written]
            if self._out:
                return

    def _answered(self, txnr: int, command: bytes, body: bytes) -> None:
        """Take one frame of the receiver's."""
        if command == b"serverclose":
            self._lost("the receiver closed the session")
            return
        if command != b"rsp":
            self._lost(f"RELP: unexpected {command.decode('ascii')!r} from the receiver")
            return
        code = body[:3]
        if self._opening:
            if txnr != 1 or code != b"200":
                self._lost(f"RELP: the receiver refused the session ({body[:60]!r})")
                return
            self._opening = False
            return
        if code != b"200":
            # Refused for now (a full queue, say): sent again on the next session.
            self._lost(f"RELP: the receiver answered {body[:60].decode('ascii', 'replace')!r}")
            return
        answered = (txnr - self._first_open) % MAX_TXNR + 1
        if not 0 < answered <= self._next:
            self._lost(f"RELP: a response to transaction {txnr}, which was not sent")
            return
        for _ in range(answered):  # responses come in order: all before it are answered too
            self._dequeue()
        self._next -= answered
        self._first_open = txnr % MAX_TXNR + 1

    def _lost(self, reason: str) -> None:
        self._reset()
        super()._lost(reason)

    def _settle(self) -> None:
        """Nothing: a message is delivered when the receiver answers it, not when written."""


__all__ = ["WINDOW", "RelpSink", "parse_frames", "relp_frame"]
