"""Parsing of the timestamp formats audit producers write, to UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from watchd.core.durations import parse_duration
from watchd.core.errors import UsageError


def parse_timestamp(value: object) -> datetime | None:
    """Return *value* parsed to an aware UTC datetime, or None when it is not a timestamp.

    Accepts ISO 8601 / RFC 3339 with ``Z`` or an offset, up to nine fraction
    digits (Go's RFC3339Nano; digits past microseconds are dropped), and naive
    times, which are taken as UTC (the producers that write them, such as
    terok-shield, write UTC). Numbers are taken as epoch seconds.
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


#: The ``extra`` key that marks an event whose ``ts`` is the time it was read:
#: its record had none, so that nobody takes the read time for the record's.
READ_TIME_KEY = "ts_is_read_time"


def own_ts(value: object) -> str | None:
    """Return a record's own ``ts`` as text: a string verbatim, epoch seconds as UTC ISO 8601.

    None when the record has no time of its own (absent, null, empty, or
    another type).
    """
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        when = parse_timestamp(value)
        return when.isoformat() if when is not None else None
    return None


def parse_when(text: str, flag: str, now: datetime | None = None) -> datetime:
    """Return the time *text* names: RFC 3339, or a duration back from now (90s, 15m, 2h, 7d)."""
    try:
        seconds = parse_duration(text, unit=None, what=flag)
    except UsageError:
        pass
    else:
        try:
            return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
        except OverflowError:
            raise UsageError(f"{flag} {text!r}: goes back before the year 1") from None
    parsed = parse_timestamp(text)
    if parsed is None:
        raise UsageError(
            f"{flag} {text!r}: expected an RFC 3339 time or a duration (90s, 15m, 2h, 7d)"
        )
    return parsed


def record_ts(value: object) -> str:
    """Return a record's own ``ts`` (see :func:`own_ts`), or the read time when it has none."""
    own = own_ts(value)
    return own if own is not None else utc_now_iso()


def iso_millis(when: datetime, zone: str = "Z") -> str:
    """Return a UTC time as ``YYYY-MM-DDTHH:MM:SS.mmm`` followed by *zone*."""
    # Printed from the fields: an aware datetime's isoformat() (and strftime)
    # take twice as long, and a syslog or SIEM sink stamps every event.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03d%s" % (  # noqa: UP031 - the fastest spelling
        when.year,
        when.month,
        when.day,
        when.hour,
        when.minute,
        when.second,
        when.microsecond // 1000,
        zone,
    )


def utc_now_iso() -> str:
    """Return the current time as UTC ISO 8601, the ``ts`` of records that have none."""
    return datetime.now(UTC).isoformat()
