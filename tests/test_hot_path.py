"""Hooks are for wiring: the per-event path calls none of them."""

from __future__ import annotations

import argparse
import io
from collections import Counter

from conftest import line
from watchd.core.context import RunSettings, StartAt
from watchd.core.hookspecs import hookimpl
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
        context = ready.context

    context = None
    plan = RunPlan(
        sources=[parse_spec(f"audit:{trail}", "test")],
        sinks=[parse_spec("stdout,format=json", "test")],
        filters=[],
        settings=RunSettings(start=StartAt("beginning")),
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
    # The registration hooks go through pluggy (so monitored here), once per
    # implementation, before the run (see the test below); then configure and
    # unconfigure once each: nothing per event.
    registrations = {name for name in many if name.startswith("watchd_register_")}
    assert set(many) - registrations == {"watchd_configure", "watchd_unconfigure"}
    assert (many["watchd_configure"], many["watchd_unconfigure"]) == (1, 1)


class Registers:
    """A plugin whose registration hooks count their calls."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: Counter[str] = Counter()

    @hookimpl
    def watchd_register_sink_types(self, sinks):
        self.calls["sinks"] += 1
        sinks.add(f"{self.name}-sink", lambda options, context: None)

    @hookimpl
    def watchd_register_formats(self, formats):
        self.calls["formats"] += 1


def test_registration_calls_each_implementation_once_and_records_its_plugin():
    host = PluginHost(autoload=False)
    plugins = [Registers(f"p{n}") for n in range(20)]
    for plugin in plugins:
        host.pm.register(plugin, name=plugin.name)
    registry = host.collect()
    assert [p.calls for p in plugins] == [Counter(sinks=1, formats=1)] * 20
    entries = {e.name: e.plugin for e in registry.sinks}
    assert {n: entries[f"{n}-sink"] for n in ("p0", "p19")} == {"p0": "p0", "p19": "p19"}
    assert entries["stdout"] == "stdout"
