"""The ``syslog`` sink: forwarding to collectors.

``syslog:udp://HOST[:PORT]``, ``syslog:tcp://…``, ``syslog:tls://…``,
``syslog:relp://…`` (rsyslog's acknowledged protocol) and
``syslog:unix:///dev/log``, in RFC 5424 (default), RFC 3164 or loki-mode's own
bytes. The listeners (the ``syslog`` source) are ``watchers/syslog.py``.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from watchd.codecs.syslog.framing import FRAMINGS
from watchd.codecs.syslog.grammar import FACILITIES
from watchd.codecs.syslog.messages import (
    DEFAULT_SD_ID,
    LokiSyslog,
    Rfc3164,
    Rfc5424,
    Sender,
    SyslogFormat,
)
from watchd.core.context import Checking, RunContext, SinkFactory
from watchd.core.deadletters import DeadLettered, dead_letters
from watchd.core.errors import UsageError
from watchd.core.hookspecs import hookimpl
from watchd.core.interfaces import FormatContext, FormatFactory, Sink
from watchd.core.option_kinds import Choice, OptionalText, Size, Text
from watchd.core.registry import TypeTable
from watchd.core.spec import parse_address
from watchd.plugins.sinks.datagram import DatagramSink
from watchd.plugins.sinks.network import Delivered, TlsClient
from watchd.plugins.sinks.relp import RelpSink
from watchd.plugins.sinks.tcp import TcpSink

_DEFAULT_PORTS = {"udp": 514, "tcp": 514, "tls": 6514, "relp": 2514}
#: Largest UDP payload over IPv4.
_UDP_MAX = 65_507


def split_transport(target: str, where: str, transports: tuple[str, ...]) -> tuple[str, str]:
    """Return (transport, rest) of ``TRANSPORT://REST``."""
    scheme, sep, rest = target.partition("://")
    if not sep or scheme not in transports:
        choices = ", ".join(f"{name}://" for name in transports)
        raise UsageError(f"{where}: expected one of {choices}, as in udp://127.0.0.1:514")
    return scheme, rest


def facility_number(value: str) -> int | None:
    """Return the number of a facility (a name such as ``local0``, or 0 to 23), None if none."""
    value = value.lower()
    if value.isdigit() and int(value) < 24:
        return int(value)
    return FACILITIES.get(value)


def _facility_form(value: str) -> str | None:
    """Return what is wrong with a ``facility=`` value, or None."""
    if facility_number(value) is None:
        return "expected a syslog facility (kern, user, ..., local0 to local7, or 0 to 23)"
    return None


def header_text(limit: int, *, sd: bool = False) -> Callable[[str], str | None]:
    """Return the check of a header field RFC 5424 allows: 1 to *limit* printable US-ASCII.

    An SD-ID (*sd*) may not hold ``=``, ``]`` or ``"`` either. What an event
    carries is made to fit; what the configuration says must fit as written.
    """
    banned = '="]' if sd else ""

    def check(value: str) -> str | None:
        bad = not value.isascii() or any(not "!" <= c <= "~" or c in banned for c in value)
        if bad or not 1 <= len(value) <= limit:
            others = ', no =, ] or "' if sd else ""
            return f"expected 1 to {limit} printable US-ASCII characters (no space{others})"
        return None

    return check


