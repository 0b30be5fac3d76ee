"""watchd's benchmark harness: watchd beside what users would run instead, in one run.

    python bench/run.py            # full: 1,000,000 records, 3 runs each; writes bench/RESULTS.md
    python bench/run.py --repeat 2 # two full runs, both in RESULTS.md
    python bench/run.py --quick    # small, to prove the harness works

Throughput: records from a trail file to the output, start to last byte, for
watchd (to stdout JSON, to a file, to a real rsyslog over TCP) and the peers
(``tail -n +1 -F``, rsyslog imfile, syslog-ng file to file, a bare
orjson.loads + orjson.dumps loop). Latency: a writer appends a record every
10 ms carrying its write time; append-to-output percentiles for watchd (inotify
and polling) and ``tail -F``. Idle: watchd's CPU with 1, 1,000 and 10,000
idle files. Peers that are not installed are reported as such; rsyslog and
syslog-ng come from ``.ci/collectors`` (``$WATCHD_COLLECTORS``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

import orjson

HERE = Path(__file__).resolve().parent
COLLECTORS = Path(os.environ.get("WATCHD_COLLECTORS", "/opt/watchd-collectors"))
RSYSLOGD = COLLECTORS / "usr/sbin/rsyslogd"
SYSLOG_NG = COLLECTORS / "usr/sbin/syslog-ng"
WATCHD = [sys.executable, "-m", "watchd"]


def lokt_record(n: int, when_ns: int | None = None) -> bytes:
    """Return a lokt-shaped record of about 200 bytes (its write time in ``wt``, if given)."""
    body = {
        "ts": "2026-02-01T10:33:10.123456789-05:00",
        "event": "acquire" if n % 5 else "deny",
        "name": f"build-{n % 17}",
        "lock_id": "e46a4edb8d3cb3e793df216b4a7680ba",
        "owner": f"claude-{n % 3}",
        "host": "macbook",
        "pid": 48201 + n % 100,
        "agent_id": "agent-3f2a",
        "ttl_sec": 300,
        "seq": n,
    }
    if when_ns is not None:
        body["wt"] = when_ns
    return orjson.dumps(body) + b"\n"


def terok_record(n: int) -> bytes:
    """Return a terok-shield-shaped record (a blocked connection)."""
    body = {
        "ts": "2026-03-14T09:26:53.589793+00:00",
        "container": f"agent-{n % 7}",
        "action": "blocked" if n % 4 else "allowed",
        "dest": f"203.0.113.{n % 250}",
        "port": 443,
        "proto": "tcp",
        "domain": "registry.example.org",
        "seq": n,
    }
    return orjson.dumps(body) + b"\n"


def loki_record(n: int) -> bytes:
    """Return a loki-mode dashboard record (unchained)."""
    body = {
        "timestamp": "2026-03-14T09:26:53.589793+00:00",
        "action": "update" if n % 9 else "delete",
        "resource_type": "task",
        "resource_id": f"task-{n}",
        "user_id": "operator",
        "ip_address": "198.51.100.7",
        "success": True,
        "details": {"field": "status", "to": "done"},
    }
    return orjson.dumps(body) + b"\n"


def ito_record(n: int) -> bytes:
    """Return an ito event record."""
    body = {
        "v": 1,
        "ts": "2026-03-14T09:26:53.589Z",
        "entity": "task",
        "entity_id": f"T-{n}",
        "scope": "change-42",
        "op": "status_change",
        "from": "todo",
        "to": "doing",
        "actor": "claude",
        "by": "agent",
        "ctx": {"worktree": "wt-3"},
    }
    return orjson.dumps(body) + b"\n"


#: Record makers by name; ``mixed`` takes the four producers in turn.
SHAPES: dict[str, Callable[[int], bytes]] = {
    "lokt": lokt_record,
    "terok": terok_record,
    "loki": loki_record,
    "ito": ito_record,
}


def mixed_record(n: int) -> bytes:
    """Return the four producers' records in turn."""
    makers = list(SHAPES.values())
    return makers[n % len(makers)](n)


