"""The command line: version, module entry, plugins listing, demo, hook documentation."""

from __future__ import annotations

import argparse
import inspect
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PLUGIN_PKG, clean_env, run_watchd, through_head
from shown import check_shown
from watchd import __version__
from watchd.cli.app import build_parser
from watchd.core import hookspecs
from watchd.core.plugins import PluginHost

PLUGIN_GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def test_version_and_python_m():
    result = run_watchd("--version")
    assert (result.returncode, result.stdout) == (0, f"watchd {__version__}\n")


def test_the_console_script_is_installed():
    script = Path(sys.executable).with_name("watchd")
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=False, env=clean_env()
    )
    assert result.stdout == f"watchd {__version__}\n"


def test_plugins_lists_the_builtins_with_what_they_provide():
    result = run_watchd("plugins")
    assert result.returncode == 0
    assert f"audit {__version__} (built-in)\n    sources: audit\n" in result.stdout
    assert "formats: csv, human, json" in result.stdout
    assert f"siem {__version__} (built-in)\n    formats: cef, ecs, leef\n" in result.stdout
    assert "filters: action, change, field, level, name" in result.stdout


def test_demo_shows_every_record_it_writes_and_exits_0():
    result = run_watchd("demo", "--count", "6", "--interval", "20", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(x) for x in result.stdout.splitlines()]
    assert [(e["action"], e["container"]) for e in events] == [
        ("setup", "agent-7"),  # terok-shield
        ("acquire", "build"),  # lokt
        ("task.status_change", "add-auth/1.1"),  # ito
        ("allowed", "agent-7"),
        ("deny", "build"),
        ("login", "session"),  # loki-mode, its hash chain verified
    ]
    assert events[5]["extra"]["integrity"] == "ok"
    assert "terok-shield, lokt, loki-mode and ito append 6 records" in result.stderr


def test_json_logs_on_stderr_when_not_a_terminal(tmp_path):
    trail = tmp_path / "t.jsonl"
    trail.write_text("{oops\n")
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, signal, threading, os;"
            "threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM)).start();"
            "from watchd.cli import main; sys.exit(main(sys.argv[1:]))",
            "run",
            "--source",
            f"audit:{trail}",
            "--from-beginning",
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
        timeout=20,
    )
    assert process.returncode == 0
    records = [json.loads(x) for x in process.stderr.splitlines()]
    skipped = next(r for r in records if r["event"] == "skipped malformed JSON")
    assert skipped["path"] == str(trail)
    assert skipped["offset"] == 0
    assert skipped["level"] == "warning"
    assert "oops" not in process.stderr  # record content is never logged


def test_every_hook_is_typed_documented_and_shown_in_the_guide_and_example():
    readme = PLUGIN_GUIDE.read_text()
    example = (PLUGIN_PKG / "src" / "watchd_example" / "__init__.py").read_text()
    hooks = [
        name
        for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("watchd_")
    ]
    assert len(hooks) == 9
    for name in hooks:
        function = getattr(hookspecs, name)
        assert inspect.getdoc(function), f"{name} has no docstring"
        assert function.__annotations__, f"{name} is not typed"
        assert f"`{name}" in readme, f"docs/plugins.md does not document {name}"
        assert re.search(rf"def {name}\(", example), f"the example plugin does not use {name}"


