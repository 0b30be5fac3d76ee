"""``watchd.testing``: watchd's own types pass the kit, broken ones fail it by name."""

from __future__ import annotations

import argparse
import io
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import clean_env
from fakes import IdleAsyncSink
from watchd.core.context import RunContext, RunSettings
from watchd.core.plugins import PluginHost
from watchd.core.spec import parse_spec
from watchd.testing import (
    ConformanceError,
    check_dialect,
    check_format,
    check_sink,
    check_sink_failure,
    check_sink_stall,
    check_source,
    run_context,
)

REGISTRY = PluginHost(autoload=False).collect()
FRAMING = {"csv": "csv"}


@pytest.mark.parametrize("name", REGISTRY.formats.names())
def test_every_builtin_format_gives_one_frame_an_event(name):
    entry = REGISTRY.formats.entry(name, "test")
    check_format(entry.item, entry.options.parse(), name=name, framing=FRAMING.get(name, "line"))


def test_loki_modes_own_cef_keeps_cr_and_lf_out():
    entry = REGISTRY.formats.entry("cef", "t")
    check_format(entry.item, entry.options.parse(compat="loki"), framing="crlf")


@pytest.mark.parametrize("name", REGISTRY.dialects.names())
def test_every_builtin_dialect_maps_any_object(name):
    check_dialect(REGISTRY.dialects.get(name, "test"), name=name)


def context() -> RunContext:
    return RunContext(argparse.Namespace(), REGISTRY, io.BytesIO(), RunSettings())


def details(lines: list[bytes]) -> list[str]:
    import json  # noqa: PLC0415

    return [json.loads(line)["detail"] for line in lines if line]


def test_the_file_sink_delivers_every_event_once_in_order(tmp_path):
    out = tmp_path / "out.jsonl"
    spec = parse_spec(f"file:{out}", "--sink")
    check_sink(
        lambda: REGISTRY.sinks.build(spec, context()),
        lambda: details(out.read_bytes().splitlines()),
        name="file",
    )


@pytest.mark.parametrize("sink", ["tcp:127.0.0.1:{port}", "syslog:tcp://127.0.0.1:{port}"])
def test_the_stream_sinks_deliver_every_event_once_in_order(sink):
    import re  # noqa: PLC0415

    server = socket.create_server(("127.0.0.1", 0))
    received = bytearray()

    def collect() -> None:
        connection, _ = server.accept()
        with connection:
            while chunk := connection.recv(65536):
                received.extend(chunk)

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    spec = parse_spec(sink.format(port=server.getsockname()[1]), "--sink")

    def delivered() -> list[str]:
        thread.join(timeout=10)
        # Each event's JSON form (the line, or the syslog message's body) says its detail.
        return [m.decode() for m in re.findall(rb'"detail":"(n=\d+)"', bytes(received))]

    try:
        check_sink(lambda: REGISTRY.sinks.build(spec, context()), delivered, name=spec.type)
    finally:
        server.close()


class Leaky:
    """A format that lets a newline through: the kit must say so."""

    def __init__(self, *_: object) -> None:
        pass

    def __call__(self, event):
        return event.detail.encode()


class Dropping:
    """A sink that loses every tenth event: the kit must say so."""

    name = "dropping"

    def __init__(self) -> None:
        self.got: list[str] = []
        self.seen = 0

    def emit_batch(self, events):
        for event in events:
            self.seen += 1
            if self.seen % 10:
                self.got.append(event.detail)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_broken_format_and_a_broken_sink_fail_with_what_broke():
    with pytest.raises(ConformanceError, match="format 'leaky': let a line end through"):
        check_format(Leaky, name="leaky")
    sink = Dropping()
    with pytest.raises(ConformanceError, match="sink 'dropping': 30 events never delivered"):
        check_sink(lambda: sink, lambda: sink.got, name="dropping")


KIT_USER = """
from watchd.testing import check_format


def test_the_fixtures_come_with_watchd(watchd_hostile_events, watchd_clock, watchd_cli):
    assert len(watchd_hostile_events) > 20
    watchd_clock.advance(5)
    assert watchd_clock() == 1005.0
    assert watchd_cli("plugins").returncode == 0
"""


def test_the_kit_is_a_pytest_plugin_a_package_gets_without_importing_it(tmp_path: Path):
    (tmp_path / "test_mine.py").write_text(KIT_USER)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, env=clean_env(), cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_example_plugin_package_passes_the_kit(example_plugin, monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(example_plugin))
    import watchd_example  # noqa: PLC0415

    options = watchd_example.LogfmtOptions.parse(keys="ts,action,container,detail")
    check_format(watchd_example.make_logfmt, options, name="logfmt")
    check_dialect(watchd_example.ExampleDialect(), name="example")
    out = tmp_path / "out.tsv"
    sink_options = watchd_example.TsvOptions.parse(str(out))
    check_sink(
        lambda: watchd_example.make_tsv(sink_options, context()),
        lambda: [row.split("\t")[2] for row in out.read_text().splitlines()],
        name="tsv",
    )


