"""Installing watchd as a service: its unit through systemd-analyze, completion in a real bash,
its man page through man, and ``validate`` on good and bad configurations."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import clean_env, line, missing, run_watchd
from watchd.writer import AuditWriter

ANALYZE = shutil.which("systemd-analyze")


def _unit(tmp_path: Path, *flags: str) -> tuple[Path, dict[str, str]]:
    """Write the unit and the man page its Documentation= names (verify looks for it)."""
    name = "watchd@.service" if "--template" in flags else "watchd.service"
    unit = tmp_path / name
    unit.write_text(run_watchd("unit", *flags).stdout)
    manual = tmp_path / "man" / "man1"
    manual.mkdir(parents=True, exist_ok=True)
    (manual / "watchd.1").write_text(run_watchd("man").stdout)
    return unit, clean_env(MANPATH=str(tmp_path / "man"))


@pytest.mark.parametrize(
    "flags", [(), ("--template",), ("--read-any",)], ids=["unit", "template", "read-any"]
)
def test_the_unit_passes_systemd_analyze_verify(tmp_path, flags):
    if ANALYZE is None:
        missing("systemd-analyze is not installed (Debian's systemd package; .ci/run installs it)")
    unit, env = _unit(tmp_path, *flags)
    result = subprocess.run(
        [ANALYZE, "verify", str(unit)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")


def test_the_unit_runs_this_watchd_as_a_hardened_notify_service(tmp_path):
    text = run_watchd("unit", "--exec", "/usr/bin/watchd").stdout
    directives = [row for row in text.splitlines() if row and not row.startswith(("#", "["))]
    for wanted in (
        "Type=notify",
        "ExecStart=/usr/bin/watchd run --config /etc/watchd/watchd.toml"
        " --state-dir /var/lib/watchd",
        "ExecStartPre=/usr/bin/watchd validate --config /etc/watchd/watchd.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "WatchdogSec=30s",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "StateDirectory=watchd",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "PrivateTmp=yes",
        "SupplementaryGroups=adm",
        "CapabilityBoundingSet=",
        "SystemCallFilter=~@privileged",
        "MemoryDenyWriteExecute=yes",
    ):
        assert wanted in directives, wanted
    assert not any("CAP_DAC_READ_SEARCH" in row for row in directives)  # only when asked
    template = run_watchd("unit", "--template", "--read-any", "--exec", "/w").stdout
    assert (
        "ExecStart=/w run --config /etc/watchd/%i.toml --state-dir /var/lib/watchd/%i" in template
    )
    assert "StateDirectory=watchd/%i" in template.splitlines()
    assert "AmbientCapabilities=CAP_DAC_READ_SEARCH" in template.splitlines()
    assert "CapabilityBoundingSet=CAP_DAC_READ_SEARCH" in template.splitlines()


def _complete(script: Path, words: list[str]) -> list[str]:
    """Complete the last of *words* as bash does on Tab, with the script sourced."""
    program = f"""
        source {script}
        function=$(complete -p watchd | sed -E 's/.*-F ([^ ]+) .*/\\1/')
        COMP_WORDS=({" ".join(words)}); COMP_CWORD={len(words) - 1}
        COMP_LINE="{" ".join(words)}"; COMP_POINT=${{#COMP_LINE}}
        "$function" watchd "{words[-1]}" "{words[-2]}"
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.split()


def test_bash_completes_options_commands_and_registered_types(tmp_path):
    script = tmp_path / "watchd.bash"
    script.write_text(run_watchd("completion", "bash").stdout)
    assert _complete(script, ["watchd", "run", "--so"]) == ["--source"]
    assert _complete(script, ["watchd", "val"]) == ["validate"]
    assert _complete(script, ["watchd", "run", "--source", "w"]) == ["worktrees:"]
    assert _complete(script, ["watchd", "run", "--sink", "s"]) == ["stdout:", "syslog:"]
    assert "ecs" in _complete(script, ["watchd", "run", "--format", "e"])


def test_a_plugins_types_are_completed_too(tmp_path, example_plugin):
    script = tmp_path / "watchd.bash"
    env = clean_env(PYTHONPATH=str(example_plugin))
    script.write_text(run_watchd("completion", "bash", env=env).stdout)  # by its entry point
    assert _complete(script, ["watchd", "run", "--source", "tick"]) == ["ticker:"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command_and_type(shell):
    text = run_watchd("completion", shell).stdout
    for word in ("validate", "source", "dry-run", "syslog", "audit", "ecs"):
        assert word in text, word
    types = "audit: ito-branch: syslog: worktrees:"
    if shell == "fish":  # one candidate a word, as fish splits -a
        assert re.search(rf"-l source -\w*a \"{types}\"", text)
    else:
        assert "(" + types.replace(":", r"\:") + ")" in text


def test_the_man_page_is_made_from_the_parser_and_man_reads_it(tmp_path):
    page = run_watchd("man").stdout
    assert page.startswith('.TH WATCHD "1"')
    if shutil.which("man") is None:
        missing("man is not installed")
    path = tmp_path / "watchd.1"
    path.write_text(page)
    shown = subprocess.run(
        ["man", "-l", str(path)],
        capture_output=True,
        text=True,
        env=clean_env(MANPAGER="cat", MANWIDTH="100"),
        timeout=30,
        check=True,
    ).stdout
    for words in ("watchd validate", "--dry-run", "watchd run", "--http-token-file", "--template"):
        assert words in shown, words


# -- validate ------------------------------------------------------------------


GOOD = """\
source = ["audit:{folder}/audit.jsonl"]
state-dir = "{folder}/state"

[[sink]]
type = "syslog"
target = "udp://127.0.0.1:{port}"

[[sink]]
type = "file"
target = "{folder}/out/events.jsonl"
"""


def test_validate_prints_the_plan_and_opens_nothing(tmp_path):
    (tmp_path / "audit.jsonl").write_bytes(line(1))
    (tmp_path / "out").mkdir()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:  # a port in use
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        config = tmp_path / "watchd.toml"
        config.write_text(GOOD.format(folder=tmp_path, port=port))
        listening = f"syslog:udp://127.0.0.1:{port}"
        done = run_watchd("validate", "--config", str(config), "--source", listening)
        dry = run_watchd("run", "--dry-run", "--config", str(config), "--source", listening)
    assert (done.returncode, done.stderr) == (0, "")
    rows = done.stdout.splitlines()
    assert rows[0] == f"source  {listening}"  # the command line's --source wins over the file
    assert rows[1].split()[:2] == ["dialect=auto", "limit=64KiB"]
    assert rows[2] == f"sink    syslog:udp://127.0.0.1:{port}"
    assert "format=rfc5424" in rows[3].split()
    assert rows[4] == f"sink    file:{tmp_path}/out/events.jsonl"
    assert rows[-2:] == [
        "reads   what is appended from now",
        f"state   {tmp_path}/state (checkpoints every 1s, files forgotten after 1d)",
    ]
    assert (dry.returncode, dry.stdout) == (0, done.stdout)  # run --dry-run is validate
    # Nothing was opened: no file written, no state made, and the port in use was no error.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.jsonl", "out", "watchd.toml"]
    assert list((tmp_path / "out").iterdir()) == []


BAD = """\
source = ["audit:/var/log/x.jsonl,schema=nosuch", "nosuchtype:/x"]
poll-interval = "fast"
colour = true

[[sink]]
type = "syslog"
target = "tcp://127.0.0.1:6514"

[[sink]]
type = "syslog"
target = "tcp://127.0.0.1:6514"
framing = "weird"
"""


def test_validate_names_every_error_with_its_key_and_line(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(BAD)
    first = run_watchd("validate", "--config", str(config))
    assert first.returncode == 2
    assert first.stdout == ""
    assert first.stderr.splitlines() == [
        f"watchd: error: {config}:2: poll-interval: 'fast' is not a duration"
        " (250ms, 5s, 2m, 1h; a bare number is ms)",
        f"watchd: error: {config}:3: unknown key 'colour' (known: action, apply, change,"
        " checkpoint-interval, filter, format, from-beginning, http, http-buffer, http-cert,"
        " http-host, http-key, http-token-file, json, last, level, name, plugin, poll-interval,"
        " quiet, reorder-window, since, sink, source, state-dir, state-ttl, verbose)",
    ]
    config.write_text(BAD.replace('poll-interval = "fast"\ncolour = true\n', "\n\n"))
    second = run_watchd("validate", "--config", str(config))
    assert second.returncode == 2
    assert second.stderr.splitlines() == [
        f"watchd: error: {config}:1: source: --source 'audit:/var/log/x.jsonl,schema=nosuch':"
        " schema='nosuch': unknown dialect (available: auto, generic, ito, loki, lokt, terok,"
        " watchd)",
        f"watchd: error: {config}:1: source: --source 'nosuchtype:/x': unknown source type"
        " 'nosuchtype' (available: audit, ito-branch, syslog, worktrees)",
        f"watchd: error: {config}:9: sink: --sink 'syslog:tcp://127.0.0.1:6514,framing=weird':"
        " framing='weird': expected one of auto, octet, lf, none",
    ]


def test_validate_keeps_a_token_out_of_the_plan(tmp_path):
    done = run_watchd(
        "validate",
        *("--source", f"audit:{tmp_path}/a.jsonl"),
        *("--sink", "hec:https://127.0.0.1:8088,token=s3cr3t-t0ken-value"),
    )
    assert done.returncode == 0, done.stderr
    assert "s3cr3t" not in done.stdout
    assert "token=***" in done.stdout


def test_validate_names_every_filter_that_does_not_check(tmp_path):
    done = run_watchd(
        *("validate", "--source", f"audit:{tmp_path}/a.jsonl"),
        *("--apply", "level:loud", "--apply", "nosuch:x"),
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "watchd: error: --apply 'level:loud': unknown level"
        " (levels: debug, info, notice, warning, error, critical)",
        "watchd: error: --apply 'nosuch:x': unknown filter 'nosuch'"
        " (available: action, change, field, level, name)",
    ]


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("/root/venv/bin/watchd", "/root is its owner's alone"),
        ("/tmp/venv/bin/watchd", "PrivateTmp="),
        ("/home/ana/.local/bin/watchd", "ProtectHome="),
        ("/opt/watchd/bin/watchd", None),
        ("/usr/bin/python3 -m watchd", None),
    ],
)
def test_the_unit_says_when_its_execstart_is_where_the_service_cannot_reach(command, said):
    result = run_watchd("unit", "--exec", command)
    assert result.returncode == 0
    assert f"ExecStart={command}\n" in result.stdout or f"ExecStart={command} " in result.stdout
    if said is None:
        assert result.stderr == ""
    else:
        assert result.stderr.count("\n") == 1
        assert said in result.stderr
        assert result.stderr.startswith(f"watchd: warning: ExecStart={command.split()[0]} ")


MDWE = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux 6.3)
    sys.exit(77)
os.execv(sys.executable, [sys.executable, "-m", "watchd", *sys.argv[1:]])
"""


def test_watchd_runs_where_no_memory_may_be_writable_and_executable(tmp_path):
    # What MemoryDenyWriteExecute=yes makes of the service, through the kernel's own switch:
    # the JSON and CEF paths, the HTTP server and the integrity check all run under it.
    trail = tmp_path / "audit.jsonl"
    out = tmp_path / "out.cef"
    writer = AuditWriter(trail, "loki", chain=True)
    for n in range(20):
        assert writer.emit(action="update", resource_type="task", resource_id=str(n))
    process = subprocess.Popen(
        [sys.executable, "-c", MDWE, "run", "--source", f"audit:{trail}", "--from-beginning",
         "--sink", f"file:{out},format=cef", "--http", "127.0.0.1:0"],
        env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while process.poll() is None and not (out.exists() and out.read_bytes().count(b"\n") >= 20):
        assert time.monotonic() < deadline, "not every event written"
        time.sleep(0.05)
    if process.poll() == 77:
        missing("this kernel has no PR_SET_MDWE (Linux 6.3 or later)")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr.decode()
    assert b"serving HTTP" in stderr
    assert out.read_bytes().count(b"CEF:0|") == 20


@pytest.mark.parametrize(
    ("sink", "said"),
    [
        ("syslog:udp://127.0.0.1:notaport", "expected HOST:PORT"),
        ("syslog:unix://dev/log", "expected unix:///PATH"),
    ],
)
def test_validate_finds_a_bad_syslog_address_as_run_does(sink, said):
    # Checked before the factory stops for validate: validate said exit 0, run exit 2.
    for command in ("validate", "run"):
        result = run_watchd(command, "--source", "audit:/tmp/x.jsonl", "--sink", sink)
        assert result.returncode == 2, (command, result.stderr)
        assert said in result.stderr


def test_validate_refuses_toml_of_the_wrong_type_and_a_state_dir_that_cannot_be(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text('state-dir = 5\n[[source]]\ntype = "audit"\ntarget = 7\n')
    result = run_watchd("validate", "--config", str(config))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"watchd: error: {config}:1: state-dir: expected a string, not an integer",
        f"watchd: error: {config}:2: source: target: expected a string, not an integer",
    ]
    for state, why in (
        ("/proc/x", "/proc is on a proc file system, which holds no files"),
        (f"{config}/x", f"{config} is not a directory"),
    ):
        said = run_watchd("validate", "--source", "audit:/tmp/x.jsonl", "--state-dir", state)
        assert (said.returncode, said.stderr) == (
            2,
            f"watchd: error: --state-dir {state}: {why}\n",
        )
    fine = tmp_path / "a" / "b"
    assert (
        run_watchd("validate", "--source", "audit:/x.jsonl", "--state-dir", str(fine)).returncode
        == 0
    )
    assert not (tmp_path / "a").exists()  # checked, not made
