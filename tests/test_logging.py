"""watchd's own log lines: a traceback names frames, never their variables."""

from __future__ import annotations

import io
import json

import pytest
import structlog

from watchd.core.logging import configure_logging


@pytest.fixture
def stream():
    """watchd's logging configured onto a string, and the previous configuration restored."""
    configured, previous = structlog.is_configured(), structlog.get_config()
    out = io.StringIO()
    configure_logging(0, out)
    yield out
    structlog.reset_defaults()
    if configured:
        structlog.configure(**previous)


def test_a_logged_traceback_carries_no_locals(stream):
    token = "hec-token-5f1c"  # noqa: S105 - a stand-in for a secret in a frame

    def fail(line: bytes) -> None:
        raise ValueError("cannot decode")

    try:
        fail(b'{"password":"' + token.encode() + b'"}')
    except ValueError:
        structlog.get_logger("watchd").exception("source failed and was detached")
    logged = json.loads(stream.getvalue())
    assert logged["exception"][0]["frames"][-1]["name"] == "fail"
    assert token not in stream.getvalue()