def make_trail(path: Path, count: int, record: Callable[[int], bytes] = lokt_record) -> None:
    """Write *count* records at full speed."""
    with path.open("wb") as out:
        for first in range(0, count, 10_000):
            out.write(b"".join(record(n) for n in range(first, min(first + 10_000, count))))


def write_at_rate(path: Path, rate: int, seconds: float, *, stamp: bool = True) -> int:
    """Append *rate* records a second for *seconds*, each carrying its write time; return N."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    step = max(rate // 1000, 1)  # records per write: a write a millisecond at most
    n = 0
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            now = time.time_ns() if stamp else None
            os.write(fd, b"".join(lokt_record(n + i, now) for i in range(step)))
            n += step
            delay = n / rate - (time.monotonic() - start)
            if delay > 0:
                time.sleep(delay)
    finally:
        os.close(fd)
    return n


@dataclass
class Sample:
    """One measured run."""

    seconds: float
    cpu: float = 0.0
    rss_mb: float = 0.0


@dataclass
class Row:
    """A measured contender: its samples, or why it was not measured."""

    name: str
    samples: list[Sample] = field(default_factory=list)
    skipped: str = ""

    def median(self) -> float:
        """Return the median of the samples' times."""
        return statistics.median(s.seconds for s in self.samples)


