"""HTTP endpoints a plugin adds to ``--http``: what a route gets, and what it answers.

A plugin registers a set of routes (``watchd_register_routes``): a factory
that is handed the run's trails once, when the server starts, and returns
its handlers by path. A handler gets the raw query string and returns an
:class:`Answer`; a parameter it cannot use is a :class:`BadRequestError`,
which the server answers with a 400 naming it. Every route sits behind the
server's own checks (the Host header, the token).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from watchd.core.event import WatchEvent


@dataclass(frozen=True)
class Answer:
    """A response body: its media type, the chunks, and headers to add.

    .. versionadded:: 0.1.0
    """

    media_type: str
    chunks: Iterator[bytes]
    headers: Mapping[str, str]


class BadRequestError(Exception):
    """A parameter is wrong: the message names it (it becomes a 400).

    .. versionadded:: 0.1.0
    """


class RunTrails(Protocol):
    """What a route may read: the run's audit trails, as ``watchd query`` reads them.

    .. versionadded:: 0.1.0
    """

    @property
    def targets(self) -> list[str]:
        """Return the paths (files, globs, directories) of the run's audit sources."""
        ...

    def every_event(self) -> Iterator[WatchEvent]:
        """Yield every event of the trails in time order (a bounded read: it may stop early)."""
        ...


#: ``handler(query)``: the answer to one GET of its path.
Handler = Callable[[str], Answer]
#: ``factory(trails)``: a route set's handlers by path, made once when the server starts.
RoutesFactory = Callable[[RunTrails], Mapping[str, Handler]]
