"""watchd's benchmark harness: watchd beside what users would run instead, in one run.

    python bench/run.py            # full: 1,000,000 records, 3 runs each; writes bench/RESULTS.md
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
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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


def make_trail(path: Path, count: int) -> None:
    """Write *count* records at full speed."""
    with path.open("wb") as out:
        for first in range(0, count, 10_000):
            out.write(b"".join(lokt_record(n) for n in range(first, min(first + 10_000, count))))


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
        chunk = stdout.read1(1 << 20)
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


def rsyslog_imfile(trail: Path, work: Path) -> Callable[[], subprocess.Popen[bytes]]:
    """Return a starter of rsyslogd following *trail* with imfile into an omfile."""
    conf = work / "rsyslog.conf"
    (work / "rs").mkdir(exist_ok=True)
    conf.write_text(
        f'global(workDirectory="{work / "rs"}")\n'
        f'module(load="imfile" mode="inotify")\n'
        f'input(type="imfile" file="{trail}" tag="bench" freshStartTail="off")\n'
        f'template(name="raw" type="string" string="%msg%\\n")\n'
        f'action(type="omfile" file="{work / "rsyslog.out"}" template="raw")\n'
    )
    modules = next(iter(sorted(COLLECTORS.glob("usr/lib/*/rsyslog"))))

    def start() -> subprocess.Popen[bytes]:
        shutil.rmtree(work / "rs", ignore_errors=True)
        (work / "rs").mkdir()
        pid = work / "rsyslog.pid"
        command = [str(RSYSLOGD), "-n", "-f", str(conf), "-i", str(pid), "-M", str(modules)]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return start


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


def measure(name: str, runs: int, once: Callable[[], Sample], missing: str = "") -> Row:
    """Run *once* *runs* times (or say why not)."""
    row = Row(name)
    if missing:
        row.skipped = missing
        return row
    for _ in range(runs):
        try:
            row.samples.append(once())
        except (RuntimeError, OSError, StopIteration) as exc:
            row.skipped = str(exc)
            row.samples.clear()
            break
    return row


def throughput(trail: Path, count: int, runs: int, work: Path) -> list[Row]:
    """Measure every contender on the same trail."""
    watchd = [*WATCHD, "run", "--source", f"audit:{trail}", "--from-beginning", "--json", "-q"]
    have_rsyslog = "" if RSYSLOGD.exists() else f"not installed ({RSYSLOGD})"
    have_syslog_ng = "" if SYSLOG_NG.exists() else f"not installed ({SYSLOG_NG})"
    out = work / "watchd.out"

    def watchd_to_file() -> subprocess.Popen[bytes]:
        handle = out.open("wb")
        return subprocess.Popen(watchd, stdout=handle, stderr=subprocess.DEVNULL)

    limit = max(60.0, count / 5_000)

    def in_file(start: Callable[[], subprocess.Popen[bytes]], name: str) -> Sample:
        return count_in_file(start, work / name, count, limit)

    tail = ["tail", "-n", "+1", "-F", str(trail)]
    return [
        measure("watchd, file to stdout JSON", runs, lambda: count_from_pipe(watchd, count)),
        measure("watchd, file to a file", runs, lambda: in_file(watchd_to_file, out.name)),
        measure("tail -n +1 -F (the I/O floor)", runs, lambda: count_from_pipe(tail, count)),
        measure("bare orjson loads+dumps loop", runs, lambda: bare_loop(trail, count)),
        measure(
            "rsyslog imfile to omfile",
            runs,
            lambda: in_file(rsyslog_imfile(trail, work), "rsyslog.out"),
            have_rsyslog,
        ),
        measure(
            "syslog-ng file to file",
            runs,
            lambda: in_file(syslog_ng_file(trail, work), "syslog-ng.out"),
            have_syslog_ng,
        ),
    ]


def latency(work: Path, seconds: float, command: str, *, polling: bool = False) -> str:
    """Append a record every 10 ms for *seconds*; return append-to-output p50, p99 and max."""
    trail = work / f"latency-{command}-{polling}.jsonl"
    trail.write_bytes(b"")
    if command == "tail":
        argv = ["tail", "-n", "0", "-F", str(trail)]
        env = None
    else:
        argv = [*WATCHD, "run", "--source", f"audit:{trail}", "--json", "-q"]
        env = {**os.environ, **({"WATCHD_INOTIFY": "off"} if polling else {})}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    stdout = proc.stdout
    if stdout is None:
        return "no pipe"
    delays: list[float] = []

    def read() -> None:
        for line in stdout:
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
    time.sleep(1.0)  # in place
    fd = os.open(trail, os.O_WRONLY | os.O_APPEND)
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        os.write(fd, lokt_record(n, time.time_ns()))
        n += 1
        time.sleep(0.01)
    os.close(fd)
    time.sleep(0.5)
    _stop(proc)
    if len(delays) < n * 0.99:
        return f"only {len(delays)} of {n} records came out"
    delays.sort()
    p50, p99 = delays[len(delays) // 2], delays[int(len(delays) * 0.99) - 1]
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {delays[-1]:.2f} ms ({n} records)"


def idle(work: Path, files: int, seconds: float) -> str:
    """Return watchd's CPU share of one core, and its RSS, while *files* files sit idle."""
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
    return f"{100 * (after - before) / seconds:.2f}% of a core, RSS {rss:.0f} MB"


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


