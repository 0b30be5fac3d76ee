"""``/metrics``: the run as Prometheus sees it, through ``prometheus_client``.

Nothing is counted twice: the collector reads, at each scrape, the counts the
run keeps anyway (the loop's events per source, the pipeline's per sink, each
part's :class:`~watchd.core.interfaces.SourceMeasures` and ``SinkMeasures``).
The loop pays nothing for a metric nobody scrapes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from watchd.core.interfaces import AsyncSink, MeasuredSink, MeasuredSource, SinkMeasures
from watchd.core.run import Running
from watchd.http.live import LiveFeed

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RunCollector(Collector):
    """The counts of one run, read when scraped."""

    def __init__(
        self,
        running: Running,
        live: LiveFeed,
        checkpoint_time: Callable[[], float | None],
    ) -> None:
        self._running = running
        self._live = live
        self._checkpoint_time = checkpoint_time

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family of the run, as it is now."""
        yield from self._sources()
        yield from self._sinks()
        clients = GaugeMetricFamily("watchd_http_live_clients", "Clients reading the live stream")
        clients.add_metric([], self._live.clients)
        yield clients
        dropped = CounterMetricFamily(
            "watchd_http_live_clients_dropped", "Live clients dropped for falling behind"
        )
        dropped.add_metric([], self._live.dropped)
        yield dropped
        unencodable = CounterMetricFamily(
            "watchd_http_live_events_unencodable",
            "Events left out of the live stream because they could not be written as JSON",
        )
        unencodable.add_metric([], self._live.unencodable)
        yield unencodable
        written = self._checkpoint_time()
        if written is not None:
            age = GaugeMetricFamily(
                "watchd_checkpoint_age_seconds", "Seconds since the last checkpoint was written"
            )
            age.add_metric([], max(time.time() - written, 0.0))
            yield age

    def _sources(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "watchd_source_events", "Events each source gave", labels=["source"]
        )
        for name, number in sorted(self._running.loop.events_by_source().items()):
            events.add_metric([name], number)
        yield events
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
            "bytes_read": CounterMetricFamily(
                "watchd_source_read_bytes", "Bytes read", labels=["source"]
            ),
            "bytes_behind": GaugeMetricFamily(
                "watchd_source_unread_bytes",
                "Bytes the followed files hold past what was read",
                labels=["source"],
            ),
            "files": GaugeMetricFamily("watchd_source_files", "Files followed", labels=["source"]),
            "integrity_breaks": CounterMetricFamily(
                "watchd_source_integrity_breaks", "Integrity chain breaks found", labels=["source"]
            ),
        }
        skipped = CounterMetricFamily(
            "watchd_source_lines_skipped", "Lines skipped, by reason", labels=["source", "reason"]
        )
        for watcher in self._running.watchers:
            if not isinstance(watcher, MeasuredSource):
                continue
            measures = watcher.measures()
            for key, family in families.items():
                family.add_metric([watcher.name], getattr(measures, key))
            for reason, number in sorted(measures.skipped.items()):
                skipped.add_metric([watcher.name, reason], number)
        yield from families.values()
        yield skipped

    def _sinks(self) -> Iterator[Metric]:
        pipeline = self._running.loop.pipeline
        delivered = CounterMetricFamily(
            "watchd_sink_events_delivered", "Events each sink delivered", labels=["sink"]
        )
        emitted = dict(pipeline.emitted)
        detached = CounterMetricFamily(
            "watchd_sink_detached", "Times a sink was detached (it failed)", labels=["sink"]
        )
        # SinkMeasures field -> its family; the order is the exposition's.
        measured: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            key: family("watchd_sink_" + name, text, labels=["sink"])
            for key, family, name, text in (
                ("queued_events", GaugeMetricFamily, "queue_events", "Events queued for the sink"),
                ("queued_bytes", GaugeMetricFamily, "queue_bytes", "Bytes queued for the sink"),
                (
                    "reconnects",
                    CounterMetricFamily,
                    "reconnects",
                    "Connections made again after an outage",
                ),
                (
                    "dead_lettered",
                    CounterMetricFamily,
                    "dead_lettered",
                    "Events set aside as dead letters",
                ),
            )
        }
        connected = GaugeMetricFamily(
            "watchd_sink_connected", "1 while the sink's connection is up", labels=["sink"]
        )
        for sink in self._running.sinks:
            name = sink.name
            if isinstance(sink, AsyncSink):
                delivered.add_metric([name], sink.delivered())
            else:
                delivered.add_metric([name], emitted.get(name, 0))
            detached.add_metric([name], pipeline.detached.get(name, 0))
            measures = _measures_of(sink)
            for key, family in measured.items():
                family.add_metric([name], getattr(measures, key))
            if measures.connected is not None:
                connected.add_metric([name], 1.0 if measures.connected else 0.0)
        yield delivered
        yield detached
        yield from measured.values()
        yield connected


def _measures_of(sink: object) -> SinkMeasures:
    """Return what *sink* reports, or what an async sink's counts say of its queue."""
    if isinstance(sink, MeasuredSink):
        with contextlib.suppress(Exception):  # read off the loop's thread: a race is a gap
            return sink.measures()
    if isinstance(sink, AsyncSink):
        with contextlib.suppress(Exception):
            return SinkMeasures(
                queued_events=max(sink.accepted() - sink.delivered(), 0),
                connected=sink.fileno() >= 0,
            )
    return SinkMeasures()


def registry_for(collector: RunCollector) -> CollectorRegistry:
    """Return a registry of the run's metrics and the process's (CPU, memory, descriptors)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """Return the metrics in Prometheus' text format."""
    return generate_latest(registry)
