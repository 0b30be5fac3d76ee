"""Deprecated: the TCP sink is :mod:`watchd.plugins.sinks.tcp`, its plumbing :mod:`...network`.

``StreamSink`` is now ``TcpSink``.
"""

from watchd._moved import warn_moved
from watchd.plugins.sinks.network import (
    Backoff,
    Outage,
    QueueBounds,
    QueuedSink,
    tls_context,
    warn_undelivered,
)
from watchd.plugins.sinks.tcp import TcpSink, make_tcp_sink, newline_frame

StreamSink = TcpSink

warn_moved(__name__, "watchd.plugins.sinks.tcp")

__all__ = [
    "Backoff",
    "Outage",
    "QueueBounds",
    "QueuedSink",
    "StreamSink",
    "TcpSink",
    "make_tcp_sink",
    "newline_frame",
    "tls_context",
    "warn_undelivered",
]
