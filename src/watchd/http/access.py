"""Who may ask: loopback without a token, anything else only with one.

The token comes from ``--http-token-file`` or ``WATCHD_HTTP_TOKEN``, is
compared in constant time, and is taken only from an ``Authorization: Bearer``
header: never from a URL, where proxies, logs and browser history keep it.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass

from watchd.core.errors import UsageError

TOKEN_VARIABLE = "WATCHD_HTTP_TOKEN"  # noqa: S105 - the name of the variable, not a token
_LOOPBACK_NAMES = frozenset(("localhost", "localhost.localdomain"))


@dataclass(frozen=True)
class Address:
    """Where the server listens."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        """Return True when only this machine can connect."""
        if self.host.lower() in _LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def ipv6(self) -> bool:
        """Return True for an IPv6 literal."""
        return ":" in self.host


def parse_address(text: str, where: str = "--http") -> Address:
    """Parse ``HOST:PORT``, ``[IPV6]:PORT`` or ``:PORT`` (loopback); UsageError if it is not."""
    host, sep, port = text.rpartition(":")
    if not sep:
        raise UsageError(f"{where} {text!r}: expected HOST:PORT, as in 127.0.0.1:8642")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(f"{where} {text!r}: an IPv6 address goes in brackets, as in [::1]:8642")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"{where} {text!r}: the port is a number from 0 to 65535")
    return Address(host or "127.0.0.1", int(port))


@dataclass(frozen=True)
class Access:
    """The token a request must bring (None: no token asked for), and the names it may use.

    Without a token, a request must name the server by one of *hosts* in its
    ``Host`` header: a web page the operator visits could otherwise make its
    own name resolve to 127.0.0.1 (DNS rebinding) and read the trail with the
    operator's browser, which sends that name. With a token the page has
    nothing to send, so any name is served.
    """

    token: bytes | None
    hosts: frozenset[str] = frozenset()

    def allows_host(self, host_header: str | None) -> bool:
        """Return True when the ``Host`` header names this server (or a token guards it).

        A request without the header is no browser's (every browser sends it).
        """
        if self.token is not None or host_header is None:
            return True
        return host_name(host_header) in self.hosts

    def allows(self, authorization: str | None) -> bool:
        """Return True when the ``Authorization`` header carries the token (or none is needed)."""
        if self.token is None:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode("utf-8", "replace"), self.token)


def host_name(header: str) -> str:
    """Return the name a ``Host`` header gives, without its port, lower case, no final dot."""
    header = header.strip().lower()
    if header.startswith("["):
        name = header[1 : header.find("]")] if "]" in header else header
    else:
        name, colon, port = header.rpartition(":")
        if not colon or not port.isdigit():
            name = header
    return name.rstrip(".")


def access_for(
    address: Address,
    token_file: str | None,
    environ: dict[str, str],
    hosts: Sequence[str] = (),
) -> Access:
    """Return the access rule of *address*: a token is required off loopback.

    *hosts* are the names, beside the listener's own address and the loopback
    names, that a request without a token may give in its ``Host`` header.
    """
    token: str | None = None
    if token_file is not None:
        try:
            with open(token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise UsageError(f"--http-token-file {token_file}: {reason}") from None
        if not token:
            raise UsageError(f"--http-token-file {token_file}: the file is empty")
    elif environ.get(TOKEN_VARIABLE):
        token = environ[TOKEN_VARIABLE].strip()
    if token is None and not address.loopback:
        raise UsageError(
            f"--http {address.host}: another machine could connect; give a token with "
            f"--http-token-file FILE or {TOKEN_VARIABLE} (or bind 127.0.0.1)"
        )
    if token is not None and (len(token) < 16 or any(c.isspace() for c in token)):
        raise UsageError("the HTTP token must be at least 16 characters, without spaces")
    names = {address.host, *_LOOPBACK_NAMES, "127.0.0.1", "::1", *hosts}
    return Access(
        token.encode() if token is not None else None,
        frozenset(host_name(name) for name in names),
    )


def environment() -> dict[str, str]:
    """Return the process environment as a plain dict (for :func:`access_for`)."""
    return dict(os.environ)
