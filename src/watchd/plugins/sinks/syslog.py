"""The ``syslog`` sink and source: forwarding to collectors, and receiving from senders.

Sink: ``syslog:udp://HOST[:PORT]``, ``syslog:tcp://…``, ``syslog:tls://…``,
``syslog:relp://…`` (rsyslog's acknowledged protocol) and
``syslog:unix:///dev/log``, in RFC 5424 (default), RFC 3164 or loki-mode's own
bytes. Source: ``syslog:udp://…`` and ``syslog:tcp://…`` listeners.
"""

from __future__ import annotations

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
from watchd.core.context import RunContext, SinkFactory
from watchd.core.deadletters import dead_letters
from watchd.core.errors import UsageError
from watchd.core.hookspecs import hookimpl
from watchd.core.interfaces import FormatContext, Sink
from watchd.core.registry import TypeTable
from watchd.core.spec import Options, Spec, parse_address
from watchd.plugins.sinks.datagram import DatagramSink
from watchd.plugins.sinks.network import delivery, tls_context
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


def facility_option(options: Options) -> int:
    """Return ``facility=`` (a name such as ``local0``, or a number 0 to 23)."""
    value = options.text("facility", "local0").lower()
    if value.isdigit() and int(value) < 24:
        return int(value)
    if value not in FACILITIES:
        raise UsageError(
            f"{options.where}: facility={value!r} is not a syslog facility "
            f"(kern, user, daemon, auth, ..., local0 to local7, or 0 to 23)"
        )
    return FACILITIES[value]


def message_format(
    options: Options, context: RunContext, *, local: bool = False
) -> tuple[str, SyslogFormat]:
    """Return the name and builder of ``format=rfc5424|rfc3164|loki`` with its options.

    A local socket such as /dev/log gets what syslog(3) sends by default: RFC
    3164 without a hostname.
    """
    default = "rfc3164" if local else "rfc5424"
    name = options.choice("format", ("rfc5424", "rfc3164", "loki"), default)
    facility = facility_option(options)
    if name == "loki":
        return name, LokiSyslog(facility=facility)
    body_name = options.text("body", "json")
    body = context.registry.formats.get(body_name, options.where)(options, FormatContext())
    hostname = options.optional("hostname")
    sender = Sender(
        facility, hostname, options.text("app_name", "watchd"), options.optional("procid")
    )
    if name == "rfc3164":
        return name, Rfc3164(body, sender, local=local and hostname is None)
    return name, Rfc5424(body, sender, sd_id=options.text("sd_id", DEFAULT_SD_ID))


def make_syslog_sink(spec: Spec, context: RunContext) -> Sink:
    """Build the sink of ``syslog:udp|tcp|tls|unix://ADDRESS[,OPTION=VALUE...]``."""
    options = spec.options
    where = options.where
    transport, rest = split_transport(
        spec.target or "udp://127.0.0.1:514", where, ("udp", "tcp", "tls", "relp", "unix")
    )
    # A local socket such as /dev/log speaks what syslog(3) sends: RFC 3164.
    name, message = message_format(options, context, local=transport == "unix")
    settings = delivery(options)
    sink_name = f"syslog:{spec.target}"
    letters = dead_letters(options, sink_name, dry_run=context.dry_run)
    if transport in ("udp", "unix"):
        default_limit = 8192 if transport == "unix" else 1024 if name == "rfc3164" else 2048
        limit = options.number("limit", default_limit, minimum=480)
        if transport == "udp" and limit > _UDP_MAX:
            raise UsageError(f"{where}: limit={limit} is above UDP's {_UDP_MAX} bytes")
        options.finish()
        # The address is checked with the options, before anything opens (validate stops there).
        address: tuple[str, int] | str = (
            rest if transport == "unix" else parse_address(rest, where, _DEFAULT_PORTS["udp"])
        )
        if transport == "unix" and not rest.startswith("/"):
            raise UsageError(f"{where}: expected unix:///PATH, as in unix:///dev/log")
        context.opening()
        return DatagramSink(
            sink_name,
            address,
            message,
            limit=limit,
            delivery=settings,
            letters=letters,
        )
    host_port = parse_address(rest, where, _DEFAULT_PORTS[transport])
    if transport == "relp":  # RELP frames each message itself
        options.finish()
        context.opening()
        return RelpSink(sink_name, host_port, message, bytes, delivery=settings, letters=letters)
    framing = options.choice("framing", tuple(FRAMINGS), "none" if name == "loki" else "octet")
    tls = server_name = None
    if transport == "tls":
        server_name = options.optional("server_name")
        tls = tls_context(options)
    options.finish()
    context.opening()
    return TcpSink(
        sink_name,
        host_port,
        message,
        FRAMINGS[framing],
        delivery=settings,
        tls=tls,
        server_name=server_name,
        letters=letters,
    )


@hookimpl
def watchd_register_sink_types(sinks: TypeTable[SinkFactory]) -> None:
    """Register ``syslog``."""
    sinks.add(
        "syslog",
        make_syslog_sink,
        "syslog collector: syslog:udp|tcp|tls|relp://HOST:PORT or unix:///dev/log"
        "[,format=rfc5424|rfc3164|loki][,facility=local0][,framing=octet|lf][,dead_letter=FILE]",
    )
