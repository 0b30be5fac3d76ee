"""``cef,compat=loki`` is loki-mode's own converter, byte for byte, hostile records included.

``data/loki_cef_golden.jsonl`` holds 600 seeded hostile loki-shaped records
(keys and values of LF, CR, ``=``, ``|``, ``\\``, `` suser=``, NUL, escapes,
bidi controls, integer-like keys, nesting to depth 8, numbers JavaScript
writes its own way) and the line loki-mode's ``toCEF`` (its
``src/observability/siem-export.js``, run by Node.js with version 9.9.9)
wrote for each. To regenerate it, run that function over the records:
``node -e "const {toCEF}=require('./siem-export.js'); ..."``.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from watchd.core.interfaces import RecordSource
from watchd.plugins.formats.loki_cef import LokiCefFormat, js_string
from watchd.watchers.dialects.generic import event_from
from watchd.watchers.dialects.loki import LokiDialect

GOLDEN = [
    orjson.loads(line)
    for line in (Path(__file__).parent / "data" / "loki_cef_golden.jsonl").read_bytes().splitlines()
]
FORMAT = LokiCefFormat("Autonomi", "Loki Mode", "9.9.9")


def loki_cef(record: dict[str, object]) -> bytes:
    return FORMAT(event_from(LokiDialect(), record, RecordSource("audit", "/a.jsonl")))


def test_every_golden_record_gives_loki_modes_bytes() -> None:
    differ = [case["record"] for case in GOLDEN if loki_cef(case["record"]) != case["cef"].encode()]
    assert differ == []
    assert len(GOLDEN) == 600


def test_a_key_cannot_start_a_line_or_inject_a_field() -> None:
    line = loki_cef(
        {
            "timestamp": "2026-02-15T14:30:00Z",
            "action": "login",
            "resource_type": "session",
            "details": {"x\nCEF:0|Autonomi|Loki Mode|1|a|a|10|": "v", "k suser=root": "w"},
        }
    )
    assert line == (
        b"CEF:0|Autonomi|Loki Mode|9.9.9|login|login|3|rt=2026-02-15T14:30:00Z cs1=session "
        b"cs1Label=resourceType loki.x\\nCEF:0|Autonomi|Loki Mode|1|a|a|10|=v "
        b"loki.k suser\\=root=w"
    )


def test_null_and_empty_details_and_an_empty_action() -> None:
    line = loki_cef(
        {
            "timestamp": "t",
            "action": "",
            "resource_type": "task",
            "details": {"gone": None, "empty": "", "2": 2, "1": [1, None, [2, 3], {"a": 1}]},
        }
    )
    assert line == (
        b"CEF:0|Autonomi|Loki Mode|9.9.9|event|Loki audit event|3|rt=t cs1=task "
        b"cs1Label=resourceType loki.1=1,,2,3,[object Object] loki.2=2 loki.gone= loki.empty="
    )


def test_details_are_flattened_to_loki_modes_depth() -> None:
    deep = {"x": 1, "e": {"y": 2}}
    line = loki_cef(
        {
            "timestamp": "t",
            "action": "a",
            "resource_type": "r",
            "details": {"a": {"b": {"c": {"d": deep}}}},
        }
    )
    assert line.endswith(b"|3|rt=t cs1=r cs1Label=resourceType loki.a.b.c.d.x=1")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (4.25, "4.25"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (123456789012345678901, "123456789012345680000"),
        (2**1100, "Infinity"),
        (0.1, "0.1"),
    ],
)
def test_numbers_are_written_as_javascript_writes_them(value: float, text: str) -> None:
    assert js_string(value) == text


def test_severity_comes_from_level_then_severity_and_failure_wins() -> None:
    base = {"timestamp": "t", "action": "a", "resource_type": "r"}
    assert loki_cef({**base, "level": "CRITICAL"}).split(b"|")[6] == b"9"
    assert loki_cef({**base, "severity": "alert"}).split(b"|")[6] == b"10"
    assert loki_cef({**base, "level": "alert", "success": False}).split(b"|")[6] == b"8"
    assert loki_cef({**base, "level": 5}).split(b"|")[6] == b"3"
