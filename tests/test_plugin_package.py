"""A real third-party package, installed with its entry point, extends watchd."""

from __future__ import annotations

import json

import pytest

from conftest import clean_env, line, run_watchd


@pytest.fixture
def plugin_env(example_plugin):
    return clean_env(PYTHONPATH=str(example_plugin))


def test_its_source_sink_filter_and_options_work_by_name(plugin_env, tmp_path):
    out = tmp_path / "out.tsv"
    result = run_watchd(
        "run",
        "--source",
        "ticker:lab,interval=10ms,count=3",
        "--sink",
        f"tsv:{out}",
        "--sink",
        "stdout,format=json",
        "--apply",
        "redact,fields=detail",
        "--example-action",
        "beat",
        env=plugin_env,
    )
    assert result.returncode == 0, result.stderr
    rows = [row.split("\t") for row in out.read_text().splitlines()]
    assert [(action, container) for _ts, action, container in rows] == [("beat", "lab")] * 3
    events = [json.loads(x) for x in result.stdout.splitlines()]
    assert [e["detail"] for e in events] == ["***"] * 3
    logged = [json.loads(x)["event"] for x in result.stderr.splitlines()]
    assert logged == ["example plugin configured", "example plugin unconfigured"]


def test_its_dialect_and_format_work_with_the_builtin_audit_source(plugin_env, watchd, tmp_path):
    trail = tmp_path / "trail.jsonl"
    trail.write_text(
        '{"when":"2026-05-01T10:00:00Z","what":"deploy","who":"ana","where":"api","v":2}\n'
    )
    process = watchd(
        "run",
        "--source",
        f"audit:{trail},schema=example",
        "--from-beginning",
        "--sink",
        "stdout,format=logfmt,keys=action,container,actor",
        env=plugin_env,
    )
    assert process.read_line() == b"action=deploy container=api actor=ana\n"


def test_plugins_lists_it_with_version_and_everything_it_provides(plugin_env):
    result = run_watchd("plugins", "--json", env=plugin_env)
    assert result.returncode == 0
    rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["example"] == {
        "name": "example",
        "kind": "entrypoint",
        "version": "1.2.0",
        "distribution": "watchd-example",
        "hooks": [
            "watchd_addoption",
            "watchd_configure",
            "watchd_register_dialects",
            "watchd_register_filters",
            "watchd_register_formats",
            "watchd_register_routes",
            "watchd_register_sink_types",
            "watchd_register_source_types",
            "watchd_unconfigure",
        ],
        "sources": ["ticker"],
        "sinks": ["tsv"],
        "formats": ["logfmt"],
        "dialects": ["example"],
        "filters": ["redact"],
        "routes": ["example"],
    }
    text = run_watchd("plugins", env=plugin_env).stdout
    assert "example 1.2.0 (watchd-example)\n    sources: ticker\n    sinks: tsv\n" in text


def test_p_no_blocks_it(plugin_env):
    result = run_watchd("-p", "no:example", "plugins", env=plugin_env)
    assert "example" not in result.stdout
    run = run_watchd("run", "-p", "no:example", "--source", "ticker", env=plugin_env)
    assert run.returncode == 2
    assert (
        "unknown source type 'ticker' (available: audit, ito-branch, syslog, worktrees)"
        in run.stderr
    )


def test_autoload_can_be_turned_off_and_p_loads_it_back(example_plugin):
    env = clean_env(PYTHONPATH=str(example_plugin), WATCHD_DISABLE_PLUGIN_AUTOLOAD="1")
    assert "example" not in run_watchd("plugins", env=env).stdout
    assert "example 1.2.0" in run_watchd("plugins", "-p", "example", env=env).stdout


def test_a_builtin_can_be_blocked_too():
    result = run_watchd("run", "-p", "no:stdout", "--source", "audit:/x")
    assert result.returncode == 2
    assert "unknown sink type 'stdout' (available: file, hec, syslog, tcp)" in result.stderr


def test_p_with_an_unknown_name_is_a_usage_error():
    result = run_watchd("plugins", "-p", "no_such_plugin_anywhere")
    assert result.returncode == 2
    assert result.stderr.startswith("watchd: error: -p no_such_plugin_anywhere: no plugin")


def test_auto_tries_a_plugins_dialect_before_the_builtins(plugin_env, watchd, tmp_path):
    trail = tmp_path / "trail.jsonl"
    # "what"/"when" fit the plugin's dialect; "name" and "event" would fit nothing built in
    # but generic, which must come last.
    trail.write_text('{"when":"2026-05-01T10:00:00Z","what":"deploy","who":"ana","where":"api"}\n')
    process = watchd(
        "run", "--source", f"audit:{trail}", "--from-beginning", "--json", env=plugin_env
    )
    event = json.loads(process.read_line())
    assert (event["action"], event["container"], event["actor"]) == ("deploy", "api", "ana")


