"""The checks of a format and of a dialect: one frame an event, any object mapped."""

from __future__ import annotations

import csv
import io
import json

from watchd.core.interfaces import Dialect, FormatContext, FormatFactory, RecordSource
from watchd.core.options import NoOptions, OptionSet
from watchd.testing.hostile import hostile_events, hostile_records, say


def check_format(
    factory: FormatFactory,
    options: OptionSet | None = None,
    *,
    name: str = "format",
    framing: str = "line",
) -> None:
    """Check a format: bytes for every event, one frame each, whatever the values hold.

    *framing* is ``line`` (no reader splits a frame: CR, LF, VT, FF, FS-RS,
    U+0085, U+2028, U+2029 all absent), ``crlf`` (no CR or LF: a format that
    keeps another tool's bytes, as ``cef,compat=loki`` keeps loki-mode's) or
    ``csv`` (a CSV reader reads one row).
    A format may refuse an event it cannot write (TypeError, ValueError: the
    sink sets it aside as a dead letter); it may not raise anything else.
    *options* are the format's parsed options (``CefOptions.parse(compat="loki")``);
    without them the format gets none, which suits a format that declares none.
    """
    formatter = factory(options if options is not None else NoOptions(), FormatContext())
    for event in hostile_events():
        try:
            frame = formatter(event)
        except (TypeError, ValueError, RecursionError):
            continue  # refused: a dead letter, not a broken output
        except Exception as exc:
            raise say("format", name, f"raised {type(exc).__name__}", event) from exc
        if not isinstance(frame, bytes):
            raise say("format", name, f"gave {type(frame).__name__}, not bytes", event)
        text = frame.decode("utf-8", "replace")
        if framing == "csv":
            csv.field_size_limit(max(csv.field_size_limit(), 1 << 24))  # the megabyte value
            if len(list(csv.reader(io.StringIO(text, newline="")))) != 1:
                raise say("format", name, "gave more than one CSV row", event)
        elif framing == "crlf":
            if "\n" in text or "\r" in text:
                raise say("format", name, "let a CR or LF through", event)
        elif text.splitlines() not in ([text], []):
            raise say("format", name, "let a line end through (one frame became several)", event)


def check_dialect(dialect: Dialect, *, name: str = "dialect") -> None:
    """Check a dialect: every JSON object a trail can hold maps to an event of text fields."""
    where = RecordSource("audit", "/var/log/audit.jsonl")
    for record in hostile_records():
        try:
            event = dialect.to_event(dict(record), where, None)
        except Exception as exc:
            raise say("dialect", name, f"raised {type(exc).__name__}", record) from exc
        for field in ("ts", "source", "action", "container", "dest", "detail", "level", "actor"):
            if not isinstance(getattr(event, field), str):
                raise say("dialect", name, f"gave a {field} that is not text", record)
        try:
            json.loads(event.to_json())
        except ValueError as exc:
            raise say(
                "dialect", name, "gave an event whose JSON form does not read", record
            ) from exc
