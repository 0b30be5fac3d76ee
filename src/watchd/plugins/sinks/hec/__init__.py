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

import ssl
import uuid
from urllib.parse import urlsplit

from watchd.codecs.hostname import local_hostname
from watchd.core.context import Checking, RunContext, SinkFactory
from watchd.core.deadletters import DeadLettered, dead_letters
from watchd.core.errors import UsageError
from watchd.core.hookspecs import hookimpl
from watchd.core.option_kinds import Choice, Duration, Flag, OptionalText, Secret, Size
from watchd.core.registry import TypeTable
from watchd.plugins.sinks.hec.client import HecClient
from watchd.plugins.sinks.hec.objects import HecObjects
from watchd.plugins.sinks.hec.sink import HecSink
from watchd.plugins.sinks.network import Delivered, TlsClient

TOKEN_ENV = "WATCHD_HEC_TOKEN"  # noqa: S105 - the variable's name, not a token


class HecOptions(Delivered, DeadLettered, TlsClient):
    """Splunk HTTP Event Collector, batched, with indexer acknowledgement if asked."""

    target_form = "http[s]://HOST:PORT"
    target_required = True
    example = "hec:https://splunk.example.net:8088"
    token = Secret(f"the HEC token (else ${TOKEN_ENV}); never logged", env=TOKEN_ENV)
    compat = Choice(("none", "loki"), "none", "loki: loki-mode's own HEC events")
    host = OptionalText(
        "the events' host (this host's name; none with compat=loki)", metavar="NAME"
    )
    source = OptionalText("the events' source (the trail's)", metavar="NAME")
    sourcetype = OptionalText(
        "the events' sourcetype (watchd:audit; loki:audit with compat=loki)", metavar="NAME"
    )
    index = OptionalText("the index (the token's default)", metavar="NAME")
    gzip = Flag(False, "compress each batch")
    ack = Flag(False, "count an event delivered only once HEC says it is indexed")
    batch_bytes = Size(1_000_000, "largest batch", minimum=1024)
    flush = Duration(1.0, "longest a batch waits to fill", unit=None, minimum=0.001)
    flush_ms = Duration(
        1.0, "flush= in milliseconds (the older spelling)", unit="ms", minimum=0.001
    )
    ack_timeout = Duration(
        300.0, "how long an unacknowledged batch waits before it is sent again", minimum=0.1
    )

    def check(self, checking: Checking) -> None:
        """Read the URL; a token is needed; TLS only for https."""
        super().check(checking)
        parts = urlsplit(self.target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"{self.where}: expected https://HOST:PORT, as in https://splunk:8088")
        if not self.token:
            raise UsageError(f"{self.where}: no token: give token=… or set {TOKEN_ENV}")
        if "flush_ms" in self.given and "flush" in self.given:
            raise UsageError(f"{self.where}: give flush= or flush_ms=, not both")
        if "flush_ms" in self.given:
            self._values["flush"] = self.flush_ms
        self.unused("flush_ms")
        if parts.scheme == "https":
            self.tls: ssl.SSLContext | None = self.check_tls()
        else:
            self.tls = None
            self.refuse_given(self.TLS_KEYS, "applies to https:// only")
            self.unused(*self.TLS_KEYS)


def build_hec_sink(options: HecOptions, context: RunContext) -> HecSink:
    """Build ``hec:https://HOST:8088``: a worker thread posts the batches."""
    url = options.target
    loki = options.compat == "loki"
    objects = HecObjects(
        host=options.host if options.host is not None else "" if loki else local_hostname(),
        source=options.source,
        sourcetype=options.sourcetype or ("loki:audit" if loki else "watchd:audit"),
        index=options.index,
        loki=loki,
    )
    letters = dead_letters(options, f"hec:{url}")
    channel = str(uuid.uuid4()) if options.ack else None
    token = options.token or ""
    client = HecClient(url, token, tls=options.tls, compress=options.gzip, channel=channel)
    return HecSink(
        f"hec:{url}",
        client,
        objects,
        max_bytes=options.batch_bytes,
        flush_seconds=options.flush,
        delivery=options.delivery(base=0.2, clock=context.clock),
        ack=options.ack,
        ack_timeout=options.ack_timeout,
        letters=letters,
    )


@hookimpl
def watchd_register_sink_types(sinks: TypeTable[SinkFactory]) -> None:
    """Register ``hec``."""
    sinks.add("hec", build_hec_sink, HecOptions)
