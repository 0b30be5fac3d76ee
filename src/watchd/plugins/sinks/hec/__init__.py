"""The ``hec`` sink: Splunk's HTTP Event Collector, batched, retried, never blocking the loop.

The loop formats events into HEC objects and hands whole batches (1 MB or 1 s,
whichever comes first) to one worker thread through a bounded queue; the worker
POSTs them and wakes the loop through a pipe when a batch is done. An event
counts as delivered when HEC answered 2xx for its batch, or, with indexer
acknowledgement, when HEC says the batch was indexed. Network errors, 5xx and
429 are retried with jittered backoff, without end; a 400 for bad data sends
the event HEC names (or the batch) to the dead-letter file and goes on; 401
and 403 stop the sink with one clear line. The token is never logged.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit

from watchd.codecs.hostname import local_hostname
from watchd.core.context import RunContext, SinkFactory
from watchd.core.deadletters import dead_letters
from watchd.core.errors import UsageError
from watchd.core.hookspecs import hookimpl
from watchd.core.registry import TypeTable
from watchd.core.spec import Options, Spec
from watchd.plugins.sinks.hec.client import HecClient
from watchd.plugins.sinks.hec.objects import HecObjects
from watchd.plugins.sinks.hec.sink import HecSink
from watchd.plugins.sinks.network import delivery, tls_context

TOKEN_ENV = "WATCHD_HEC_TOKEN"  # noqa: S105 - the variable's name, not a token


def make_hec_sink(spec: Spec, context: RunContext) -> HecSink:
    """Build ``hec:https://HOST:8088[,token=…][,index=…][,sourcetype=…]…``."""
    options = spec.options
    where = options.where
    url = spec.target
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{where}: expected https://HOST:PORT, as in https://splunk:8088")
    token = options.optional("token") or os.environ.get(TOKEN_ENV, "")
    if not token:
        raise UsageError(f"{where}: no token: give token=… or set {TOKEN_ENV}")
    compat = options.choice("compat", ("none", "loki"), "none")
    loki = compat == "loki"
    objects = HecObjects(
        host=options.text("host", "" if loki else local_hostname()),
        source=options.optional("source"),
        sourcetype=options.text("sourcetype", "loki:audit" if loki else "watchd:audit"),
        index=options.optional("index"),
        loki=loki,
    )
    compress = options.flag("gzip", default=False)
    ack = options.flag("ack", default=False)
    tls = tls_context(options) if parts.scheme == "https" else None
    max_bytes = options.number("batch_bytes", 1_000_000, minimum=1024)
    flush = _flush_option(options)
    ack_timeout = options.duration("ack_timeout", 300.0, unit="s", minimum=0.1)
    settings = delivery(options, base=0.2)
    letters = dead_letters(options, f"hec:{url}", dry_run=context.dry_run)
    options.finish()
    context.opening()
    channel = str(uuid.uuid4()) if ack else None
    client = HecClient(url, token, tls=tls, compress=compress, channel=channel)
    return HecSink(
        f"hec:{url}",
        client,
        objects,
        max_bytes=max_bytes,
        flush_seconds=flush,
        delivery=settings,
        ack=ack,
        ack_timeout=ack_timeout,
        letters=letters,
    )


def _flush_option(options: Options) -> float:
    """Take ``flush=DURATION`` (with its unit), or its older spelling ``flush_ms=`` (ms)."""
    if "flush_ms" in options and "flush" in options:
        raise UsageError(f"{options.where}: give flush= or flush_ms=, not both")
    if "flush_ms" in options:
        return options.duration("flush_ms", 1.0, unit="ms", minimum=0.001)
    return options.duration("flush", 1.0, unit=None, minimum=0.001)


@hookimpl
def watchd_register_sink_types(sinks: TypeTable[SinkFactory]) -> None:
    """Register ``hec``."""
    sinks.add(
        "hec",
        make_hec_sink,
        "Splunk HTTP Event Collector: hec:https://HOST:8088[,token=…][,index=…][,ack=yes]",
    )