# -- a sink whose peer stalls, a sink whose peer is lost, a source across a restart


def test_the_tcp_sink_stays_in_its_bound_while_its_peer_stalls_then_catches_up():
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the peer takes little
    server.bind(("127.0.0.1", 0))
    server.listen()
    received = bytearray()
    accepted: list[socket.socket] = []
    go = threading.Event()

    def peer() -> None:
        connection, _ = server.accept()
        accepted.append(connection)
        go.wait()  # stalled: connected, reading nothing
        with connection:
            while chunk := connection.recv(1 << 20):
                received.extend(chunk)

    reader = threading.Thread(target=peer, daemon=True)
    spec = parse_spec(f"tcp:127.0.0.1:{server.getsockname()[1]},queue_bytes=1MiB", "--sink")

    def delivered() -> list[str]:
        reader.join(timeout=60)
        return details(bytes(received).splitlines())

    check_sink_stall(
        lambda: REGISTRY.sinks.build(spec, context()),
        delivered,
        stall=reader.start,
        resume=go.set,
        max_bytes=1 << 20,
        name="tcp",
    )
    server.close()


class Hoarding(IdleAsyncSink):
    """A sink that says it always has room and holds every event: memory without end."""

    name = "hoarding"


def test_a_sink_that_never_says_it_is_full_fails_the_stall_check():
    with pytest.raises(
        ConformanceError, match=r"sink 'hoarding': took all .* never saying it was full"
    ):
        check_sink_stall(
            Hoarding, list, stall=lambda: None, resume=lambda: None, max_bytes=1 << 20,
            name="hoarding", deadline=20,
        )  # fmt: skip
    with pytest.raises(ConformanceError, match="has no has_room"):
        check_sink_stall(
            Dropping, list, stall=lambda: None, resume=lambda: None, max_bytes=1, name="dropping"
        )


def test_the_file_sink_s_failure_is_one_line_without_a_record():
    spec = parse_spec("file:/dev/full", "--sink")  # every write: ENOSPC
    check_sink_failure(
        lambda: REGISTRY.sinks.build(spec, context()), fail=lambda: None, name="file"
    )


class Raising(Dropping):
    """A sink that fails with the record in its message: a traceback, and content in the log."""

    name = "raising"

    def emit_batch(self, events):
        raise RuntimeError(f"cannot send {events[0].dest}")


def test_a_sink_that_fails_with_a_traceback_fails_the_failure_check():
    with pytest.raises(ConformanceError, match="sink 'raising': logged a traceback"):
        check_sink_failure(Raising, fail=lambda: None, name="raising")


def test_the_audit_source_gives_every_record_once_across_a_restart(tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    spec = parse_spec(f"audit:{trail}", "--source")

    def append(markers) -> None:
        import json  # noqa: PLC0415

        with trail.open("a") as out:
            out.writelines(json.dumps({"ts": "2026-01-01T00:00:00Z", "action": m}) + "\n"
                           for m in markers)  # fmt: skip

    check_source(lambda ctx: ctx.registry.sources.build(spec, ctx), append, name="audit")


def test_a_source_that_forgets_where_it_was_fails_the_restart_check(tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    spec = parse_spec(f"audit:{trail}", "--source")

    def forgetful(ctx):
        ctx.settings = RunSettings(start=ctx.settings.start)  # no state directory: no checkpoint
        return ctx.registry.sources.build(spec, ctx)

    def append(markers) -> None:
        with trail.open("a") as out:
            out.writelines(f'{{"ts": "t", "action": "{m}"}}\n' for m in markers)

    with pytest.raises(ConformanceError, match=r"source 'forgetful': .* records came again"):
        check_source(forgetful, append, name="forgetful")


def test_a_sink_built_in_process_reads_the_injected_clock(watchd_clock):
    """The TCP sink's retry waits on the test's clock: it moves when the test says."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
        ctx = run_context(clock=watchd_clock)
        spec = parse_spec(f"tcp:127.0.0.1:{closed.getsockname()[1]},backoff_max=1s", "--sink")
        sink = ctx.registry.sinks.build(spec, ctx)
        sink.on_timeout()  # a non-blocking connect
        sink.on_writable()  # refused: an outage starts, the next try scheduled
        waiting = sink.timeout()
        assert 0 < waiting <= 0.1  # the first backoff, on the test's clock
        assert sink.timeout() == waiting  # no real time passes on it
        watchd_clock.advance(waiting)
        assert sink.timeout() == 0.0  # due: the test said so
        sink.close()