def _proc_stats(pid: int) -> tuple[float, float]:
    """Return (CPU seconds, peak RSS in MB) of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        status = Path(f"/proc/{pid}/status").read_text()
        hwm = next(line for line in status.splitlines() if line.startswith("VmHWM"))
        return cpu, int(hwm.split()[1]) / 1024
    except (OSError, StopIteration, IndexError, ValueError):
        return 0.0, 0.0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def count_from_pipe(command: list[str], count: int, env: dict[str, str] | None = None) -> Sample:
    """Run *command*, read its stdout until *count* lines came; time start to last byte."""
    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    stdout = proc.stdout
    if stdout is None:
        raise RuntimeError("no pipe")
    seen = 0
    while seen < count:
        chunk = os.read(stdout.fileno(), 1 << 20)
        if not chunk:
            break
        seen += chunk.count(b"\n")
    seconds = time.monotonic() - start
    cpu, rss = _proc_stats(proc.pid)
    _stop(proc)
    if seen < count:
        raise RuntimeError(f"{command[0]} gave {seen} of {count} lines")
    return Sample(seconds, cpu, rss)


def count_in_file(
    start_process: Callable[[], subprocess.Popen[bytes]], out: Path, count: int, limit: float
) -> Sample:
    """Start a daemon writing to *out*; time until *out* holds *count* lines."""
    out.unlink(missing_ok=True)
    start = time.monotonic()
    proc = start_process()
    seen, position = 0, 0
    try:
        while seen < count:
            if time.monotonic() - start > limit:
                raise RuntimeError(f"{out.name}: {seen} of {count} lines after {limit}s")
            if out.exists():
                with out.open("rb") as handle:
                    handle.seek(position)
                    data = handle.read()
                position += len(data)
                seen += data.count(b"\n")
            if seen < count:
                time.sleep(0.002)
        seconds = time.monotonic() - start
        cpu, rss = _proc_stats(proc.pid)
    finally:
        _stop(proc)
    return Sample(seconds, cpu, rss)


def bare_loop(trail: Path, count: int) -> Sample:
    """Time the floor of any Python design: orjson.loads + orjson.dumps per line, no more."""
    code = (
        "import orjson,sys\n"
        "out=sys.stdout.buffer\n"
        "with open(sys.argv[1],'rb') as f:\n"
        "    out.write(b''.join(orjson.dumps(orjson.loads(l))+b'\\n' for l in f))\n"
    )
    return count_from_pipe([sys.executable, "-c", code, str(trail)], count)


def bare_msgspec_loop(trail: Path, count: int) -> Sample:
    """Time the floor of a chunked design: decode_lines + encode_lines per 64 KiB, no more."""
    code = (
        "import msgspec,os,sys\n"
        "dec,enc=msgspec.json.Decoder(),msgspec.json.Encoder()\n"
        "fd,rest=os.open(sys.argv[1],os.O_RDONLY),b''\n"
        "while chunk:=os.read(fd,65536):\n"
        "    data=rest+chunk\n"
        "    cut=data.rfind(b'\\n')+1\n"
        "    rest=data[cut:]\n"
        "    os.write(1,enc.encode_lines(dec.decode_lines(data[:cut])))\n"
    )
    return count_from_pipe([sys.executable, "-c", code, str(trail)], count)


def rsyslog_starter(work: Path, name: str, config: str) -> Callable[[], subprocess.Popen[bytes]]:
    """Return a starter of ``rsyslogd -n`` with *config*, its own state folder and PID file.

    *config* holds the modules, input and action; the ``raw`` template (the message
    and a newline) is defined for it. Each start begins with an empty state folder.
    """
    state, conf = work / f"{name}.state", work / f"{name}.conf"
    conf.write_text(
        f'global(workDirectory="{state}")\n'
        'template(name="raw" type="string" string="%msg%\\n")\n' + config
    )
    modules = next(iter(sorted(COLLECTORS.glob("usr/lib/*/rsyslog"))))
    pid = work / f"{name}.pid"
    command = [str(RSYSLOGD), "-n", "-f", str(conf), "-i", str(pid), "-M", str(modules)]

    def start() -> subprocess.Popen[bytes]:
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir()
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return start


def rsyslog_imfile(trail: Path, work: Path) -> Callable[[], subprocess.Popen[bytes]]:
    """Return a starter of rsyslogd following *trail* with imfile into an omfile."""
    return rsyslog_starter(
        work,
        "rsyslog",
        'module(load="imfile" mode="inotify")\n'
        f'input(type="imfile" file="{trail}" tag="bench" freshStartTail="off")\n'
        f'action(type="omfile" file="{work / "rsyslog.out"}" template="raw")\n',
    )


def syslog_ng_file(trail: Path, work: Path) -> Callable[[], subprocess.Popen[bytes]]:
    """Return a starter of syslog-ng reading *trail* with file() into a file()."""
    modules = next(iter(sorted(COLLECTORS.glob("usr/lib/syslog-ng/[0-9]*.[0-9]*"))))
    conf = work / "syslog-ng.conf"
    conf.write_text(
        f"@version: {modules.name}\n"
        "options { stats-freq(0); log-msg-size(65536); };\n"
        f'source s {{ file("{trail}" flags(no-parse) follow-freq(1)); }};\n'
        f'destination d {{ file("{work / "syslog-ng.out"}" template("$MSG\\n")); }};\n'
        "log { source(s); destination(d); };\n"
    )

    def start() -> subprocess.Popen[bytes]:
        for name in ("persist", "ctl", "pid"):
            (work / f"sng.{name}").unlink(missing_ok=True)
        command = [
            str(SYSLOG_NG), "-F", "-f", str(conf), "--persist-file", str(work / "sng.persist"),
            "--pidfile", str(work / "sng.pid"), "--control", str(work / "sng.ctl"),
            "--module-path", str(modules),
        ]  # fmt: skip
        env = {**os.environ, "LD_LIBRARY_PATH": str(COLLECTORS / "usr/lib/syslog-ng")}
        return subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )

    return start


@dataclass
class Contender:
    """What one row measures: how to run it once, or why it cannot run here."""

    name: str
    once: Callable[[], Sample]
    missing: str = ""


def measure(contenders: list[Contender], runs: int) -> list[Row]:
    """Run every contender *runs* times, in rounds (A B C, A B C, ...).

    A shared machine has slow spells; in rounds, a spell falls on several
    contenders instead of on every run of one, so the ratios stay fair.
    """
    rows = [Row(c.name, skipped=c.missing) for c in contenders]
    for _ in range(runs):
        for row, contender in zip(rows, contenders, strict=True):
            if row.skipped:
                continue
            try:
                row.samples.append(contender.once())
            except (RuntimeError, OSError, StopIteration) as exc:
                row.skipped = str(exc)
                row.samples.clear()
    return rows


def rsyslog_tcp(work: Path, port: int) -> subprocess.Popen[bytes]:
    """Start rsyslogd receiving syslog over TCP on loopback *port* into an omfile; wait for it."""
    proc = rsyslog_starter(
        work,
        "rsyslog-tcp",
        'module(load="imtcp")\n'
        f'input(type="imtcp" address="127.0.0.1" port="{port}")\n'
        f'action(type="omfile" file="{work / "rsyslog-tcp.out"}" template="raw")\n',
    )()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    _stop(proc)
    raise RuntimeError("rsyslogd did not listen")


def watchd_to_rsyslog(trail: Path, count: int, work: Path, limit: float) -> Sample:
    """Time watchd sending *trail* as RFC 5424 over TCP until rsyslog has written every message."""
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    rsyslog = rsyslog_tcp(work, port)
    try:
        sink = f"syslog:tcp://127.0.0.1:{port}"
        argv = [*WATCHD, "run", "--source", f"audit:{trail}", "--from-beginning", "--sink", sink]
        return count_in_file(
            lambda: subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            work / "rsyslog-tcp.out",
            count,
            limit,
        )
    finally:
        _stop(rsyslog)


def throughput(trails: dict[str, Path], count: int, runs: int, work: Path) -> list[Row]:
    """Measure every contender on the same trail (and watchd on the mixed one too)."""
    trail = trails["lokt"]

    def watchd(path: Path, fmt: str = "json") -> list[str]:
        source = f"audit:{path}"
        return [*WATCHD, "run", "--source", source, "--from-beginning", "--format", fmt, "-q"]

    have_rsyslog = "" if RSYSLOGD.exists() else f"not installed ({RSYSLOGD})"
    have_syslog_ng = "" if SYSLOG_NG.exists() else f"not installed ({SYSLOG_NG})"
    out = work / "watchd.out"

    def watchd_to_file() -> subprocess.Popen[bytes]:
        handle = out.open("wb")
        return subprocess.Popen(watchd(trail), stdout=handle, stderr=subprocess.DEVNULL)

    limit = max(60.0, count / 5_000)

    def in_file(start: Callable[[], subprocess.Popen[bytes]], name: str) -> Sample:
        return count_in_file(start, work / name, count, limit)

    def piped(fmt: str) -> Sample:
        return count_from_pipe(watchd(trail, fmt), count)

    tail = ["tail", "-n", "+1", "-F", str(trail)]
    return measure(
        [
            Contender("watchd, file to stdout JSON", lambda: count_from_pipe(watchd(trail), count)),
            Contender(
                "watchd, mixed producers (terok, lokt, loki, ito) to stdout JSON",
                lambda: count_from_pipe(watchd(trails["mixed"]), count),
            ),
            Contender("watchd, file to a file", lambda: in_file(watchd_to_file, out.name)),
            Contender(
                "watchd, file to stdout CEF", lambda: count_from_pipe(watchd(trail, "cef"), count)
            ),
            Contender(
                "watchd, file to stdout ECS", lambda: count_from_pipe(watchd(trail, "ecs"), count)
            ),
            Contender(
                "watchd, file to rsyslog over TCP (RFC 5424)",
                lambda: watchd_to_rsyslog(trail, count, work, limit),
                have_rsyslog,
            ),
            Contender("tail -n +1 -F (the I/O floor)", lambda: count_from_pipe(tail, count)),
            Contender("bare orjson loads+dumps loop", lambda: bare_loop(trail, count)),
            Contender(
                "bare msgspec chunk loop (decode_lines + encode_lines)",
                lambda: bare_msgspec_loop(trail, count),
            ),
            Contender(
                "rsyslog imfile to omfile",
                lambda: in_file(rsyslog_imfile(trail, work), "rsyslog.out"),
                have_rsyslog,
            ),
            Contender(
                "syslog-ng file to file",
                lambda: in_file(syslog_ng_file(trail, work), "syslog-ng.out"),
                have_syslog_ng,
            ),
        ],
        runs,
    )


@dataclass
class Follow:
    """What a follower put out while records were appended at a fixed rate."""

    written: int
    delays: list[float]  # append-to-output, ms, sorted
    cpu_share: float  # of one core, while the writer ran

    def summary(self) -> str:
        """Return p50, p99 and max, or what went wrong."""
        if len(self.delays) < self.written * 0.99:
            return f"only {len(self.delays)} of {self.written} records came out"
        d = self.delays
        return (
            f"p50 {d[len(d) // 2]:.2f} ms, p99 {d[int(len(d) * 0.99) - 1]:.2f} ms,"
            f" max {d[-1]:.2f} ms ({self.written} records)"
        )


def follow(
    trail: Path,
    start: Callable[[], subprocess.Popen[bytes]],
    rate: int,
    seconds: float,
    output: Callable[[subprocess.Popen[bytes]], IO[bytes] | None] = lambda proc: proc.stdout,
) -> Follow:
    """Start a follower of *trail*, append *rate* records/s for *seconds*; time each one out."""
    trail.write_bytes(b"")
    proc = start()
    stream = output(proc)
    if stream is None:
        _stop(proc)
        return Follow(0, [], 0.0)
    delays: list[float] = []

    def read() -> None:
        for line in stream:
            now = time.time_ns()
            try:
                record = json.loads(line)
            except ValueError:
                continue
            written = record.get("wt") or record.get("extra", {}).get("wt")
            if written:
                delays.append((now - written) / 1e6)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(1.0)  # in place, watching
    cpu_before, _ = _proc_stats(proc.pid)
    began = time.monotonic()
    written = write_at_rate(trail, rate, seconds)
    took = time.monotonic() - began
    cpu_after, _ = _proc_stats(proc.pid)
    time.sleep(0.5)
    _stop(proc)
    return Follow(written, sorted(delays), (cpu_after - cpu_before) / took)


def watchd_follower(trail: Path, *, polling: bool = False) -> Callable[[], subprocess.Popen[bytes]]:
    """Return a starter of ``watchd run`` on *trail*, printing JSON."""
    argv = [*WATCHD, "run", "--source", f"audit:{trail}", "--json", "-q"]
    env = {**os.environ, **({"WATCHD_INOTIFY": "off"} if polling else {})}
    return lambda: subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )


def tail_follower(trail: Path) -> Callable[[], subprocess.Popen[bytes]]:
    """Return a starter of ``tail -n 0 -F`` on *trail*."""
    argv = ["tail", "-n", "0", "-F", str(trail)]
    return lambda: subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def rsyslog_follower(trail: Path, work: Path) -> tuple[Callable[[], subprocess.Popen[bytes]], Path]:
    """Return a starter of rsyslog imfile (inotify) on *trail* writing to a FIFO, and the FIFO."""
    fifo = work / "rsyslog-latency.fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    start = rsyslog_starter(
        work,
        "rsyslog-latency",
        'module(load="imfile" mode="inotify")\n'
        f'input(type="imfile" file="{trail}" tag="bench" freshStartTail="on")\n'
        f'action(type="ompipe" pipe="{fifo}" template="raw")\n',
    )
    return start, fifo


def open_fifo(fifo: Path) -> BinaryIO:
    """Open *fifo* for reading without waiting for its writer (rsyslog opens it when it writes)."""
    return os.fdopen(os.open(fifo, os.O_RDWR), "rb")


def latencies(work: Path, seconds: float) -> dict[str, Follow]:
    """Append a record every 10 ms for *seconds* to each follower's trail; time each one out."""
    results = {
        "watchd (inotify)": follow(
            work / "lat-w.jsonl", watchd_follower(work / "lat-w.jsonl"), 100, seconds
        ),
        "watchd (polling forced, 250 ms)": follow(
            work / "lat-p.jsonl", watchd_follower(work / "lat-p.jsonl", polling=True), 100, seconds
        ),
        "tail -F": follow(work / "lat-t.jsonl", tail_follower(work / "lat-t.jsonl"), 100, seconds),
    }
    if RSYSLOGD.exists():
        start, fifo = rsyslog_follower(work / "lat-r.jsonl", work)
        results["rsyslog imfile (inotify, to a FIFO)"] = follow(
            work / "lat-r.jsonl",
            start,
            100,
            seconds,
            lambda _: open_fifo(fifo),
        )
    return results


