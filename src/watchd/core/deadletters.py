"""What a sink cannot send: set aside, counted and reported, so that the rest flows.

One event that a format cannot write (a record nested too deep, a value a
plugin's format chokes on) must not stop a sink, nor, with ``--state-dir``,
every restart after it. Each sink encodes its batch through
:meth:`DeadLetters.encode`: the usual batch costs one list comprehension; when
it fails, the batch is encoded again event by event and each refused event goes
to the sink's dead letters (``dead_letter=FILE``, one JSON object per line,
mode 0600), or, without a file, is counted and reported with the file and the
offset its record starts at. What the peer itself refuses as bad data (HEC's
invalid-event answers) goes to the same file through :meth:`write`.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import orjson
import structlog

from watchd.core.event import WatchEvent
from watchd.core.option_kinds import OptionalText
from watchd.core.options import OptionSet
from watchd.core.private import open_append, why_not_appendable
from watchd.core.skips import SkipCounter

if TYPE_CHECKING:
    from watchd.core.context import Checking

Encode = Callable[[WatchEvent], bytes]


class DeadLetters:
    """A sink's refused events: the file they go to (an open descriptor, or -1), and counts."""

    def __init__(self, sink: str, path: str | None = None, fd: int = -1) -> None:
        self.sink = sink
        self.path = path
        self.refused = 0
        self._fd = fd
        self._lock = threading.Lock()  # HEC writes from its worker thread
        self._log = structlog.get_logger("watchd").bind(sink=sink, dead_letter=path)
        self._counts = SkipCounter(
            self._log,
            message="event not sent: {reason}",
            summary="events not sent by the sink",
        )

    def encode(self, events: Sequence[WatchEvent], encode: Encode) -> list[bytes]:
        """Return what *encode* makes of each event, leaving out (and setting aside) failures."""
        try:
            return [encode(event) for event in events]
        except Exception:  # noqa: BLE001 - some event of the batch is refused: find which
            encoded = []
            for event in events:
                try:
                    encoded.append(encode(event))
                except Exception as exc:  # noqa: BLE001 - one odd event must not stop a sink
                    self.refuse(event, exc)
            return encoded

    def encode_lines(self, events: Sequence[WatchEvent], encode: Encode) -> bytes:
        """Return the frames of *events*, each newline-terminated, failures set aside.

        A format that writes a batch in one call does, as long as it can; one
        event it cannot write that way sends the batch event by event.
        """
        # A BatchFormatter: looked up by name, as a protocol check per batch costs more.
        batch: Callable[[Sequence[WatchEvent]], bytes] | None = getattr(
            encode, "encode_lines", None
        )
        if batch is not None:
            try:
                return batch(events)
            except Exception:  # noqa: BLE001, S110 - written one by one below, failures set aside
                pass
        frames = self.encode(events, encode)
        return b"\n".join(frames) + b"\n" if frames else b""

    def refuse(self, event: WatchEvent, error: BaseException) -> None:
        """Set *event* aside: its format or sink failed on it with *error*."""
        self.refused += 1
        # The error's type, never its text: that may quote the record.
        reason = f"the format failed on it ({type(error).__name__})"
        cursor = event.cursor
        offset = cursor.start if cursor is not None else -1
        self._counts.note(reason, event.origin, offset)
        if self._fd < 0:
            return
        where = orjson.dumps(
            {"sink": self.sink, "reason": reason, "origin": event.origin, "offset": offset}
        )
        try:
            # The event as the json format writes it, where even that can be written.
            letter = where[:-1] + b',"event":' + event.to_json() + b"}"
        except Exception:  # noqa: BLE001 - the location alone says where the record is
            letter = where
        self.write([letter])

    def write(self, lines: Sequence[bytes]) -> None:
        """Append *lines* (each one JSON object) to the dead-letter file, if there is one."""
        if self._fd < 0 or not lines:
            return
        data = b"".join(line + b"\n" for line in lines)
        with self._lock:
            try:
                written = os.write(self._fd, data)
                while written < len(data):  # a regular file takes all but on a full disk
                    written += os.write(self._fd, data[written:])
            except OSError as exc:
                self._log.error("dead letters not written", reason=exc.strerror)

    def close(self) -> None:
        """Report the totals and close the file."""
        self._counts.summarize()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class DeadLettered(OptionSet):
    """The option of a sink that sets aside what its peer refuses: ``dead_letter=FILE``."""

    dead_letter = OptionalText(
        "append what the peer refuses to FILE, as JSON Lines", metavar="FILE"
    )

    def check(self, checking: Checking) -> None:
        """Refuse a dead-letter file that could not be made or written (nothing is created)."""
        super().check(checking)
        path = self.dead_letter
        if path is None:
            return
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):  # not made: a dead-letter file's directory must exist
            why = os.strerror(errno.ENOENT if not os.path.exists(folder) else errno.ENOTDIR)
            raise self.refuse("dead_letter", why)
        why_not = why_not_appendable(path)
        if why_not:
            raise self.refuse("dead_letter", why_not)


def dead_letters(options: DeadLettered, sink: str) -> DeadLetters:
    """Open the dead-letter file of a sink's options (none given: events refused are counted)."""
    path = options.dead_letter
    if path is None:
        return DeadLetters(sink)
    try:
        fd = open_append(path)
    except OSError as exc:
        raise options.refuse("dead_letter", exc.strerror or str(exc)) from None
    return DeadLetters(sink, path, fd)
