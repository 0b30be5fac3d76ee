"""For every option of every built-in type, a wrong value: exit 2, one line, nothing opened.

The sweep is made from the declarations, so an option added later is in it:
an option whose kind has no generic wrong value (free text) must be given one
here, or be listed in FREE_TEXT with why no text is wrong for it, or this
test fails naming it. ``watchd validate`` runs once with every wrong spec under
strace: each spec gets exactly its one line, and no socket, no file written
or created, no directory made.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import clean_env, missing
from watchd.core.option_kinds import Choice, Duration, Flag, Number, Option, Size, Text
from watchd.core.options import OptionSet
from watchd.core.plugins import PluginHost
from watchd.core.spec import redact

REGISTRY = PluginHost(autoload=False).collect()
STRACE = shutil.which("strace")

#: A good spec of each type that opens nothing; an option is appended to it.
BASES = {
    ("source", "audit"): "audit:{tmp}/a.jsonl",
    ("source", "worktrees"): "worktrees:{repo}",
    ("source", "ito-branch"): "ito-branch:{repo}",
    ("source", "syslog"): "syslog:tcp://127.0.0.1:5514",
    ("sink", "stdout"): "stdout",
    ("sink", "file"): "file:{tmp}/out/events.jsonl",
    ("sink", "tcp"): "tcp:127.0.0.1:9",
    ("sink", "syslog"): "syslog:tls://127.0.0.1:6514",
    ("sink", "hec"): "hec:https://127.0.0.1:8088",  # the token from WATCHD_HEC_TOKEN
}
#: Options that apply to another transport than the base's.
OTHER_BASES = {
    ("source", "syslog", "rcvbuf"): "syslog:udp://127.0.0.1:5514",
    ("sink", "syslog", "limit"): "syslog:udp://127.0.0.1:514",
}
#: Wrong values of text options, each of a form the option's check refuses.
WRONG_TEXT = {
    "schema": "nosuch",
    "dialect": "nosuch",
    "format": "xml",
    "body": "xml",
    "facility": "local9",
    "hostname": "a b",
    "app_name": "a b",
    "procid": "x" * 129,
    "sd_id": "a=b",
    "dead_letter": "{tmp}/missing/dead.jsonl",
    "ca": "{tmp}/missing.pem",
    "cert": "{tmp}/missing.pem",
    "key": "{tmp}/missing.pem",
    "delimiter": "ab",
    "token": "",
}
#: Text options any text is right for, and why.
FREE_TEXT = {
    "container": "a container is any name a record would give",
    "branch": "a branch that does not exist yet is followed once it does",
    "server_name": "the name a certificate carries is any host name",
    "vendor": "a SIEM product field: any text, escaped",
    "product": "a SIEM product field: any text, escaped",
    "version": "a SIEM product field: any text, escaped",
    "host": "HEC's host field: any text, JSON-escaped",
    "source": "HEC's source field: any text, JSON-escaped",
    "sourcetype": "HEC's sourcetype field: any text, JSON-escaped",
    "index": "HEC says whether the index exists; the token decides",
    "ecs.hostname": "ECS's host.name: any text, JSON-escaped",
}
#: The filters' targets a wrong one exists for (name, action, change take any glob).
WRONG_FILTERS = ["level:loud", "field:nodelimiter", "field:colour=x"]


def wrong_value(option: Option[Any]) -> str | None:
    """Return a value *option*'s kind refuses, or None for text."""
    if isinstance(option, Choice):
        return "nope"
    if isinstance(option, Flag):
        return "maybe"
    if isinstance(option, Number | Duration | Size):
        return "x"
    if isinstance(option, Text) and option.valid is not None:
        return "a b"
    return None


