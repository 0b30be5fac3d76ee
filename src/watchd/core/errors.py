"""Errors the CLI turns into exit codes."""


class UsageError(Exception):
    """The user asked for something watchd cannot do as asked (exit code 2).

    The message is one line: what is wrong and, where it helps, what is available.
    """


class SinkStoppedError(Exception):
    """A sink cannot go on (its peer refused the credentials, say); the message says why.

    It is logged as one line, without a traceback, and the sink is detached.
    """
