"""Decoding one line of a JSON Lines trail into a record."""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any

import msgspec

#: Added to a record whose line held bytes that are not UTF-8 (they became U+FFFD).
INVALID_UTF8_KEY = "_invalid_utf8"


class Skip(Enum):
    """Why a line yields no record."""

    BLANK = "blank line"
    NUL = "NUL padding"
    MALFORMED = "malformed JSON"
    NOT_OBJECT = "JSON that is not an object"
    TOO_DEEP = "JSON nested too deep to read (over about 900 levels)"


_BOM = b"\xef\xbb\xbf"
#: msgspec keeps integers of any width exactly (orjson turned 2**70 into a float).
RECORD_DECODER = msgspec.json.Decoder()


#: Two values on one line (``{...} {...}``): decoding a block whole would take them as two lines.
_TWO_ON_A_LINE = re.compile(rb"}[ \t\r]*{")


def decode_block(data: bytes, lines: int) -> list[dict[str, Any]] | None:
    """Return the records of *data*, whole lines that are one object each, in one call; or None.

    None means some line needs a look of its own (:func:`decode_record`): one
    that is not an object of valid UTF-8 JSON msgspec reads, is blank, or
    holds what Python's json reads but msgspec does not (NaN, 1e400). A block
    decoded whole gives the records line by line exactly: each of its *lines*
    lines holds the start of a value (there are as many objects as lines),
    none holds two (a value ends and another begins only with ``}`` and
    blanks between them on one line, which is looked for), so no value spans
    two lines either.
    """
    try:
        records: list[Any] = RECORD_DECODER.decode_lines(data)
    except (msgspec.DecodeError, RecursionError):
        return None
    if len(records) != lines or set(map(type, records)) != {dict}:
        return None
    if _TWO_ON_A_LINE.search(data) is not None:
        return None
    return records


def decode_record(line: bytes) -> dict[str, Any] | Skip:
    """Return the JSON object on *line*, or why there is none; never raises.

    Every line Python's ``json.loads`` reads is a record, with its values as
    they are (loki-mode writes with it): integers of any width, ``NaN``,
    ``Infinity``, ``1e400``, lone surrogates. NUL bytes around a record
    (padding left by a crash) are removed; a NUL inside one (a torn write)
    makes the line malformed. Invalid UTF-8 is not fatal: the bad bytes become
    U+FFFD and the record is flagged with ``_invalid_utf8: true``, so nothing
    that was written is lost. A record nested deeper than either reader takes
    is a reported skip.
    """
    try:
        record = RECORD_DECODER.decode(line)
    except RecursionError:
        return Skip.TOO_DEEP
    except msgspec.DecodeError:
        if line.startswith(_BOM):  # a byte order mark before a file's first record
            return decode_record(line[len(_BOM) :])
        recovered = _recover(line)
        if isinstance(recovered, Skip):
            return recovered
        record = recovered
    if not isinstance(record, dict):
        return Skip.NOT_OBJECT
    return record


def decode_link(line: bytes) -> dict[str, Any] | Skip:
    """Return the record on *line* as an integrity check must read it: strictly.

    As :func:`decode_record`, except that a byte order mark makes the line
    malformed: loki-mode's verifier reads each line with Python's
    ``json.loads``, which refuses one, so a chain holding one is broken there;
    a check more lenient than that tool's would call a chain valid that it
    calls broken.
    """
    if line.startswith(_BOM):
        return Skip.MALFORMED
    return decode_record(line)


def _loads(line: bytes) -> object:
    """Decode what msgspec refused but Python's json reads: NaN, Infinity, 1e400, surrogates.

    Raises ValueError when neither reads it.
    """
    try:
        return RECORD_DECODER.decode(line)
    except msgspec.DecodeError:  # a RecursionError goes on to the caller
        pass
    return json.loads(line)  # a ValueError (JSONDecodeError) when it is not JSON either


def _recover(line: bytes) -> object:
    """Decode a line msgspec refused: Python's json, NUL padding, invalid UTF-8, each once."""
    if not line.strip():
        return Skip.BLANK
    if b"\0" in line:
        # A crash can leave a run of NUL bytes where a write was lost; the
        # writer then appends after them. The record after the NULs is intact.
        line = line.strip(b"\0 \t\r\n")
        if not line:
            return Skip.NUL
    repaired = line.decode("utf-8", "replace").encode()
    try:
        record = _loads(repaired)
    except RecursionError:
        return Skip.TOO_DEEP
    except ValueError:
        return Skip.MALFORMED
    if repaired != line and isinstance(record, dict):
        record[INVALID_UTF8_KEY] = True
    return record
