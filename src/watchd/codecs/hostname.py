"""The name this host gives itself in what it sends (syslog's HOSTNAME, CEF's dvchost)."""

from __future__ import annotations

import socket


def local_hostname() -> str:
    """Return this host's name (no DNS lookup: it may block or fail)."""
    return socket.gethostname() or "-"
