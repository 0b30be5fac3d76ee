"""AuditWriter: append records the way terok-shield, lokt and loki-mode write them.

Each record is one ``write()`` of a complete line to a file opened with
``O_APPEND`` (created 0600, its directory 0700), under an exclusive ``flock``
so that writers in several processes never interleave, then ``fsync``. With
``chain=True`` (loki), the integrity hash is computed inside the lock from the
file's true last record, so concurrent writers never fork the chain.

``emit`` never raises into the caller: a failure (disk full, permissions, a
missing field) is reported once through structlog and counted.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import json
import os
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from watchd.codecs.integrity import GENESIS, HASH_KEY, link_hash
from watchd.codecs.lines import lines_backward
from watchd.core.errors import UsageError
from watchd.core.private import make_dirs, open_append

SCHEMAS = ("terok", "lokt", "loki")
#: The keys a record of each schema must be given.
REQUIRED = {"terok": ("action", "container"), "lokt": ("event", "name"), "loki": ("action",)}
_LOKI_KEYS = (
    "timestamp",
    "action",
    "resource_type",
    "resource_id",
    "user_id",
    "token_id",
    "ip_address",
    "user_agent",
    "success",
    "error",
    "details",
)


def _terok(fields: dict[str, Any]) -> bytes:
    """terok-shield: ``ts`` (UTC, seconds), container, action, dest?, detail?, then extras."""
    record: dict[str, Any] = {
        "ts": datetime.now(UTC).isoformat(timespec="seconds"),
        "container": fields.pop("container"),
        "action": fields.pop("action"),
    }
    for key in ("dest", "detail"):
        if fields.get(key) is not None:
            record[key] = fields.pop(key)
    record.update(fields)
    return json.dumps(record).encode()


def _rfc3339_nano(when: datetime) -> str:
    """Go's RFC3339Nano in local time: fraction digits without trailing zeros."""
    text = when.isoformat(timespec="microseconds")
    stamp, offset = text[:26], text[26:]
    stamp = stamp.rstrip("0").rstrip(".")
    return stamp + ("Z" if offset in ("+00:00", "") else offset)


def _lokt(fields: dict[str, Any]) -> bytes:
    """lokt: ts (local RFC3339Nano), event, name, lock_id?, owner, host, pid, ..., extra?."""
    record: dict[str, Any] = {
        "ts": _rfc3339_nano(datetime.now().astimezone()),
        "event": fields.pop("event"),
        "name": fields.pop("name"),
    }
    if fields.get("lock_id") is not None:
        record["lock_id"] = fields.pop("lock_id")
    record["owner"] = fields.pop("owner", None) or getpass.getuser()
    record["host"] = fields.pop("host", None) or socket.gethostname()
    record["pid"] = fields.pop("pid", None) or os.getpid()
    for key in ("agent_id", "ttl_sec"):
        if fields.get(key) is not None:
            record[key] = fields.pop(key)
    extra = fields.pop("extra", None)
    extra = {**(extra if isinstance(extra, dict) else {}), **fields}
    if extra:
        record["extra"] = extra
    return json.dumps(record, separators=(",", ":")).encode()


def _loki_record(fields: dict[str, Any]) -> dict[str, Any]:
    """loki-mode: every key present (nulls as null), success true and details {} by default."""
    record: dict[str, Any] = {key: fields.pop(key, None) for key in _LOKI_KEYS}
    record["timestamp"] = record["timestamp"] or datetime.now(UTC).isoformat()
    if record["success"] is None:
        record["success"] = True
    if record["details"] is None:
        record["details"] = {}
    record.update(fields)
    return record


def _stderr_logger() -> Any:  # noqa: ANN401 - structlog's bound loggers are untyped
    """Return watchd's logger; in a program that did not set structlog up, one on stderr.

    An unconfigured structlog prints to stdout, which may be the program's data.
    """
    if structlog.is_configured():
        return structlog.get_logger("watchd")
    return structlog.wrap_logger(structlog.PrintLogger(sys.stderr))


