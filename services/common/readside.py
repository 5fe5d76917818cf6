"""One read-side process (HQ): its read model, the consumer that projects the topics into it, health.

Like a service's runtime, starting never waits for the broker: the consumer runs supervised and
retries until the broker is there, while the HTTP edge serves what the read model holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import Envelope, ServiceName
from contracts.topics import topics_of
from services.common.broker import BrokerProbe
from services.common.bus import close_producer
from services.common.consumer import ChainConsumer
from services.common.readmodel import ReadModelStore, ReadModelTarget, RowWork
from services.common.runtime import connect_bus, consumer_health, finish_report
from services.common.settings import ServiceSettings
from services.common.supervisor import Supervisor

log = logging.getLogger(__name__)

Projector = Callable[[Envelope, RowWork], None]


def projection_consumer(store: ReadModelStore, projector: Projector, upstreams: Sequence[ServiceName],
                        settings: ServiceSettings, name: str) -> ChainConsumer:
    """A consumer group of the read model's own (`complaints-<name>`) feeding its projector."""
    return ChainConsumer(ReadModelTarget(store, projector, name), upstreams, None,  # type: ignore[arg-type]
                         bus=settings.bus(),
                         max_records=settings.consumer_max_records,
                         metadata_max_age_ms=settings.metadata_max_age_ms, group_id=f"complaints-{name}")


class ReadModelRuntime:
    def __init__(self, settings: ServiceSettings, store: ReadModelStore, projector: Projector,
                 upstreams: Sequence[ServiceName]):
        self.settings = settings
        self.store = store
        self.consumer = projection_consumer(store, projector, upstreams, settings, settings.service.value)
        self.supervisor = Supervisor()
        self.bus = settings.bus()
        self.topics = topics_of(self.name)
        self.probe = BrokerProbe(self.bus, self.topics)
        self.topics_ready = asyncio.Event()
        self.producer: AIOKafkaProducer | None = None
        self._started_at = time.time()

    @property
    def name(self) -> str:
        return self.settings.service.value

    async def start(self) -> None:
        self.supervisor.start("topics", self._prepare_bus)
        self.supervisor.start("projection", self._after_topics)
        log.info("%s started (read model: %s, broker: %s)", self.name,
                 "PostgreSQL" if self.store.postgres else "SQLite", self.bus.describe())

    async def _prepare_bus(self) -> None:
        self.producer = await connect_bus(self.bus, self.topics)
        self.consumer.producer = self.producer
        self.topics_ready.set()

    async def _after_topics(self) -> None:
        await self.topics_ready.wait()
        await self.consumer.run()

    async def stop(self) -> None:
        await self.supervisor.stop()
        await self.probe.close()
        if self.producer is not None:
            await close_producer(self.producer)
        self.store.close()

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Ready or not, and why: the read model's database, the broker, the projection."""
        causes: list[str] = []
        report: dict[str, Any] = {"service": self.name, "store": "postgresql" if self.store.postgres else "sqlite"}
        try:
            report["positions"] = await asyncio.to_thread(self.store.positions)
        except Exception as e:  # noqa: BLE001
            causes.append(f"read model unreachable: {type(e).__name__}")
        broker = await self.probe.status()
        report["broker"] = "up" if broker.reachable else "down"
        report["bus"] = self.bus.describe()
        causes.extend(broker.causes)
        report["projection"] = consumer_health(self.consumer, "projection", self.settings.stall_seconds,
                                               self._started_at, causes)
        return finish_report(report, self.supervisor, causes)
