"""``watchd verify``: check loki-mode's integrity chain over a file or a directory of daily files.

Files are taken in modification-time order (name order breaks ties) and the
chain is carried across them, as loki-mode writes it: the first record chains
to 64 zeros, each file's first record to the previous file's last. The check
is strict: the first record must chain to genesis, so a tampered first record
is found too.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from watchd.codecs.integrity import BROKEN, GENESIS, OK, UNVERIFIED, Chain, is_chained
from watchd.codecs.records import Skip, decode_link, decode_record
from watchd.commands.reading import files_of, open_trail
from watchd.core.errors import FailureError, UsageError
from watchd.core.printable import printable
from watchd.core.progress import Progress


@dataclass(slots=True)
class FileReport:
    """What one file held: entries checked, and how many were ok, unverified, broken."""

    path: str
    entries: int = 0
    ok: int = 0
    unverified: int = 0
    broken: int = 0
    malformed: int = 0

    @property
    def status(self) -> str:
        """Return ``ok``, ``broken``, ``unverified`` (no hashes) or ``empty``."""
        if self.broken:
            return "broken"
        if self.entries == 0:
            return "empty"
        return "ok" if self.unverified == 0 else "unverified"


@dataclass(slots=True)
class Report:
    """The whole chain: each file, and the first broken record as FILE:LINE."""

    files: list[FileReport] = field(default_factory=list)
    first_broken: str = ""
    first_malformed: str = ""

    @property
    def entries(self) -> int:
        """Return how many chained records were checked."""
        return sum(f.entries for f in self.files)

    @property
    def valid(self) -> bool:
        """Return True when no link is broken."""
        return not self.first_broken


def trail_files(target: str) -> list[Path]:
    """Return the file, or the directory's trail files oldest first; raise UsageError."""
    files = files_of(target, "verify")  # the files audit:TARGET follows, oldest first
    if not files:
        raise UsageError(f"verify: {target}: no *.jsonl or *.log files")
    return [Path(p) for p in files]


def verify(target: str, *, shown: bool = True) -> Report:
    """Check the chain over *target* (a file, or a directory of daily files).

    The progress line goes to stderr when it is a terminal, unless not *shown*.
    """
    report = Report()
    chain = Chain(GENESIS)
    files = trail_files(target)
    progress = Progress.over([str(path) for path in files], sys.stderr if shown else None)
    try:
        for path in files:
            report.files.append(_verify_file(path, chain, report, progress))
    finally:
        progress.finish()
    return report


def _verify_file(path: Path, chain: Chain, report: Report, progress: Progress) -> FileReport:
    result = FileReport(str(path))
    try:
        handle = open(open_trail(str(path)), "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:  # named rightly, but not readable: the chain cannot be checked
        raise FailureError(f"verify: {path}: {exc.strerror or exc}") from None
    in_chain = False  # the file held a dashboard record: each line is a link from then on
    with handle:
        for number, line in enumerate(handle, start=1):
            progress.advance(1, len(line))
            record = decode_link(line)
            if isinstance(record, Skip):
                if record is Skip.BLANK:
                    continue
                result.malformed += 1
                report.first_malformed = report.first_malformed or f"{path}:{number}"
                readable = decode_record(line)  # whose trail it is, though no link is read
                in_chain = in_chain or (isinstance(readable, dict) and is_chained(readable))
                if chain.binds(in_chain):  # a line that does not parse breaks it, as for loki
                    result.broken += 1
                    report.first_broken = report.first_broken or f"{path}:{number}"
                continue
            result.entries += 1
            in_chain = in_chain or is_chained(record)
            status = chain.check(record)[0] if in_chain else UNVERIFIED
            if status == OK:
                result.ok += 1
            elif status == BROKEN:
                result.broken += 1
                report.first_broken = report.first_broken or f"{path}:{number}"
            else:
                result.unverified += 1
    return result


def render(report: Report) -> str:
    """Return the human report: a line per file, the first broken record, the verdict."""
    lines = []
    paths = [printable(f.path) for f in report.files]
    width = max(map(len, paths))
    for f, path in zip(report.files, paths, strict=True):
        detail = f"{_count(f.entries, 'entry', 'entries')}, {f.status}"
        if f.unverified and f.status != "unverified":
            detail += f" ({f.unverified} without a hash)"
        if f.malformed:
            detail += f", {f.malformed} unreadable lines"
        lines.append(f"{path.ljust(width)}  {detail}")
    if report.first_broken:
        lines.append(f"first broken record: {printable(report.first_broken)}")
    verdict = "chain valid" if report.valid else "chain BROKEN"
    if report.valid and all(f.status in ("unverified", "empty") for f in report.files):
        verdict = "nothing verified: no integrity hashes"
    entries = _count(report.entries, "entry", "entries")
    lines.append(f"{entries} in {_count(len(report.files), 'file', 'files')}: {verdict}")
    return os.linesep.join(lines) + os.linesep


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def as_dict(report: Report) -> dict[str, object]:
    """Return the report for ``--json``."""
    return {
        "valid": report.valid,
        "entries": report.entries,
        "first_broken": report.first_broken or None,
        "first_malformed": report.first_malformed or None,
        "files": [
            {
                "path": f.path,
                "status": f.status,
                "entries": f.entries,
                "ok": f.ok,
                "unverified": f.unverified,
                "broken": f.broken,
                "malformed": f.malformed,
            }
            for f in report.files
        ],
    }