def report(rows: list[Row], count: int, extra: dict[str, str], info: dict[str, str]) -> str:
    """Return RESULTS.md."""
    base = next(
        (r for r in rows if r.samples and r.name.startswith("watchd, file to stdout")), None
    )
    lines = ["# watchd benchmark results", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += [
        "",
        f"## Throughput: {count:,} lokt-shaped records (~200 bytes), start to last byte",
        "",
    ]
    lines += [
        "| contender | records/s (median) | min s | median s | max s | CPU s | peak RSS MB"
        " | time vs watchd |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if not row.samples:
            lines.append(f"| {row.name} | not measured: {row.skipped} | | | | | | |")
            continue
        times = sorted(s.seconds for s in row.samples)
        median = row.median()
        ratio = f"{median / base.median():.2f}x" if base else ""
        cpu = statistics.median(s.cpu for s in row.samples)
        rss = max(s.rss_mb for s in row.samples)
        lines.append(
            f"| {row.name} | {count / median:,.0f} | {times[0]:.2f} | {median:.2f}"
            f" | {times[-1]:.2f} | {cpu:.2f} | {rss:.0f} | {ratio} |"
        )
    lines += ["", "## Latency and idle", ""]
    lines += [f"- {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Run the benchmark; write bench/RESULTS.md (the quick mode writes to stdout only)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    count = 20_000 if args.quick else 1_000_000
    runs = 1 if args.quick else max(args.runs, 3)
    with tempfile.TemporaryDirectory(prefix="watchd-bench-") as folder:
        work = Path(folder)
        trail = work / "trail.jsonl"
        make_trail(trail, count)
        rows = throughput(trail, count, runs, work)
        seconds = 1.0 if args.quick else 10.0
        extra = {
            "latency, watchd (inotify)": latency(work, seconds, "watchd"),
            "latency, watchd (polling forced, 250 ms)": latency(
                work, seconds, "watchd", polling=True
            ),
            "latency, tail -F": latency(work, seconds, "tail"),
        }
        for files in (1, 1_000) if args.quick else (1, 1_000, 10_000):
            extra[f"idle, {files:,} files"] = idle(work, files, 3.0 if args.quick else 30.0)
        text = report(rows, count, extra, versions())
    sys.stdout.write(text)
    if not args.quick:
        (HERE / "RESULTS.md").write_text(text)
    return 0 if all(r.samples or r.skipped.startswith("not installed") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