WRAPPER = """
from watchd import hookimpl

seen = []


@hookimpl(wrapper=True)
def watchd_register_sink_types(sinks):
    seen.append(sinks.plugin)
    return (yield)
"""


def test_registration_goes_through_pluggy_so_wrappers_and_tracing_see_it(tmp_path, monkeypatch):
    (tmp_path / "wrapping_plugin.py").write_text(WRAPPER)
    monkeypatch.syspath_prepend(str(tmp_path))
    from watchd.core.plugins import PluginHost  # noqa: PLC0415

    host = PluginHost(["wrapping_plugin"], autoload=False)
    registry = host.collect()
    import wrapping_plugin  # noqa: PLC0415

    assert wrapping_plugin.seen == ["stdout", "file", "tcp", "syslog", "hec"]  # each, in order
    assert "tcp" in registry.sinks
    traced = run_watchd("plugins", env=clean_env(WATCHD_TRACE_PLUGINS="1"))
    assert "watchd: plugins: hec registered sinks: hec\n" in traced.stderr
    assert "watchd: plugins: watchd_register_sink_types (hec): " in traced.stderr


def test_its_http_route_is_served_behind_the_servers_checks(plugin_env, watchd, tmp_path):
    from test_http import TOKEN, Server  # noqa: PLC0415

    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(b"".join(line(n, action="deny" if n % 2 else "allow") for n in range(5)))
    env = {**plugin_env, "WATCHD_HTTP_TOKEN": TOKEN}
    server = Server(
        watchd(
            *("run", "--source", f"audit:{trail}", "--sink", "file:/dev/null"),
            *("--http", "127.0.0.1:0"),
            env=env,
        ),
        token=TOKEN,
    )
    status, _, body = server.get("/api/example/actions")
    assert (status, json.loads(body)) == (200, {"allow": 3, "deny": 2})
    assert server.get("/api/example/actions", token=None)[0] == 401  # the token guards it
    assert server.get("/api/example/actions?x=1")[0] == 400
    assert server.get("/api/v2/audit?limit=1")[0] == 200  # loki-mode's set, the same way


CLAIMING = """
from watchd import hookimpl

def _routes(trails):
    return {"/metrics": lambda query: None}

@hookimpl
def watchd_register_routes(routes):
    routes.add("greedy", _routes, help="takes /metrics")
"""


def test_a_route_set_that_takes_a_servers_path_stops_the_run_with_one_line(tmp_path):
    (tmp_path / "greedy_plugin.py").write_text(CLAIMING)
    env = clean_env(PYTHONPATH=str(tmp_path))
    result = run_watchd(
        "run", "-p", "greedy_plugin", "--source", f"audit:{tmp_path}/a.jsonl",
        "--http", "127.0.0.1:0", env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "watchd: error: --http: /metrics is served by watchd and by greedy_plugin's greedy; "
        "block one with -p no:NAME"
    ]


def test_a_misspelt_option_is_named_with_the_one_meant_and_every_type_has_its_help():
    result = run_watchd("run", "--source", "audit:/tmp/x.jsonl,max_line_byte=5")
    assert result.returncode == 2
    assert result.stderr.endswith("; did you mean max_line_bytes?\n")
    listed = run_watchd("plugins", "-v").stdout
    audit = listed.split("        audit: ", 1)[1].split("\n", 2)[1]  # its grammar, under its help
    assert audit.startswith("            audit:PATH|GLOB|DIR[,from=end|beginning]")
    for option in ("integrity=", "max_line_bytes=", "poll_interval=", "rescan=", "rotate_wait=",
                   "hold_removed=", "copy_wait=", "follow_symlinks="):  # fmt: skip
        assert option in audit, option
    assert "(no help)" not in listed


OLD_API = """
from watchd import hookimpl


@hookimpl
def watchd_register_sink_types(sinks):
    sinks.add("old", lambda spec, context: None, "old:PATH: a help line where options go")
"""


def test_a_type_registered_without_an_options_class_is_one_line_naming_the_plugin(tmp_path):
    (tmp_path / "old_api.py").write_text(OLD_API)
    result = run_watchd("-p", "old_api", "plugins", env=clean_env(PYTHONPATH=str(tmp_path)))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "watchd: error: plugin 'old_api': sink type 'old': options must be an OptionSet class, "
        "not str (a help line is help=...); skip it with -p no:old_api\n"
    )
