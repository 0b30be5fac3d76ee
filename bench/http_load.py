"""The HTTP server under load: what ``--http`` costs the loop, and what live clients receive.

    python bench/http_load.py                # 100 clients, 20 queries/s, 20,000 records/s, 30 s
    python bench/http_load.py --seconds 5    # shorter
    python bench/http_load.py --max 300000   # and the follow rate of a written trail
    python bench/http_load.py --max 300000 --max-only --repeat 9

Live: a writer appends ``--rate`` lokt records a second for ``--seconds`` to a
trail that ``watchd run --sink file:…`` follows, first without ``--http``,
then with it and ``--clients`` stream clients (one process of their own,
a thread each) and ``--queries`` requests a second to ``/api/events``. It
reports, for each, the events written out, how long after the writer
stopped the last one was, and watchd's CPU seconds; for the clients, how
many received every event, how many were dropped (said by the stream and
counted in ``/metrics``), and any that did neither (none may).

Max (``--max N``): the follow rate of an N-record trail read from the start,
without the server, with it and no client, and with the clients connected:
the bound on what the server may cost the loop. Each is run ``--repeat``
times, in turn, and the median reported (runs of one command differ by
about 20% on a shared 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from run import WATCHD, _proc_stats, _stop, make_trail, write_at_rate


def client_process(port: int, count: int) -> None:
    """Run *count* stream clients until told to stop on stdin; print what each received."""
    results: list[dict[str, object]] = [{} for _ in range(count)]
    done = threading.Event()

    def one(index: int) -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(1.0)
        events, dropped, tail = 0, False, b""
        while not done.is_set():
            try:
                chunk = sock.recv(1 << 20)
            except TimeoutError:
                continue
            if not chunk:
                break
            data = tail + chunk
            events += data.count(b"\ndata: ")
            dropped = dropped or b"event: dropped" in data
            tail = data[-16:]
            events -= tail.count(b"\ndata: ")  # counted again with the next chunk
        events += tail.count(b"\ndata: ")
        sock.close()
        results[index] = {"events": events, "dropped": dropped}

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    sys.stdin.readline()
    done.set()
    for thread in threads:
        thread.join(5)
    print(json.dumps(results), flush=True)


def _port_of(proc: subprocess.Popen[bytes]) -> int:
    if proc.stderr is None:
        raise RuntimeError("no pipe")
    while True:
        line = proc.stderr.readline()
        if not line:
            raise RuntimeError("watchd ended before it served")
        found = re.search(rb'"url": ?"http://127\.0\.0\.1:(\d+)"', line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # drain
            return int(found.group(1))


def start_clients(port: int, count: int) -> subprocess.Popen[str]:
    """Start the client process (*count* stream clients of *port*); return once they connect."""
    command = [sys.executable, __file__, "--client-of", str(port), "--clients", str(count)]
    clients = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if clients.stdout is None or clients.stdout.readline().strip() != "ready":
        raise RuntimeError("the clients did not start")
    return clients


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def _queries(port: int, per_second: int, stop: threading.Event, answered: list[int]) -> None:
    while not stop.is_set():
        began = time.monotonic()
        try:
            url = f"http://127.0.0.1:{port}/api/events?last=100"
            with urllib.request.urlopen(url, timeout=10) as answer:
                answer.read()
            answered.append(1)
        except OSError:
            answered.append(0)
        stop.wait(max(0.0, 1 / per_second - (time.monotonic() - began)))


def live(work: Path, args: argparse.Namespace, *, served: bool) -> dict[str, object]:
    """Follow a trail written at ``--rate``; with *served*, under clients and queries."""
    trail, out = work / f"live-{served}.log", work / f"live-{served}.out"
    trail.write_bytes(b"")
    command = [*WATCHD, "run", "--source", f"audit:{trail}", "--sink", f"file:{out}", "-v"]
    if served:
        command += ["--http", "127.0.0.1:0"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    result: dict[str, object] = {"server": served}
    clients = None
    stop = threading.Event()
    answered: list[int] = []
    try:
        if served:
            port = _port_of(proc)
            clients = start_clients(port, args.clients)
            deadline = time.monotonic() + 30
            while _metric(port, "watchd_http_live_clients") < args.clients:
                if time.monotonic() > deadline:
                    raise RuntimeError("the clients did not all connect")
                time.sleep(0.1)
            threading.Thread(
                target=_queries, args=(port, args.queries, stop, answered), daemon=True
            ).start()
        else:
            time.sleep(1.0)  # started and following
        cpu_before = _proc_stats(proc.pid)[0]
        written = write_at_rate(trail, args.rate, args.seconds, stamp=False)
        ended = time.monotonic()
        while _lines(out) < written and time.monotonic() - ended < 60:
            time.sleep(0.01)
        result["lag_s"] = round(time.monotonic() - ended, 3)
        result["written"], result["delivered"] = written, _lines(out)
        result["cpu_s"] = round(_proc_stats(proc.pid)[0] - cpu_before, 2)
        stop.set()
        if served and clients is not None:
            time.sleep(1.0)  # the clients read what is still on its way
            result["dropped_in_metrics"] = _metric(port, "watchd_http_live_clients_dropped_total")
            result["queries"] = f"{sum(answered)} of {len(answered)} answered"
            out_text, _ = clients.communicate("stop\n", timeout=60)
            got = json.loads(out_text.strip().splitlines()[-1])
            result["clients_every_event"] = sum(1 for c in got if c["events"] == written)
            result["clients_dropped"] = sum(1 for c in got if c["dropped"])
            result["clients_neither"] = sum(
                1 for c in got if c["events"] != written and not c["dropped"]
            )
    finally:
        stop.set()
        if clients is not None and clients.poll() is None:
            clients.kill()
        _stop(proc)
    return result


def max_rate(work: Path, count: int, clients: int, *, served: bool) -> dict[str, object]:
    """Follow a written *count*-record trail from the start; with *served*, clients connected."""
    trail, out = work / "max.log", work / f"max-{served}.out"
    if not trail.exists():
        make_trail(trail, count)
    command = [*WATCHD, "run", "--source", f"audit:{trail}", "--from-beginning"]
    command += ["--sink", f"file:{out}", "-v"]
    if served:
        command += ["--http", "127.0.0.1:0"]
    out.unlink(missing_ok=True)
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client_proc = None
    try:
        if served:
            port = _port_of(proc)
            if clients:
                client_proc = start_clients(port, clients)
        else:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # type: ignore[union-attr]
        while _lines(out) < count:
            time.sleep(0.005)
        seconds = time.monotonic() - started
        cpu = _proc_stats(proc.pid)[0]
    finally:
        if client_proc is not None:
            client_proc.kill()
        _stop(proc)
    return {"records_per_s": round(count / seconds), "cpu_s": round(cpu, 2)}


def max_rates(work: Path, count: int, clients: int, repeat: int) -> list[dict[str, object]]:
    """Return the median follow rate of each set-up, runs taken in turn (the noise is ~20%)."""
    setups = [("without --http", False, 0), ("--http, no client", True, 0)]
    if clients:
        setups.append((f"--http, {clients} clients", True, clients))
    runs: dict[str, list[dict[str, object]]] = {name: [] for name, _, _ in setups}
    for _ in range(repeat):
        for name, served, connected in setups:
            runs[name].append(max_rate(work, count, connected, served=served))
    results = []
    for name, taken in runs.items():
        rates = sorted(int(str(run["records_per_s"])) for run in taken)
        cpus = sorted(float(str(run["cpu_s"])) for run in taken)
        results.append(
            {
                "setup": name,
                "records_per_s_median": rates[len(rates) // 2],
                "records_per_s_runs": rates,
                "cpu_s_median": cpus[len(cpus) // 2],
            }
        )
    return results


def main() -> int:
    """Run the load: without the server, then with it; print a JSON line for each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--max", type=int, default=0, metavar="N")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each --max set-up")
    parser.add_argument("--max-only", action="store_true", help="only the --max runs")
    parser.add_argument("--served-only", action="store_true", help="skip the run without --http")
    parser.add_argument("--client-of", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_of:
        client_process(args.client_of, args.clients)
        return 0
    with tempfile.TemporaryDirectory(prefix="watchd-http-load-") as folder:
        work = Path(folder)
        for served in () if args.max_only else (True,) if args.served_only else (False, True):
            print(json.dumps(live(work, args, served=served)), flush=True)
        if args.max:
            for result in max_rates(work, args.max, args.clients, args.repeat):
                print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
