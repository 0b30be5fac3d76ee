"""One declaration, every view: the reference page, ``watchd schema``, ``watchd plugins NAME``."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import jsonschema
import pytest

from conftest import clean_env, run_watchd
from watchd.cli.describe import reference
from watchd.core.plugins import PluginHost

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = PluginHost(autoload=False).collect()
SAMPLE = ROOT / "docs" / "watchd.example.toml"


def test_the_reference_page_is_the_declarations():
    page = (ROOT / "docs" / "reference.md").read_text()
    assert page == reference(REGISTRY), (
        "docs/reference.md differs from the declared options: "
        "WATCHD_DISABLE_PLUGIN_AUTOLOAD=1 watchd plugins --reference > docs/reference.md"
    )


def test_every_option_of_every_type_is_in_the_reference_with_its_help():
    page = (ROOT / "docs" / "reference.md").read_text()
    for name, table in REGISTRY.tables().items():
        for entry in table:
            assert f"### {entry.name}\n" in page, (name, entry.name)
            for option in entry.options.declared():
                assert f"| `{option.key}` |" in page, (entry.name, option.key)
                assert option.help, (entry.name, option.key)  # none left undescribed


@pytest.fixture(scope="module")
def schema():
    done = run_watchd("schema", env=clean_env(WATCHD_DISABLE_PLUGIN_AUTOLOAD="1"))
    assert (done.returncode, done.stderr) == (0, "")
    document = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def test_the_schema_accepts_the_shipped_sample(schema):
    jsonschema.validate(tomllib.loads(SAMPLE.read_text()), schema)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"colour": True}, "Additional properties"),
        ({"state-dir": 5}, "is not of type 'string'"),
        ({"sink": [{"type": "tcp", "target": "h:1", "queue": "5"}]}, "is not valid"),
        ({"sink": [{"type": "file", "target": "/x", "fsync": "maybe"}]}, "is not one of"),
        ({"sink": [{"type": "file"}]}, "is not valid"),  # a file sink needs its path
        ({"source": [{"type": "audit", "target": "/x", "colour": 1}]}, "is not valid"),
    ],
)
def test_the_schema_refuses_what_validate_refuses(schema, change, why):
    document = {**tomllib.loads(SAMPLE.read_text()), **change}
    with pytest.raises(jsonschema.ValidationError, match=why):
        jsonschema.validate(document, schema)


def test_a_sink_table_may_carry_its_format_s_options(schema):
    sink = {"type": "file", "target": "/x", "format": "cef", "compat": "loki", "vendor": "acme"}
    jsonschema.validate({"sink": [sink]}, schema)


@pytest.mark.skipif(os.geteuid() != 0, reason="the sample names /var/lib and /var/log: root's")
def test_the_shipped_sample_passes_validate_as_shipped():
    done = run_watchd("validate", "--config", str(SAMPLE))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("source  audit:/var/log/shield/\n")


def test_plugins_name_shows_a_type_with_every_option():
    done = run_watchd("plugins", "hec")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0] == "hec  (sink, from hec)"
    assert lines[2].startswith("    usage: hec:http[s]://HOST:PORT[,token=SECRET]")
    for option in REGISTRY.sinks.entry("hec", "t").options.declared():
        assert f"    {option.key}=" in done.stdout, option.key


def test_plugins_name_shows_a_third_party_type_as_fully(example_plugin):
    env = clean_env(PYTHONPATH=str(example_plugin))
    done = run_watchd("plugins", "ticker", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:3] == [
        "ticker  (source, from example)",
        "    Timed events, COUNT of them, one every INTERVAL",
        "    usage: ticker[:LABEL][,interval=DURATION][,count=N]",
    ]
    assert "        events to send before finishing (default: 3)" in done.stdout


def test_a_plugin_named_by_its_module_and_installed_by_its_entry_point_loads_once(
    example_plugin,
):
    env = clean_env(PYTHONPATH=str(example_plugin))
    done = run_watchd("-p", "watchd_example", "plugins", env=env)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.count("watchd-example") == 1  # as its entry point, once


def test_plugins_name_says_which_name_was_meant():
    done = run_watchd("plugins", "sylog")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "watchd: error: plugins: no type or plugin is called 'sylog'; did you mean syslog?\n"
    )
