"""Real syslog collectors for the tests: rsyslog and syslog-ng, on loopback, run from a folder.

Each collector gets its own config, ports, state files and output file under
the test's temp dir, writes every message it parsed as one JSON object per line
(the fields it parsed, not the raw bytes), and is stopped by its own PID. The
binaries come from ``.ci/collectors``; where they are missing the tests skip,
except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from conftest import missing

ROOT = Path(os.environ.get("WATCHD_COLLECTORS", "/opt/watchd-collectors"))


def require(binary: Path, what: str) -> None:
    """Skip (fail under CI=true) when *binary* is not there."""
    if binary.is_file():
        return
    missing(f"{what} is not at {binary}: run .ci/collectors (or set WATCHD_COLLECTORS)")


def free_ports(count: int) -> list[int]:
    """Return *count* distinct loopback ports, free for both TCP and UDP, below the ephemeral range.

    Below it, a reconnecting client can never be given the port as its own source.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    first = max(low - 4000, 1024)
    start = random.randrange(first, low)  # two test runs at once rarely meet
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for port in [*range(start, low), *range(first, start)]:
            try:
                tcp = socket.create_server(("127.0.0.1", port))
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held += [tcp, udp]
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            ports.append(port)
            if len(ports) == count:
                return ports
    finally:
        for sock in held:
            sock.close()
    raise RuntimeError("not enough free ports below the ephemeral range")


