"""Syslog's codes, shared by the listener and the senders: facilities, severities, months."""

from __future__ import annotations

FACILITIES: dict[str, int] = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "audit": 13,
    "alert": 14,
    "clock": 15,
    **{f"local{n}": 16 + n for n in range(8)},
}

#: Syslog severity of each watchd level (RFC 5424 table 2).
SEVERITIES: dict[str, int] = {
    "critical": 2,
    "error": 3,
    "warning": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}

#: The level each syslog severity is read back as (emergency and alert are critical).
LEVEL_OF_SEVERITY: tuple[str, ...] = (
    "critical",
    "critical",
    "critical",
    "error",
    "warning",
    "notice",
    "info",
    "debug",
)

#: RFC 3164's month abbreviations (its timestamps are ``Mmm dd hh:mm:ss``).
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def severity(level: str) -> int:
    """Return the syslog severity of a watchd level (info for one it does not know)."""
    return SEVERITIES.get(level, 6)
