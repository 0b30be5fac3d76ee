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
from watchd.core.context import RunContext, RunSettings
from watchd.core.plugins import PluginHost
from watchd.core.spec import parse_spec
from watchd.testing import ConformanceError, check_dialect, check_format, check_sink

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


def test_the_tcp_sink_delivers_every_event_once_in_order():
    server = socket.create_server(("127.0.0.1", 0))
    received = bytearray()

    def collect() -> None:
        connection, _ = server.accept()
        with connection:
            while chunk := connection.recv(65536):
                received.extend(chunk)

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    spec = parse_spec(f"tcp://127.0.0.1:{server.getsockname()[1]}", "--sink")

    def delivered() -> list[str]:
        thread.join(timeout=10)
        return details(bytes(received).splitlines())

    check_sink(lambda: REGISTRY.sinks.build(spec, context()), delivered, name="tcp")
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