def test_bare_watchd_prints_its_commands_and_v_is_the_version():
    bare = run_watchd()
    assert bare.returncode == 0
    assert bare.stdout.startswith("usage: watchd [-h] [-V] [-p NAME] COMMAND ...")
    for command in ("run", "query", "summary", "emit", "verify", "plugins", "demo"):
        assert f"    {command}" in bare.stdout
    assert run_watchd("-V").stdout == f"watchd {__version__}\n"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["run", "--sorce", "audit:x"],
            "watchd run: error: unrecognized arguments: --sorce; did you mean --source?",
        ),
        (  # no abbreviations: --fr is not --from-beginning
            ["run", "--source", "audit:x", "--fr"],
            "watchd run: error: unrecognized arguments: --fr",
        ),
        (
            ["query", "--source", "audit:x", "--jsn"],
            "watchd query: error: unrecognized arguments: --jsn; did you mean --json?",
        ),
    ],
)
def test_an_unknown_option_is_named_with_the_closest_and_the_commands_help(args, error):
    result = run_watchd(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(error)
    assert result.stderr.endswith(f"(see 'watchd {args[0]} --help')\n")
    assert len(result.stderr.splitlines()) == 1


def test_a_commands_option_given_before_it_says_where_it_goes():
    result = run_watchd("-q", "run", "--source", "audit:x")
    assert result.returncode == 2
    assert result.stderr == (
        "watchd: error: -q is an option of 'watchd run': give it after the command,"
        " as in 'watchd run -q' (see 'watchd --help')\n"
    )


def test_p_may_come_before_the_command():
    result = run_watchd("-p", "no:siem", "plugins", "--json")
    assert result.returncode == 0
    assert "siem" not in {row["name"] for row in map(json.loads, result.stdout.splitlines())}


def test_each_built_in_module_registers_only_what_it_defines():
    listed = run_watchd("plugins", "--json").stdout.splitlines()
    rows = {row["name"]: row for row in map(json.loads, listed)}
    assert (rows["syslog"]["sinks"], rows["syslog"]["sources"]) == (["syslog"], [])
    listener = rows["syslog-listener"]
    assert (listener["sources"], listener["sinks"]) == (["syslog"], [])
    blocked = run_watchd("-p", "no:syslog-listener", "run", "--source", "syslog:udp")
    assert blocked.returncode == 2
    assert "unknown source type 'syslog'" in blocked.stderr


def test_a_reader_that_goes_away_ends_every_command_quietly(tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_text(
        "".join(
            f'{{"ts":"2026-01-01T00:00:{n % 60:02}Z","action":"a{n}","container":"c"}}\n'
            for n in range(20_000)
        )
    )
    for command in (["plugins"], ["query", "--source", f"audit:{trail}", "--json"]):
        status, _, stderr = through_head(command)
        assert (status, stderr) == (0, b""), command


def test_ctrl_c_during_query_exits_130_with_one_line(tmp_path):
    trail = tmp_path / "audit.jsonl"
    line = '{"ts":"2026-01-01T00:00:00Z","action":"a","container":"c"}\n'
    trail.write_text(line * 400_000)
    with subprocess.Popen(
        [sys.executable, "-m", "watchd", "summary", "--source", f"audit:{trail}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    ) as watchd:
        time.sleep(1.0)  # in the middle of reading
        watchd.send_signal(signal.SIGINT)
        _, stderr = watchd.communicate(timeout=60)
    assert watchd.returncode == 130
    assert stderr == b"watchd: summary interrupted, its output cut short\n"


def test_query_summary_and_verify_follow_runs_plugin_rules(tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_text('{"ts":"2026-01-01T00:00:00Z","action":"a","container":"c"}\n')
    for command in ("query", "summary"):
        blocked = run_watchd("-p", "no:audit", command, "--source", f"audit:{trail}")
        assert blocked.returncode == 2, command
        assert "unknown source type 'audit'" in blocked.stderr
        assert blocked.stdout == ""


@pytest.mark.parametrize(
    "command",
    [
        ["plugins"],
        ["query", "--source", "audit:{trail}"],
        ["summary", "--source", "audit:{trail}"],
        ["verify", "{trail}"],
        ["emit", "{trail}", "--action", "a", "--container", "c"],
    ],
)
def test_blocking_a_name_no_plugin_has_is_allowed_with_one_warning(tmp_path, command):
    trail = tmp_path / "audit.jsonl"
    trail.write_text('{"ts":"2026-01-01T00:00:00Z","action":"a","container":"c"}\n')
    args = [arg.format(trail=trail) for arg in command]
    result = run_watchd(args[0], "-p", "no:nosuch", "-p", "no:siem", *args[1:])
    assert result.returncode == 0, result.stderr
    logs = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(log["level"], log.get("plugin")) for log in logs] == [("warning", "nosuch")]


def test_a_file_where_a_directory_should_be_is_named_not_file_exists(tmp_path):
    trail = tmp_path / "a.jsonl"
    trail.write_text("")
    emitted = run_watchd("emit", f"{trail}/x", "--action", "a", "--container", "c")
    assert emitted.returncode == 1
    (log,) = [json.loads(line) for line in emitted.stderr.splitlines()]
    assert log["reason"] == f"{trail} is not a directory"
    state = run_watchd("run", "--source", f"audit:{trail}", "--state-dir", str(trail))
    assert state.returncode == 2
    assert state.stderr == f"watchd: error: --state-dir {trail}: {trail} is not a directory\n"


def test_a_source_that_is_not_a_regular_file_says_what_it_is(tmp_path):
    result = run_watchd("query", "--source", "audit:/dev/null")
    assert result.returncode == 2
    assert result.stderr == (
        "watchd: error: --source 'audit:/dev/null': /dev/null: "
        "not a regular file but a character device\n"
    )
    with subprocess.Popen(
        [sys.executable, "-m", "watchd", "run", "--source", "audit:/dev/null"],
        stderr=subprocess.PIPE,
        env=clean_env(),
    ) as watchd:
        assert watchd.stderr is not None
        log = json.loads(watchd.stderr.readline())
        watchd.terminate()
        watchd.wait(timeout=30)
    assert (log["event"], log["path"], log["kind"]) == (
        "not a regular file, ignored",
        "/dev/null",
        "a character device",
    )


COMMANDS = ("run", "query", "summary", "emit", "verify", "plugins", "demo")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_commands_help_has_examples_that_plan_choices_and_repeatable_marks(command):
    parser = build_parser(PluginHost([], autoload=False))
    owner = parser.commands[command]
    text = owner.format_help()
    examples = [line.strip() for line in text.split("examples:\n")[1].splitlines() if line]
    assert 2 <= len(examples) <= 3, text
    for example in examples:
        check_shown(example)  # parsed and planned: its options, and the types its specs name
    flat = " ".join(text.split())
    for action in owner._actions:
        if isinstance(action, argparse._AppendAction) and action.help != argparse.SUPPRESS:
            assert "(repeatable" in " ".join((action.help or "").split()), action.option_strings
    if any("--format" in action.option_strings for action in owner._actions):
        for name in ("human", "json", "csv", "cef", "leef", "ecs"):
            assert f" {name}," in flat or f" {name} (" in flat, name
    if any("--level" in action.option_strings for action in owner._actions):
        assert "debug, info, notice, warning, error, critical" in flat


def test_wording_a_directorys_scope_and_one_record(watchd, tmp_path):
    process = watchd("run", "--source", f"audit:{tmp_path}")
    said = process.wait_log("Waiting for audit events...")
    assert (said["path"], said["source"]) == (f"{tmp_path}/{{*.jsonl,*.log}}", f"audit:{tmp_path}")
    assert process.stop() == 0
    demo = run_watchd("demo", "--count", "1", "--interval", "1", "--json")
    assert demo.returncode == 0
    assert " append 1 record to their trails " in demo.stderr
