"""The bus: topics created up front from the one place they are named, and the producer."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError

from contracts.topics import PARTITIONS, all_topics

log = logging.getLogger(__name__)

#: Topics keep their history: a new subscriber reads from the beginning (architecture rule 7).
TOPIC_CONFIG = {"retention.ms": "-1"}


class TopicMismatch(RuntimeError):
    pass


async def ensure_topics(bootstrap_servers: str, topics: list[str] | None = None,
                        partitions: int = PARTITIONS, timeout: float = 30.0) -> None:
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
                raise
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


def new_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    # Not idempotent or transactional: the development broker does not support either, and
    # nothing relies on broker-side exactly-once (consumers deduplicate by upstream position).
    # aiokafka keeps one batch in flight per partition, so order within a partition holds.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=5,
        max_batch_size=1024 * 1024,
        request_timeout_ms=30000,
    )