def new_file_delays(work: Path, files: int, *, window_ms: int = 250) -> str:
    """Create *files* new files in a watched glob, one by one; time until each record is out.

    Several files are merged in time order: each event is held for the reorder
    window (*window_ms*; 0 turns merging off and shows the discovery alone).
    """
    folder = work / f"glob-{window_ms}"
    folder.mkdir(exist_ok=True)
    argv = [*WATCHD, "run", "--source", f"audit:{folder}/*.jsonl", "--json", "-q"]
    argv += ["--reorder-window", str(window_ms)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stdout = proc.stdout
    if stdout is None:
        return "no pipe"
    time.sleep(1.0)
    delays = []
    for n in range(files):
        written = time.time_ns()
        (folder / f"new-{n}.jsonl").write_bytes(lokt_record(n, written))
        ready, _, _ = select.select([stdout], [], [], 10.0)
        if not ready:
            _stop(proc)
            return f"new-{n}.jsonl not seen within 10 s"
        delays.append((time.time_ns() - json.loads(stdout.readline())["extra"]["wt"]) / 1e6)
        time.sleep(0.05)
    _stop(proc)
    delays.sort()
    return f"p50 {delays[len(delays) // 2]:.2f} ms, max {delays[-1]:.2f} ms ({files} files)"


@dataclass
class Idle:
    """watchd's cost while its files sit still."""

    files: int
    cpu_share: float  # of one core
    rss_mb: float


def idle(work: Path, files: int, seconds: float) -> Idle:
    """Measure watchd's CPU and RSS while *files* files in one watched glob sit idle."""
    folder = work / f"idle-{files}"
    folder.mkdir(exist_ok=True)
    for n in range(files):
        (folder / f"f{n}.jsonl").write_bytes(lokt_record(n))
    argv = [*WATCHD, "run", "--source", f"audit:{folder}/*.jsonl", "--json", "-q"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.0 + files / 5_000)  # let it settle: opening files is not idling
    before, _ = _proc_stats(proc.pid)
    time.sleep(seconds)
    after, rss = _proc_stats(proc.pid)
    _stop(proc)
    return Idle(files, (after - before) / seconds, rss)


def versions() -> dict[str, str]:
    """Return what ran: machine, Python, watchd, peers."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    found = {
        "machine": f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}",
        "python": platform.python_version(),
        "watchd": _first_line([*WATCHD, "--version"]),
    }
    if RSYSLOGD.exists():
        found["rsyslog"] = _first_line([str(RSYSLOGD), "-v"])
    if SYSLOG_NG.exists():
        env = {**os.environ, "LD_LIBRARY_PATH": str(COLLECTORS / "usr/lib/syslog-ng")}
        found["syslog-ng"] = _first_line([str(SYSLOG_NG), "--version"], env)
    return found


def _first_line(command: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    return done.stdout.split("\n")[0].strip()


@dataclass
class Results:
    """Everything one run measured."""

    count: int
    rows: list[Row]
    latency: dict[str, Follow]
    sustained: Follow | None
    sustained_rate: int
    idle: list[Idle]
    new_files: dict[int, str]  # reorder window (ms) -> delays
    info: dict[str, str]

    def rate(self, prefix: str) -> float | None:
        """Return the median records/s of the row named *prefix*..., None if not measured."""
        row = next((r for r in self.rows if r.name.startswith(prefix) and r.samples), None)
        return self.count / row.median() if row else None

    def p99(self, prefix: str) -> float | None:
        """Return the p99 latency (ms) of the follower named *prefix*..., None if not measured."""
        run = next((f for n, f in self.latency.items() if n.startswith(prefix)), None)
        if run is None or len(run.delays) < run.written * 0.99 or not run.delays:
            return None
        return run.delays[int(len(run.delays) * 0.99) - 1]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def targets(res: Results) -> list[tuple[str, str, bool | None]]:
    """Return the issue's targets: what each asks, what was measured, whether it is met."""
    ours = res.rate("watchd, file to stdout")
    p99 = res.p99("watchd (inotify)")
    versus_rsyslog, versus_bare = (_ratio(ours, res.rate(n)) for n in ("rsyslog imf", "bare orj"))
    versus_tail, versus_imfile = (_ratio(p99, res.p99(n)) for n in ("tail -F", "rsyslog"))
    idle = {i.files: i.cpu_share * 100 for i in res.idle}
    stdout_row = next((r for r in res.rows if r.name.startswith("watchd, file to stdout")), None)
    rss = max((s.rss_mb for s in stdout_row.samples), default=None) if stdout_row else None
    # (what the issue asks, the measured value, its unit, the bound, True if a floor)
    floor = res.rate("bare msgspec")
    mixed = _ratio(res.rate("watchd, mixed"), res.rate("bare orj"))
    asked: list[tuple[str, float | None, str, float, bool]] = [
        ("file to stdout JSON: at least 400,000 events/s", ours, "/s", 400_000, True),
        ("at least 1.3x the bare orjson loop", versus_bare, "x", 1.3, True),
        ("at least 1.6x rsyslog imfile", versus_rsyslog, "x", 1.6, True),
        ("at least 0.7x the bare msgspec chunk loop", _ratio(ours, floor), "x", 0.7, True),
        ("mixed producers: at least 1.1x the bare orjson loop", mixed, "x", 1.1, True),
        ("file to rsyslog over TCP: >= 200,000/s", res.rate("watchd, file to rsyslog"), "/s",
         200_000, True),
        ("file to stdout CEF: >= 250,000/s", res.rate("watchd, file to stdout CEF"), "/s",
         250_000, True),
        ("file to stdout ECS: >= 250,000/s", res.rate("watchd, file to stdout ECS"), "/s",
         250_000, True),
        ("latency with inotify: p99 under 1 ms", p99, " ms", 1.0, False),
        ("p99 within 2x tail -F", versus_tail, "x", 2.0, False),
        ("p99 within 2x rsyslog imfile", versus_imfile, "x", 2.0, False),
        ("polling forced: p99 under 250 + 2 ms", res.p99("watchd (polling"), " ms", 252.0, False),
        ("1,000 idle files: under 0.1% of a core", idle.get(1000), "%", 0.1, False),
        ("10,000 idle files: under 0.5% of a core", idle.get(10000), "%", 0.5, False),
        ("peak RSS under 60 MB (file to stdout JSON)", rss, " MB", 60.0, False),
    ]  # fmt: skip
    met: list[tuple[str, str, bool | None]] = []
    for name, value, unit, bound, floor in asked:
        if value is None:
            met.append((name, "not measured", None))
            continue
        shown = f"{value:,.0f}/s" if unit == "/s" else f"{value:.3g}{unit}"
        met.append((name, shown, value >= bound if floor else value <= bound))
    return met


MADE_THE_DIFFERENCE = "## What made the difference"


def report(runs: list[Results], notes: str) -> str:
    """Return RESULTS.md: machine, targets of each run, each run's tables; *notes* kept."""
    first = runs[0]
    lines = ["# watchd benchmark results", ""]
    lines += [f"- {k}: {v}" for k, v in first.info.items()]
    if len(runs) > 1:
        lines.append(f"- {len(runs)} full runs, one after the other; each is shown")
    head = " | ".join(f"run {n} | met" for n in range(1, len(runs) + 1))
    lines += ["", "## Targets (issue 18)", "", f"| target | {head} |"]
    lines.append("|---|" + "---|---|" * len(runs))
    for row in zip(*(targets(res) for res in runs), strict=True):
        cells = " | ".join(
            f"{measured} | {'-' if met is None else 'yes' if met else 'no'}"
            for _, measured, met in row
        )
        lines.append(f"| {row[0][0]} | {cells} |")
    for number, res in enumerate(runs, 1):
        lines += _run_sections(res, f" (run {number})" if len(runs) > 1 else "")
    text = "\n".join(lines) + "\n"
    return text + ("\n" + notes if notes else "")


def _run_sections(res: Results, which: str) -> list[str]:
    """Return one run's throughput, latency, sustained and idle sections."""
    count = res.count
    base = res.rate("watchd, file to stdout")
    lines = [
        "",
        f"## Throughput{which}: {count:,} records (~200 bytes), start to last byte, median of"
        f" {max(len(r.samples) for r in res.rows)} (taking turns, round after round)",
        "",
        "| contender | records/s (median) | min s | median s | max s | CPU s | peak RSS MB"
        " | vs watchd (records/s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in res.rows:
        if not row.samples:
            lines.append(f"| {row.name} | not measured: {row.skipped} | | | | | | |")
            continue
        times = sorted(s.seconds for s in row.samples)
        median = row.median()
        ratio = f"{(count / median) / base:.2f}x" if base else ""
        cpu = statistics.median(s.cpu for s in row.samples)
        rss = max(s.rss_mb for s in row.samples)
        lines.append(
            f"| {row.name} | {count / median:,.0f} | {times[0]:.2f} | {median:.2f}"
            f" | {times[-1]:.2f} | {cpu:.2f} | {rss:.0f} | {ratio} |"
        )
    lines += ["", f"## Latency{which}: one record every 10 ms, append to output", ""]
    lines += [f"- {name}: {run.summary()}" for name, run in res.latency.items()]
    if res.sustained is not None:
        run = res.sustained
        lines += [
            "",
            f"## Sustained{which}: {res.sustained_rate:,} records/s appended for a while",
            "",
            f"- watchd (inotify): {100 * run.cpu_share:.1f}% of a core; {run.summary()}",
        ]
    lines += [
        "",
        f"## Idle and scale{which}",
        "",
        "| idle files | CPU (% of a core) | RSS MB |",
        "|---|---|---|",
    ]
    lines += [f"| {i.files:,} | {100 * i.cpu_share:.3f} | {i.rss_mb:.0f} |" for i in res.idle]
    lines += [""] + [
        f"- a new file in a watched glob, until its record is out, {merging}: {delays}"
        for merging, delays in (
            (f"merged (reorder window {window} ms)" if window else "merging off", delays)
            for window, delays in res.new_files.items()
        )
    ]
    return lines


def previous_notes() -> str:
    """Return the hand-written part of RESULTS.md (from its "What made the difference" on)."""
    try:
        text = (HERE / "RESULTS.md").read_text()
    except FileNotFoundError:
        return ""
    at = text.find(MADE_THE_DIFFERENCE)
    return text[at:] if at >= 0 else ""


def main() -> int:
    """Run the benchmark; write bench/RESULTS.md (the quick mode writes to stdout only)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1, help="full runs, one after another")
    args = parser.parse_args()
    quick = args.quick
    count = 20_000 if quick else 1_000_000
    runs = 1 if quick else max(args.runs, 3)
    compile_watchd()
    results = [measure_all(count, runs, quick=quick) for _ in range(max(args.repeat, 1))]
    text = report(results, "" if quick else previous_notes())
    sys.stdout.write(text)
    if not quick:
        (HERE / "RESULTS.md").write_text(text)
    rows = [row for res in results for row in res.rows]
    return 0 if all(r.samples or r.skipped.startswith("not installed") for r in rows) else 1


def compile_watchd() -> None:
    """Write watchd's bytecode once, as an installed package has it.

    Without it, where ``PYTHONDONTWRITEBYTECODE`` is set (as in tox), every
    start of watchd would compile its sources again: about 0.1 s of CPU that
    no installed copy pays.
    """
    import compileall  # noqa: PLC0415 - only here
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.find_spec("watchd")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)


def measure_all(count: int, runs: int, *, quick: bool) -> Results:
    """Run every measurement once, on trails of *count* records."""
    rate = 20_000
    with tempfile.TemporaryDirectory(prefix="watchd-bench-") as folder:
        work = Path(folder)
        trails = {"lokt": work / "trail.jsonl", "mixed": work / "mixed.jsonl"}
        make_trail(trails["lokt"], count)
        make_trail(trails["mixed"], count, mixed_record)
        rows = throughput(trails, count, runs, work)
        seconds = 1.0 if quick else 10.0
        sustained = follow(
            work / "sustained.jsonl", watchd_follower(work / "sustained.jsonl"), rate, seconds / 2
        )
        return Results(
            count=count,
            rows=rows,
            latency=latencies(work, seconds),
            sustained=sustained,
            sustained_rate=rate,
            idle=[
                idle(work, n, 3.0 if quick else 30.0)
                for n in ((1, 1_000) if quick else (1, 1_000, 10_000))
            ],
            new_files={
                window: new_file_delays(work, 5 if quick else 20, window_ms=window)
                for window in (250, 0)
            },
            info=versions(),
        )


if __name__ == "__main__":
    sys.exit(main())
