"""The bus: topics created from the one place they are named, the producer, partitioning,
the headers every published message carries, and a probe that tells whether the broker is there."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError
from aiokafka.partitioner import murmur2

from contracts.topics import PARTITIONS, all_topics
from services.common.supervisor import describe_error

log = logging.getLogger(__name__)

#: Topics keep their history: a new subscriber reads from the beginning (architecture rule 7).
TOPIC_CONFIG = {"retention.ms": "-1"}

# Headers of every message a relay publishes. The two ids make each partition a chain: a
# consumer processes a message only when its previous id is the last one it processed on
# that partition, so nothing is skipped because a later message arrived first (rule 9).
EVENT_TYPE_HEADER = "event_type"
PRODUCER_HEADER = "producer"
NOTIFICATION_ID_HEADER = "notification_id"
PREVIOUS_HEADER = "previous_notification_id"

BROKER_HINT = ("start the development broker with `make broker`, or point KAFKA_BOOTSTRAP_SERVERS "
               "at a reachable Kafka cluster")


class TopicMismatch(RuntimeError):
    pass


def partition_for(key: bytes, partitions: int = PARTITIONS) -> int:
    """The partition of a key: the Kafka default partitioner's murmur2, computed here so the
    relay knows each message's partition before sending it (the chain is per partition)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


async def ensure_topics(bootstrap_servers: str, topics: list[str] | None = None,
                        partitions: int = PARTITIONS, timeout: float = 10.0) -> None:
    """Create every topic with the contract's partition count; refuse one with another count.

    Consumers track upstream positions per partition, so a topic whose partition count
    differs from the contract would misroute keys: better to stop than to skip messages.
    """
    topics = topics or all_topics()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if asyncio.get_running_loop().time() > deadline:
                raise KafkaConnectionError(f"broker at {bootstrap_servers} is unreachable: {BROKER_HINT}") from None
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            response = await admin.create_topics(
                [NewTopic(t, partitions, 1, topic_configs=TOPIC_CONFIG) for t in missing]
            )
            for topic, code, message in response.topic_errors:
                if code not in (0, 36):  # 36: created meanwhile by another service
                    raise RuntimeError(f"could not create topic {topic}: error {code} {message}")
        described = await admin.describe_topics(topics)
        for item in described:
            count = len(item["partitions"])
            if count != partitions:
                raise TopicMismatch(
                    f"topic {item['topic']} has {count} partitions, the contract says {partitions}; "
                    "positions are tracked per partition, so this must be fixed before starting"
                )
    finally:
        await admin.close()


def new_producer(bootstrap_servers: str, max_request_size: int = 1024 * 1024) -> AIOKafkaProducer:
    # Not idempotent or transactional: the development broker does not support either, and
    # nothing relies on broker-side exactly-once (consumers deduplicate by upstream position).
    # aiokafka keeps one batch in flight per partition, so order within a partition holds.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=5,
        max_batch_size=1024 * 1024,
        max_request_size=max_request_size,
        request_timeout_ms=15000,
    )


@dataclass
class BrokerStatus:
    reachable: bool
    missing_topics: list[str]
    error: str | None = None

    @property
    def causes(self) -> list[str]:
        if not self.reachable:
            return [f"broker unreachable ({self.error}): {BROKER_HINT}"]
        return [f"topic {t} is missing" for t in self.missing_topics]


class BrokerProbe:
    """Whether the broker answers and holds the topics (for health), asked at most once a second."""

    def __init__(self, bootstrap_servers: str, topics: list[str] | None = None, cache_seconds: float = 1.0):
        self.bootstrap_servers = bootstrap_servers
        self.topics = topics or all_topics()
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
                status = BrokerStatus(False, [], describe_error(e, 300))
            self._last = (time.monotonic(), status)
            return status

    async def _list_topics(self) -> set[str]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=2000)
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
