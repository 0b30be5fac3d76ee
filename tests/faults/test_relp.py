"""R40 with RELP: the real rsyslog ``imrelp`` killed -9 mid-stream, started again: 0 lost.

The receiver writes each message before it answers it (a direct queue, the
file flushed per message), so what it answered survives its kill; what it had
not answered is sent again by watchd on the next session. Duplicates are
allowed (a message written whose answer the kill cut off), losses are not.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

from ledger import gaps, seq_lines

from collectors import ROOT, free_ports, require
from trails import follow

RSYSLOGD = ROOT / "usr/sbin/rsyslogd"
MODULES = next(iter(sorted(ROOT.glob("usr/lib/*/rsyslog"))), ROOT / "usr/lib/rsyslog")
RECORDS = 30_000


class RelpReceiver:
    """rsyslogd -n with imrelp on one loopback port, writing each message's body as a line."""

    def __init__(self, workdir: Path) -> None:
        require(RSYSLOGD, "rsyslogd")
        require(MODULES / "imrelp.so", "rsyslog's imrelp (Debian's rsyslog-relp)")
        self.dir = workdir
        self.port = free_ports(1)[0]
        self.out = workdir / "out.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        conf = self.dir / "relp.conf"
        conf.write_text(f"""
global(workDirectory="{self.dir}" maxMessageSize="64k")
main_queue(queue.type="Direct")
module(load="imrelp")
input(type="imrelp" address="127.0.0.1" port="{self.port}" ruleset="relp")
template(name="body" type="string" string="%msg%\\n")
ruleset(name="relp" queue.type="Direct") {{
  action(type="omfile" file="{self.out}" template="body" flushOnTXEnd="on" asyncWriting="off")
}}
""")
        log = (self.dir / "rsyslog.log").open("ab")
        self.proc = subprocess.Popen(
            [str(RSYSLOGD), "-n", "-f", str(conf), "-i", str(self.dir / "pid"), "-M", str(MODULES)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, (self.dir / "rsyslog.log").read_text()
                time.sleep(0.05)  # polls for the port rsyslogd opens

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)

    def seqs(self) -> list[int]:
        if not self.out.exists():
            return []
        data = self.out.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        return [json.loads(line)["extra"]["seq"] for line in complete.splitlines() if line.strip()]


def test_r40_relp_receiver_killed_mid_stream_loses_nothing(watchd, tmp_path):
    receiver = RelpReceiver(tmp_path / "rsyslog")
    receiver.dir.mkdir()
    receiver.start()
    trail, state = tmp_path / "audit.jsonl", tmp_path / "state"
    trail.write_bytes(seq_lines(0, RECORDS))
    process = follow(
        watchd,
        trail,
        "--sink",
        f"syslog:relp://127.0.0.1:{receiver.port}",
        state=state,
        source_options=",from=beginning",
    )
    try:
        deadline = time.monotonic() + 60
        while len(receiver.seqs()) < RECORDS // 4:
            assert time.monotonic() < deadline, (receiver.dir / "rsyslog.log").read_text()
            time.sleep(0.01)  # polls the receiver's file: the kill lands mid-stream
        receiver.kill()
        killed_at = len(set(receiver.seqs()))
        receiver.start()
        deadline = time.monotonic() + 90
        while len(set(receiver.seqs())) < RECORDS and time.monotonic() < deadline:
            time.sleep(0.1)
        delivered = receiver.seqs()
        assert killed_at < RECORDS, "the kill came after the end: nothing was tested"
        assert gaps(delivered, range(RECORDS)) == ([], [])
        assert process.stop() == 0
    finally:
        receiver.stop()
