"""Errors the CLI turns into exit codes, and the codes."""

#: 0 done, 1 a source, sink or file failed, 2 a usage error, 130 interrupted (Ctrl-C).
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 128 + 2


class UsageError(Exception):
    """The user asked for something watchd cannot do as asked (exit code 2).

    The message is one line: what is wrong and, where it helps, what is available.
    """


class Checked(Exception):  # noqa: N818 - not an error: the end of a factory's dry run
    """A factory checked its spec in a dry run, and stops before opening anything."""


class SinkStoppedError(Exception):
    """A sink cannot go on (its peer refused the credentials, say); the message says why.

    It is logged as one line, without a traceback, and the sink is detached.
    """
