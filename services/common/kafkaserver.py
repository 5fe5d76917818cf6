"""Apache Kafka on this machine: one combined node for the demo and `make up`, three for the tests that
need a real cluster (replication, a controller quorum, TLS, SASL and ACLs).

Kafka itself comes from Maven Central: `deploy/local/kafka/pom.xml` pins the version, and `make
install` (or the first start) copies the broker's jars into `var/kafka/<version>/libs`; the JRE runs
them in KRaft mode (no ZooKeeper). Every node is broker and controller at once; a cluster of three is
three brokers over a controller quorum of three.

The launcher:
- refuses a port that is taken, naming it;
- formats each node's storage once (a cluster id kept beside the data), so a restarted node keeps its
  topics and offsets; `wipe()` loses them, as a broken disk would;
- waits until the brokers serve requests (every running node registered with the quorum), not merely
  until a port listens;
- stops a node cleanly (SIGTERM, a controlled shutdown), and kills what does not stop in time;
- leaves no JVM behind when the process that started it dies, even by SIGKILL (Linux: a JVM started
  from the main thread gets SIGKILL when that thread's process dies);
- keeps each JVM small (heap from `KAFKA_HEAP`, default 512 MiB; few threads) for two cores;
- names its log file, with its last lines, when a node fails to start.

A secured cluster (`Security.generate(...)`) listens SASL_SSL (SCRAM-SHA-512 over TLS) for clients and
between brokers, with mutual TLS on the controller listener, the StandardAuthorizer and no access for
anyone without an ACL; the TLS keys come from a throwaway CA made for the purpose, and every SCRAM user
is created when the storage is formatted.

Run on its own: `python -m services.common.kafkaserver [--port 9092] [--data-dir var/kafka-node]`
(`make broker`); SIGTERM or Ctrl-C stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import contextlib
import ctypes
import datetime
import errno
import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from services.common.bus import Bus

ROOT = Path(__file__).resolve().parents[2]
POM = ROOT / "deploy" / "local" / "kafka" / "pom.xml"
#: How long `stop()` lets a node shut down after SIGTERM before killing it.
STOP_GRACE_SECONDS = 20.0
#: The super user the brokers talk to each other as, and the launcher provisions as, on a secured cluster.
ADMIN_USER = "admin"
#: The certificate subject of every node (the controllers' mutual TLS principal, a super user).
NODE_SUBJECT = "complaints-kafka-node"


class PortInUse(RuntimeError):
    def __init__(self, host: str, port: int):
        super().__init__(f"port {port} is already in use by another process; stop it or pass --port")
        self.host = host
        self.port = port


class BrokerExited(RuntimeError):
    """A node exited without being asked to."""


class KafkaUnavailable(RuntimeError):
    """Kafka cannot be run here (no Java, the jars could not be fetched)."""


# --- what runs: the jars and the JRE ------------------------------------------------------------------


def kafka_version() -> str:
    """The pinned version (the pom's `kafka.version`)."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if not match:
        raise KafkaUnavailable(f"{POM} names no <kafka.version>")
    return match.group(1).strip()


def libs_dir() -> Path:
    override = os.environ.get("KAFKA_LIBS_DIR")
    return Path(override) if override else ROOT / "var" / "kafka" / kafka_version() / "libs"


def fetch(quiet: bool = True) -> Path:
    """The broker's jars, copied from Maven Central by the pom the first time (a minute at most)."""
    libs = libs_dir()
    version = kafka_version()
    if (libs / f"kafka_2.13-{version}.jar").exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailable("Maven (mvn) is needed to fetch Apache Kafka from Maven Central; "
                               "install it (Debian: apt-get install maven) or set KAFKA_LIBS_DIR")
    staging = libs.with_name(f"libs.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    command = [mvn, "-B", *(["-q"] if quiet else []), "-f", str(POM),
               f"-Dmaven.repo.local={ROOT / 'var' / 'kafka' / 'm2'}",
               "dependency:copy-dependencies", f"-DoutputDirectory={staging}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not (staging / f"kafka_2.13-{version}.jar").exists():
        raise KafkaUnavailable(f"fetching Apache Kafka {version} with Maven failed ({result.returncode}):\n"
                               f"{(result.stdout + result.stderr)[-3000:]}")
    libs.parent.mkdir(parents=True, exist_ok=True)
    try:
        staging.rename(libs)
    except OSError:  # another process fetched it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return libs


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    if candidate is not None and candidate.exists():
        return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise KafkaUnavailable("Java 17 or newer is needed to run Apache Kafka (Debian: apt-get install "
                               "openjdk-17-jre-headless), or set JAVA_HOME")
    return found


# --- ports and processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on (host, port): a bind like a server's (SO_REUSEADDR) fails."""
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
    """Linux: the JVM gets SIGKILL when the thread that started it dies, even by SIGKILL (no one is left to
    wait for a controlled shutdown; Kafka recovers its logs at the next start)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _run_async(coroutine: Any) -> Any:
    """Run a coroutine to its end from synchronous code, whether or not a loop runs in this thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# --- security: a throwaway CA, the nodes' keys, SCRAM users --------------------------------------------


@dataclass
class Security:
    """SASL_SSL for clients and brokers, mutual TLS between brokers and controllers, ACLs enforced."""

    ca_file: Path
    node_cert_file: Path  # the node's key and certificate chain, PEM (Kafka's PEM keystore)
    #: SCRAM-SHA-512 users created with the storage: name -> password (the admin among them).
    users: dict[str, str]

    @classmethod
    def generate(cls, directory: Path, users: list[str] | dict[str, str] = ()) -> Security:  # type: ignore[assignment]
        """A CA of its own, one certificate for every node (127.0.0.1 and localhost), a password per user."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)

        def name(common: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = (x509.CertificateBuilder().subject_name(name("complaints test CA")).issuer_name(name("complaints test CA"))
                   .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                content_commitment=False, key_encipherment=False,
                                                data_encipherment=False, key_agreement=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .sign(ca_key, hashes.SHA256()))
        node_key = ec.generate_private_key(ec.SECP256R1())
        node_cert = (x509.CertificateBuilder().subject_name(name(NODE_SUBJECT)).issuer_name(ca_cert.subject)
                     .public_key(node_key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.SubjectAlternativeName([
                         x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                         critical=False)
                     .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                           x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                                    critical=False)
                     .sign(ca_key, hashes.SHA256()))
        pem = serialization.Encoding.PEM
        ca_file = directory / "ca.pem"
        ca_file.write_bytes(ca_cert.public_bytes(pem))
        node_file = directory / "node.pem"
        node_file.write_bytes(node_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())
                              + node_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
        node_file.chmod(0o600)
        passwords = dict(users) if isinstance(users, dict) else {u: secrets.token_urlsafe(18) for u in users}
        passwords.setdefault(ADMIN_USER, secrets.token_urlsafe(18))
        return cls(ca_file, node_file, passwords)

    def bus(self, bootstrap_servers: str, user: str = ADMIN_USER, password: str | None = None) -> Bus:
        """A client of the cluster as `user` (SCRAM-SHA-512 over TLS, trusting the throwaway CA)."""
        return Bus(bootstrap_servers, "SASL_SSL", "SCRAM-SHA-512", user,
                   password if password is not None else self.users[user], str(self.ca_file))

    def scram_arguments(self) -> list[str]:
        out: list[str] = []
        for user, password in self.users.items():
            out += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]"]
        return out


# --- one node -----------------------------------------------------------------------------------------


_LOG4J = """status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
logger.broker.name = kafka.server.BrokerServer
logger.broker.level = INFO
logger.controller.name = kafka.server.ControllerServer
logger.controller.level = INFO
"""


@dataclass
class KafkaNode:
    cluster: KafkaCluster
    node_id: int
    port: int
    controller_port: int
    internal_port: int
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def directory(self) -> Path:
        return self.cluster.directory / f"node-{self.node_id}"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "kafka.log"

    @property
    def address(self) -> str:
        return f"{self.cluster.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def properties(self) -> str:
        c = self.cluster
        host = c.host
        replicas = min(3, len(c.nodes))
        lines = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": ",".join(f"{n.node_id}@{host}:{n.controller_port}" for n in c.nodes),
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(self.data_dir),
            "auto.create.topics.enable": "false",
            "num.partitions": "4",
            "default.replication.factor": str(replicas),
            "min.insync.replicas": str(min(2, replicas)),
            "offsets.topic.replication.factor": str(replicas),
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": str(replicas),
            "transaction.state.log.min.isr": str(min(2, replicas)),
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": str(replicas),
            "share.coordinator.state.topic.min.isr": str(min(2, replicas)),
            "group.initial.rebalance.delay.ms": "0",
            "unclean.leader.election.enable": "false",
            # Small for two cores: the defaults (8 I/O threads, 10 background threads, ...) are for servers.
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "4",
            "num.replica.fetchers": "1",
            "num.recovery.threads.per.data.dir": "1",
            "log.cleaner.threads": "1",
            # A follower cut off leaves the ISR after 10 s rather than 30 (the fault runs wait for it).
            "replica.lag.time.max.ms": "10000",
            # A node that stopped without a controlled shutdown is fenced after 6 s rather than 9.
            "broker.session.timeout.ms": "6000",
            "broker.heartbeat.interval.ms": "1000",
            "controlled.shutdown.enable": "true",
        }
        if c.security is None:
            lines |= {
                "listeners": f"PLAINTEXT://{host}:{self.port},CONTROLLER://{host}:{self.controller_port}",
                "advertised.listeners": f"PLAINTEXT://{host}:{self.port}",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name": "PLAINTEXT",
            }
        else:
            s = c.security
            admin_password = s.users[ADMIN_USER]
            scram = "org.apache.kafka.common.security.scram.ScramLoginModule required"
            lines |= {
                "listeners": (f"CLIENT://{host}:{self.port},INTERNAL://{host}:{self.internal_port},"
                              f"CONTROLLER://{host}:{self.controller_port}"),
                "advertised.listeners": f"CLIENT://{host}:{self.port},INTERNAL://{host}:{self.internal_port}",
                "listener.security.protocol.map": "CLIENT:SASL_SSL,INTERNAL:SASL_SSL,CONTROLLER:SSL",
                "inter.broker.listener.name": "INTERNAL",
                "sasl.enabled.mechanisms": "SCRAM-SHA-512",
                "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
                "listener.name.client.scram-sha-512.sasl.jaas.config": f"{scram};",
                "listener.name.internal.scram-sha-512.sasl.jaas.config":
                    f'{scram} username="{ADMIN_USER}" password="{admin_password}";',
                "ssl.keystore.type": "PEM",
                "ssl.keystore.location": str(s.node_cert_file),
                "ssl.truststore.type": "PEM",
                "ssl.truststore.location": str(s.ca_file),
                "ssl.endpoint.identification.algorithm": "https",
                "listener.name.controller.ssl.client.auth": "required",
                "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                "allow.everyone.if.no.acl.found": "false",
                "super.users": f"User:{ADMIN_USER};User:CN={NODE_SUBJECT}",
            }
        lines |= c.overrides
        return "".join(f"{k}={v}\n" for k, v in lines.items())

    def write_config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "log4j2.properties").write_text(_LOG4J)
        path = self.directory / "server.properties"
        path.write_text(self.properties())
        path.chmod(0o600)
        return path

    def _java(self, main: str, *args: str, heap: str = "128m") -> list[str]:
        return [java(), f"-Xmx{heap}", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.directory / 'log4j2.properties'}",
                "-cp", f"{self.cluster.libs}/*", main, *args]

    def format(self) -> None:
        """Format the node's storage unless it is formatted already (then its data is kept)."""
        config = self.write_config()
        if (self.data_dir / "meta.properties").exists():
            return
        security = self.cluster.security
        command = self._java("kafka.tools.StorageTool", "format", "-t", self.cluster.cluster_id, "-c", str(config),
                             "--ignore-formatted", *(security.scram_arguments() if security else []))
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerExited(f"formatting node {self.node_id}'s storage failed ({result.returncode}): "
                               f"{(result.stdout + result.stderr)[-2000:]}")

    def start(self) -> None:
        """Start the JVM (formatting the storage first when it is new); `KafkaCluster.wait_ready` waits."""
        if self.running:
            return
        c = self.cluster
        ports = [self.port, self.controller_port] + ([self.internal_port] if c.security else [])
        for port in ports:
            if port_in_use(c.host, port):
                raise PortInUse(c.host, port)
        self.format()
        heap = c.heap
        command = [java(), f"-Xms{min(128, _megabytes(heap))}m", f"-Xmx{heap}", "-XX:+UseG1GC",
                   "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
                   "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
                   f"-Dlog4j2.configurationFile={self.directory / 'log4j2.properties'}",
                   "-cp", f"{c.libs}/*", "kafka.Kafka", str(self.directory / "server.properties")]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - owned until stop()
        self._log.write(f"\n--- starting node {self.node_id} at {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())
        self._log.flush()
        extra: dict[str, Any] = {}
        if sys.platform == "linux" and threading.current_thread() is threading.main_thread():
            extra["preexec_fn"] = _die_with_parent
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, **extra)

    def check_running(self) -> None:
        if self.process is None:
            raise BrokerExited(f"node {self.node_id} is not started")
        code = self.process.poll()
        if code is None:
            return
        for port in (self.port, self.controller_port):
            if port_in_use(self.cluster.host, port):
                raise PortInUse(self.cluster.host, port)
        raise BrokerExited(f"Kafka node {self.node_id} exited with code {code} while starting on {self.address}; "
                           f"see {self.log_path}:\n{self.tail()}")

    def tail(self, lines: int = 25) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def terminate(self) -> None:
        """Ask the node to stop (SIGTERM: a controlled shutdown) without waiting."""
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; never leaves the JVM running."""
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

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.stop(grace=0)

    def wipe(self) -> None:
        """Lose everything the node stored (stopped first), as a replaced disk would; `start` formats anew."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _megabytes(heap: str) -> int:
    match = re.fullmatch(r"(\d+)([mMgG])", heap)
    if not match:
        raise ValueError(f"KAFKA_HEAP: {heap!r} is not a size such as 512m or 1g")
    return int(match.group(1)) * (1024 if match.group(2) in "gG" else 1)


# --- a cluster ------------------------------------------------------------------------------------------


@dataclass
class KafkaCluster:
    """`nodes` combined broker-and-controller nodes on loopback, their data under `directory`."""

    directory: Path
    nodes_count: int = 1
    port: int | None = None  # the first node's client port (others: free ports)
    security: Security | None = None
    heap: str = field(default_factory=lambda: os.environ.get("KAFKA_HEAP", "512m"))
    overrides: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    nodes: list[KafkaNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        _megabytes(self.heap)
        self.directory = Path(self.directory)
        if not self.nodes:
            self.nodes = [KafkaNode(self, i + 1, self.port if (i == 0 and self.port) else free_port(),
                                    free_port(), free_port()) for i in range(self.nodes_count)]
        self.libs = libs_dir()

    @property
    def cluster_id(self) -> str:
        """Kept beside the data: a restarted cluster is the same cluster (a wiped node rejoins it)."""
        path = self.directory / "cluster.id"
        if not path.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            cluster_id = "-"
            while cluster_id.startswith("-"):  # the format tool would read a leading "-" as an option
                cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            path.write_text(cluster_id)
        return path.read_text().strip()

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(n.address for n in self.nodes)

    @property
    def bus(self) -> Bus:
        """A client with every right: the admin on a secured cluster."""
        if self.security is None:
            return Bus(self.bootstrap_servers)
        return self.security.bus(self.bootstrap_servers)

    def bus_as(self, user: str, password: str | None = None) -> Bus:
        """A client as `user` (a secured cluster's SCRAM user)."""
        if self.security is None:
            return Bus(self.bootstrap_servers)
        return self.security.bus(self.bootstrap_servers, user, password)

    def node(self, node_id: int) -> KafkaNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def start(self, timeout: float = 90.0) -> KafkaCluster:
        """Start every node and wait until they serve requests. Raises `PortInUse`, `BrokerExited` or
        `TimeoutError` (naming the log file); in every case nothing is left running."""
        self.libs = fetch()
        try:
            for node in self.nodes:
                node.start()
            self.wait_ready(timeout)
        except BaseException:
            self.stop(grace=5)
            raise
        return self

    def start_node(self, node_id: int, timeout: float = 90.0) -> None:
        node = self.node(node_id)
        node.start()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until every running node is a registered broker and the quorum has a leader."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            running = [n for n in self.nodes if n.process is not None]
            for node in running:
                node.check_running()
            if not all(_listens(self.host, n.port) for n in running):
                time.sleep(0.2)  # not listening yet: no client to start (nor its errors to log)
                continue
            try:
                brokers = _run_async(_registered_brokers(self.bus))
            except Exception as e:  # noqa: BLE001 - not up yet
                last = f"{type(e).__name__}: {e}"
                time.sleep(0.3)
                continue
            if {n.node_id for n in running} <= brokers:
                return
            last = f"brokers registered: {sorted(brokers)}"
            time.sleep(0.3)
        logs = ", ".join(str(n.log_path) for n in self.nodes)
        raise TimeoutError(f"Kafka on {self.bootstrap_servers} did not serve requests within {timeout:.0f}s "
                           f"({last}); see {logs}:\n{self.nodes[0].tail()}")

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop every node (all asked at once, then each waited for); never leaves a JVM running."""
        for node in self.nodes:
            node.terminate()
        deadline = time.monotonic() + grace
        for node in self.nodes:
            node.stop(grace=max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _listens(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def _registered_brokers(bus: Bus) -> set[int]:
    admin = bus.admin(request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        described = await asyncio.wait_for(admin.describe_cluster(), 5)
        if described.get("controller_id") in (None, -1):
            return set()
        return {int(b["node_id"]) for b in described["brokers"]}
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


@contextlib.contextmanager
def running_cluster(directory: Path, nodes: int = 1, **options: Any) -> Iterator[KafkaCluster]:
    cluster = KafkaCluster(directory, nodes, **options)
    with cluster:
        yield cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.common.kafkaserver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var" / "kafka-node",
                        help="where the node keeps its data (kept across restarts)")
    parser.add_argument("--fetch-only", action="store_true", help="fetch the jars from Maven Central and exit")
    args = parser.parse_args(argv)
    if args.fetch_only:
        try:
            print(f"Apache Kafka {kafka_version()} in {fetch(quiet=True)}")
        except KafkaUnavailable as e:
            print(f"kafka: {e}", file=sys.stderr)
            return 1
        return 0

    cluster = KafkaCluster(args.data_dir, 1, port=args.port)
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        for node in cluster.nodes:
            node.terminate()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        try:
            cluster.start()
        except (PortInUse, BrokerExited, TimeoutError, KafkaUnavailable) as e:
            if stopping:
                return 0
            print(f"kafka: {e}", file=sys.stderr, flush=True)
            return 1
        if stopping:
            return 0
        from services.common.provision import provision_local
        provision_local(cluster.bus, replication_factor=1)
        print(f"Apache Kafka {kafka_version()} listening on {cluster.bootstrap_servers} (data in {args.data_dir}, "
              f"log {cluster.nodes[0].log_path}); Ctrl-C stops it", flush=True)
        node = cluster.nodes[0]
        assert node.process is not None
        code = node.process.wait()
        if stopping:
            return 0
        print(f"kafka: the node exited unexpectedly with code {code}; see {node.log_path}", file=sys.stderr, flush=True)
        return code or 1
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