class SyslogSinkOptions(Delivered, DeadLettered, TlsClient):
    """Syslog collector: RFC 5424, 3164 or loki-mode's bytes over UDP, TCP, TLS, RELP, a socket."""

    target_form = "udp|tcp|tls|relp://HOST[:PORT] or unix:///PATH"
    example = "syslog:tcp://127.0.0.1:514"
    format = Choice(
        ("auto", "rfc5424", "rfc3164", "loki"),
        "auto",
        "the message format (auto: rfc3164 on a unix socket, as syslog(3) sends; else rfc5424)",
    )
    facility = Text(
        "local0",
        "a name (kern, user, daemon, auth, local0..7) or 0 to 23",
        metavar="FACILITY",
        valid=_facility_form,
    )
    body = Text(
        "json", "the format of the message's body (its options are taken too)", metavar="FORMAT"
    )
    hostname = OptionalText(
        "HOSTNAME field (this host's name; none on a unix socket)",
        metavar="NAME",
        valid=header_text(255),
    )
    app_name = Text("watchd", "APP-NAME field", metavar="NAME", valid=header_text(48))
    procid = OptionalText(
        "PROCID field (watchd's process id)", metavar="ID", valid=header_text(128)
    )
    sd_id = Text(
        DEFAULT_SD_ID,
        "RFC 5424 structured data id of the event's fields",
        metavar="ID",
        valid=header_text(32, sd=True),
    )
    limit = Size(
        0,
        "largest datagram, udp:// and unix:// (unset: 8KiB on a socket, 1KiB for rfc3164, "
        "else 2KiB)",
        minimum=480,
    )
    framing = Choice(
        ("auto", *FRAMINGS), "auto", "tcp:// and tls:// framing (auto: octet; none for loki)"
    )
    server_name = OptionalText(
        "tls://: the name the certificate must carry (the host's)", metavar="NAME"
    )

    def check(self, checking: Checking) -> None:
        """Read the address, facility and body format; refuse other transports' options."""
        super().check(checking)
        where = self.where
        transports = ("udp", "tcp", "tls", "relp", "unix")
        transport, rest = split_transport(self.target or "udp://127.0.0.1:514", where, transports)
        self.transport = transport
        name = self.format
        if name == "auto":
            name = "rfc3164" if transport == "unix" else "rfc5424"
            self._values["format"] = name
        if name != "loki":
            entry = self.named(checking.registry.formats, "body")
            self.body_build: FormatFactory = entry.item
            self.body_options = self.take_nested(entry.options, checking)
        else:
            self.unused("body", "hostname", "app_name", "procid", "sd_id")
        if name != "rfc5424":
            self.unused("sd_id")
        self._check_transport(transport, rest, name)

    def _check_transport(self, transport: str, rest: str, name: str) -> None:
        if transport in ("udp", "unix"):
            self.refuse_given(("framing",), "applies to tcp:// and tls:// only")
            default = 8192 if transport == "unix" else 1024 if name == "rfc3164" else 2048
            limit = self.limit or default
            if transport == "udp" and limit > _UDP_MAX:
                raise self.refuse("limit", f"is above UDP's {_UDP_MAX} bytes")
            self._values["limit"] = limit
            self.unused("framing")
            if transport == "unix" and not rest.startswith("/"):
                raise UsageError(f"{self.where}: expected unix:///PATH, as in unix:///dev/log")
            self.address: tuple[str, int] | str = (
                rest
                if transport == "unix"
                else parse_address(rest, self.where, _DEFAULT_PORTS["udp"])
            )
        else:
            self.refuse_given(("limit",), "applies to udp:// and unix:// only")
            self.address = parse_address(rest, self.where, _DEFAULT_PORTS[transport])
            self.unused("limit")
            if transport == "relp":
                self.refuse_given(
                    ("framing",), "applies to tcp:// and tls:// only (RELP frames itself)"
                )
            if self.framing == "auto":
                self._values["framing"] = "none" if name == "loki" else "octet"
        if transport == "tls":
            self.tls: ssl.SSLContext | None = self.check_tls()
        else:
            self.tls = None
            self.refuse_given(self.TLS_KEYS, "applies to tls:// only")
            self.refuse_given(("server_name",), "applies to tls:// only")
            self.unused(*self.TLS_KEYS, "server_name")

    def message(self) -> SyslogFormat:
        """Return the builder of the messages the options ask for."""
        facility = facility_number(self.facility) or 0
        if self.format == "loki":
            return LokiSyslog(facility=facility)
        body = self.body_build(self.body_options, FormatContext())
        sender = Sender(facility, self.hostname, self.app_name, self.procid)
        if self.format == "rfc3164":
            return Rfc3164(body, sender, local=self.transport == "unix" and self.hostname is None)
        return Rfc5424(body, sender, sd_id=self.sd_id)


def build_syslog_sink(options: SyslogSinkOptions, context: RunContext) -> Sink:
    """Build the sink of ``syslog:udp|tcp|tls|relp|unix://ADDRESS``."""
    name = f"syslog:{options.target}"
    message = options.message()
    settings = options.delivery(clock=context.clock)
    letters = dead_letters(options, name)
    if options.transport in ("udp", "unix"):
        return DatagramSink(
            name, options.address, message, limit=options.limit, delivery=settings, letters=letters
        )
    assert isinstance(options.address, tuple)  # noqa: S101 - a stream's address is HOST:PORT
    if options.transport == "relp":  # RELP frames each message itself
        return RelpSink(name, options.address, message, bytes, delivery=settings, letters=letters)
    return TcpSink(
        name,
        options.address,
        message,
        FRAMINGS[options.framing],
        delivery=settings,
        tls=options.tls,
        server_name=options.server_name,
        letters=letters,
    )


@hookimpl
def watchd_register_sink_types(sinks: TypeTable[SinkFactory]) -> None:
    """Register ``syslog``."""
    sinks.add("syslog", build_syslog_sink, SyslogSinkOptions)
