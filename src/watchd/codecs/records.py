"""Decoding one line of a JSON Lines trail into a record."""

from __future__ import annotations

from enum import Enum
from typing import Any

import orjson

#: Added to a record whose line held bytes that are not UTF-8 (they became U+FFFD).
INVALID_UTF8_KEY = "_invalid_utf8"


class Skip(Enum):
    """Why a line yields no record."""

    BLANK = "blank line"
    NUL = "NUL padding"
    MALFORMED = "malformed JSON"
    NOT_OBJECT = "JSON that is not an object"


_BOM = b"\xef\xbb\xbf"


def decode_record(line: bytes) -> dict[str, Any] | Skip:
    """Return the JSON object on *line*, or why there is none; never raises.

    NUL bytes around a record (padding left by a crash) are removed; a NUL
    inside one (a torn write) makes the line malformed. Invalid UTF-8 is not
    fatal: the bad bytes become U+FFFD and the record is flagged with
    ``_invalid_utf8: true``, so nothing that was written is lost.
    """
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        if line.startswith(_BOM):  # a byte order mark before a file's first record
            return decode_record(line[len(_BOM) :])
        recovered = _recover(line)
        if isinstance(recovered, Skip):
            return recovered
        record = recovered
    if not isinstance(record, dict):
        return Skip.NOT_OBJECT
    return record


def _recover(line: bytes) -> object:
    """Decode a line orjson refused: NUL padding around it, then invalid UTF-8, each once."""
    if not line.strip():
        return Skip.BLANK
    if b"\0" in line:
        # A crash can leave a run of NUL bytes where a write was lost; the
        # writer then appends after them. The record after the NULs is intact.
        line = line.strip(b"\0 \t\r\n")
        if not line:
            return Skip.NUL
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
    text = line.decode("utf-8", "replace")
    if text.encode() == line:
        return Skip.MALFORMED
    try:
        record = orjson.loads(text.encode())
    except orjson.JSONDecodeError:
        return Skip.MALFORMED
    if isinstance(record, dict):
        record[INVALID_UTF8_KEY] = True
    return record
