"""The built-in route sets: loki-mode's audit endpoints, registered as any plugin's routes.

Imported at every start, so it imports nothing heavy: the endpoints' code is
loaded when a server starts (``watchd --help`` pays nothing for it).
"""

from __future__ import annotations

from collections.abc import Mapping

from watchd.core.hookspecs import hookimpl
from watchd.core.registry import TypeTable
from watchd.core.routes import Handler, RoutesFactory, RunTrails


def loki_routes(trails: RunTrails) -> Mapping[str, Handler]:
    """Return loki-mode's endpoints over *trails* (see :mod:`watchd.http.loki`)."""
    from watchd.http.loki import LokiApi  # noqa: PLC0415 - only a server needs it

    return LokiApi(trails).routes


@hookimpl
def watchd_register_routes(routes: TypeTable[RoutesFactory]) -> None:
    """Register ``loki``: /api/v2/audit, /api/enterprise/audit, /audit and the rest."""
    routes.add("loki", loki_routes, help="loki-mode's audit endpoints (/api/v2/audit, /audit, ...)")
