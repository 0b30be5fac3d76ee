"""watchd's own diagnostics: structlog to stderr, for a terminal, for journald, JSON otherwise."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

import orjson
import structlog
import structlog.tracebacks

from watchd.core.printable import printable, quoted
from watchd.core.terminal import level_column, paint

if TYPE_CHECKING:
    from structlog.typing import ExcInfo

_LEVELS = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}


def _json_serializer(obj: object, **_kwargs: object) -> str:
    return orjson.dumps(obj, default=str).decode()


#: A frame's variables hold records and tokens, which never go in a log.
_TRANSFORM = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
#: What an exception's message is replaced with: it may quote a record.
HIDDEN = "(message not logged: it may hold record content)"


def _traceback_dicts(exc_info: ExcInfo) -> list[dict[str, Any]]:
    """Return the traceback as structlog's dicts: frames and types, no locals, no messages.

    An OSError's message stays (it says what the system refused, and of which
    path); any other exception's message may quote the record being handled.
    """
    stacks = _TRANSFORM(exc_info)
    chain: list[BaseException] = []
    exc: BaseException | None = exc_info[1]
    while exc is not None and len(chain) < len(stacks):
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    for stack, error in zip(stacks, chain, strict=False):
        if not isinstance(error, OSError):
            stack["exc_value"] = HIDDEN
        stack.pop("exc_notes", None)
    return stacks


def _plain_traceback(out: TextIO, exc_info: ExcInfo) -> None:
    """Write the traceback for a terminal, as _traceback_dicts keeps it."""
    for stack in reversed(_traceback_dicts(exc_info)):
        out.write("Traceback (most recent call last):\n")
        for frame in stack["frames"]:
            out.write(f'  File "{frame["filename"]}", line {frame["lineno"]}, in {frame["name"]}\n')
        out.write(f"{stack['exc_type']}: {printable(str(stack['exc_value']))}\n")


class TerminalRenderer:
    """watchd's diagnostics for a person: ``HH:MM:SS  LEVEL     what happened  key=value ...``.

    Laid out as the human format lays out events (local time, the level in
    the same column, every value one :func:`quoted` token), so the two read
    alike side by side; a traceback follows on its own lines.
    """

    def __init__(self, *, color: bool) -> None:
        self._color = color

    def __call__(self, _logger: object, _name: str, event: dict[str, Any]) -> str:
        """Return the lines for one log call."""
        color = self._color
        exc_info = _exc_info(event.pop("exc_info", None))
        event.pop("timestamp", None)
        level = str(event.pop("level", "info"))
        what = printable(str(event.pop("event", "")))
        fields = [
            paint(f"{printable(str(key))}=", "2", color=color) + quoted(_text(value))
            for key, value in event.items()
        ]
        clock = paint(datetime.now().strftime("%H:%M:%S"), "2", color=color)
        level = level_column(level, color=color)
        line = "  ".join([clock, level, paint(what, "1", color=color), *fields]).rstrip()
        if exc_info is None:
            return line
        out = io.StringIO()
        _plain_traceback(out, exc_info)
        return line + "\n" + out.getvalue().rstrip("\n")


#: sd-daemon(3)'s priority prefixes, which journald reads at the start of each line.
_PRIORITIES = {"debug": 7, "info": 6, "notice": 5, "warning": 4, "error": 3, "critical": 2}


class JournalRenderer:
    """watchd's diagnostics for journald: ``<N>what happened  key=value ...`` per line.

    journald stamps each line with its time, unit and PID, and reads its
    priority from the ``<N>`` prefix; a traceback's lines carry the same one,
    so ``journalctl -p err`` shows them whole.
    """

    def __call__(self, _logger: object, _name: str, event: dict[str, Any]) -> str:
        """Return the lines for one log call."""
        exc_info = _exc_info(event.pop("exc_info", None))
        event.pop("timestamp", None)
        prefix = f"<{_PRIORITIES.get(str(event.pop('level', 'info')), 6)}>"
        what = printable(str(event.pop("event", "")))
        fields = [f"{printable(str(key))}={quoted(_text(value))}" for key, value in event.items()]
        lines = ["  ".join([what, *fields]).rstrip()]
        if exc_info is not None:
            out = io.StringIO()
            _plain_traceback(out, exc_info)
            lines += out.getvalue().rstrip("\n").split("\n")
        return "\n".join(prefix + text for text in lines)


def journal_stream(out: TextIO, env: Mapping[str, str] = os.environ) -> bool:
    """Return True when *out* is the stream systemd connected to journald (``$JOURNAL_STREAM``)."""
    device, _, inode = env.get("JOURNAL_STREAM", "").partition(":")
    try:
        info = os.fstat(out.fileno())
        return (info.st_dev, info.st_ino) == (int(device), int(inode))
    except (ValueError, OSError, io.UnsupportedOperation):
        return False


def _text(value: object) -> str:
    return value if isinstance(value, str) else _json_serializer(value)


def _exc_info(value: object) -> ExcInfo | None:
    """Return the exception a log call carries (``exc_info=True`` means the one being handled)."""
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple):
        return value
    if value:
        info = sys.exc_info()
        return info if info[0] is not None else None
    return None


def configure_logging(verbosity: int = 0, stream: TextIO | None = None) -> None:
    """Send watchd's logs to *stream* (stderr): ``-v`` adds debug, ``-q`` keeps warnings.

    On a terminal the lines are rendered for people (colour unless NO_COLOR);
    under systemd, when stderr is its journal stream, plain lines with the
    priority prefixes journald reads; otherwise each line is one JSON object,
    for Docker or a collector.
    """
    out = stream if stream is not None else sys.stderr
    level = _LEVELS[max(-2, min(1, verbosity))]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: list[Any]
    if out.isatty():
        renderer = [TerminalRenderer(color=not os.environ.get("NO_COLOR"))]
    elif journal_stream(out):
        renderer = [JournalRenderer()]
    else:
        renderer = [
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.ExceptionRenderer(_traceback_dicts),
            structlog.processors.JSONRenderer(serializer=_json_serializer),
        ]
    structlog.configure(
        processors=shared + renderer,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
