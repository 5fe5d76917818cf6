"""The bus as this process sees it: partitioning, the headers every published message carries, the
check that the topics it needs are provisioned, and a probe that tells health whether the broker is there."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2

from contracts.topics import PARTITIONS
from services.common.bus import Bus, diagnose, explain
from services.common.supervisor import describe_error

log = logging.getLogger(__name__)

# Headers of every message a relay publishes. The two ids make each partition a chain: a
# consumer processes a message only when its previous id is the last one it processed on
# that partition, so nothing is skipped because a later message arrived first (rule 9).
EVENT_TYPE_HEADER = "event_type"
PRODUCER_HEADER = "producer"
NOTIFICATION_ID_HEADER = "notification_id"
PREVIOUS_HEADER = "previous_notification_id"

BROKER_HINT = ("start the local Kafka node with `make broker`, or point KAFKA_BOOTSTRAP_SERVERS "
               "at a reachable Kafka cluster")


def partition_for(key: bytes, partitions: int = PARTITIONS) -> int:
    """The partition of a key: the Kafka default partitioner's murmur2, computed here so the
    relay knows each message's partition before sending it (the chain is per partition)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class TopicsMissing(ConnectionError):
    """Topics this process needs are not on the cluster (not provisioned yet, or lost): it waits."""


async def require_topics(bus: Bus, topics: list[str]) -> None:
    """Return once every topic is there with the contract's partition count; raise `TopicsMissing`
    (which a supervisor retries) naming what is missing and how to provision it. A process never
    creates a topic (architecture rule 7)."""
    from services.common.provision import missing_topics
    problems = await missing_topics(bus, topics)
    if problems:
        raise TopicsMissing("; ".join(problems))


@dataclass
class BrokerStatus:
    reachable: bool
    missing_topics: list[str]
    error: str | None = None

    @property
    def causes(self) -> list[str]:
        if not self.reachable:
            return [f"broker unreachable ({self.error})"]
        return [f"topic {t} is missing: provision it with `complaints topics apply`" for t in self.missing_topics]


class BrokerProbe:
    """Whether the broker answers and holds this process's topics (for health), asked at most once a second."""

    def __init__(self, bus: Bus, topics: list[str], cache_seconds: float = 1.0):
        self.bus = bus
        self.topics = topics
        self.cache_seconds = cache_seconds
        self._admin: AIOKafkaAdminClient | None = None
        self._last: tuple[float, BrokerStatus] | None = None
        self._lock = asyncio.Lock()

    async def status(self, timeout: float = 2.0) -> BrokerStatus:
        async with self._lock:
            if self._last and time.monotonic() - self._last[0] < self.cache_seconds:
                return self._last[1]
            try:
                existing = await asyncio.wait_for(self._list_topics(), timeout)
                status = BrokerStatus(True, [t for t in self.topics if t not in existing])
            except Exception as e:  # noqa: BLE001 - any failure to answer is "unreachable"
                await self.close()
                reason = explain(e, self.bus) or await diagnose(self.bus)
                status = BrokerStatus(False, [], reason or f"{describe_error(e, 300)}: {BROKER_HINT}")
            self._last = (time.monotonic(), status)
            return status

    async def _list_topics(self) -> set[str]:
        if self._admin is None:
            admin = self.bus.admin(request_timeout_ms=2000)
            await admin.start()
            self._admin = admin
        return set(await self._admin.list_topics())

    async def close(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            try:
                await admin.close()
            except Exception:  # noqa: BLE001
                pass
