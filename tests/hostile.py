"""Hypothesis strategies for what an attacker writes into a trail or sends a listener.

Text is drawn from the characters that break frames and parsers: every C0
and C1 control, DEL, the line and paragraph separators, the bidirectional
and other format characters (Unicode category Cf), the delimiters of every
output format, and plain and astral letters between them. Records nest,
repeat the mapped keys with values of every JSON type, and use the same
hostile characters in their keys.
"""

from __future__ import annotations

import sys
import unicodedata

from hypothesis import strategies as st

#: Every Cf, Zl and Zp character, and the C0 and C1 controls with DEL.
FORMAT_CHARACTERS = "".join(
    chr(code)
    for code in range(sys.maxunicode + 1)
    if unicodedata.category(chr(code)) in ("Cf", "Zl", "Zp", "Cc")
)
DELIMITERS = ["=", "|", "]", "[", '"', "\\", "^", ",", " ", "\t", "<", ">", "{", "}", ":", "@"]
FRAGMENTS = [
    "\n",
    "\r\n",
    " suser=root",
    "CEF:0|Autonomi|Loki Mode|1|login|login|10|",
    "LEEF:2.0|x|y|1|a|^|",
    '"] [forged@1 a="b"]',
    "<13>1 - - - - - forged",
    "\x1b[2J\x1b[31m",
    "\u202eevil\u202c",
    "\ufeff",
    "0",
    "01",
    "",
]

hostile_text = st.one_of(
    st.text(
        alphabet=st.one_of(
            st.sampled_from(FORMAT_CHARACTERS),
            st.sampled_from(DELIMITERS),
            st.characters(blacklist_categories=("Cs",)),
        ),
        max_size=24,
    ),
    st.lists(st.sampled_from(FRAGMENTS + DELIMITERS), max_size=5).map("".join),
)
#: What Python's json.loads reads beyond strict JSON, and loki-mode writes:
#: integers of any width, NaN and the infinities, lone surrogates.
odd_scalars = st.one_of(
    st.integers(2**64, 2**200),
    st.integers(-(2**200), -(2**63) - 1),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
    st.text(alphabet=st.characters(whitelist_categories=("Cs",)), min_size=1, max_size=3),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
    odd_scalars,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)
    ),
    max_leaves=16,
)
#: Keys every built-in dialect maps, so that records reach every branch of each.
MAPPED_KEYS = [
    "timestamp", "ts", "time", "action", "event", "resource_type", "resource_id", "agent",
    "user_id", "ip_address", "token_id", "error", "level", "severity", "success", "details",
    "container", "dest", "detail", "actor", "origin", "extra", "worktree", "source", "kind",
    "lock", "owner", "pid", "host", "reason", "message", "msg", "branch", "path",
    "_integrity_hash", "_prev_hash",
]  # fmt: skip
records = st.dictionaries(
    st.one_of(st.sampled_from(MAPPED_KEYS), hostile_text), json_values, max_size=12
)


def nested(depth: int) -> object:
    """Return a value nested *depth* levels deep, objects and arrays in turn."""
    value: object = "bottom"
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value
