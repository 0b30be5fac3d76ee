"""worktrees:REPO with real git worktrees: added and removed while watchd runs."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime

from conftest import append, clean_env
from test_dialects import EXPECTED, SAMPLES
from watchd import WatchEvent
from watchd.core.event import set_time
from watchd.plugins.formats.text import HumanFormat

GIT_ENV = clean_env(
    GIT_AUTHOR_NAME="t",
    GIT_AUTHOR_EMAIL="t@localhost",
    GIT_COMMITTER_NAME="t",
    GIT_COMMITTER_EMAIL="t@localhost",
)


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=GIT_ENV)


def ito_line(n: int, change: str) -> bytes:
    record = {
        "v": 1,
        "ts": f"2026-02-08T14:30:{n:02d}.000Z",
        "entity": "task",
        "entity_id": str(n),
        "scope": change,
        "op": "status_change",
        "from": "pending",
        "to": "done",
        "actor": "cli",
        "by": "@jack",
        "ctx": {},
    }
    return json.dumps(record).encode() + b"\n"


def trail(worktree):
    path = worktree / ".ito" / ".state" / "audit"
    path.mkdir(parents=True, exist_ok=True)
    return path / "events.jsonl"


def test_every_worktree_is_followed_new_ones_join_removed_ones_leave(watchd, tmp_path):
    repo = tmp_path / "project"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "init", cwd=repo)
    for name in ("wt-a", "wt-b"):
        git("worktree", "add", "-q", "-b", name, str(tmp_path / name), cwd=repo)
    trees = {
        name: (repo if name == "project" else tmp_path / name)
        for name in ("project", "wt-a", "wt-b")
    }
    # A window of 1 s, not the default 250 ms: the three appends below must all
    # be read within it, which a loaded machine does not always do in 250 ms.
    process = watchd(
        "run",
        "--source",
        f"worktrees:{repo},rediscover=1s",
        "--json",
        "-v",
        "--reorder-window",
        "1s",
    )
    process.wait_log("ready")
    # Written at once, each worktree out of step: they interleave by time.
    append(trail(trees["wt-b"]), ito_line(0, "wt-b") + ito_line(5, "wt-b"))
    append(trail(trees["project"]), ito_line(1, "project") + ito_line(4, "project"))
    append(trail(trees["wt-a"]), ito_line(2, "wt-a") + ito_line(3, "wt-a"))
    got = [json.loads(process.read_line(timeout=10)) for _ in range(6)]
    assert [(e["worktree"], e["origin"], e["container"]) for e in got] == [
        ("wt-b", "wt-b", "wt-b/0"),
        ("project", "project", "project/1"),
        ("wt-a", "wt-a", "wt-a/2"),
        ("wt-a", "wt-a", "wt-a/3"),
        ("project", "project", "project/4"),
        ("wt-b", "wt-b", "wt-b/5"),
    ]
    assert {e["source"] for e in got} == {"worktrees"}
    git("worktree", "add", "-q", "-b", "wt-c", str(tmp_path / "wt-c"), cwd=repo)
    append(trail(tmp_path / "wt-c"), ito_line(6, "wt-c"))  # before watchd has found it
    process.wait_log("[wt-c] following worktree", timeout=10)
    assert json.loads(process.read_line(timeout=10))["worktree"] == "wt-c"
    git("worktree", "remove", "--force", str(tmp_path / "wt-b"), cwd=repo)
    process.wait_log("[wt-b] worktree removed, no longer monitoring", timeout=10)
    append(trail(tmp_path / "wt-a"), ito_line(7, "wt-a"))
    assert json.loads(process.read_line(timeout=10))["container"] == "wt-a/7"
    assert process.proc.poll() is None
    assert process.stop() == 0


def test_the_human_format_prefixes_the_worktree():
    when = datetime.now().astimezone().replace(hour=14, minute=32, second=5, microsecond=0)
    event = set_time(
        WatchEvent(
            ts="x",
            source="worktrees",
            action="task.status_change",
            container="test-change/1.1",
            detail="pending -> in-progress",
            actor="cli",
            worktree="main",
        ),
        when,
    )
    # As ito audit stream prints it: each event prefixed with its worktree, "[main]".
    assert HumanFormat(color=False)(event) == (
        b"[main] 14:32:05  INFO      task.status_change    test-change/1.1   "
        b'detail="pending -> in-progress"  actor=cli'
    )


def test_a_run_over_worktrees_prints_each_event_after_its_worktree(watchd, tmp_path):
    repo = tmp_path / "project"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "init", cwd=repo)
    git("worktree", "add", "-q", "-b", "wt-feature-b", str(tmp_path / "wt-feature-b"), cwd=repo)
    process = watchd("run", "--source", f"worktrees:{repo}", "--format", "human", "-v")
    process.wait_log("ready")
    append(trail(tmp_path / "wt-feature-b"), ito_line(0, "wt-feature-b"))
    line = process.read_line(timeout=10)
    if line.startswith(b"-- "):  # the record's day, if not today
        line = process.read_line(timeout=10)
    assert line.startswith(b"[wt-feature-b] ")
    assert b"worktree=" not in line


def test_every_sample_through_a_worktree(watchd, tmp_path):
    repo = tmp_path / "wt-samples"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "init", cwd=repo)
    process = watchd(
        "run", "--source", f"worktrees:{repo}", "--json", "-v", "--reorder-window", "0"
    )
    process.wait_log("ready")
    want = []
    # loki's chained records last: in a file that held them, every later line is a link
    # of their chain (tests/test_integrity.py), and the other tools' records are not.
    for name in sorted(EXPECTED, key=lambda name: name.startswith("loki")):
        append(trail(repo), (SAMPLES / name).read_bytes())
        want += [
            {**e, "source": "worktrees", "worktree": "wt-samples"}
            for e in EXPECTED[name]("wt-samples")
        ]
    got = [json.loads(process.read_line(timeout=10)) for _ in range(len(want))]
    assert sorted(got, key=json.dumps) == sorted(want, key=json.dumps)
