"""Integration fixtures: topics of its own per test on the session's Kafka, real PostgreSQL stores, services
in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from contracts.envelope import ServiceName
from contracts.registration import RegisterComplaint
from services.common.kafkaserver import KafkaCluster
from services.common.settings import ServiceSettings
from services.demo import samples
from tests.support.kafka import fresh_topics

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(kafka: KafkaCluster) -> KafkaCluster:  # overrides the session's: topics and groups of its own
    fresh_topics(kafka)
    return kafka


def register_commands(n: int, branches: tuple[str, ...] = ("SH01", "BJ02", "GZ03")) -> list[RegisterComplaint]:
    commands = []
    for i in range(n):
        branch = branches[i % len(branches)]
        body = samples.quality_complaint(branch=branch)
        actor = {"user_id": "clerk-li", "role": "branch_clerk", "branch": branch}
        commands.append(RegisterComplaint.model_validate({**body, "actor": actor}))
    return commands


async def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 20.0) -> list[ConsumerRecord]:
    """Everything on a topic from the beginning, once at least `expected` records are there."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        for _ in range(50):
            if partitions:
                break
            await consumer._client.force_metadata_update()  # topic created a moment ago
            partitions = consumer.partitions_for_topic(topic) or set()
            await asyncio.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
        # Anything more than expected that is already there is part of the answer too.
        batch = await consumer.getmany(timeout_ms=300)
        for part in batch.values():
            records.extend(part)
        return records
    finally:
        await consumer.stop()


async def eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


def chain_headers(event_type: str, notification_id: int, previous: int,
                  producer: str = "intake") -> list[tuple[str, bytes]]:
    """The headers a relay puts on each message: its notification id and its partition's previous one."""
    return [("event_type", event_type.encode()), ("producer", producer.encode()),
            ("notification_id", str(notification_id).encode()),
            ("previous_notification_id", str(previous).encode())]


async def send_chain(producer, topic: str, items: list[tuple[bytes, int, int]], partition: int = 0,
                     header_producer: str = "intake") -> None:
    """Raw messages on one partition: (body, notification id, previous notification id)."""
    for value, nid, prev in items:
        await producer.send_and_wait(topic, value=value, key=b"k", partition=partition,
                                     headers=chain_headers("ComplaintRegistered", nid, prev, header_producer))


@pytest.fixture
def pg_settings(new_database: Callable[[], str], settings_for: Callable[..., ServiceSettings]
                ) -> Callable[[ServiceName], ServiceSettings]:
    """Settings for a service with a fresh PostgreSQL database of its own."""
    def make(service: ServiceName, database_url: str | None = None, **overrides: object) -> ServiceSettings:
        return settings_for(service, database_url or new_database(), **overrides)
    return make


@pytest.fixture
async def producer(broker: KafkaCluster) -> AsyncIterator[Any]:
    p = broker.bus.producer()
    await p.start()
    yield p
    await p.stop()
