"""How this process reaches Kafka: the one place its connection settings become client options.

Every client of a process (the relays' producer, the consumers, the admin client of the health
probe and of provisioning, replay, redrive, the command-topic clients, the CLI) is made here, so a
cluster that wants TLS and SASL gets them from every client or from none. The settings come from
the environment once (`services.common.settings.BusSettings.bus()`); each service runs under a
principal of its own (`KAFKA_SASL_USERNAME`), which the cluster's ACLs grant only what that
service needs (`services.common.provision`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, KafkaError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


class BusConfigError(ValueError):
    """The connection settings cannot work (a file missing, a SASL protocol without credentials)."""

    def __init__(self, field_name: str, problem: str):
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name


@dataclass(frozen=True)
class Bus:
    """Where the cluster is and how to authenticate to it."""

    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    key_password: str | None = field(default=None, repr=False)
    check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.sasl and not (self.username and self.password):
            raise BusConfigError("KAFKA_SASL_USERNAME", f"{self.security_protocol} needs a username and a password "
                                 "(KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD)")
        if bool(self.cert_file) != bool(self.key_file):
            raise BusConfigError("KAFKA_SSL_CERT_FILE", "a client certificate needs its key (KAFKA_SSL_KEY_FILE) "
                                 "and the other way round")

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL")

    @property
    def principal(self) -> str:
        """Who the cluster sees: the SASL user, else the client certificate, else nobody in particular."""
        if self.sasl:
            return f"User:{self.username}"
        if self.cert_file:
            return f"certificate {self.cert_file}"
        return "User:ANONYMOUS"

    def describe(self) -> str:
        """For logs and health: where, how, as whom; never a secret."""
        if self.security_protocol == "PLAINTEXT":
            return f"{self.bootstrap_servers} (PLAINTEXT)"
        who = f" as {self.username}" if self.sasl else ""
        how = f"{self.security_protocol} {self.sasl_mechanism}" if self.sasl else self.security_protocol
        return f"{self.bootstrap_servers} ({how}{who})"

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        except (OSError, ssl.SSLError) as e:
            raise BusConfigError("KAFKA_SSL_CA_FILE", f"cannot read the CA certificates {self.ca_file}: {e}") from e
        context.check_hostname = self.check_hostname
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file and self.key_file:
            try:
                context.load_cert_chain(self.cert_file, self.key_file, self.key_password)
            except (OSError, ssl.SSLError) as e:
                raise BusConfigError("KAFKA_SSL_CERT_FILE",
                                     f"cannot load the client certificate {self.cert_file}: {e}") from e
        return context

    def options(self) -> dict[str, Any]:
        """Keyword arguments every aiokafka client takes to reach the cluster."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers,
                                   "security_protocol": self.security_protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context
        if self.sasl:
            options |= {"sasl_mechanism": self.sasl_mechanism, "sasl_plain_username": self.username,
                        "sasl_plain_password": self.password}
        return options

    def producer(self, **options: Any) -> AIOKafkaProducer:
        """An idempotent producer (`acks=all`): a retried send is written once, in order, per partition."""
        defaults: dict[str, Any] = {"acks": "all", "enable_idempotence": True, "linger_ms": 5,
                                    "max_batch_size": 1024 * 1024, "request_timeout_ms": 15000}
        return AIOKafkaProducer(**self.options(), **(defaults | options))

    def consumer(self, *topics: str, **options: Any) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(*topics, **self.options(), **options)

    def admin(self, **options: Any) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(**self.options(), **options)

    def environment(self) -> dict[str, str]:
        """The `KAFKA_*` variables that make a process's `BusSettings` this bus (for starting services)."""
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers, "KAFKA_SECURITY_PROTOCOL": self.security_protocol}
        if self.sasl:
            env |= {"KAFKA_SASL_MECHANISM": self.sasl_mechanism, "KAFKA_SASL_USERNAME": self.username or "",
                    "KAFKA_SASL_PASSWORD": self.password or ""}
        for name, value in (("KAFKA_SSL_CA_FILE", self.ca_file), ("KAFKA_SSL_CERT_FILE", self.cert_file),
                            ("KAFKA_SSL_KEY_FILE", self.key_file), ("KAFKA_SSL_KEY_PASSWORD", self.key_password)):
            if value:
                env[name] = value
        if not self.check_hostname:
            env["KAFKA_SSL_CHECK_HOSTNAME"] = "false"
        return env

    def with_credentials(self, username: str, password: str) -> Bus:
        """The same cluster under another principal (tests, the launcher's own admin)."""
        return replace(self, username=username, password=password)


async def close_producer(producer: AIOKafkaProducer, timeout: float = 5.0) -> None:
    """Stop a producer even when it cannot flush. An idempotent producer retries a batch until the cluster
    takes it, so `stop()` waits for ever while the cluster is away; after `timeout`, what it still holds is
    failed (the outbox keeps it: its position did not move) and the producer is closed anyway."""
    stopping = asyncio.ensure_future(producer.stop())
    done, _ = await asyncio.wait({stopping}, timeout=timeout)
    if done:
        stopping.result()
        return
    producer._message_accumulator.fail_all(  # noqa: SLF001 - aiokafka has no "stop now"
        KafkaConnectionError("the producer was closed before the cluster acknowledged"))
    done, _ = await asyncio.wait({stopping}, timeout=timeout)
    if not done:
        stopping.cancel()
        sender = producer._sender  # noqa: SLF001
        with contextlib.suppress(Exception):
            await sender.close()
        with contextlib.suppress(Exception):
            await producer.client.close()


async def diagnose(bus: Bus, timeout: float = 5.0) -> str | None:
    """Why the cluster cannot be reached, when aiokafka only says "Unable to bootstrap": one connection to
    the first bootstrap server, made the same way, shows the real cause (the credentials refused, a
    certificate not trusted) for `explain`; None when that connection works or nothing answers."""
    if bus.security_protocol == "PLAINTEXT":
        return None  # nothing to refuse: it is unreachable
    host, _, port = bus.bootstrap_servers.split(",")[0].strip().rpartition(":")
    options = bus.options()
    options.pop("bootstrap_servers")
    try:
        conn = await asyncio.wait_for(create_conn(host.strip("[]"), int(port), request_timeout_ms=int(timeout * 1000),
                                                  **options), timeout)
    except Exception as e:  # noqa: BLE001 - the cause is what we are after
        return explain(e, bus)
    conn.close()
    return None


def explain(error: BaseException, bus: Bus) -> str | None:
    """What a connection failure means for an operator, when it is one of the configuration's own
    (a wrong password, a certificate the client does not trust, a principal the ACLs refuse): these
    do not pass by retrying, so say which setting to look at."""
    text = f"{type(error).__name__}: {error}"
    lowered = text.lower()
    if "authentication failed" in lowered or "saslauthenticat" in lowered or "invalid credentials" in lowered:
        return (f"the cluster refused the credentials of {bus.username!r} ({bus.sasl_mechanism}): check "
                f"KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD ({text[:300]})")
    if isinstance(error, ssl.SSLCertVerificationError) or "certificate verify failed" in lowered:
        return (f"the cluster's TLS certificate is not trusted (check KAFKA_SSL_CA_FILE"
                f"{' and that the certificate names the host' if bus.check_hostname else ''}): {text[:300]}")
    if "authorization" in lowered and isinstance(error, KafkaError):
        return f"{bus.principal} is not allowed this (the cluster's ACLs): {text[:300]}"
    return None
