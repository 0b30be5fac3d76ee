"""What a file source names: one path, a glob, or a directory's files, and which names are in it.

``audit:/x/a.jsonl`` names one file, ``audit:'/x/*.jsonl'`` the files a glob
matches, ``audit:/x/`` (or any path that is a directory) the directory's
``*.jsonl`` and ``*.log``. A named path that does not exist yet is settled when
it appears: a directory then means its files (:meth:`Scope.settle`), so a
source started before the tool that makes the directory first ran needs no
trailing slash.
"""

from __future__ import annotations

import glob
import os
from fnmatch import fnmatchcase

from watchd.watchers.files.symlinks import LinkRule

#: The files a directory source follows: loki-mode's ``audit-*.jsonl``, lokt's ``*.log``.
DIRECTORY_SCOPE = "*.jsonl|*.log"


class Scope:
    """A path or glob, split into its directory part and its name patterns."""

    def __init__(self, pattern: str, follow_symlinks: str) -> None:
        self._follow_symlinks = follow_symlinks
        self._set(pattern)

    def _set(self, pattern: str) -> None:
        self.pattern = pattern
        self.directory, base = os.path.split(pattern)
        # "a|b" in the last part: names matching either (a directory's *.jsonl|*.log).
        self._names = base.split("|")
        self.dir_magic = glob.has_magic(self.directory)
        self._name_magic = glob.has_magic(base) or len(self._names) > 1
        self.is_glob = self.dir_magic or self._name_magic
        #: Which links it follows: a path named on its own may be a link, the operator chose it.
        self.links = LinkRule(self._follow_symlinks, explicit=not self.is_glob)

    def settle(self) -> bool:
        """Take a named path that turned out to be a directory as that directory's files.

        Whether ``audit:/x/audit`` names a file or a directory is known only once
        the path exists. A name is settled once; a directory's scope stays so.
        Returns True when the scope changed.
        """
        if self.is_glob or not os.path.isdir(self.pattern):
            return False
        self._set(os.path.join(self.pattern, DIRECTORY_SCOPE))
        return True

    def directories(self) -> list[str]:
        """Return the directories the scope lists now (a glob's that exist, or its one)."""
        if self.dir_magic:
            return sorted(d for d in glob.glob(self.directory) if os.path.isdir(d))
        return [self.directory]

    def takes(self, name: str) -> bool:
        """Return True when a file called *name* in a scope directory is in scope."""
        if not self._name_magic:
            return name == self._names[0]
        return any(
            fnmatchcase(name, pattern) and (pattern.startswith(".") or not name.startswith("."))
            for pattern in self._names
        )

    def rotation(self, name: str) -> bool:
        """Return True for a name out of scope made of one in scope and a rotation suffix."""
        if self.takes(name):
            return False
        return any(name[i] in ".-_" and self.takes(name[:i]) for i in range(1, len(name) - 1))

    def shown(self) -> str:
        """Return the scope as people read it: ``dir/*.jsonl|*.log`` is ``dir/{*.jsonl,*.log}``."""
        return shown_scope(self.pattern)


def shown_scope(pattern: str) -> str:
    """Return a scope as people read it: ``dir/*.jsonl|*.log`` is ``dir/{*.jsonl,*.log}``."""
    directory, name = os.path.split(pattern)
    if "|" not in name:
        return pattern
    return os.path.join(directory, "{" + name.replace("|", ",") + "}")


__all__ = ["DIRECTORY_SCOPE", "Scope", "shown_scope"]
