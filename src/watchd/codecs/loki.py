"""loki-mode's wire rules that both directions need: which records it logs as warnings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Actions loki-mode itself logs at WARNING (its syslog and CEF converters agree).
SECURITY_ACTIONS = frozenset(
    ("delete", "kill", "stop", "login", "logout", "create_token", "revoke_token")
)


def loki_warns(record: Mapping[str, Any]) -> bool:
    """Return True when loki-mode logs *record* at WARNING: a failure or a security action."""
    action = record.get("action")
    return record.get("success") is False or (
        isinstance(action, str) and action in SECURITY_ACTIONS
    )
