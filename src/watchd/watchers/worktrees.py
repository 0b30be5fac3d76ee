"""``worktrees:REPO``: the ito trail of every worktree of a git repository.

Worktrees are found with ``git worktree list --porcelain`` at start and every
``rediscover`` seconds; each is followed at ``.ito/.state/audit/events.jsonl``
with the same engine as ``audit:`` (identity, rotation, checkpoints). A
worktree's name is its directory's name, as in ito; its events carry it in
``origin`` and ``worktree``.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import deque

import structlog

from watchd.core.context import Checking, RunContext, SourceFactory, StartAt
from watchd.core.errors import UsageError
from watchd.core.event import WatchEvent
from watchd.core.hookspecs import hookimpl
from watchd.core.option_kinds import Duration, Text
from watchd.core.registry import TypeTable
from watchd.watchers.audit import AuditWatcher, Tailing, shared_store
from watchd.watchers.files.inotify import shared_hub
from watchd.watchers.files.trail import Trail

TRAIL = os.path.join(".ito", ".state", "audit", "events.jsonl")

log = structlog.get_logger("watchd")


def list_worktrees(repo: str) -> list[str]:
    """Return the paths of the repository's worktrees (bare entries left out)."""
    result = subprocess.run(
        ["git", "-C", repo, "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if result.returncode != 0:
        raise OSError(result.stderr.strip() or f"git worktree list failed in {repo}")
    paths: list[str] = []
    for block in result.stdout.strip().split("\n\n"):
        fields = dict(line.partition(" ")[::2] for line in block.splitlines())
        if "worktree" in fields and "bare" not in fields:
            paths.append(fields["worktree"])
    return paths


class WorktreesWatcher:
    """Follows each worktree's trail; new ones join, removed ones are let go."""

    def __init__(self, options: WorktreesOptions, context: RunContext) -> None:
        repo = options.repo
        self.name = f"worktrees:{repo}"
        self.merges = True  # one trail per worktree, merged in time order
        self._repo = repo
        self._context = context
        self._rediscover = options.rediscover
        self._children: dict[str, AuditWatcher] = {}
        self._polled: deque[list[AuditWatcher]] = deque()
        self._next = 0.0
        self._first = True
        self._dialect = options.dialect
        self._options = options.trail_options()
        self._hub = shared_hub(context)

    def fileno(self) -> int:
        """Return the shared inotify descriptor, or -1 where files are polled."""
        return self._hub.fileno() if self._hub is not None else -1

    def timeout(self) -> float | None:
        """Return the time until the next discovery or the first child's timer."""
        due = [max(self._next - time.monotonic(), 0.0)]
        due += [t for t in (c.timeout() for c in self._children.values()) if t is not None]
        return min(due)

    def poll(self) -> list[WatchEvent]:
        """Rediscover when due, then return what every worktree's trail has."""
        if time.monotonic() >= self._next:
            self._next = time.monotonic() + self._rediscover
            self._discover()
        events: list[WatchEvent] = []
        polled = list(self._children.values())
        for child in polled:
            events.extend(child.poll())
        self._polled.append(polled)
        return events

    def acknowledge(self) -> None:
        """Acknowledge the oldest poll of every worktree trail it read."""
        for child in self._polled.popleft() if self._polled else []:
            child.acknowledge()

    def _discover(self) -> None:
        try:
            paths = list_worktrees(self._repo)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning(
                "cannot list worktrees, keeping the known ones", repo=self._repo, reason=str(exc)
            )
            return
        for path in paths:
            if path not in self._children:
                self._children[path] = self._follow(path)
        for path in [p for p in self._children if p not in paths]:
            name = os.path.basename(path)
            self._children.pop(path).close()
            log.info(f"[{name}] worktree removed, no longer monitoring", worktree=name)
        self._first = False

    def _follow(self, path: str) -> AuditWatcher:
        name = os.path.basename(path)
        # A worktree found after start is new: all of its trail is news.
        start = self._context.settings.start if self._first else StartAt("beginning")
        source_id = self._context.claim_id(f"worktrees:{self._repo}:{name}")
        trail = Trail(
            os.path.join(path, TRAIL),
            source_id,
            start=start,
            hub=self._hub,
            store=shared_store(self._context),
            options=self._options,
            log=log.bind(source=source_id),
            clock=self._context.clock,
        )
        log.info(f"[{name}] following worktree", worktree=name, path=path)
        return AuditWatcher(trail, self._dialect, "", self._hub, worktree=name, source="worktrees")

    def close(self) -> None:
        """Close every worktree's trail."""
        for child in self._children.values():
            child.close()
        self._children.clear()


class WorktreesOptions(Tailing):
    """Every git worktree's ito trail, each followed as audit: follows a file."""

    target_form = "REPO"
    example = "worktrees:~/src/project"
    rediscover = Duration(30.0, "how often the worktrees are listed again", minimum=1)
    schema = Text("auto", "the records' dialect", metavar="DIALECT")

    def check(self, checking: Checking) -> None:
        """Check that the repository is a directory; look the dialect up."""
        super().check(checking)
        self.repo = os.path.abspath(os.path.expanduser(self.target or "."))
        if not os.path.isdir(self.repo):
            raise UsageError(f"{self.where}: {self.repo} is not a directory")
        self.dialect = self.named(checking.registry.dialects, "schema").item


def build_worktrees_watcher(options: WorktreesOptions, context: RunContext) -> WorktreesWatcher:
    """Build ``worktrees:REPO``: git is asked for the worktrees at the first poll."""
    return WorktreesWatcher(options, context)


@hookimpl
def watchd_register_source_types(sources: TypeTable[SourceFactory]) -> None:
    """Register ``worktrees``."""
    sources.add("worktrees", build_worktrees_watcher, WorktreesOptions)
