"""The development broker launcher: stops tansu with itself, and says when the port is taken."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.devbroker import DevBroker, PortInUse, free_port, port_in_use

ROOT = Path(__file__).resolve().parents[2]


def launch(port: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "services.common.devbroker", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def first_line(process: subprocess.Popen[str], timeout: float = 20.0) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no output from the launcher within {timeout}s")
    return process.stdout.readline()


def freed_within(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not port_in_use("127.0.0.1", port):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def launcher() -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    process = launch(port)
    try:
        assert "listening" in first_line(process)
        assert port_in_use("127.0.0.1", port)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: signal.Signals(s).name)
def test_a_signal_to_the_launcher_stops_tansu_too(launcher, signum) -> None:
    process, port = launcher
    process.send_signal(signum)
    assert process.wait(10) == 0
    assert freed_within(port, 5), f"tansu still holds port {port} after the launcher exited"


def test_a_killed_launcher_takes_tansu_with_it(launcher) -> None:
    process, port = launcher
    process.kill()
    process.wait(10)
    assert freed_within(port, 5), f"tansu orphaned on port {port}"


def test_a_taken_port_is_reported_and_fails() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        process = launch(port)
        out, err = process.communicate(timeout=30)
    assert process.returncode != 0
    assert f"port {port} is already in use by another process; stop it or pass --port" in err
    assert "listening" not in out


def test_start_on_a_taken_port_raises_and_leaves_nothing() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        broker = DevBroker(held.getsockname()[1])
        with pytest.raises(PortInUse, match="already in use"):
            broker.start()
    assert broker.process is None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not running; only the parent's wait removes it, and stop() waits.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z" if Path(f"/proc/{pid}").exists() else True


def deaf_to_sigterm(process: subprocess.Popen[bytes]) -> None:
    real = process.send_signal
    process.send_signal = lambda sig: None if sig == signal.SIGTERM else real(sig)  # type: ignore[method-assign]


def test_stop_kills_a_tansu_that_ignores_sigterm() -> None:
    broker = DevBroker().start()
    assert broker.process is not None
    pid = broker.process.pid
    deaf_to_sigterm(broker.process)
    started = time.monotonic()
    broker.stop(grace=0.3)
    assert time.monotonic() - started < 5
    assert not pid_alive(pid)
    assert freed_within(broker.port, 5)


def test_stop_interrupted_while_waiting_still_kills_tansu() -> None:
    broker = DevBroker().start()
    assert broker.process is not None
    process = broker.process
    deaf_to_sigterm(process)
    real_wait = process.wait
    calls = []

    def interrupted(timeout: float | None = None) -> int:
        calls.append(timeout)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real_wait(timeout)

    process.wait = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        broker.stop()
    assert not pid_alive(process.pid)
    assert broker.process is None
