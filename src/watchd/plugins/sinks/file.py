"""The ``file:PATH`` sink: events appended to a file, one frame per line.

The file is opened for appending (created 0600, and missing directories
0700: events may carry what the records did). When the path stops naming the
open file (logrotate's ``create`` moved it away, or it was deleted), the next
batch opens the path again, so a rotated output needs no signal (SIGHUP
reloads, which opens it anew too). Frames are written whole with
``os.write`` (see :mod:`watchd.plugins.sinks.frames`): a batch counts as delivered
only once the file took every byte of it and, with ``fsync=yes``, once it is
on disk. That is the default with
``--state-dir``: a checkpoint must not get ahead of what a power cut keeps.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import structlog

from watchd.core.context import Checking, RunContext, SinkFactory
from watchd.core.deadletters import DeadLettered, DeadLetters, dead_letters
from watchd.core.errors import UsageError
from watchd.core.event import WatchEvent
from watchd.core.hookspecs import hookimpl
from watchd.core.interfaces import Formatter
from watchd.core.option_kinds import Choice
from watchd.core.private import fsync_directory, make_dirs, open_append, why_not_appendable
from watchd.core.registry import TypeTable
from watchd.plugins.sinks.frames import TORN_TAIL, repair_torn_tail, write_frames
from watchd.plugins.sinks.text import Formatted, formatter_for, header_of, starts_output


class FileSink:
    """Appends each batch to a file; follows the path when the file is rotated away."""

    def __init__(
        self, path: str, formatter: Formatter, dead: DeadLetters, *, fsync: bool = False
    ) -> None:
        self.name = f"file:{path}"
        self.path = path
        self._format = formatter
        self._dead = dead
        self._fsync = fsync
        self._log = structlog.get_logger("watchd").bind(sink=self.name)
        self._fd = self._open()

    def _open(self) -> int:
        make_dirs(os.path.dirname(self.path))  # 0700, as the file is 0600
        fd = open_append(self.path)
        if self._fsync:  # the file's name, too, must survive a power cut
            fsync_directory(os.path.dirname(self.path))
        cut = repair_torn_tail(fd)
        if cut:
            self._log.warning(
                TORN_TAIL,
                path=self.path,
                bytes=cut,
            )
        return fd

    def emit_batch(self, events: Sequence[WatchEvent]) -> None:
        """Append *events*; return once the file took every byte of them."""
        data = self._dead.encode_lines(events, self._format)
        if not data:
            return
        self._follow_path()
        header = header_of(self._format)
        if header is not None and starts_output(self._fd):  # a new file, or one rotated in
            data = header + b"\n" + data
        write_frames(self._fd, data)
        if self._fsync:
            os.fsync(self._fd)

    def _follow_path(self) -> None:
        """Open the path again when it no longer names the open file (rotated, deleted)."""
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            named = None
        held = os.fstat(self._fd)
        if named is not None and (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino):
            return
        fd = self._open()
        os.close(self._fd)
        self._fd = fd
        self._log.info("output file rotated away, writing to a new one", path=self.path)

    def flush(self) -> None:
        """Nothing is buffered: every batch was written when it was emitted."""

    def close(self) -> None:
        """Close the file; report what was set aside."""
        os.close(self._fd)
        self._dead.close()


class FileOptions(Formatted, DeadLettered):
    """Append to a file."""

    target_form = "PATH"
    target_required = True
    example = "file:/var/log/watchd/events.jsonl"
    fsync = Choice(
        ("auto", "yes", "no"),
        "auto",
        "yes: every batch is on the disk before it counts as delivered "
        "(auto: yes with --state-dir, so a checkpoint never runs ahead of the file)",
    )

    def check(self, checking: Checking) -> None:
        """Check that the file could be appended to (nothing is created)."""
        super().check(checking)
        settings = checking.settings  # the user's --state-dir: what is delivered must be on disk
        if self.fsync == "auto":
            kept = settings.state_dir is not None and settings.durable_state
            self._values["fsync"] = "yes" if kept else "no"
        self.path = os.path.abspath(os.path.expanduser(self.target))
        why = why_not_appendable(self.path)
        if why:
            raise UsageError(f"{self.where}: {self.target}: {why}")


def build_file_sink(options: FileOptions, context: RunContext) -> FileSink:
    """Build ``file:PATH``: the file is opened to append (created if need be)."""
    formatter = formatter_for(options, context, tty=False, own_lines=True)
    dead = dead_letters(options, f"file:{options.target}")
    try:
        return FileSink(options.path, formatter, dead, fsync=options.fsync == "yes")
    except OSError as exc:
        dead.close()
        raise UsageError(f"{options.where}: {options.target}: {exc.strerror}") from None


@hookimpl
def watchd_register_sink_types(sinks: TypeTable[SinkFactory]) -> None:
    """Register ``file``."""
    sinks.add("file", build_file_sink, FileOptions)
