"""Under systemd: the notify protocol from the loop, told to a socket of the test's own.

The socket stands where systemd's would: a Unix datagram socket, named by a
path or an abstract name, whose address watchd reads from ``NOTIFY_SOCKET``.
Sources that take their time, or block the loop on purpose, come from a
plugin module the test writes (``-p``), as any third party's would.
"""

from __future__ import annotations

import os
import signal
import socket
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from conftest import append, clean_env, line
from watchd.core.notify import Notifier, ServiceNotifier, watchdog_interval

PLUGIN = textwrap.dedent(
    '''
    """Sources for the service tests: one slow to start, one that blocks the loop when told."""
    import os
    import time

    from watchd import OptionSet, hookimpl


    class Folder(OptionSet):
        """A folder the source looks in."""

        target_form = "DIR"
        target_required = True


    class Slow:
        """Its first poll takes a second (a source still starting), and says when it ended."""

        def __init__(self, folder):
            self.name = "slow"
            self._folder = folder
            self._polled = False

        def fileno(self):
            return -1

        def timeout(self):
            return 0.05

        def poll(self):
            if not self._polled:
                self._polled = True
                time.sleep(1.0)
                open(os.path.join(self._folder, "slow-started"), "w").close()
            return []

        def close(self):
            pass


    class Stuck(Slow):
        """Blocks the loop for three seconds once a file named 'block' appears."""

        def poll(self):
            block = os.path.join(self._folder, "block")
            if os.path.exists(block):
                os.unlink(block)
                open(os.path.join(self._folder, "blocked"), "w").close()
                time.sleep(3.0)
                open(os.path.join(self._folder, "unblocked"), "w").close()
            return []


    @hookimpl
    def watchd_register_source_types(sources):
        sources.add("slow", lambda options, context: Slow(options.target), Folder)
        sources.add("stuck", lambda options, context: Stuck(options.target), Folder)
    '''
)


