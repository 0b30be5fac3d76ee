"""watchd's own diagnostics: structlog to stderr, readable on a terminal, JSON otherwise."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

import orjson
import structlog
import structlog.tracebacks

from watchd.core.printable import printable

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


def _printable_values(_logger: object, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Escape what a terminal would obey in every text value: a path may hold a newline."""
    return {
        key: printable(value) if isinstance(value, str) else value for key, value in event.items()
    }


def configure_logging(verbosity: int = 0, stream: TextIO | None = None) -> None:
    """Send watchd's logs to *stream* (stderr): ``-v`` adds debug, ``-q`` keeps warnings.

    On a terminal the lines are rendered for people (colour unless NO_COLOR);
    otherwise each line is one JSON object, for journald, Docker or a collector.
    """
    out = stream if stream is not None else sys.stderr
    level = _LEVELS[max(-2, min(1, verbosity))]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: list[Any]
    if out.isatty():
        color = not os.environ.get("NO_COLOR")
        console = structlog.dev.ConsoleRenderer(colors=color, exception_formatter=_plain_traceback)
        renderer = [_printable_values, console]
    else:
        renderer = [
            structlog.processors.ExceptionRenderer(_traceback_dicts),
            structlog.processors.JSONRenderer(serializer=_json_serializer),
        ]
    structlog.configure(
        processors=shared + renderer,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
