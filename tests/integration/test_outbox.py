"""The outbox relay against Apache Kafka and PostgreSQL: order, crash recovery, gaps, republish, one leader."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import pytest

from contracts.envelope import ServiceName
from contracts.topics import events_topic
from services.common.bus import Bus
from services.common.outbox import KafkaSink, OutboxRelay
from services.common.republish import rewind
from services.common.store import store_env
from services.intake.application import IntakeApplication
from tests.integration.conftest import read_topic, register_commands

pytestmark = pytest.mark.integration
TOPIC = events_topic(ServiceName.INTAKE)


def intake_with_complaints(settings, n: int) -> IntakeApplication:
    app = IntakeApplication(env=store_env(settings))
    for command in register_commands(n):
        app.register_complaint(command)
    return app


def registered_ids(app: IntakeApplication) -> list[int]:
    """Notification ids of the events intake publishes (sequence events stay internal)."""
    return [n.id for n in app.recorder.select_notifications(1, 100_000) if n.topic.endswith("Registered")]


async def drain(relay: OutboxRelay) -> None:
    while await relay.publish_once():
        pass


def ids_by_partition(records) -> dict[int, list[int]]:
    by_partition: dict[int, list[int]] = defaultdict(list)
    for r in records:
        by_partition[r.partition].append(json.loads(r.value)["notification_id"])
    return by_partition


async def test_publishes_in_order_per_partition_and_records_position(pg_settings, producer, broker):
    app = intake_with_complaints(pg_settings(ServiceName.INTAKE), 30)
    relay = OutboxRelay(app, KafkaSink(Bus(producer.client._bootstrap_servers), TOPIC, producer=producer), batch_size=7)
    await drain(relay)

    records = await read_topic(broker.bootstrap_servers, TOPIC, expected=30)
    published = [json.loads(r.value) for r in records]
    assert sorted(e["notification_id"] for e in published) == registered_ids(app)
    assert {e["event_type"] for e in published} == {"ComplaintRegistered"}
    by_partition = ids_by_partition(records)
    assert len(by_partition) > 1, "keys should spread complaints over several partitions"
    for partition, ids in by_partition.items():
        assert ids == sorted(ids), f"partition {partition} out of order: {ids}"
    for r in records:  # keyed by complaint id, so one complaint stays on one partition
        assert r.key.decode() == json.loads(r.value)["complaint_id"]
    assert relay.positions.get(TOPIC) == app.recorder.max_notification_id()
    assert relay.stats.batches >= 30 * 2 // 7  # batches of 7 notifications, not one send per event


async def test_crash_between_publish_and_recording_republishes_the_batch(pg_settings, producer, broker):
    settings = pg_settings(ServiceName.INTAKE)
    app = intake_with_complaints(settings, 10)
    crashing = OutboxRelay(app, KafkaSink(Bus(producer.client._bootstrap_servers), TOPIC, producer=producer), batch_size=8)

    def crash(*_args):
        raise RuntimeError("process killed before recording the position")
    crashing.positions.advance = crash  # the sink got the batch; the position never did
    with pytest.raises(RuntimeError):
        await crashing.publish_once()
    assert crashing.positions.get(TOPIC) == 0

    restarted = OutboxRelay(IntakeApplication(env=store_env(settings)), KafkaSink(Bus(producer.client._bootstrap_servers), TOPIC, producer=producer), batch_size=8)
    await drain(restarted)

    first_batch = [i for i in registered_ids(app) if i <= 8]
    records = await read_topic(broker.bootstrap_servers, TOPIC, expected=10 + len(first_batch))
    events = [json.loads(r.value) for r in records]
    ids = [e["notification_id"] for e in events]
    assert sorted(set(ids)) == registered_ids(app), "nothing skipped"
    assert sorted(i for i in ids if ids.count(i) == 2) == sorted(first_batch * 2), "the first batch came twice"
    by_id = defaultdict(set)
    for e in events:
        by_id[e["notification_id"]].add(e["event_id"])
    assert all(len(event_ids) == 1 for event_ids in by_id.values()), "a republished event keeps its event id"
    assert restarted.positions.get(TOPIC) == app.recorder.max_notification_id()


async def test_broker_failure_mid_batch_keeps_position_and_retries(pg_settings, producer, broker):
    app = intake_with_complaints(pg_settings(ServiceName.INTAKE), 6)
    real_sink = KafkaSink(broker.bus, TOPIC, producer=producer)
    calls = {"n": 0}

    class FlakySink(KafkaSink):
        async def send(self, batch, state):
            calls["n"] += 1
            if calls["n"] == 1:
                await real_sink.send(batch[:2], state)
                raise ConnectionError("broker went away after two messages")
            return await super().send(batch, state)

    relay = OutboxRelay(app, FlakySink(broker.bus, TOPIC, producer=producer), batch_size=100)
    with pytest.raises(ConnectionError):
        await relay.publish_once()
    assert relay.positions.get(TOPIC) == 0
    await drain(relay)
    records = await read_topic(broker.bootstrap_servers, TOPIC, expected=8)
    assert sorted({json.loads(r.value)["notification_id"] for r in records}) == registered_ids(app)


async def test_relay_does_not_wait_on_a_gap_in_notification_ids(pg_settings, producer, broker):
    settings = pg_settings(ServiceName.INTAKE)
    app = intake_with_complaints(settings, 3)
    # A rolled-back insert uses up sequence values: two writers race for the same next version.
    command = register_commands(1)[0]
    stale = IntakeApplication(env=store_env(settings))
    from services.intake.domain.form_numbers import FormNumberSequence, business_day, sequence_id
    seq_a: FormNumberSequence = app.repository.get(sequence_id(command.branch, business_day(command.received_at)))
    seq_b: FormNumberSequence = stale.repository.get(seq_a.id)
    seq_a.issue()
    seq_b.issue()
    app.save(seq_a)
    from eventsourcing.persistence import IntegrityError
    with pytest.raises(IntegrityError):
        stale.save(seq_b)
    for command in register_commands(3):
        app.register_complaint(command)

    all_ids = [n.id for n in app.recorder.select_notifications(1, 1000)]
    assert all_ids[-1] - all_ids[0] + 1 > len(all_ids), f"expected a gap in {all_ids}"

    relay = OutboxRelay(app, KafkaSink(Bus(producer.client._bootstrap_servers), TOPIC, producer=producer), batch_size=2)
    await asyncio.wait_for(drain(relay), timeout=20)
    assert relay.positions.get(TOPIC) == app.recorder.max_notification_id()
    records = await read_topic(broker.bootstrap_servers, TOPIC, expected=6)
    assert sorted(json.loads(r.value)["notification_id"] for r in records) == registered_ids(app)


async def test_operator_republishes_from_a_position(pg_settings, producer, broker):
    settings = pg_settings(ServiceName.INTAKE)
    app = intake_with_complaints(settings, 5)
    relay = OutboxRelay(app, KafkaSink(Bus(producer.client._bootstrap_servers), TOPIC, producer=producer))
    await drain(relay)
    ids = registered_ids(app)

    sink, last = rewind(settings, from_position=ids[2])
    assert (sink, last) == (TOPIC, app.recorder.max_notification_id())
    await drain(relay)

    records = await read_topic(broker.bootstrap_servers, TOPIC, expected=5 + 3)
    published = sorted(json.loads(r.value)["notification_id"] for r in records)
    assert published == sorted(ids + ids[2:])
    with pytest.raises(ValueError, match="from_position"):
        rewind(settings, from_position=0)


async def test_only_one_relay_per_service_publishes(pg_settings, producer):
    settings = pg_settings(ServiceName.INTAKE)
    first = OutboxRelay(IntakeApplication(env=store_env(settings)), KafkaSink(Bus(producer.client._bootstrap_servers), TOPIC, producer=producer))
    second = OutboxRelay(IntakeApplication(env=store_env(settings)), KafkaSink(Bus(producer.client._bootstrap_servers), TOPIC, producer=producer))
    tasks = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
    try:
        await asyncio.sleep(1.5)
        assert [first.stats.leader, second.stats.leader].count(True) == 1
        leader, follower = (first, second) if first.stats.leader else (second, first)
        leader.stop()
        await asyncio.sleep(2.5)  # the follower takes over once the leader's lock is released
        assert follower.stats.leader
    finally:
        for relay in (first, second):
            relay.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
