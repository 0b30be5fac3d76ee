"""``--http`` and its options, made into the service a run starts when its loop is built."""

from __future__ import annotations

import argparse
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from watchd.core.errors import UsageError
from watchd.core.run import Running
from watchd.core.spec import Spec
from watchd.http.access import Access, Address, access_for, environment, parse_address
from watchd.http.live import LiveFeed

if TYPE_CHECKING:
    from watchd.http.server import HttpService

DEFAULT_BUFFER = 10_000


def add_http_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--http`` and the options that go with it to ``run``."""
    group = parser.add_argument_group("HTTP API, live stream and metrics")
    group.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="serve the API, the live stream, /metrics and /healthz here (e.g. 127.0.0.1:8642)",
    )
    group.add_argument(
        "--http-token-file",
        metavar="FILE",
        help="the bearer token clients must send (required off loopback; or WATCHD_HTTP_TOKEN)",
    )
    group.add_argument(
        "--http-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a name clients may call the server by without a token, beside its address and "
        "localhost (repeatable; guards against DNS rebinding)",
    )
    group.add_argument("--http-cert", metavar="FILE", help="serve HTTPS with this certificate")
    group.add_argument("--http-key", metavar="FILE", help="the private key of --http-cert")
    group.add_argument(
        "--http-buffer",
        type=int,
        default=DEFAULT_BUFFER,
        metavar="N",
        help=f"live events held for clients that reconnect (default {DEFAULT_BUFFER:,})",
    )


@dataclass
class HttpSetup:
    """What ``--http`` asks for, checked before anything of the run is opened."""

    address: Address
    access: Access
    tls: ssl.SSLContext | None
    live: LiveFeed
    service: HttpService | None = None

    def start(self, running: Running, sources: list[Spec]) -> None:
        """Bind and start answering, once the run is built (a bound port is a usage error)."""
        from watchd.http.server import HttpService  # noqa: PLC0415 - only a run with --http needs it

        self.service = HttpService(
            self.address, self.access, running, self.live, sources, tls=self.tls
        )
        self.service.start()

    def close(self) -> None:
        """Stop answering (at the end of the run, before a reload starts the next)."""
        if self.service is not None:
            self.service.close()
            self.service = None


def http_setup(ns: argparse.Namespace) -> HttpSetup | None:
    """Return the HTTP service the options ask for, or None; UsageError names a wrong one."""
    if getattr(ns, "http", None) is None:
        for option in ("http_token_file", "http_cert", "http_key", "http_host"):
            if getattr(ns, option, None):
                flag = "--" + option.replace("_", "-")
                raise UsageError(f"{flag} goes with --http HOST:PORT")
        return None
    address = parse_address(ns.http)
    access = access_for(address, ns.http_token_file, environment(), ns.http_host)
    if ns.http_buffer < 1:
        raise UsageError(f"--http-buffer {ns.http_buffer}: at least 1")
    return HttpSetup(address, access, _tls(ns.http_cert, ns.http_key), LiveFeed(ns.http_buffer))


def _tls(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None:
        raise UsageError("--http-key goes with --http-cert FILE")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or "unreadable"
        raise UsageError(f"--http-cert {cert}: {reason}") from None
    return context
