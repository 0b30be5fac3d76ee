"""``ito-branch:REPO``: ito's trail on its internal branch ``ito/internal/audit``.

ito rewrites that file whole on every write: de-duplicated and capped at the
newest 1000 events, so neither offsets nor counts identify a record. This
source polls the branch head, re-reads the file when the commit changed, and
emits each record whose content it has not seen: once, across rewrites, caps
and (with ``--state-dir``) restarts.
"""

from __future__ import annotations

import subprocess
import time
from collections import deque

import orjson
import structlog

from watchd.codecs.records import Skip, decode_record
from watchd.core.context import Checking, RunContext, SourceFactory
from watchd.core.errors import UsageError
from watchd.core.event import WatchEvent
from watchd.core.hookspecs import hookimpl
from watchd.core.interfaces import Dialect, RecordSource
from watchd.core.option_kinds import Duration, Text
from watchd.core.options import OptionSet
from watchd.core.registry import TypeTable
from watchd.watchers.audit import shared_store
from watchd.watchers.dialects.generic import event_from
from watchd.watchers.files.identity import digest

FILE = ".ito/.state/audit/events.jsonl"
DEFAULT_BRANCH = "ito/internal/audit"

log = structlog.get_logger("watchd")


def _git(repo: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, check=False, timeout=30)


def content_key(record: dict[str, object]) -> str:
    """Return a record's identity: its content, whatever order the keys are written in."""
    return digest(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))


class ItoBranchWatcher:
    """Polls the branch; each record new by content becomes one event."""

    def __init__(
        self, context: RunContext, repo: str, branch: str, interval: float, dialect: Dialect
    ) -> None:
        self.name = f"ito-branch:{repo}"
        self._repo, self._branch, self._interval = repo, branch, interval
        self._dialect = dialect
        self._start = context.settings.start
        self._store = shared_store(context)
        self._source_id = context.claim_id(self.name)
        saved = self._store.source_state(self._source_id).get("seen") if self._store else None
        self._seen: set[str] | None = set(saved) if isinstance(saved, list) else None
        self._commit = ""
        self._next = 0.0
        self._unacked: deque[list[str] | None] = deque()
        self._where = RecordSource(source="ito-branch", origin=branch)

    def fileno(self) -> int:
        """Return -1: the branch is polled."""
        return -1

    def timeout(self) -> float | None:
        """Return the time until the next look at the branch."""
        return max(self._next - time.monotonic(), 0.0)

    def poll(self) -> list[WatchEvent]:
        """Return the records of the branch's file not seen before."""
        if time.monotonic() < self._next:
            self._unacked.append(None)
            return []
        self._next = time.monotonic() + self._interval
        records = self._read()
        if records is None:
            self._unacked.append(None)
            return []
        keys = [content_key(r) for r in records]
        if self._seen is None:  # the first look, without a checkpoint: the start position
            self._seen = set(keys[: len(keys) - self._fresh_at_start(records)])
        new = [(k, r) for k, r in zip(keys, records, strict=True) if k not in self._seen]
        self._seen = set(keys)  # what the cap dropped cannot come back
        self._unacked.append(sorted(self._seen))
        return [event_from(self._dialect, r, self._where) for _, r in new]

    def _fresh_at_start(self, records: list[dict[str, object]]) -> int:
        """Return how many of the last records the start position shows (``--since``: by time)."""
        start = self._start
        if start.mode == "beginning":
            return len(records)
        if start.mode == "last":
            return min(start.count, len(records))
        if start.mode == "since" and start.since is not None:
            since = start.since
            times = [self._dialect.to_event(r, self._where, None).time for r in records]
            older = [n for n, when in enumerate(times) if when is not None and when < since]
            return len(records) - (older[-1] + 1 if older else 0)
        return 0

    def _read(self) -> list[dict[str, object]] | None:
        head = _git(self._repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{self._branch}")
        commit = head.stdout.decode().strip()
        if head.returncode != 0 or commit == self._commit:
            return None
        shown = _git(self._repo, "show", f"{commit}:{FILE}")
        if shown.returncode != 0:
            log.debug("no audit file on the branch yet", branch=self._branch)
            return None
        self._commit = commit
        records = []
        for line in shown.stdout.splitlines():
            record = decode_record(line)
            if not isinstance(record, Skip):
                records.append(record)
        return records

    def acknowledge(self) -> None:
        """Checkpoint the records seen as of the oldest unacknowledged poll."""
        seen = self._unacked.popleft() if self._unacked else None
        if seen is not None and self._store is not None:
            self._store.set_source_state(self._source_id, "seen", seen)
            self._store.maybe_flush()

    def close(self) -> None:
        """Nothing to release: each look runs git and is done."""


class ItoBranchOptions(OptionSet):
    """ito's trail on its internal branch, read with git."""

    target_form = "REPO"
    example = "ito-branch:~/src/project"
    branch = Text(DEFAULT_BRANCH, "the branch ito keeps its trail on", metavar="BRANCH")
    interval = Duration(2.0, "how often the branch is looked at", unit="ms", minimum=0.01)
    schema = Text("ito", "the records' dialect", metavar="DIALECT")

    def check(self, checking: Checking) -> None:
        """Ask git whether the repository is one (nothing is written); look the dialect up."""
        super().check(checking)
        self.repo = self.target or "."
        if _git(self.repo, "rev-parse", "--git-dir").returncode != 0:
            raise UsageError(f"{self.where}: {self.repo} is not a git repository")
        self.dialect = self.named(checking.registry.dialects, "schema").item


def build_ito_branch_watcher(options: ItoBranchOptions, context: RunContext) -> ItoBranchWatcher:
    """Build ``ito-branch:REPO``."""
    return ItoBranchWatcher(
        context, options.repo, options.branch, options.interval, options.dialect
    )


@hookimpl
def watchd_register_source_types(sources: TypeTable[SourceFactory]) -> None:
    """Register ``ito-branch``."""
    sources.add("ito-branch", build_ito_branch_watcher, ItoBranchOptions)
