"""watchd's own diagnostics: structlog to stderr, readable on a terminal, JSON otherwise."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

import orjson
import structlog
import structlog.tracebacks

from watchd.core.printable import printable

_LEVELS = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}


def _json_serializer(obj: object, **_kwargs: object) -> str:
    return orjson.dumps(obj, default=str).decode()


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
        renderer = [_printable_values, structlog.dev.ConsoleRenderer(colors=color)]
    else:
        renderer = [
            # No locals: a frame's variables hold records and tokens, which never go in a log.
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.JSONRenderer(serializer=_json_serializer),
        ]
    structlog.configure(
        processors=shared + renderer,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
