r"""Text for people: every character that could move a cursor, end a line or reorder one, escaped.

A terminal obeys escape sequences; a reader's ``splitlines()`` ends a line at
U+2028 and U+2029; the bidirectional controls (U+202A-U+202E, U+2066-U+2069)
show a line in another order than it is stored (the "Trojan Source" trick).
So a value from a record, a file name or a peer is shown with every control
(Unicode category Cc), format (Cf), line separator (Zl) and paragraph
separator (Zp) character written as an escape: ``\n``, ``\x1b``, ``\u202e``;
so is a lone surrogate (Cs), which Python's json reads but no UTF-8 can hold.
Every text frame is made bytes by :func:`utf8`.
"""

from __future__ import annotations

import re
import unicodedata

_UNSAFE = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs"))
_ESCAPES = {chr(code): f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}
_ESCAPES.update({chr(code): f"\\u{code:04x}" for code in range(0x80, 0xA0)})
_ESCAPES.update({"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _escaped(char: str) -> str:
    known = _ESCAPES.get(char)
    if known is not None:
        return known
    if unicodedata.category(char) not in _UNSAFE:
        return char  # a space separator or an unassigned character: shown as it is
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: str) -> str:
    """Return *text* with every Cc, Cf, Zl, Zp and Cs character escaped."""
    if text.isprintable():  # as almost all are: isprintable() is False for each of them
        return text
    return "".join(map(_escaped, text))


_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8(text: str) -> bytes:
    """Return *text* as UTF-8; a lone surrogate (which UTF-8 cannot hold) becomes U+FFFD."""
    try:
        return text.encode()
    except UnicodeEncodeError:  # only a lone surrogate: every other str encodes
        return _SURROGATE.sub("\ufffd", text).encode()


_SPECIAL = frozenset(' "\\=')


def quoted(text: str) -> str:
    r"""Return *text* as one token that reads back unambiguously, logfmt-style.

    Plain text stays bare. Text with a space, ``=``, a quote or a backslash,
    or a character that needs an escape, is put in quotes with its own ``\``
    and ``"`` escaped, so an escaped ESC (``"\x1b"``) never reads like the
    four characters ``\x1b`` of a value (``"\\x1b"``); empty text is ``""``.
    """
    if text and text.isprintable() and _SPECIAL.isdisjoint(text):
        return text
    return '"' + printable(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'
