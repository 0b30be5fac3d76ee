"""ito's internal branch: rewritten whole, de-duplicated and capped; each record emitted once."""

from __future__ import annotations

import json
import subprocess

from test_worktrees import GIT_ENV, git, ito_line

BRANCH = "refs/heads/ito/internal/audit"


def plumb(repo, *args, data: bytes | None = None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=repo, input=data, capture_output=True, check=True, env=GIT_ENV
    )
    return result.stdout.decode().strip()


def commit_trail(repo, records: list[int]) -> None:
    """Write the branch's events.jsonl whole, as ito does, in a new commit on the branch."""
    blob = plumb(
        repo, "hash-object", "-w", "--stdin", data=b"".join(ito_line(n, "c") for n in records)
    )
    tree = plumb(repo, "mktree", data=f"100644 blob {blob}\tevents.jsonl\n".encode())
    for name in ("audit", ".state", ".ito"):
        tree = plumb(repo, "mktree", data=f"040000 tree {tree}\t{name}\n".encode())
    parent = (
        subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", BRANCH],
            cwd=repo,
            capture_output=True,
            check=False,
        )
        .stdout.decode()
        .strip()
    )
    commit = plumb(repo, "commit-tree", tree, "-m", "audit", *(["-p", parent] if parent else []))
    plumb(repo, "update-ref", BRANCH, commit)


def start(watchd, repo, *args):
    process = watchd("run", "--source", f"ito-branch:{repo},interval=100", "--json", "-v", *args)
    process.wait_log("ready")
    return process


def seqs(process, count):
    got = [json.loads(process.read_line(timeout=10))["container"] for _ in range(count)]
    assert process.quiet_for(0.6)
    return got


def test_each_new_record_once_through_caps_rewrites_and_restarts(watchd, tmp_path):
    repo = tmp_path / "project"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    state = tmp_path / "state"
    commit_trail(repo, [0, 1, 2])
    process = start(watchd, repo, "--from-beginning", "--state-dir", str(state))
    assert seqs(process, 3) == ["c/0", "c/1", "c/2"]
    commit_trail(repo, [1, 2, 3])  # the cap dropped the oldest and added one
    assert seqs(process, 1) == ["c/3"]
    commit_trail(repo, [3, 1, 2])  # rewritten in another order: nothing new
    assert process.quiet_for(0.6)
    assert process.stop() == 0
    commit_trail(repo, [2, 3, 4])  # while watchd was stopped
    again = start(watchd, repo, "--state-dir", str(state))
    assert seqs(again, 1) == ["c/4"]


def test_without_from_beginning_only_what_comes_later(watchd, tmp_path):
    repo = tmp_path / "project"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    commit_trail(repo, [0, 1])
    process = start(watchd, repo)
    assert process.quiet_for(0.6)
    commit_trail(repo, [0, 1, 2])
    event = json.loads(process.read_line(timeout=10))
    assert (event["source"], event["origin"], event["action"]) == (
        "ito-branch",
        "ito/internal/audit",
        "task.status_change",
    )
