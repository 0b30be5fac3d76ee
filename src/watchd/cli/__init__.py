"""The command line: ``watchd`` and its commands."""

from watchd.cli.app import main

__all__ = ["main"]
