"""Syslog over a stream: RFC 6587's octet counting and delimited framing, both ways.

Senders frame each message with one of :data:`FRAMINGS`; the listener splits a
TCP byte stream back into messages with :class:`FrameSplitter`.
"""

from __future__ import annotations

from collections.abc import Callable

from watchd.codecs.syslog.parse import MalformedError

#: Turns one message into the bytes of one frame on the wire.
Framer = Callable[[bytes], bytes]


def octet_counted(message: bytes) -> bytes:
    """Frame *message* as ``LENGTH SP MESSAGE`` (RFC 6587 octet counting, RFC 5425)."""
    return b"%d %b" % (len(message), message)


def lf_terminated(message: bytes) -> bytes:
    """Frame *message* by a trailing LF; an LF inside (a plugin body) is escaped first."""
    if b"\n" in message:
        message = message.replace(b"\n", b"\\n")
    return message + b"\n"


def unframed(message: bytes) -> bytes:
    """Send *message* as it is (loki-mode's TCP bytes end in their own NUL)."""
    return message


FRAMINGS: dict[str, Framer] = {"octet": octet_counted, "lf": lf_terminated, "none": unframed}


class FrameSplitter:
    """Splits a TCP byte stream into messages: octet-counted or delimited, per message.

    A frame that starts with a digit is octet-counted (``LEN SP MSG``); any
    other ends at LF or NUL (non-transparent framing; loki-mode ends its
    messages with NUL). Delimited frames over *limit* bytes are skipped and
    counted; an octet count over *limit* is a malformed framing (the connection
    is closed: skipping would let a peer claim the connection for ever).
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buffer = bytearray()
        self._discarding = False  # inside an over-long delimited frame
        self.too_long = 0

    def pending(self) -> bool:
        """Return True while part of a message is buffered or being skipped."""
        return bool(self._buffer) or self._discarding

    def feed(self, data: bytes) -> list[bytes]:
        """Add *data*; return the complete messages it ends."""
        self._buffer += data
        messages: list[bytes] = []
        position: int | None = 0
        done = 0
        while position is not None and position < len(self._buffer):
            done = position
            position = self._step(position, messages)
        del self._buffer[: len(self._buffer) if position is not None else done]
        return messages

    def _step(self, position: int, messages: list[bytes]) -> int | None:
        """Take one frame (or a part to skip) at *position*; None when more data is needed."""
        if self._discarding:
            return self._dropping(position)
        first = self._buffer[position]
        if first in b"\n\x00\r ":
            return position + 1
        if 0x30 <= first <= 0x39:
            return self._counted(position, messages)
        return self._delimited(position, messages)

    def _dropping(self, position: int) -> int:
        """Skip what is left of an over-long delimited frame."""
        buffer = self._buffer
        end = _delimiter(buffer, position)
        self._discarding = end < 0
        return len(buffer) if end < 0 else end + 1

    def _delimited(self, position: int, messages: list[bytes]) -> int | None:
        """Take the LF- or NUL-terminated frame at *position*."""
        buffer = self._buffer
        end = _delimiter(buffer, position)
        if end >= 0:
            if end - position > self._limit:  # its end arrived with it: over the limit all the same
                self.too_long += 1
            else:
                messages.append(bytes(buffer[position:end]))
            return end + 1
        if len(buffer) - position > self._limit:
            self.too_long += 1
            self._discarding = True
            return len(buffer)
        return None

    def _counted(self, position: int, messages: list[bytes]) -> int | None:
        """Take the octet-counted frame at *position*."""
        buffer = self._buffer
        space = buffer.find(b" ", position, position + 12)
        if space < 0:
            if len(buffer) - position >= 12:  # longer than any count
                raise MalformedError("octet count is not followed by a space")
            return None
        digits = bytes(buffer[position:space])
        if not digits.isdigit():
            raise MalformedError("octet count is not a number")
        size, start = int(digits), space + 1
        if size > self._limit:  # swallowing it would let a peer hold the connection forever
            raise MalformedError(f"octet count {size} is over limit={self._limit}")
        if len(buffer) - start < size:
            return None
        messages.append(bytes(buffer[start : start + size]))
        return start + size

    def rest(self) -> bytes:
        """Return an unterminated last message (the peer closed after it), and forget it."""
        rest = b"" if self._discarding else bytes(self._buffer).strip(b"\x00\r\n ")
        self._buffer.clear()
        return rest


def _delimiter(buffer: bytearray, start: int) -> int:
    """Return the position of the first LF or NUL at or after *start*, -1 when none."""
    newline = buffer.find(b"\n", start)
    nul = buffer.find(b"\x00", start, newline if newline >= 0 else len(buffer))
    return nul if nul >= 0 else newline
