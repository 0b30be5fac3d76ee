"""``--config FILE``: every option in TOML, the command line winning, bad keys named by line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from conftest import TESTS, clean_env, run_watchd
from watchd.cli import config
from watchd.cli.app import build_parser
from watchd.core.plugins import PluginHost

SAMPLES = TESTS / "data" / "samples"


def _value(action: argparse.Action) -> tuple[object, list[str]]:
    """Return a TOML value for *action* and the command-line words that say the same."""
    flag = next(o for o in action.option_strings if o.startswith("--"))
    if isinstance(action, argparse._CountAction):
        return 2, [flag, flag]
    if action.nargs == 0:
        return True, [flag]
    if action.type is not None:  # the numeric options
        return 7, [flag, "7"]
    if isinstance(action, argparse._AppendAction):
        return ["a:x", "b:y"], [flag, "a:x", flag, "b:y"]
    return "v", [flag, "v"]


@pytest.mark.parametrize("command", ["run", "query", "summary"])
def test_every_option_round_trips_between_the_cli_and_toml(command: str, tmp_path: Path) -> None:
    parser = build_parser(PluginHost([], autoload=False))
    sub = parser.commands[command]
    seen = set()
    for action in sub._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs or longs[0] in ("--help", "--config") or action.help == argparse.SUPPRESS:
            continue
        if action.dest in seen:  # --json and --format share one destination
            continue
        seen.add(action.dest)
        value, words = _value(action)
        key = longs[0][2:]
        path = tmp_path / f"{key}.toml"
        required = [] if key == "source" else ["--source", "audit:/x"]
        path.write_text(f"{key.replace('-', '_')} = {json.dumps(value)}\n")
        args = config.read_ahead_plugins([command, "--config", str(path), *required])
        from_file = parser.parse_args(config.expand(args, sub))  # as main() does
        from_cli = parser.parse_args([command, *words, *required])
        assert vars(from_file) == vars(from_cli), key


def test_spec_tables_the_cli_wins_and_plugins_load(tmp_path: Path, example_plugin: Path) -> None:
    path = tmp_path / "watchd.toml"
    path.write_text(
        'plugin = ["example"]\n'
        'example-action = "beat"\n'
        "reorder_window = 0\n"
        "\n"
        "[[source]]\n"
        'type = "ticker"\n'
        'target = "lab"\n'
        "interval = 10\n"
        "count = 2\n"
        "\n"
        "[[sink]]\n"
        'type = "stdout"\n'
        'format = "human"\n'
    )
    env = clean_env(PYTHONPATH=str(example_plugin), WATCHD_DISABLE_PLUGIN_AUTOLOAD="1")
    result = run_watchd("run", "--config", str(path), "--sink", "stdout,format=json", env=env)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]  # json: the CLI won
    assert [(e["action"], e["container"]) for e in events] == [("beat", "lab")] * 2


def test_query_from_a_config(tmp_path: Path) -> None:
    path = tmp_path / "q.toml"
    path.write_text(f'source = ["audit:{SAMPLES}"]\nlevel = "warning"\njson = true\n')
    result = run_watchd("query", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    narrower = run_watchd("query", "--config", str(path), "--level", "error")
    assert narrower.stdout == ""


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('level = "warning"\n\nlevle = "x"\n', "cfg.toml:3: unknown key 'levle' (known: "),
        ("from_beginning = 1\n", "cfg.toml:1: from-beginning: expected true or false"),
        ('level = ["a", "b"]\n', "cfg.toml:1: level: expected one value, not a list"),
        ("[[sink]]\nformat = 1\n", 'a table needs type = "..."'),
        ("level = \n", "cfg.toml: not valid TOML: "),
    ],
)
def test_bad_configs_are_one_clear_line(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "cfg.toml"
    path.write_text(text)
    result = run_watchd("run", "--config", str(path), "--source", "audit:/x")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert error in result.stderr


def test_config_belongs_to_run_validate_query_and_summary(tmp_path: Path) -> None:
    result = run_watchd("verify", str(tmp_path), "--config", "x.toml")
    assert result.returncode == 2
    expected = "watchd: error: --config is an option of run, validate, query, summary\n"
    assert result.stderr == expected
