"""R30: SIGHUP reads ``--config`` again; a file that no longer parses, or a plan that
fails to start, is reported in one line and the running configuration goes on."""

from __future__ import annotations

import json
import signal
import socket

from ledger import seq_line

from conftest import append


def config(path, source, action: str, sink: str = "stdout", listen: str = "") -> None:
    sources = f'"audit:{source}"' + (f', "{listen}"' if listen else "")
    path.write_text(
        f'source = [{sources}]\nsink = ["{sink}"]\naction = ["{action}"]\n'
        "json = true\nverbose = 1\n"
    )


def deliver(process, trail, first: int, actions: list[str]) -> list[tuple[int, str]]:
    """Append one record per action; return (seq, action) of what comes out."""
    append(trail, b"".join(seq_line(first + n, action=a) for n, a in enumerate(actions)))
    out = []
    while not process.quiet_for(0.8):
        event = json.loads(process.read_line())
        out.append((event["extra"]["seq"], event["action"]))
    return out


def second_refusal(process) -> dict:
    """Wait for the second "reload refused" record; return it."""
    import time  # noqa: PLC0415

    for _ in range(500):
        refused = [r for r in process.logs() if r["event"] == REFUSED]
        if len(refused) >= 2:
            return refused[1]
        time.sleep(0.02)
    raise AssertionError(process.stderr)


REFUSED = "reload refused, the running configuration goes on"


def readies(process) -> int:
    return sum(1 for record in process.logs() if record["event"] == "ready")


def wait_ready(process, count: int) -> None:
    import time  # noqa: PLC0415

    for _ in range(500):
        if readies(process) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(process.stderr)


def test_r30_a_reload_applies_the_edited_file_and_survives_a_broken_one(watchd, tmp_path):
    trail, conf, state = tmp_path / "audit.jsonl", tmp_path / "watchd.toml", tmp_path / "state"
    trail.touch()
    config(conf, trail, "a")
    process = watchd("run", "--config", str(conf), "--state-dir", str(state))
    wait_ready(process, 1)
    pid = process.pid
    assert deliver(process, trail, 0, ["a", "b"]) == [(0, "a")]

    config(conf, trail, "b")  # edited: the filter is another one now
    process.proc.send_signal(signal.SIGHUP)
    wait_ready(process, 2)
    assert deliver(process, trail, 2, ["a", "b"]) == [(3, "b")]

    conf.write_text('source = ["audit:')  # broken TOML: refused, the running one goes on
    process.proc.send_signal(signal.SIGHUP)
    refused = process.wait_log("reload refused, the running configuration goes on")
    assert "not valid TOML" in refused["reason"]
    assert deliver(process, trail, 4, ["a", "b"]) == [(5, "b")]

    # A value the check can tell wrong without opening anything is refused by it, as TOML is.
    config(conf, trail, "a", sink=f"file:{trail}/out.jsonl")  # under a file, not a directory
    process.proc.send_signal(signal.SIGHUP)
    assert f"{trail} is not a directory" in second_refusal(process)["reason"]

    # A plan that checks out but cannot start (a port another holds): the new process
    # goes back to the previous one.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        config(conf, trail, "a", listen=f"syslog:udp://127.0.0.1:{taken.getsockname()[1]}")
        process.proc.send_signal(signal.SIGHUP)
        failed = process.wait_log("reload failed, going on with the previous configuration")
    assert "cannot listen on 127.0.0.1:" in failed["reason"]
    wait_ready(process, 3)
    assert process.pid == pid  # the same process all along (a service manager's MAINPID)
    assert deliver(process, trail, 6, ["a", "b"]) == [(7, "b")]

    config(conf, trail, "a")  # mended: the file is read again at the next reload
    process.proc.send_signal(signal.SIGHUP)
    wait_ready(process, 4)
    assert deliver(process, trail, 8, ["a", "b"]) == [(8, "a")]
    assert process.stop() == 0