class FakeSystemd:
    """A notify socket: the messages watchd sends, each with when it came."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.messages: list[tuple[float, dict[str, str]]] = []

    def receive(self, timeout: float) -> dict[str, str] | None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            return None
        fields = dict(item.split("=", 1) for item in data.decode().split("\n"))
        self.messages.append((time.monotonic(), fields))
        return fields

    def wait_for(self, key: str, timeout: float = 20.0) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            fields = self.receive(left)
            if fields is not None and key in fields:
                return fields
        raise AssertionError(f"no {key} within {timeout} s: {self.messages}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def systemd(request, tmp_path):
    address = str(tmp_path / "notify") if request.param == "path" else f"@watchd-{uuid.uuid4().hex}"
    fake = FakeSystemd(address)
    yield fake
    fake.close()


@pytest.fixture
def plugin_dir(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "service_sources.py").write_text(PLUGIN)
    return folder


def service_env(systemd: FakeSystemd, plugin_dir: Path, **more: str) -> dict[str, str]:
    return clean_env(NOTIFY_SOCKET=systemd.address, PYTHONPATH=str(plugin_dir), **more)


def test_ready_comes_after_a_slow_source_started_then_status_then_stopping(
    watchd, tmp_path, systemd, plugin_dir
):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(line(1) + line(2))
    process = watchd(
        *("-p", "service_sources", "run", "--source", f"slow:{tmp_path}"),
        *("--source", f"audit:{trail}", "--from-beginning", "--sink", "stdout", "--json"),
        env=service_env(systemd, plugin_dir),
    )
    ready = systemd.wait_for("READY")
    assert ready["READY"] == "1"
    assert (tmp_path / "slow-started").exists()  # sent after the slow source's first poll
    assert ready["STATUS"] == "following 1 file; every sink up"
    assert len(process.read_json(2)) == 2
    assert not any("WATCHDOG" in m for _, m in systemd.messages)  # none was asked for
    assert process.stop(signal.SIGTERM) == 0
    stopping = systemd.wait_for("STOPPING")
    assert stopping == {"STOPPING": "1", "STATUS": "stopping"}
    assert [m for _, m in systemd.messages if "READY" in m] == [ready]  # ready once


def test_the_status_line_names_a_sink_that_is_down(watchd, tmp_path, systemd):
    with socket.socket() as refusing:  # bound, never listening: connections are refused
        refusing.bind(("127.0.0.1", 0))
        port = refusing.getsockname()[1]
        process = watchd(
            *("run", "--source", f"audit:{tmp_path}/audit.jsonl"),
            *("--sink", f"tcp://127.0.0.1:{port}", "--sink", "stdout"),
            env=clean_env(NOTIFY_SOCKET=systemd.address),
        )
        ready = systemd.wait_for("READY")
        assert ready["STATUS"] == f"following 0 files; connecting: tcp://127.0.0.1:{port}"
        later = systemd.wait_for("STATUS", timeout=20)  # the next, 5 s on
        assert later["STATUS"].startswith("following 0 files, 0 events/s; sinks down: tcp:")
        assert process.stop() == 0


def test_watchdog_comes_from_the_loop_and_stops_while_it_is_blocked(
    watchd, tmp_path, systemd, plugin_dir
):
    process = watchd(
        *("-p", "service_sources", "run", "--source", f"stuck:{tmp_path}"),
        env=service_env(systemd, plugin_dir, WATCHDOG_USEC="400000"),
    )
    systemd.wait_for("READY")
    before = _watchdogs(systemd, 1.5)
    assert 3 <= len(before) <= 12, before  # every 0.2 s: half of WATCHDOG_USEC
    (tmp_path / "block").touch()
    while not (tmp_path / "unblocked").exists():
        systemd.receive(0.05)
    blocked_at = (tmp_path / "blocked").stat().st_mtime
    unblocked_at = (tmp_path / "unblocked").stat().st_mtime
    after = _watchdogs(systemd, 1.0)
    assert after, "the watchdog came back once the loop turned again"
    # None while the loop was blocked: the messages' wall-clock times, from their arrival.
    offset = time.time() - time.monotonic()
    during = [
        at + offset
        for at, m in systemd.messages
        if "WATCHDOG" in m and blocked_at + 0.3 < at + offset < unblocked_at - 0.1
    ]
    assert during == []
    assert process.stop() == 0


def _watchdogs(systemd: FakeSystemd, seconds: float) -> list[float]:
    end = time.monotonic() + seconds
    seen = []
    while (left := end - time.monotonic()) > 0:
        fields = systemd.receive(left)
        if fields is not None and fields.get("WATCHDOG") == "1":
            seen.append(time.monotonic())
    return seen


def test_a_reload_says_reloading_then_ready_and_keeps_its_pid(watchd, tmp_path, systemd):
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(line(1))
    state = tmp_path / "state"
    process = watchd(
        *("run", "--source", f"audit:{trail}", "--from-beginning", "--state-dir", str(state)),
        *("--sink", "stdout", "--json"),
        env=clean_env(NOTIFY_SOCKET=systemd.address),
    )
    systemd.wait_for("READY")
    assert len(process.read_json(1)) == 1
    before_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    os.kill(process.pid, signal.SIGHUP)
    reloading = systemd.wait_for("RELOADING")
    assert reloading["RELOADING"] == "1"
    assert int(reloading["MONOTONIC_USEC"]) >= before_usec
    assert "STOPPING" not in reloading
    ready = systemd.wait_for("READY")  # from the process the reload became
    assert ready["READY"] == "1"
    assert not any("STOPPING" in m for _, m in systemd.messages)  # a reload is no stop
    append(trail, line(2))
    assert [r["detail"] for r in process.read_json(1)] == ["n=2"]  # the same PID follows on
    assert process.stop() == 0
    systemd.wait_for("STOPPING")


def test_a_reload_refused_says_nothing_to_systemd(watchd, tmp_path, systemd):
    config = tmp_path / "watchd.toml"
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(b"")
    config.write_text(f'source = ["audit:{trail}"]\n')
    process = watchd("run", "--config", str(config), env=clean_env(NOTIFY_SOCKET=systemd.address))
    systemd.wait_for("READY")
    config.write_text("nosuchkey = 1\n")
    os.kill(process.pid, signal.SIGHUP)
    process.wait_log("reload refused, the running configuration goes on")
    assert process.stop() == 0
    systemd.wait_for("STOPPING")  # every datagram before the stop has come by now
    assert not any("RELOADING" in fields for _, fields in systemd.messages)


# -- the protocol's rules, with an injected clock ------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_watchdog_cadence_is_half_of_watchdog_usec(tmp_path):
    fake = FakeSystemd(str(tmp_path / "n"))
    clock = _Clock()
    interval = watchdog_interval({"WATCHDOG_USEC": "10000000"})
    assert interval == 5.0
    service = ServiceNotifier(Notifier(fake.address), interval, clock=clock)
    assert service.deadline() is None  # nothing before the loop started
    service.started()
    assert fake.receive(1) == {"READY": "1", "STATUS": "starting"}
    assert fake.receive(1) == {"WATCHDOG": "1"}
    assert service.deadline() == 105.0
    clock.now = 104.9
    service.tick(clock.now)
    assert fake.receive(0.1) is None  # not due yet
    service.tick(105.0)  # both due: the keep-alive, and the status line every 5 s
    assert fake.receive(1) == {"WATCHDOG": "1"}
    assert fake.receive(1) == {"STATUS": "starting"}
    assert service.deadline() == 110.0
    service.tick(107.0)  # late (a busy loop): nothing is due before 110
    assert fake.receive(0.1) is None
    service.stopping()
    assert fake.receive(1) == {"STOPPING": "1", "STATUS": "stopping"}
    assert service.deadline() is None
    service.close()
    fake.close()


def test_watchdog_for_another_pid_or_without_usec_is_off():
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "x"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "2"}, pid=2) == 1.0
    assert Notifier.from_environment({}) is None
    assert Notifier.from_environment({"NOTIFY_SOCKET": "vsock:2:1"}) is None


def test_a_socket_that_is_gone_never_fails_the_run(tmp_path):
    notifier = Notifier(str(tmp_path / "nobody"))
    assert notifier.send("READY=1") is False
    assert notifier.send("WATCHDOG=1") is False
    notifier.close()
