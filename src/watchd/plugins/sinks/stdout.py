"""The ``stdout`` sink: events on standard output, one frame per line."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from typing import BinaryIO

import structlog

from watchd.core.context import Checking, RunContext, SinkFactory
from watchd.core.deadletters import DeadLettered, DeadLetters, dead_letters
from watchd.core.event import WatchEvent
from watchd.core.hookspecs import hookimpl
from watchd.core.interfaces import Formatter
from watchd.core.registry import TypeTable
from watchd.core.terminal import isatty
from watchd.plugins.sinks.frames import TORN_TAIL, repair_torn_tail, write_frames
from watchd.plugins.sinks.text import Formatted, formatter_for, header_of, starts_output


class StdoutSink:
    """Writes each batch of newline-terminated frames straight to the stream's descriptor.

    The write blocks while the reader is slow: the file being followed is the
    buffer, so a slow terminal slows reading down instead of losing events. An
    event its format cannot write goes to the dead letters; the rest flow.
    """

    def __init__(
        self,
        name: str,
        stream: BinaryIO,
        formatter: Formatter,
        dead: DeadLetters | None = None,
        header: bytes | None = None,
    ) -> None:
        self.name = name
        self._stream = stream
        self._format = formatter
        self._dead = dead or DeadLetters(name)
        #: Written with the first batch (a CSV header line), then never again.
        self._header = header
        try:
            self._fd = stream.fileno()
        except (OSError, ValueError):
            self._fd = -1  # an in-memory stream: its own write() is exact
        if self._fd >= 0 and (cut := repair_torn_tail(self._fd)):
            structlog.get_logger("watchd").warning(
                TORN_TAIL,
                sink=name,
                bytes=cut,
            )

    def emit_batch(self, events: Sequence[WatchEvent]) -> None:
        """Write *events*; return once every byte of them was taken."""
        data = self._dead.encode_lines(events, self._format)
        if not data:
            return
        if self._header is not None:
            data = self._header + b"\n" + data
            self._header = None
        try:
            if self._fd < 0:
                self._stream.write(data)
                self._stream.flush()
            else:
                self._stream.flush()  # whatever else was written through the stream goes first
                write_frames(self._fd, data)
        except BrokenPipeError:
            silence(self._stream)
            raise

    def hangup_fileno(self) -> int:
        """Return the pipe or socket whose reader may leave (-1 for a file or terminal).

        The loop watches it, so ``watchd run | head`` ends when ``head`` does,
        not at the next write after it.
        """
        try:
            fd = self._stream.fileno()
            mode = os.fstat(fd).st_mode
        except (OSError, ValueError):
            return -1
        return fd if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) else -1

    def flush(self) -> None:
        """Flush the stream."""
        self._stream.flush()

    def close(self) -> None:
        """Leave the stream open (it belongs to the process); report what was set aside."""
        self._dead.close()


def silence(stream: BinaryIO) -> None:
    """Point a stream whose reader left at /dev/null, so exit does not fail flushing it."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


class StdoutOptions(Formatted, DeadLettered):
    """Standard output.

    Without ``format=``, the command line's ``--format`` applies (it is
    stdout's alone: every other sink keeps its own default), else ``human``
    on a terminal and ``json`` otherwise.
    """

    def format_default(self, checking: Checking) -> str:
        """Return ``--format``, else human on a terminal and json otherwise."""
        return checking.settings.default_format or ("human" if checking.tty else "json")


def build_stdout_sink(options: StdoutOptions, context: RunContext) -> StdoutSink:
    """Build ``stdout``: the run's standard output, written frame by frame."""
    tty = isatty(context.stdout)
    formatter = formatter_for(options, context, tty=tty, own_lines=True)
    dead = dead_letters(options, "stdout")
    header = header_of(formatter)
    try:
        fresh = not context.settings.continued and starts_output(context.stdout.fileno())
    except (OSError, ValueError):  # an in-memory stream
        fresh = not context.settings.continued
    return StdoutSink("stdout", context.stdout, formatter, dead, header if fresh else None)


@hookimpl
def watchd_register_sink_types(sinks: TypeTable[SinkFactory]) -> None:
    """Register ``stdout``."""
    sinks.add("stdout", build_stdout_sink, StdoutOptions)
