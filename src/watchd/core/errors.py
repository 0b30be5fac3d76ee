"""Errors the CLI turns into exit codes."""


class UsageError(Exception):
    """The user asked for something watchd cannot do as asked (exit code 2).

    The message is one line: what is wrong and, where it helps, what is available.
    """
