"""Where every followed file stands: acknowledged offsets, kept across restarts.

One JSON document per state directory, rewritten atomically (temporary file,
fsync, rename, fsync of the directory), so a crash leaves either the old or the
new document, never half of one. A lock on the directory keeps a second watchd
from sharing it. Entries of files not seen for longer than a TTL are dropped,
so the store stays small however many short-lived files come and go.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import msgspec
import orjson
import structlog

from watchd.core.clock import Clock, monotonic
from watchd.core.clock import wall as wall_clock
from watchd.core.errors import FailureError, UsageError, setup_error
from watchd.core.private import fsync_directory, make_dirs

log = structlog.get_logger("watchd")

STATE_FILE = "checkpoints.json"
LOCK_FILE = "lock"
FORMAT_VERSION = 1


#: A count that cannot be negative: a device, an inode, a length, an offset.
Count = Annotated[int, msgspec.Meta(ge=0)]


@dataclass
class Entry:
    """One file of one source: identity, fingerprint, and the acknowledged offset."""

    source: str
    path: str
    dev: Count
    ino: Count
    head_len: Count
    head: str
    offset: Count
    mark: str
    seen: float  # wall-clock time the file was last known to exist
    extra: dict[str, str] | None = None  # what a source keeps beside the offset

    @property
    def key(self) -> str:
        """Return the entry's key in the store."""
        return entry_key(self.source, self.dev, self.ino)


class _Document(msgspec.Struct):
    """The checkpoint file's shape; its entries are checked one by one."""

    version: int
    sources: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    files: list[Any] = msgspec.field(default_factory=list)


def entry_key(source: str, dev: int, ino: int) -> str:
    """Return the store key of a file of *source*."""
    return f"{source}|{dev}:{ino}"


