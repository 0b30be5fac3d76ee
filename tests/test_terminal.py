"""On a terminal: readable lines, in colour unless NO_COLOR says otherwise."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from conftest import append, clean_env, line
from watchd.core.event import WatchEvent, set_time
from watchd.plugins.formats.text import HumanFormat


def run_on_a_terminal(trail, env, *, stream: str = "stdout", until: bytes = b"n=2") -> bytes:
    """Follow *trail* with *stream* (stdout or stderr) on a terminal; return what it showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "watchd", "run", "--source", f"audit:{trail}", "--from-beginning"],
        stdin=subprocess.DEVNULL,
        stdout=follower if stream == "stdout" else subprocess.DEVNULL,
        stderr=follower if stream == "stderr" else subprocess.DEVNULL,
        env=env,
    )
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 10
    try:
        while until not in output and time.monotonic() < deadline:
            output += os.read(leader, 4096)
    finally:
        process.terminate()
        process.wait()
        os.close(leader)
    return output


def test_colour_on_a_terminal_and_none_with_no_color(tmp_path):
    trail = tmp_path / "audit.jsonl"
    append(trail, line(1) + line(2))
    coloured = run_on_a_terminal(trail, clean_env())
    assert b"\x1b[1mallowed\x1b[0m" in coloured
    assert b"\x1b[36mc1\x1b[0m" in coloured
    plain = run_on_a_terminal(trail, clean_env(NO_COLOR="1"))
    assert b"\x1b[" not in plain
    # Fixed columns; the day is said once, above the first row of a day other than today.
    assert plain.startswith(
        b"-- Wed 2026-04-01 --\r\n"
        b'12:00:01  INFO      allowed               c1                detail="n=1"\r\n'
        b'12:00:02  INFO      allowed               c1                detail="n=2"\r\n'
    )


def test_diagnostics_on_a_terminal_read_like_the_events_local_time_and_level(tmp_path):
    trail = tmp_path / "audit.jsonl"
    append(trail, b"not json\n" + line(1))
    env = clean_env(NO_COLOR="1", TZ="UTC-05:30")  # POSIX: five and a half hours east
    said = run_on_a_terminal(trail, env, stream="stderr", until=b"\n")
    first = said.split(b"\r\n")[0].decode()
    match = re.fullmatch(r"(\d\d):(\d\d):\d\d  WARNING   (.+)", first)
    assert match, first
    local = datetime.now(UTC) + timedelta(hours=5, minutes=30)
    apart = abs(int(match[1]) * 60 + int(match[2]) - (local.hour * 60 + local.minute))
    assert min(apart, 1440 - apart) <= 1
    assert f"path={trail}" in match[3]
    assert "offset=0" in match[3]


def test_the_columns_stay_where_they_are_whatever_came_before() -> None:
    today = datetime.now().astimezone().replace(hour=9, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)

    def event(when: datetime, action: str) -> WatchEvent:
        return set_time(WatchEvent(ts="t", source="audit", action=action, container="c"), when)

    fresh = HumanFormat(color=False, own_lines=True)(event(today, "deny")).decode()
    seen = HumanFormat(color=False, own_lines=True)
    rows = [seen(event(when, action)).decode() for when, action in (
        (yesterday, "a-very-long-action-name-indeed"),  # pushes its own row only
        (today, "deny"),
    )]  # fmt: skip
    assert rows[0].split("\n")[0] == f"-- {yesterday:%a %Y-%m-%d} --"
    assert rows[1] == f"-- {today:%a %Y-%m-%d} --\n" + fresh  # the day changed: said once
    assert fresh == "09:00:00  INFO      " + "deny".ljust(20) + "  c"
