"""The documentation runs: console sessions executed, command lines and configurations checked.

As pytest runs its own docs' examples: the ``console`` blocks of each page
of the README and ``docs/`` are executed in order, line by line, in a fresh
directory (one per page, so a later block sees what an earlier one wrote), and
their output
compared byte for byte; every other ``watchd`` command line shown is parsed
by watchd's own parser and planned as the command would plan it (its sources,
sinks and filters must be types that exist); every TOML configuration shown,
and the shipped sample, is checked as a SIGHUP reload checks one.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import clean_env
from shown import check_shown
from watchd.cli.app import build_parser
from watchd.cli.config import read_ahead_plugins
from watchd.cli.run import reload_check
from watchd.core.plugins import PluginHost, scan_plugin_args

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SAMPLE = ROOT / "docs" / "watchd.example.toml"
_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")


@dataclass
class Block:
    page: Path
    line: int
    lang: str  # "" for an indented block
    text: str


def blocks(page: Path) -> list[Block]:
    """Return the code blocks of *page*: fenced ones with their language, indented ones."""
    found: list[Block] = []
    lines = page.read_text().splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence:
            indent, lang, start = len(fence.group(1)), fence.group(2), index + 1
            index += 1
            while not _FENCE.match(lines[index]):
                index += 1
            body = "\n".join(line[indent:] for line in lines[start:index])
            found.append(Block(page, start + 1, lang, body))
        elif lines[index].startswith("    ") and (index == 0 or not lines[index - 1].strip()):
            start = index
            while index < len(lines) and (lines[index].startswith("    ") or not lines[index]):
                index += 1
            body = "\n".join(line[4:] for line in lines[start:index]).strip("\n")
            found.append(Block(page, start + 1, "", body))
            continue
        index += 1
    return found


ALL = [block for page in PAGES for block in blocks(page)]


def commands_of(block: Block) -> list[str]:
    """Return the watchd command lines a block shows (continuations joined, prompts taken off)."""
    joined = block.text.replace("\\\n", " ")
    out = []
    for shown in joined.splitlines():
        line = shown.strip().removeprefix("$ ")
        for prefix in ("python3 -m pip install . && ", "python3 -m "):
            line = line.removeprefix(prefix)
        if line.startswith("watchd ") or line == "watchd":
            out.append(line)
    return out


def _id(block: Block) -> str:
    return f"{block.page.name}:{block.line}"


SHOWN = [
    pytest.param(command, id=f"{_id(block)}:{command[:50]}")
    for block in ALL
    if block.lang in ("", "console", "sh")
    for command in commands_of(block)
]


@pytest.mark.parametrize("command", SHOWN)
def test_every_command_line_shown_parses_and_plans(command: str) -> None:
    check_shown(command, {"/etc/watchd.toml": str(SAMPLE)})


SESSIONS = [
    pytest.param(page, id=page.name)
    for page in PAGES
    if any(block.lang == "console" for block in blocks(page))
]


@pytest.mark.parametrize("page", SESSIONS)
def test_every_console_session_gives_the_output_shown(page: Path, tmp_path: Path) -> None:
    expected: list[tuple[str, list[str]]] = []
    for block in blocks(page):
        if block.lang != "console":
            continue
        for line in block.text.splitlines():
            if line.startswith("$ "):
                expected.append((line[2:], []))
            else:
                expected[-1][1].append(line)
    for command, output in expected:
        words = shlex.split(command)
        assert words[0] == "watchd", command
        done = subprocess.run(
            [sys.executable, "-m", "watchd", *words[1:]],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=clean_env(TZ="UTC"),
            check=False,
            timeout=60,
        )
        assert (done.returncode, done.stderr) == (0, ""), command
        assert done.stdout.splitlines() == output, command


TOMLS = [
    pytest.param(block, id=_id(block))
    for block in ALL
    if block.lang == "toml" and not block.text.lstrip().startswith(("[project", "[build-system"))
]


@pytest.mark.parametrize("block", TOMLS)
def test_every_configuration_shown_checks_out_as_a_reload_checks_it(block, tmp_path):
    config = tmp_path / "watchd.toml"
    config.write_text(block.text)
    args = ["run", "--config", str(config)]
    host = PluginHost(scan_plugin_args(read_ahead_plugins(args)), autoload=False)  # as main does
    parser = build_parser(host)
    assert reload_check(parser, host.collect(), args)() is None


def test_the_shipped_sample_is_the_one_documented_and_it_runs(tmp_path):
    documented = [b.text for b in TOMLS_OF_CONFIGURATION()]
    assert SAMPLE.read_text().rstrip("\n") in documented
    trail = tmp_path / "audit.jsonl"
    trail.write_text('{"ts":"2026-01-01T00:00:00Z","action":"a","container":"c"}\n')
    # Its host-specific parts replaced, the rest of it (level, reorder window) as shipped.
    args = ["--source", f"audit:{trail}", "--sink", "stdout", "--state-dir", str(tmp_path / "s")]
    with subprocess.Popen(
        [sys.executable, "-m", "watchd", "run", "--config", str(SAMPLE), *args, "--from-beginning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    ) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        time.sleep(0.2)
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert b'"action":"a"' in line


def TOMLS_OF_CONFIGURATION() -> list[Block]:  # noqa: N802 - reads as the constant it is
    return [b for b in ALL if b.lang == "toml" and b.page.name == "configuration.md"]


def test_the_docs_are_all_linked_and_every_link_resolves():
    readme = (ROOT / "README.md").read_text()
    for page in PAGES[1:]:
        assert f"(docs/{page.name}" in readme, f"the README does not link {page.name}"
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name}: {target}"