def emit_fields(
    schema: str,
    *,
    action: str,
    container: str | None,
    dest: str | None,
    detail: str | None,
    pairs: list[str],
) -> dict[str, Any]:
    """Return the record fields of ``watchd emit``'s options, in *schema*'s own keys."""
    fields: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"emit: --field {pair!r}: expected KEY=VALUE")
        try:
            fields[key] = json.loads(value)
        except ValueError:
            fields[key] = value
    named: list[tuple[str, str, object]]  # (record key, the option that gives it, its value)
    if schema == "terok":
        named = [("action", "--action", action), ("container", "--container", container)]
        named += [("dest", "--dest", dest), ("detail", "--detail", detail)]
    elif schema == "lokt":
        named = [("event", "--action", action), ("name", "--container", container)]
        if detail is not None:
            fields["extra"] = {**fields.get("extra", {}), "detail": detail}
    else:
        kind, _, resource = (container or "").partition("/")
        named = [("action", "--action", action), ("resource_type", "--container", kind or None)]
        named += [("resource_id", "--container", resource or None)]
        named += [("ip_address", "--dest", dest), ("error", "--detail", detail)]
    for name, flag, given in named:
        if given is None:
            continue  # not given: a --field of that key stands
        if name in fields:
            raise UsageError(f"emit: {flag} and --field {name}= both give {name}: give it once")
        fields[name] = given
    return {key: value for key, value in fields.items() if value is not None}


class AuditWriter:
    """Appends records of one schema to one file; safe across threads and processes.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, path: str | os.PathLike[str], schema: str = "terok", *, chain: bool = False
    ) -> None:
        if schema not in SCHEMAS:
            raise ValueError(f"schema {schema!r} is not one of {', '.join(SCHEMAS)}")
        if chain and schema != "loki":
            raise ValueError("chain=True is loki-mode's integrity chain: schema='loki'")
        self.path = os.fspath(path)
        self.schema = schema
        self.chain = chain
        self.written = 0
        self.failures = 0
        self._said = False
        self._log = _stderr_logger().bind(path=self.path)
        self._line: Callable[[dict[str, Any]], bytes] = {"terok": _terok, "lokt": _lokt}.get(
            schema, lambda fields: json.dumps(_loki_record(fields)).encode()
        )

    def emit(self, **fields: Any) -> bool:  # noqa: ANN401 - a record's values are any JSON
        """Append one record made of *fields*; return False (reported, counted) on failure."""
        try:
            self._check(fields)
            self._append(dict(fields))
        except (OSError, ValueError, TypeError) as exc:
            self.failures += 1
            if not self._said:
                self._said = True
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                self._log.error("audit record not written", reason=reason, schema=self.schema)
            return False
        self.written += 1
        return True

    def _check(self, fields: dict[str, Any]) -> None:
        missing = missing_fields(self.schema, fields)
        if missing:
            raise ValueError(f"a {self.schema} record needs {', '.join(missing)}")

    def _append(self, fields: dict[str, Any]) -> None:
        directory = os.path.dirname(self.path)
        if directory:
            make_dirs(directory)
        fd = open_append(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if self.chain:
                    record = _loki_record(fields)
                    record[HASH_KEY] = link_hash(_tip(self.path), record)
                    line = json.dumps(record).encode()
                else:
                    line = self._line(fields)
                _write_all(fd, line + b"\n", os.fstat(fd).st_size)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.fsync(fd)
        finally:
            os.close(fd)


def missing_fields(schema: str, fields: dict[str, Any]) -> list[str]:
    """Return the fields a *schema* record needs that *fields* leaves empty."""
    return [key for key in REQUIRED[schema] if fields.get(key) in (None, "")]


def _write_all(fd: int, data: bytes, size: int) -> None:
    """Write *data* in one call; a short write (disk full) is undone, not left as a torn line."""
    written = os.write(fd, data)
    if written != len(data):
        os.ftruncate(fd, size)
        raise OSError(errno.ENOSPC, "short write: the disk is full")


def _tip(path: str) -> str:
    """Return the hash the next record chains to, read under the lock.

    The file's last chained record; for a file with none (a new day's file),
    the last one of the newest other trail file beside it, as loki-mode
    carries its chain across files; genesis when there is none.
    """
    own = _last_hash(path)
    if own is not None:
        return own
    directory = os.path.dirname(path) or "."
    siblings = [
        (entry.stat().st_mtime_ns, entry.path)
        for entry in os.scandir(directory)
        if entry.path != path and entry.name.endswith(".jsonl") and entry.is_file()
    ]
    for _, sibling in sorted(siblings, reverse=True):
        found = _last_hash(sibling)
        if found is not None:
            return found
    return GENESIS


def _last_hash(path: str) -> str | None:
    """Return the hash of *path*'s last chained record, None when it has none."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for line in lines_backward(fd, os.fstat(fd).st_size):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get(HASH_KEY), str):
                return str(record[HASH_KEY])
        return None
    finally:
        os.close(fd)
