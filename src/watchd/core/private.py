"""The directories and files watchd makes: private whatever the umask, never through a link.

watchd may run as root under a permissive umask (000 in some service
managers and containers). Every directory it creates is 0700 and every file
0600, set explicitly rather than left to the umask; and it never opens a file
it writes through a symbolic link at its last component, since one planted
at a trail's path would make root append to whatever the link names.
"""

from __future__ import annotations

import errno
import os

_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW


#: Why watchd refuses to write to a path that is a symbolic link.
SYMLINK_REFUSED = "a symbolic link; watchd does not write through one"


class SymlinkRefusedError(OSError):
    """watchd does not write through a symbolic link."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.ELOOP, SYMLINK_REFUSED, path)


class NotADirectoryInPathError(NotADirectoryError):
    """A component of a path to create is something other than a directory."""

    def __init__(self, component: str) -> None:
        super().__init__(errno.ENOTDIR, f"{component} is not a directory", component)


def make_dirs(path: str) -> None:
    """Create *path* and each missing parent with mode 0700 (existing ones are left as they are).

    A component that exists but is not a directory is reported by its name
    (NotADirectoryInPathError), not as the ``File exists`` that mkdir says.
    """
    _, missing = _nearest_directory(path)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise NotADirectoryInPathError(directory) from None
            continue
        os.chmod(directory, 0o700)  # the umask may have taken bits away; never adds any


def _nearest_directory(path: str) -> tuple[str, list[str]]:
    """Return *path*'s nearest existing directory, and what lies below it to make, leaf first."""
    missing: list[str] = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current, missing


def fsync_directory(path: str) -> None:
    """Write *path*'s directory entries to disk: a file made or renamed in it survives a crash."""
    folder = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def open_append(path: str) -> int:
    """Open *path* to append, creating it 0600; SymlinkRefusedError if it is a link."""
    try:
        fd = os.open(path, _APPEND, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SymlinkRefusedError(path) from None
        raise
    return fd


#: File systems that hold no files of anyone's: a directory there takes no checkpoints.
_PSEUDO = frozenset(("proc", "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs"))


def why_not_appendable(path: str) -> str | None:
    """Return why the file *path* could not be opened to append (its directories made if need be).

    None when it could; nothing is made. A symbolic link is refused, as
    :func:`open_append` refuses it.
    """
    if os.path.islink(path):
        return SYMLINK_REFUSED
    if os.path.isdir(path):
        return os.strerror(errno.EISDIR)
    if os.path.exists(path):
        return None if os.access(path, os.W_OK) else os.strerror(errno.EACCES)
    return why_not_writable(os.path.dirname(os.path.abspath(path)))


def why_not_writable(path: str) -> str | None:
    """Return why *path* could not be made (if missing) and written, or None; nothing is made.

    What ``watchd validate`` can tell without creating anything: a component
    that is no directory, the nearest existing directory not writable to this
    user, a read-only file system, a pseudo file system such as /proc.
    """
    current, missing = _nearest_directory(path)
    taken = next((part for part in missing if os.path.lexists(part)), None)
    if taken is not None:
        return f"{taken} is not a directory"
    if os.statvfs(current).f_flag & os.ST_RDONLY:  # asked first: access() says EACCES for it too
        return f"{current}: Read-only file system"
    if not os.access(current, os.W_OK | os.X_OK):
        return f"{current} is not writable by this user"
    kind = _file_system(current)
    if kind in _PSEUDO:
        return f"{current} is on a {kind} file system, which holds no files"
    return None


def _file_system(path: str) -> str:
    """Return the type of the file system *path* is on (from /proc/self/mountinfo), or ''."""
    best, kind = "", ""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            for row in mounts:
                fields = row.split()
                point = fields[4].encode().decode("unicode_escape")  # \040 is a space
                inside = path == point or path.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best) and " - " in row:
                    best, kind = point, row.split(" - ", 1)[1].split()[0]
    except OSError:
        return ""
    return kind
