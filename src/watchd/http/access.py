"""Who may ask: loopback without a token, anything else only with one.

The token comes from ``--http-token-file`` or ``WATCHD_HTTP_TOKEN``, is
compared in constant time, and is taken only from an ``Authorization: Bearer``
header: never from a URL, where proxies, logs and browser history keep it.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
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
    """The token a request must bring (None: no token asked for)."""

    token: bytes | None

    def allows(self, authorization: str | None) -> bool:
        """Return True when the ``Authorization`` header carries the token (or none is needed)."""
        if self.token is None:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode("utf-8", "replace"), self.token)


def access_for(address: Address, token_file: str | None, environ: dict[str, str]) -> Access:
    """Return the access rule of *address*: a token is required off loopback."""
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
    return Access(token.encode() if token is not None else None)


def environment() -> dict[str, str]:
    """Return the process environment as a plain dict (for :func:`access_for`)."""
    return dict(os.environ)
