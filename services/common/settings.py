"""Settings every service reads from its environment, with safe local defaults.

Each service subclasses `ServiceSettings` once, in its own `settings.py`, naming its
environment prefix; nothing else in a service reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.envelope import ServiceName

DEFAULT_HTTP_PORTS: dict[ServiceName, int] = {
    ServiceName.INTAKE: 8001,
    ServiceName.ROUTING: 8002,
    ServiceName.QUALITY: 8003,
    ServiceName.BILLING: 8004,
    ServiceName.NOTIFY: 8005,
}


class BusSettings(BaseSettings):
    """What every process needs to reach the bus (shared, unprefixed names)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )


class ServiceSettings(BusSettings):
    """One service's settings; `<SERVICE>_*` names are the service's own."""

    SERVICE: ClassVar[ServiceName]

    database_url: str | None = Field(
        default=None,
        description="postgresql://user:password@host:port/dbname; unset means a SQLite file in data_dir",
    )
    data_dir: Path = Field(default=Path("var"), validation_alias="COMPLAINTS_DATA_DIR")
    http_host: str = "127.0.0.1"
    http_port: int = 0
    relay_batch_size: int = Field(default=500, ge=1)
    relay_poll_seconds: float = Field(default=0.2, gt=0)
    consumer_max_records: int = Field(default=500, ge=1)
    log_level: str = "INFO"
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
    def for_service(cls, service: ServiceName) -> type[ServiceSettings]:
        prefix = f"{service.value.upper()}_"
        return type(
            f"{service.value.title()}Settings",
            (cls,),
            {"SERVICE": service,
             "model_config": SettingsConfigDict(env_prefix=prefix, extra="ignore", populate_by_name=True)},
        )

    @property
    def service(self) -> ServiceName:
        return self.SERVICE

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / f"{self.SERVICE.value}.sqlite"
