"""Deprecated: the hook specifications are :mod:`watchd.core.hookspecs`."""

from watchd._moved import warn_moved
from watchd.core.hookspecs import *  # noqa: F403
from watchd.core.hookspecs import hookimpl

warn_moved(__name__, "watchd.core.hookspecs")

__all__ = ["hookimpl"]
