"""Runs Apache Kafka and the services as separate OS processes on this machine.

Used by `make demo`, `make up`, the end-to-end tests and the benchmark. Each service gets its own
HTTP port, its own log file, either a SQLite file (the embedded default) or its own PostgreSQL
database, and, on a secured cluster, its own Kafka principal (`complaints-<service>`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx

from contracts.envelope import ServiceName
from services.common.auth import AuthSettings
from services.common.bus import Bus
from services.common.kafkaserver import KafkaCluster, free_port
from services.common.provision import principal_of, provision_local
from services.common.settings import ReadSide
from services.common.tokens import DEFAULT_TTL, mint_token

#: Every process of the system: the services that publish, then the read side.
SERVICES: list[ServiceName | ReadSide] = [*ServiceName, *ReadSide]
Component = ServiceName | ReadSide


class LocalCluster:
    def __init__(self, workdir: Path, database_urls: dict[Component, str] | None = None,
                 bootstrap_servers: str | None = None, log_level: str = "INFO", env: dict[str, str] | None = None,
                 kafka: KafkaCluster | None = None, kafka_port: int | None = None):
        """Without `bootstrap_servers` or `kafka`, a Kafka node of its own is started (and provisioned)
        under `workdir/kafka`, on `kafka_port` if given; with `kafka`, each service runs under its own
        principal on that (secured or not) cluster, which the caller provisions."""
        self.workdir = workdir
        self.extra_env = dict(env or {})
        self.database_urls = database_urls or {}
        self.external_bootstrap = bootstrap_servers
        self.kafka = kafka
        self.kafka_port = kafka_port
        self.log_level = log_level
        self.broker: KafkaCluster | None = None
        self.ports = {s: free_port() for s in SERVICES}
        self.processes: dict[Component, subprocess.Popen[bytes]] = {}

    @property
    def bootstrap_servers(self) -> str:
        return self.bus.bootstrap_servers

    @property
    def bus(self) -> Bus:
        """A client of the cluster with every right (the admin, on a secured one)."""
        if self.external_bootstrap:
            return Bus(self.external_bootstrap)
        cluster = self.kafka or self.broker
        assert cluster is not None, "the cluster is not started"
        return cluster.bus

    def service_bus(self, service: Component | str) -> Bus:
        """How `service` reaches the cluster: under its own principal on a secured one."""
        cluster = self.kafka or self.broker
        name = getattr(service, "value", service)
        if cluster is not None and cluster.security is not None:
            return cluster.bus_as(principal_of(name))
        return self.bus

    def url(self, service: Component) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def token(self, user: str, role: str, branch: str | None = None, region: str | None = None,
              ttl: timedelta = DEFAULT_TTL) -> str:
        """A token the cluster's services accept: signed with the local key of its data dir, with
        the default issuer, audience and claim names (the services run without `AUTH_*`)."""
        return mint_token(self.workdir, user, role, branch, region, ttl, settings=AuthSettings.model_construct())

    def auth(self, user: str, role: str, branch: str | None = None, region: str | None = None) -> dict[str, str]:
        """`Authorization` header for that user."""
        return {"Authorization": f"Bearer {self.token(user, role, branch, region)}"}

    def log_path(self, service: Component | str) -> Path:
        name = getattr(service, "value", service)
        return self.workdir / "logs" / f"{name}.log"

    def start(self, timeout: float = 60.0) -> LocalCluster:
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        if not self.external_bootstrap and self.kafka is None:
            self.broker = KafkaCluster(self.workdir / "kafka", 1, port=self.kafka_port).start()
            provision_local(self.broker.bus)
        for service in SERVICES:
            self.start_service(service, wait=False)
        for service in SERVICES:
            self.wait_healthy(service, timeout)
        return self

    def service_env(self, service: Component) -> dict[str, str]:
        prefix = service.value.upper()
        # The cluster's services trust the local key of its data dir (see `token`), whatever
        # identity provider this shell may be configured for.
        env = {k: v for k, v in os.environ.items()
               if not k.endswith("_DATABASE_URL") and not k.startswith(("AUTH_", "KAFKA_"))}
        env |= self.service_bus(service).environment()
        env |= {
            "COMPLAINTS_DATA_DIR": str(self.workdir),
            f"{prefix}_HTTP_PORT": str(self.ports[service]),
            f"{prefix}_LOG_LEVEL": self.log_level,
            "PYTHONUNBUFFERED": "1",
        }
        if service in self.database_urls:
            env[f"{prefix}_DATABASE_URL"] = self.database_urls[service]
        return env | self.extra_env

    def start_service(self, service: Component, wait: bool = True, timeout: float = 60.0) -> None:
        self.log_path(service).parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path(service), "ab")  # noqa: SIM115 - owned by the child
        self.processes[service] = subprocess.Popen(
            [sys.executable, "-m", f"services.{service.value}"],
            env=self.service_env(service), stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        if wait:
            self.wait_healthy(service, timeout)

    def wait_healthy(self, service: Component, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            process = self.processes[service]
            if process.poll() is not None:
                raise RuntimeError(f"{service.value} exited with {process.returncode}; see "
                                   f"{self.log_path(service)}:\n{self.tail(service)}")
            try:
                response = httpx.get(self.url(service) + "/health", timeout=2.0)
                if response.status_code == 200:
                    return response.json()
                last = response.text
            except httpx.HTTPError as e:
                last = str(e)
            time.sleep(0.2)
        raise TimeoutError(f"{service.value} not healthy after {timeout}s: {last}\n{self.tail(service)}")

    def stop_service(self, service: Component, kill: bool = False, timeout: float = 15.0) -> int | None:
        process = self.processes.pop(service, None)
        if process is None or process.poll() is not None:
            return process.returncode if process else None
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def stop(self) -> None:
        for service in list(self.processes):
            self.stop_service(service)
        if self.broker is not None:
            self.broker.stop()

    def tail(self, service: Component, lines: int = 30) -> str:
        path = self.log_path(service)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def __enter__(self) -> LocalCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_: object) -> None:
        self.stop()


class ConsoleProcess:
    """The web console (`python -m services.console`) as its own OS process, calling `cluster`'s
    services and signing its users' tokens with the cluster's local key (the embedded default)."""

    def __init__(self, cluster: LocalCluster, port: int | None = None, env: dict[str, str] | None = None):
        self.cluster = cluster
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.cluster.log_path("console")

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSOLE_", "AUTH_"))}
        env |= {"COMPLAINTS_DATA_DIR": str(self.cluster.workdir), "CONSOLE_HTTP_PORT": str(self.port),
                "CONSOLE_LOG_LEVEL": self.cluster.log_level, "COMPLAINTS_LOG_FORMAT": "json"}
        for service in SERVICES:
            env[f"CONSOLE_{service.value.upper()}_URL"] = self.cluster.url(service)
        return env | self.extra_env

    def start(self, timeout: float = 30.0) -> ConsoleProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "services.console"], env=self.environment(),
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the console exited with {self.process.returncode}:\n"
                                   f"{self.cluster.tail('console')}")  # type: ignore[arg-type]
            try:
                if httpx.get(self.url + "/health", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the console did not answer within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> ConsoleProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