class _Writer:
    """Writes the store's documents on a thread of its own, the newest one winning.

    An fsync and a rename can take tens of milliseconds while the disk is busy;
    done on the loop's thread, every checkpoint held every trail back by as
    much. The loop serializes the document (a consistent snapshot) and hands
    the bytes over; a document not yet written when a newer one comes is
    skipped, since the newer one says all it said.
    """

    def __init__(self, path: str, directory: str, *, durable: bool) -> None:
        self._path = path
        self._directory = directory
        self._durable = durable
        self._wake = threading.Condition()
        self._pending: bytes | None = None
        self._busy = False
        self._closed = False
        #: Set when a write failed: the store writes again at its next interval.
        self.failed = False
        #: When the last checkpoint was written (``time.time()``), None before the first.
        self.written_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="watchd-checkpoints", daemon=True)
        self._thread.start()

    def submit(self, document: bytes) -> None:
        """Have *document* written soon."""
        with self._wake:
            self._pending = document
            self._wake.notify_all()

    def wait(self) -> None:
        """Return once every document submitted so far is written (or failed)."""
        with self._wake:
            self._wake.wait_for(lambda: self._pending is None and not self._busy)

    def close(self) -> None:
        """Write what is pending, then stop the thread."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._pending is not None or self._closed)
                document, self._pending = self._pending, None
                if document is None:
                    return  # closed, and nothing left to write
                self._busy = True
            try:
                replace_file(self._path, self._directory, document, durable=self._durable)
                self.written_at = time.time()
            except OSError as exc:
                self.failed = True
                log.error(  # noqa: TRY400 - the reason says it all; a traceback would not help
                    "checkpoint not written", path=self._path, reason=exc.strerror or str(exc)
                )
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()


def replace_file(path: str, directory: str, document: bytes, *, durable: bool) -> None:
    """Replace *path* atomically: temporary file, fsync, rename, fsync of the folder."""
    temporary = f"{path}.tmp"
    fd = os.open(
        temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
    )
    try:
        written = os.write(fd, document)
        if written < len(document):  # a regular file writes all but when the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    if durable:
        fsync_directory(directory)


class CheckpointStore:
    """Acknowledged positions, written at most every *interval* seconds and at exit.

    The writes happen on a thread of their own (:class:`_Writer`), off the
    loop; :meth:`close` waits for the last one.
    """

    def __init__(
        self,
        directory: str,
        *,
        interval: float = 1.0,
        ttl: float = 86400.0,
        durable: bool = True,
        clock: Clock = monotonic,
        wall: Clock = wall_clock,
    ) -> None:
        self.directory = directory
        self.clock = clock  # the write interval
        self.wall = wall  # when a file was last seen (kept across restarts, so wall time)
        self.durable = durable  # an ephemeral store (a reload hand-over) skips fsync
        self.path = os.path.join(directory, STATE_FILE)
        self.interval = interval
        self.ttl = ttl
        self.entries: dict[str, Entry] = {}
        #: The file could not be trusted whole: every source counts as one that ran before.
        self.damaged = False
        self.sources: dict[str, dict[str, Any]] = {}  # source -> {"seen": time, state...}
        self._dirty = False
        self._last_write = 0.0
        self._lock_fd = self._lock()
        self._load()
        self._check_writable()
        self._writer = _Writer(self.path, directory, durable=durable)

    def _lock(self) -> int:
        try:
            make_dirs(self.directory)
            lock = os.path.join(self.directory, LOCK_FILE)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise UsageError(f"--state-dir {self.directory}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FailureError(
                f"--state-dir {self.directory} is in use by another watchd; give each its own"
            ) from None
        return fd

    def _check_writable(self) -> None:
        """Write the document once, now: a state that cannot be kept must stop watchd at start.

        Otherwise the first checkpoint (where each file starts) would be lost,
        and a restart after a crash would start at the end of the files.
        """
        try:
            replace_file(self.path, self.directory, self._document(), durable=self.durable)
        except OSError as exc:
            os.close(self._lock_fd)
            raise setup_error(
                f"--state-dir {self.directory}: cannot write checkpoints there", exc
            ) from None

    def _document(self) -> bytes:
        return orjson.dumps(
            {
                "version": FORMAT_VERSION,
                "sources": self.sources,
                "files": [asdict(entry) for entry in self.entries.values()],
            }
        )

    def _load(self) -> None:
        """Read the document; what cannot be trusted is read again, never skipped.

        A damaged file (cut short, overwritten, of the wrong shape or version,
        a link planted in its place) or a damaged entry leaves the store
        :attr:`damaged`: every source then counts as one that ran before, so a
        file without a trusted entry is read from its start (duplicates, said
        in one line) rather than from its end (a gap).
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return
        except OSError as exc:
            self._distrust(exc.strerror or str(exc))
            return
        try:
            with os.fdopen(fd, "rb") as state:
                document = msgspec.json.decode(state.read(), type=_Document)
        except (OSError, msgspec.DecodeError) as exc:
            self._distrust(str(exc))
            return
        if document.version != FORMAT_VERSION:
            self._distrust(f"version {document.version}, not {FORMAT_VERSION}")
            return
        self.sources = document.sources
        untrusted = 0
        for raw in document.files:
            try:
                entry = msgspec.convert(raw, Entry)
            except msgspec.ValidationError:
                untrusted += 1
                continue
            self.entries[entry.key] = entry
        if untrusted:
            self._distrust(f"{untrusted} of {len(document.files)} file entries of the wrong shape")

    def _distrust(self, reason: str) -> None:
        self.damaged = True
        log.error(
            "checkpoint file damaged: files without a trusted checkpoint are read again "
            "from their start",
            path=self.path,
            reason=reason,
        )

    def ran_before(self, source: str) -> bool:
        """Return True when *source* has run with this state directory before.

        With a damaged file nobody can tell: a source that may have run is read
        from the start of its files, which can repeat records but skips none.
        """
        return self.damaged or source in self.sources

    def of_source(self, source: str) -> list[Entry]:
        """Return the entries of *source*."""
        return [entry for entry in self.entries.values() if entry.source == source]

    def get(self, source: str, dev: int, ino: int) -> Entry | None:
        """Return the entry of a file of *source*, if any."""
        return self.entries.get(entry_key(source, dev, ino))

    def put(self, entry: Entry) -> None:
        """Record *entry* (replacing the file's previous one)."""
        self.entries[entry.key] = entry
        self.sources.setdefault(entry.source, {})["seen"] = self.wall()
        self._dirty = True

    def source_state(self, source: str) -> dict[str, Any]:
        """Return what *source* keeps beside its files' offsets (say, a hash chain's head)."""
        return self.sources.get(source, {})

    def set_source_state(self, source: str, key: str, value: object) -> None:
        """Keep *value* for *source* under *key*, written with the next checkpoint."""
        state = self.sources.setdefault(source, {})
        if state.get(key) != value:
            state[key] = value
            self._dirty = True

    def drop(self, source: str, dev: int, ino: int) -> None:
        """Forget a file (it was replaced by another with the same inode)."""
        if self.entries.pop(entry_key(source, dev, ino), None) is not None:
            self._dirty = True

    def started(self, source: str) -> None:
        """Note that *source* runs now, so files new to it later are read from 0."""
        if source not in self.sources:
            self.sources[source] = {"seen": self.wall()}
            self._dirty = True

    def written_at(self) -> float | None:
        """Return when a checkpoint was last written (``time.time()``), None before the first."""
        return self._writer.written_at

    def due(self) -> float | None:
        """Return the seconds until a pending write is due, None when nothing is pending."""
        if self._writer.failed:
            self._writer.failed = False
            self._dirty = True  # the last write failed: the document goes again
        if not self._dirty:
            return None
        return max(self._last_write + self.interval - self.clock(), 0.0)

    def maybe_flush(self) -> None:
        """Write if something changed and the interval has passed."""
        due = self.due()
        if due is not None and due <= 0:
            self.flush()

    def expire(self) -> None:
        """Drop the entries of files not seen for longer than the TTL."""
        now = self.wall()
        expired = [k for k, e in self.entries.items() if now - e.seen > self.ttl]
        for key in expired:
            del self.entries[key]
        if expired:
            self._dirty = True

    def flush(self) -> None:
        """Hand the document (expired entries dropped) to the writer, to be written now."""
        self.expire()
        self._writer.submit(self._document())
        self._dirty = False
        self._last_write = self.clock()

    def wait(self) -> None:
        """Return once what :meth:`flush` handed over is on disk (or failed, and logged)."""
        self._writer.wait()

    def close(self) -> None:
        """Write what is pending and release the directory."""
        try:
            self.expire()
            if self._dirty:
                self.flush()
        finally:
            self._writer.close()
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
