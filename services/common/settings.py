"""Settings every service reads from its environment, with safe local defaults.

Each service subclasses `ServiceSettings` once, in its own `settings.py`, naming its
environment prefix; nothing else in a service reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.envelope import ServiceName
from services.common.bus import Bus, SaslMechanism, SecurityProtocol



class ReadSide(StrEnum):
    """Processes of the read side that publish nothing (their names, like services' names, prefix
    their settings and name their SQLite files)."""

    HQ = "hq"

DEFAULT_HTTP_PORTS: dict[ServiceName | ReadSide, int] = {
    ServiceName.INTAKE: 8001,
    ServiceName.ROUTING: 8002,
    ServiceName.QUALITY: 8003,
    ServiceName.BILLING: 8004,
    ServiceName.NOTIFY: 8005,
    ReadSide.HQ: 8006,
    ServiceName.ANALYTICS: 8007,
}


class BusSettings(BaseSettings):
    """What every process needs to reach the bus (shared, unprefixed names; each process its own values:
    every service runs under a Kafka principal of its own)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS",
        description="Kafka bootstrap servers, host:port[,host:port...] (`make broker` runs one on 127.0.0.1:9092)",
    )
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL",
        description="PLAINTEXT (the local node), SSL, SASL_PLAINTEXT or SASL_SSL (production: SCRAM over TLS)")
    kafka_sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM",
        description="SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN, with a SASL protocol")
    kafka_sasl_username: str | None = Field(
        default=None, validation_alias="KAFKA_SASL_USERNAME",
        description="This process's principal on the cluster (complaints-<service>), with a SASL protocol")
    kafka_sasl_password: SecretStr | None = Field(
        default=None, validation_alias="KAFKA_SASL_PASSWORD", description="Its password")
    kafka_ssl_ca_file: str | None = Field(
        default=None, validation_alias="KAFKA_SSL_CA_FILE",
        description="PEM file of the CA that signed the brokers' certificates (unset: the system's CAs)")
    kafka_ssl_cert_file: str | None = Field(
        default=None, validation_alias="KAFKA_SSL_CERT_FILE",
        description="PEM client certificate, for mutual TLS (SSL instead of SASL_SSL)")
    kafka_ssl_key_file: str | None = Field(
        default=None, validation_alias="KAFKA_SSL_KEY_FILE", description="Its PEM private key")
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, validation_alias="KAFKA_SSL_KEY_PASSWORD", description="The key's password, if it has one")
    kafka_ssl_check_hostname: bool = Field(
        default=True, validation_alias="KAFKA_SSL_CHECK_HOSTNAME",
        description="Check that the broker's certificate names the host connected to")

    def bus(self) -> Bus:
        """How this process's clients reach the cluster (raises `BusConfigError` naming the setting)."""
        def secret(value: SecretStr | None) -> str | None:
            return value.get_secret_value() if value is not None else None
        return Bus(self.kafka_bootstrap_servers, self.kafka_security_protocol, self.kafka_sasl_mechanism,
                   self.kafka_sasl_username, secret(self.kafka_sasl_password), self.kafka_ssl_ca_file,
                   self.kafka_ssl_cert_file, self.kafka_ssl_key_file, secret(self.kafka_ssl_key_password),
                   self.kafka_ssl_check_hostname)


class ServiceSettings(BusSettings):
    """One service's settings; `<SERVICE>_*` names are the service's own."""

    SERVICE: ClassVar[ServiceName | ReadSide]

    database_url: str | None = Field(
        default=None,
        description="postgresql://user:password@host:port/dbname; unset means a SQLite file in data_dir",
    )
    data_dir: Path = Field(default=Path("var"), validation_alias="COMPLAINTS_DATA_DIR",
                           description="SQLite stores, the local signing key and the delivery log live here")
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on")
    http_port: int = Field(default=0, description="Port of the HTTP API (0: the service's fixed default port)")
    relay_batch_size: int = Field(default=500, ge=1, description="Notifications the outbox relay publishes per batch")
    relay_poll_seconds: float = Field(default=0.2, gt=0,
                                      description="How often an idle relay looks at the store for new events")
    consumer_max_records: int = Field(default=500, ge=1, description="Messages the consumer takes per batch")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: Literal["json", "text"] | None = Field(
        default=None, validation_alias="COMPLAINTS_LOG_FORMAT",
        description="json or text; unset: text on a terminal, JSON lines otherwise")
    log_repeat_seconds: float = Field(
        default=10.0, ge=0, validation_alias="COMPLAINTS_LOG_REPEAT_SECONDS",
        description="A repeated warning or error is logged once per this interval, with a count")
    max_message_bytes: int = Field(
        default=1_000_000, ge=4096,
        description="Largest message a stored event may make; checked when the event is saved "
                    "(keep it below the broker's message.max.bytes, 1 MiB by default)")
    stall_seconds: float = Field(
        default=60.0, gt=0,
        description="Health turns 503 when a relay or consumer made no progress for this long while work waits")
    loss_check_seconds: float = Field(
        default=2.0, gt=0,
        description="How often each relay checks that the broker still holds what it published")
    metadata_max_age_ms: int = Field(
        default=3000, ge=100, description="How soon a client sees topics created or lost on the broker")

    def model_post_init(self, _context: object) -> None:
        if not self.http_port:
            self.http_port = DEFAULT_HTTP_PORTS[self.SERVICE]

    @classmethod
    def for_service(cls, service: ServiceName | ReadSide) -> type[ServiceSettings]:
        prefix = f"{service.value.upper()}_"
        return type(
            f"{service.value.title()}Settings",
            (cls,),
            {"SERVICE": service,
             "model_config": SettingsConfigDict(env_prefix=prefix, extra="ignore", populate_by_name=True)},
        )

    @property
    def service(self) -> ServiceName | ReadSide:
        return self.SERVICE

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / f"{self.SERVICE.value}.sqlite"
