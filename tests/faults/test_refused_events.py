"""R21: one event a format or a sink refuses never stops the sink, nor a restart.

A record nested 300 levels deep was past what the cef, ecs and HEC encoders
took; every format writes it now (it is delivered, in order). One nested 1,200
levels is past what Python reads: it is counted and reported with its file and
offset at the source. An event a format refuses (here a plugin format that
refuses one on purpose, as a buggy one would) goes to the sink's dead letters
(``dead_letter=FILE``), and everything after it flows; with ``--state-dir`` the
checkpoint moves past it, so a restart does not die on it again.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from ledger import seq_line, seqs_of

from conftest import append, clean_env
from hec_server import HecServer

#: The record's seq in any format's frame (ECS quotes the record inside a JSON string).
SEQ = re.compile(rb'seq\\?"\s*:\s*(\d+)')

#: A plugin format that refuses the event of seq 2, as a format with a bug would.
REFUSING = """
import orjson
from watchd import hookimpl


def make(options, context):
    def render(event):
        if event.extra.get("seq") == 2:
            raise ValueError("this format refuses seq 2")
        return orjson.dumps(event.to_dict())
    return render


@hookimpl
def watchd_register_formats(formats):
    formats.add("refusing", make, help="json, but never the event of seq 2")
"""


def nested(depth: int) -> bytes:
    """Return a JSON object *depth* levels deep (built as text: json.dumps cannot go so deep)."""
    return b'{"a":' * depth + b"1" + b"}" * depth


def deep_trail(path, depth: int) -> tuple[bytes, int]:
    """Write seq 1, a record *depth* levels deep (seq 2), seq 3; return the trail, offset."""
    first = seq_line(1)
    deep = b'{"action":"deep","seq":2,"d":' + nested(depth) + b"}\n"
    path.write_bytes(first + deep + seq_line(3))
    return path.read_bytes(), len(first)


def refusal(process, timeout: float = 10.0) -> dict:
    """Return watchd's report of the refused event (its reason names the error's type)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in process.logs():
            if record["event"].startswith("event not sent: the format failed on it ("):
                return record
        time.sleep(0.02)
    raise AssertionError(f"no refusal reported; stderr:\n{process.stderr}")


def start(watchd, trail, sink, state, *, plugin_dir=None):
    plugin = ["-p", "refusing_format"] if plugin_dir is not None else []
    env = clean_env(PYTHONPATH=str(plugin_dir)) if plugin_dir is not None else None
    process = watchd(
        "run",
        *plugin,
        "--source",
        f"audit:{trail},from=beginning",
        "--sink",
        sink,
        "--state-dir",
        str(state),
        "-v",
        env=env,
    )
    process.wait_log("ready")
    return process


def refusing_plugin(tmp_path):
    directory = tmp_path / "plugins"
    directory.mkdir()
    (directory / "refusing_format.py").write_text(REFUSING)
    return directory


@pytest.mark.parametrize("fmt", ["cef", "ecs", "json"])
def test_a_record_300_levels_deep_is_written_by_every_format_in_order(watchd, tmp_path, fmt):
    trail, state = tmp_path / "audit.jsonl", tmp_path / "state"
    deep_trail(trail, 300)
    process = start(watchd, trail, f"stdout,format={fmt}", state)
    printed = [process.read_line() for _ in range(3)]
    assert [int(SEQ.search(line).group(1)) for line in printed[::2]] == [1, 3]
    assert b"deep" in printed[1]
    assert "event not sent" not in process.stderr
    assert process.stop() == 0


def test_a_record_deeper_than_python_reads_is_reported_and_the_rest_flows_after_a_restart(
    watchd, tmp_path
):
    trail, state = tmp_path / "audit.jsonl", tmp_path / "state"
    _, offset = deep_trail(trail, 1200)
    process = start(watchd, trail, "stdout,format=json", state)
    assert seqs_of([process.read_line(), process.read_line()]) == [1, 3]
    skipped = process.wait_log("skipped JSON nested too deep to read (over about 900 levels)")
    assert (skipped["path"], skipped["offset"]) == (str(trail), offset)
    assert process.stop() == 0
    append(trail, seq_line(4))
    again = start(watchd, trail, "stdout,format=json", state)
    assert seqs_of([again.read_line()]) == [4]
    assert again.quiet_for(0.7)
    assert again.stop() == 0


def test_stdout_sets_a_refused_event_aside_and_goes_on_also_after_a_restart(watchd, tmp_path):
    trail, dead, state = tmp_path / "audit.jsonl", tmp_path / "dead.jsonl", tmp_path / "state"
    plugins = refusing_plugin(tmp_path)
    trail.write_bytes(seq_line(1) + seq_line(2) + seq_line(3))
    offset = len(seq_line(1))
    sink = f"stdout,format=refusing,dead_letter={dead}"
    process = start(watchd, trail, sink, state, plugin_dir=plugins)
    printed = [process.read_line(), process.read_line()]
    assert process.quiet_for(0.5)
    assert seqs_of(printed) == [1, 3]
    told = refusal(process)
    assert (told["path"], told["offset"], told["sink"]) == (str(trail), offset, "stdout")
    assert "this format refuses" not in process.stderr  # an error's text may quote a record
    letter = json.loads(dead.read_bytes())
    assert (letter["sink"], letter["origin"], letter["offset"]) == ("stdout", str(trail), offset)
    assert process.stop() == 0
    # The checkpoint went past the refused record: a restart prints only what is new.
    append(trail, seq_line(4))
    again = start(watchd, trail, sink, state, plugin_dir=plugins)
    assert seqs_of([again.read_line()]) == [4]
    assert again.quiet_for(0.7)
    assert again.stop() == 0


def test_tcp_sink_sets_a_refused_event_aside_and_goes_on(watchd, tmp_path, collector):
    trail, state = tmp_path / "audit.jsonl", tmp_path / "state"
    trail.write_bytes(seq_line(1) + seq_line(2) + seq_line(3))
    sink = f"tcp://127.0.0.1:{collector.port},format=refusing"
    process = start(watchd, trail, sink, state, plugin_dir=refusing_plugin(tmp_path))
    deadline = time.monotonic() + 10
    while len(collector.lines) < 2:
        assert time.monotonic() < deadline, process.stderr
        time.sleep(0.02)
    assert [json.loads(doc)["extra"]["seq"] for doc in collector.lines] == [1, 3]
    assert refusal(process)["offset"] == len(seq_line(1))
    assert process.stop() == 0


def test_hec_sink_sends_a_record_300_levels_deep_too(watchd, tmp_path):
    trail, state = tmp_path / "audit.jsonl", tmp_path / "state"
    deep_trail(trail, 300)
    server = HecServer()
    try:
        process = start(watchd, trail, f"hec:{server.url},token=t0k,flush_ms=50", state)
        (request,) = server.wait_for_requests(1)
        assert [o["event"]["extra"]["seq"] for o in request.objects()] == [1, 2, 3]
        assert process.stop() == 0
    finally:
        server.close()


def test_a_dead_letter_file_that_cannot_be_opened_is_a_usage_error(watchd, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.touch()
    process = watchd(
        "run", "--source", f"audit:{trail}", "--sink", f"stdout,dead_letter={tmp_path}/no/dead"
    )
    assert process.proc.wait(timeout=10) == 2
    assert "dead_letter=" in process.stderr
    assert "No such file or directory" in process.stderr