def cases() -> list[tuple[str, str, str, str]]:
    """Return (flag, spec, option, wrong value) for every option of every built-in type."""
    found: list[tuple[str, str, str, str]] = []
    untested: list[str] = []

    def add(kind: str, name: str, options: type[OptionSet], base: str) -> None:
        for option in options.declared():
            if f"{name}.{option.key}" in FREE_TEXT:
                continue
            value = WRONG_TEXT.get(option.key, wrong_value(option))
            if value is None:
                if option.key not in FREE_TEXT:
                    untested.append(f"{kind} {name}: {option.key}")
                continue
            spec_base = OTHER_BASES.get((kind, name, option.key), base)
            found.append((f"--{kind}", f"{spec_base},{option.key}={value}", option.key, value))

    for (kind, name), base in BASES.items():
        table = REGISTRY.sources if kind == "source" else REGISTRY.sinks
        add(kind, name, table.entry(name, "t").options, base)
    for entry in REGISTRY.formats:  # a format's options, through a sink that writes it
        add("sink", entry.name, entry.options, f"stdout,format={entry.name}")
    listed = {name for _, name in BASES} | set(REGISTRY.formats.names())
    unlisted = set(REGISTRY.sources.names()) | set(REGISTRY.sinks.names())
    assert unlisted <= listed, f"types with no base spec here: {sorted(unlisted - listed)}"
    assert not untested, f"options with no wrong value and not free text: {untested}"
    return found


CASES = cases()


def test_every_option_has_a_wrong_value_or_a_reason_it_has_none():
    keys = {key for _, _, key, _ in CASES}
    assert {"queue", "limit", "rcvbuf", "fsync", "from", "facility", "delimiter"} <= keys
    assert len(CASES) > 70


def test_every_wrong_value_is_exit_2_and_one_line_and_nothing_is_opened(tmp_path: Path):
    if STRACE is None:
        missing("strace is not installed; .ci/run installs it")
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (tmp_path / "out").mkdir()
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    args = []
    specs = []
    for flag, spec, _, _ in CASES:
        text = spec.format(tmp=tmp_path, repo=repo)
        args += [flag, text]
        specs.append((flag, text))
    for target in WRONG_FILTERS:
        args += ["--apply", target]
        specs.append(("--apply", target))
    traced = tmp_path / "strace.log"
    done = subprocess.run(
        [STRACE, "-f", "-qq", "-o", str(traced),
         "-e", "trace=%network,openat,open,creat,mkdir,mkdirat,unlink,unlinkat,rename,renameat2",
         sys.executable, "-m", "watchd", "validate", "--source", f"audit:{tmp_path}/a.jsonl",
         *args],
        capture_output=True, text=True, timeout=300, check=False,
        env=clean_env(PYTHONDONTWRITEBYTECODE="1", WATCHD_HEC_TOKEN="t")  # noqa: S106 - a stand-in,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    for flag, text in specs:
        shown = redact(text)
        prefix = f"watchd: error: {flag} {shown!r}: " if flag != "--apply" else "watchd: error: "
        mine = [line for line in lines if line.startswith(prefix) and shown in line]
        assert len(mine) == 1, (text, mine)
    assert len(lines) == len(specs), "\n".join(lines)
    calls = traced.read_text().splitlines()
    # git (ito-branch's check asks it) opens /dev/null to tidy its standard descriptors.
    writes = [c for c in calls if re.search(r"O_WRONLY|O_RDWR|O_CREAT", c) and "/dev/null" not in c]
    assert writes == []
    made = [
        c
        for c in calls
        if re.search(r"\b(socket|bind|connect|creat|mkdir\w*|unlink\w*|rename\w*)\(", c)
    ]
    assert made == []
    traced.unlink()
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize(("flag", "spec", "key", "value"), CASES[:: max(len(CASES) // 12, 1)])
def test_one_wrong_value_alone_says_its_option_and_value(tmp_path, flag, spec, key, value):
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    text = spec.format(tmp=tmp_path, repo=repo)
    done = subprocess.run(
        [sys.executable, "-m", "watchd", "validate", "--source", f"audit:{tmp_path}/a", flag, text],
        capture_output=True, text=True, timeout=60, check=False,
        env=clean_env(WATCHD_HEC_TOKEN="t")  # noqa: S106 - a stand-in,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    assert len(done.stderr.splitlines()) == 1
    if key == "token":
        assert "no token: give token=… or set WATCHD_HEC_TOKEN" in done.stderr
    else:
        assert f"{key}={value.format(tmp=tmp_path)!r}: " in done.stderr, done.stderr