class Collector:
    """A collector process listening on UDP and TCP (one port), TLS (another), and a Unix socket."""

    name = ""

    def __init__(self, workdir: Path, tls_files: dict[str, Path]) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        # One port for UDP and TCP, one for TLS, one for LF-framed TCP (the same
        # as the TCP port where the collector tells the framings apart itself).
        self.port, self.tls_port, self.lf_port = free_ports(3)
        self.unix = self.dir / "log.sock"
        self.out = self.dir / "out.jsonl"
        self.pidfile = self.dir / "collector.pid"
        self.tls = tls_files
        self.proc: subprocess.Popen[bytes] | None = None

    # -- what each collector says differently ---------------------------------------

    def command(self) -> list[str]:
        raise NotImplementedError

    def config(self) -> str:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def normalize(self, parsed: dict[str, Any]) -> dict[str, Any]:
        return parsed

    # -- the process ---------------------------------------------------------------------

    def address(self, transport: str, framing: str = "octet") -> str:
        if transport == "unix":
            return f"unix://{self.unix}"
        port = {"tls": self.tls_port, "tcp": self.lf_port if framing == "lf" else self.port}
        return f"{transport}://127.0.0.1:{port.get(transport, self.port)}"

    def start(self) -> None:
        (self.dir / "collector.conf").write_text(self.config())
        log = (self.dir / "collector.log").open("ab")
        self.proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=self.env()
        )
        log.close()
        deadline = time.monotonic() + 15
        while not (self._accepts(self.port) and self._accepts(self.tls_port)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{self.name} did not start:\n{self.log()}")
            time.sleep(0.05)
        while not self.unix.exists():
            assert time.monotonic() < deadline, f"{self.name} made no unix socket:\n{self.log()}"
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the collector by its own PID and wait for it."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log(self) -> str:
        path = self.dir / "collector.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @staticmethod
    def _accepts(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    # -- what it received -----------------------------------------------------------------

    def received(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        data = self.out.read_bytes()
        # The collector may be writing its last line as we read: only whole lines count.
        lines = data[: data.rfind(b"\n") + 1].splitlines()
        return [self.normalize(json.loads(line)) for line in lines if line.strip()]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(got := self.received()) < count:
            assert time.monotonic() < deadline, (
                f"{self.name} parsed {len(got)} of {count} messages:\n{self.log()}"
            )
            time.sleep(0.05)
        time.sleep(0.3)  # anything more (a duplicate) arrives now
        return self.received()


class Rsyslog(Collector):
    """rsyslogd -n: imudp, imtcp (plain and TLS through the OpenSSL driver), imuxsock."""

    name = "rsyslog"
    binary = ROOT / "usr/sbin/rsyslogd"
    # usr/lib/<multiarch triplet>/rsyslog
    modules = next(iter(sorted(ROOT.glob("usr/lib/*/rsyslog"))), ROOT / "usr/lib/rsyslog")

    def __init__(self, workdir: Path, tls_files: dict[str, Path]) -> None:
        super().__init__(workdir, tls_files)
        self.lf_port = self.port  # imtcp takes octet-counted and LF-framed on one port

    def command(self) -> list[str]:
        conf, pid = self.dir / "collector.conf", self.pidfile
        return [str(self.binary), "-n", "-f", str(conf), "-i", str(pid), "-M", str(self.modules)]

    def config(self) -> str:
        tls = self.tls
        return f"""
global(workDirectory="{self.dir}" maxMessageSize="64k"
       defaultNetstreamDriverCAFile="{tls["ca"]}"
       defaultNetstreamDriverCertFile="{tls["cert"]}"
       defaultNetstreamDriverKeyFile="{tls["key"]}")
module(load="imuxsock" SysSock.Use="off")
module(load="imudp")
module(load="imtcp" MaxSessions="64")
module(load="mmpstrucdata")
input(type="imuxsock" Socket="{self.unix}" CreatePath="on")
input(type="imudp" address="127.0.0.1" port="{self.port}")
input(type="imtcp" address="127.0.0.1" port="{self.port}")
input(type="imtcp" address="127.0.0.1" port="{self.tls_port}"
      streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="parsed" type="list" option.jsonf="on") {{
  property(outname="pri" name="pri" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="time" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="sd_parsed" name="$!rfc5424-sd" format="jsonf")
}}
action(type="mmpstrucdata")
action(type="omfile" file="{self.out}" template="parsed")
"""

    def normalize(self, parsed: dict[str, Any]) -> dict[str, Any]:
        parsed["pri"] = int(parsed["pri"])
        # mmpstrucdata's reading of the structured data, unescaped, as a JSON text
        parsed["sd_parsed"] = json.loads(parsed.get("sd_parsed") or "{}")
        for key in ("procid", "msgid", "sd"):
            if parsed.get(key) == "-":
                parsed[key] = ""
        return parsed


class SyslogNg(Collector):
    """syslog-ng -F: syslog() on UDP, TCP and TLS; network() for LF framing; unix-dgram."""

    name = "syslog-ng"
    binary = ROOT / "usr/sbin/syslog-ng"
    # usr/lib/syslog-ng/<major.minor>: the module folder names the config version too
    modules = next(iter(sorted(ROOT.glob("usr/lib/syslog-ng/[0-9]*.[0-9]*"))), ROOT / "none")

    def command(self) -> list[str]:
        d = self.dir
        return [
            str(self.binary),
            "-F",
            "-f",
            str(d / "collector.conf"),
            "--persist-file",
            str(d / "persist"),
            "--pidfile",
            str(self.pidfile),
            "--control",
            str(d / "ctl"),
            "--module-path",
            str(self.modules),
        ]

    def env(self) -> dict[str, str]:
        return {**os.environ, "LD_LIBRARY_PATH": str(ROOT / "usr/lib/syslog-ng")}

    def config(self) -> str:
        tls = self.tls
        fields = (
            "pri=int($PRI) host=$HOST app=$PROGRAM procid=$PID msgid=$MSGID "
            "time=$ISODATE msg=$MESSAGE --key .SDATA.*"
        )
        return f"""@version: {self.modules.name}
options {{
  stats-freq(0); keep-hostname(yes); keep-timestamp(yes); frac-digits(3); log-msg-size(65536);
}};
source s_net {{
  syslog(ip("127.0.0.1") port({self.port}) transport("udp"));
  syslog(ip("127.0.0.1") port({self.port}) transport("tcp"));
  network(ip("127.0.0.1") port({self.lf_port}) transport("tcp") flags(syslog-protocol));
  syslog(ip("127.0.0.1") port({self.tls_port}) transport("tls")
         tls(key-file("{tls["key"]}") cert-file("{tls["cert"]}") peer-verify(optional-untrusted)));
  unix-dgram("{self.unix}");
}};
destination d_out {{ file("{self.out}" template("$(format-json {fields})\\n")); }};
log {{ source(s_net); destination(d_out); }};
"""

    def normalize(self, parsed: dict[str, Any]) -> dict[str, Any]:
        parsed["sd"] = parsed.pop("_SDATA", {})
        return parsed


COLLECTORS: dict[str, type[Collector]] = {"rsyslog": Rsyslog, "syslog-ng": SyslogNg}
