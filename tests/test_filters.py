"""--name, --action, --level, --filter and --apply select the right events."""

from __future__ import annotations

import json

import pytest

from conftest import run_watchd

RECORDS = [
    {
        "ts": "2026-04-01T12:00:00+00:00",
        "container": "web",
        "action": "allowed",
        "dest": "192.0.2.1",
        "port": 443,
    },
    {
        "ts": "2026-04-01T12:00:01+00:00",
        "container": "db",
        "action": "denied",
        "dest": "198.51.100.7",
        "port": 22,
    },
    {"ts": "2026-04-01T12:00:02+00:00", "container": "web", "action": "shield_down"},
    {"ts": "2026-04-01T12:00:03+00:00", "container": "web", "action": "shield_up"},
    {
        "ts": "2026-04-01T12:00:04+00:00",
        "container": "db",
        "action": "blocked",
        "dest": "203.0.113.5",
        "port": 443,
        "domain": "evil.example",
    },
]


@pytest.fixture
def trail(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return path


def selected(watchd, trail, *args):
    """Return the actions watchd prints for the whole trail with *args*."""
    process = watchd("run", "--source", f"audit:{trail}", "--from-beginning", "--json", "-v", *args)
    process.wait_log("ready")  # the trail was read: a quiet moment now means nothing more comes
    lines = []
    while not process.quiet_for(0.5):
        lines.append(json.loads(process.read_line()))
    return [e["action"] for e in lines]


def test_name(watchd, trail):
    assert selected(watchd, trail, "--name", "db") == ["denied", "blocked"]


def test_actions_are_alternatives_and_globs(watchd, trail):
    assert selected(watchd, trail, "--action", "denied", "--action", "shield_*") == [
        "denied",
        "shield_down",
        "shield_up",
    ]


def test_filters_on_fields_and_extra_combine(watchd, trail):
    assert selected(watchd, trail, "--filter", "dest=19*") == ["allowed", "denied"]
    assert selected(watchd, trail, "--filter", "extra.port=443", "--name", "db") == ["blocked"]
    assert selected(watchd, trail, "--filter", "extra.domain=*.example") == ["blocked"]


def test_level_and_apply(watchd, trail):
    assert selected(watchd, trail, "--level", "info") == [r["action"] for r in RECORDS]
    assert selected(watchd, trail, "--level", "warning") == []
    assert selected(watchd, trail, "--apply", "action:blocked,denied") == ["denied", "blocked"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--source", "nope:/x"],
            "unknown source type 'nope' (available: audit, ito-branch, syslog, worktrees)",
        ),
        (
            ["--source", "audit:/x", "--sink", "kafka:x"],
            "unknown sink type 'kafka' (available: file, hec, stdout, syslog, tcp)",
        ),
        (
            ["--source", "audit:/x,colour=red"],
            "--source 'audit:/x,colour=red': unknown option colour (accepted: container, "
            "copy_wait, follow_symlinks, from, hold_removed, integrity, last, max_line_bytes, "
            "poll_interval, rescan, rotate_wait, schema)",
        ),
        (
            ["--source", "audit:/x", "--from-beginning", "--last", "3"],
            "argument --last: not allowed with argument --from-beginning",
        ),
        (["--source", ":/x"], "--source ':/x': expected TYPE[:TARGET][,KEY=VALUE]..."),
        (["--source", "audit"], "needs PATH|GLOB|DIR, as in audit:/var/log/x.jsonl"),
        (["--source", "audit:/x", "--filter", "colour=red"], "unknown field 'colour'"),
        (["--source", "audit:/x", "--filter", "nodelimiter"], "expected FIELD=GLOB"),
        (["--source", "audit:/x", "--level", "loud"], "unknown level"),
        (["--source", "audit:/x", "--apply", "redact"], "unknown filter 'redact'"),
        (
            ["--source", "audit:/x", "--format", "xml"],
            "format='xml': unknown format (available: cef, csv, ecs, human, json, leef)",
        ),
        (
            ["--source", "audit:/x,schema=klingon"],
            "schema='klingon': unknown dialect (available: auto, generic, ito, loki, lokt, terok,"
            " watchd)",
        ),
        (["--source", "audit:/x,last=0"], "last='0': expected a whole number from 1"),
        (["--source", "audit:/x", "--poll-interval", "0"], "'0' is below 1ms"),
        (["--source", "audit:/x", "--poll-interval", "5 s"], "'5 s' is not a duration"),
        (["--source", "audit:/x", "--state-ttl", "1w"], "'1w' is not a duration (250ms, 5s"),
        (
            ["--source", "audit:/x,rotate_wait=fast"],
            "rotate_wait='fast': expected a duration (250ms",
        ),
        (["--source", "audit:/x", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "the following arguments are required: --source"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(args, message):
    result = run_watchd("run", *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr
