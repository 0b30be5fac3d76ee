"""Hooks are for wiring: the per-event path calls none of them."""

from __future__ import annotations

import argparse
import io
from collections import Counter

from conftest import line
from watchd.core.context import StartAt
from watchd.core.plugins import PluginHost
from watchd.core.run import RunPlan, execute
from watchd.core.spec import parse_spec


def hook_calls_for(trail, records: int) -> tuple[Counter[str], bytes]:
    trail.write_bytes(b"".join(line(n % 60, seq=n) for n in range(records)))
    host = PluginHost(autoload=False)
    calls: Counter[str] = Counter()
    host.pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: calls.update([name]), lambda outcome, name, impls, kwargs: None
    )
    registry = host.collect()
    out = io.BytesIO()
    seen = 0

    def stop_after_all(events):
        nonlocal seen
        seen += len(events)
        if seen >= records:
            context.request_stop(0)
        return events

    def keep_context(ready):
        nonlocal context
        context = ready

    context = None
    plan = RunPlan(
        sources=[parse_spec(f"audit:{trail}", "test")],
        sinks=[parse_spec("stdout,format=json", "test")],
        filters=[],
        start=StartAt("beginning"),
        extra_filters=[stop_after_all],
    )
    assert execute(host, registry, argparse.Namespace(), plan, out, on_ready=keep_context) == 0
    return calls, out.getvalue()


def test_hook_calls_do_not_grow_with_the_number_of_events(tmp_path):
    few, few_out = hook_calls_for(tmp_path / "few.jsonl", 10)
    many, many_out = hook_calls_for(tmp_path / "many.jsonl", 20_000)
    assert few_out.count(b"\n") == 10
    assert many_out.count(b"\n") == 20_000
    assert few == many
    assert set(many) == {
        "watchd_configure",
        "watchd_unconfigure",
        "watchd_register_source_types",
        "watchd_register_sink_types",
        "watchd_register_formats",
        "watchd_register_dialects",
        "watchd_register_filters",
    }
