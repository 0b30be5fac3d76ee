"""Errors the CLI turns into exit codes, and the codes.

The rule, for every command: 2 when what was asked is wrong, so that asking
again unchanged cannot help (an unknown option, a bad value, a file named that
is not there); 1 when it was asked rightly and failed, now, and may not later
(a port in use, a file that cannot be read, a sink lost, events not delivered
at exit, a broken chain); 130 when Ctrl-C cut a command short of its end.
A unit restarts watchd after 1, not after 2 (``RestartPreventExitStatus=2``).
"""

import errno

#: 0 done, 1 failed (may not later), 2 a usage error, 130 interrupted (Ctrl-C).
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 128 + 2


class UsageError(Exception):
    """The user asked for something watchd cannot do as asked (exit code 2).

    The message is one line: what is wrong and, where it helps, what is available.

    .. versionadded:: 0.1.0
    """


class FailureError(Exception):
    """What was asked is right, but cannot be done now (exit code 1): a port another holds.

    The message is one line: what failed and why.
    """


class SinkStoppedError(Exception):
    """A sink cannot go on (its peer refused the credentials, say); the message says why.

    It is logged as one line, without a traceback, and the sink is detached.
    """


#: What the world may undo: a port another process frees, a disk that is emptied, an I/O error.
_PASSING = frozenset((errno.EADDRINUSE, errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN))


def setup_error(what: str, exc: OSError) -> UsageError | FailureError:
    """Return the error of what the configuration names and cannot be set up (bound, written).

    A failure (exit 1) where a restart may get past it (the port in use, the
    disk full); else usage (exit 2): an address not on this host, a
    privileged port, a read-only directory stay wrong until the
    configuration changes.
    """
    message = f"{what}: {exc.strerror or exc}"
    return FailureError(message) if exc.errno in _PASSING else UsageError(message)
