"""The tracking consumer against Apache Kafka and PostgreSQL: exactly one set of events, whatever happens."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from contracts.envelope import ServiceName
from contracts.registry import serialize_event
from contracts.topics import dead_letter_topic, events_topic
from services.common.bus import Bus
from services.common.cluster import LocalCluster
from services.common.outbox import KafkaSink, OutboxRelay
from services.common.republish import rewind
from services.common.runtime import ServiceParts, ServiceRuntime
from services.common.store import store_env
from services.intake.application import IntakeApplication
from services.routing.application import RoutingApplication
from services.routing.policies import routing_policy
from tests.integration.conftest import eventually, read_topic, register_commands, send_chain

pytestmark = pytest.mark.integration
INTAKE_TOPIC = events_topic(ServiceName.INTAKE)


async def publish_complaints(settings, producer, n: int) -> IntakeApplication:
    app = IntakeApplication(env=store_env(settings))
    for command in register_commands(n):
        app.register_complaint(command)
    relay = OutboxRelay(app, KafkaSink(Bus(producer.client._bootstrap_servers), INTAKE_TOPIC, producer=producer))
    while await relay.publish_once():
        pass
    return app


def routing_runtime(settings) -> ServiceRuntime:
    app = RoutingApplication(env=store_env(settings))
    return ServiceRuntime(settings, ServiceParts(app=app, policy=routing_policy, upstreams=[ServiceName.INTAKE]))


def routing_events(settings) -> Counter:
    """(complaint, event type) -> how often, read straight from routing's store."""
    app = RoutingApplication(env=store_env(settings))
    try:
        return Counter((str(n.originator_id), n.topic.rsplit(".", 1)[-1])
                       for n in app.recorder.select_notifications(1, 1_000_000) if ":ComplaintCase." in n.topic)
    finally:
        app.close()


def tracking_rows(settings) -> dict[str, int]:
    app = RoutingApplication(env=store_env(settings))
    try:
        return {f"intake/p{p}": app.recorder.max_tracking_id(f"intake/p{p}") for p in range(4)}
    finally:
        app.close()


#: What routing stores once for each registered product complaint: opened, routed to the HQ clerk,
#: its details kept, classified, and who must act.
ONCE = ("Opened", "Routed", "Detailed", "ComplaintClassified", "ActionsAwaited")


def exactly_one_set(counts: Counter, complaints: int) -> bool:
    return (len(counts) == len(ONCE) * complaints and set(counts.values()) == {1}
            and Counter(kind for _, kind in counts) == {kind: complaints for kind in ONCE})


async def test_redelivered_and_republished_messages_change_nothing(pg_settings, producer):
    intake_settings = pg_settings(ServiceName.INTAKE)
    await publish_complaints(intake_settings, producer, 20)
    rewind(intake_settings, from_position=1)  # the whole log goes out a second time
    intake = IntakeApplication(env=store_env(intake_settings))
    relay = OutboxRelay(intake, KafkaSink(Bus(producer.client._bootstrap_servers), INTAKE_TOPIC, producer=producer))
    while await relay.publish_once():
        pass

    settings = pg_settings(ServiceName.ROUTING)
    runtime = routing_runtime(settings)
    await runtime.start()
    try:
        await eventually(lambda: runtime.consumer.stats.processed + runtime.consumer.stats.skipped_duplicates >= 40,
                         what="routing to read both copies")
    finally:
        await runtime.stop()
    assert runtime.consumer.stats.processed == 20
    assert runtime.consumer.stats.skipped_duplicates == 20
    assert exactly_one_set(routing_events(settings), 20)


async def test_two_instances_over_four_partitions_process_everything_once(pg_settings, producer):
    settings = pg_settings(ServiceName.ROUTING)
    first, second = routing_runtime(settings), routing_runtime(settings)
    await first.start()
    await second.start()
    try:
        await eventually(lambda: first.consumer.assigned_partitions() and second.consumer.assigned_partitions()
                         and len(first.consumer.assigned_partitions() + second.consumer.assigned_partitions()) == 4,
                         timeout=40, what="the group to split the four partitions")
        intake = await publish_complaints(pg_settings(ServiceName.INTAKE), producer, 40)
        await eventually(lambda: exactly_one_set(routing_events(settings), 40), timeout=40,
                         what="all 40 complaints routed once")
    finally:
        await first.stop()
        await second.stop()
    # Positions are per upstream partition. Partitions are read in no particular order, so a
    # single position per upstream service would have refused lower ids from other partitions.
    rows = tracking_rows(settings)
    assert all(rows[name] for name in rows), rows
    assert max(rows.values()) == max(n.id for n in intake.recorder.select_notifications(1, 10_000)
                                      if n.topic.endswith("Registered"))
    assert first.consumer.stats.processed > 0 and second.consumer.stats.processed > 0
    assert first.consumer.stats.processed + second.consumer.stats.processed >= 40


async def test_crash_after_saving_before_committing_offsets_leaves_one_set(pg_settings, producer):
    await publish_complaints(pg_settings(ServiceName.INTAKE), producer, 12)
    settings = pg_settings(ServiceName.ROUTING, consumer_max_records=5)
    runtime = routing_runtime(settings)
    crashes = {"left": 2}
    original_saved = runtime.saved

    def saved_then_crash() -> None:
        original_saved()
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("killed after the transaction, before the offset commit")
    runtime.saved = saved_then_crash
    await runtime.start()
    runtime.consumer.on_saved = saved_then_crash
    try:
        await eventually(lambda: exactly_one_set(routing_events(settings), 12), what="12 complaints routed")
        await asyncio.sleep(1.5)  # give any redelivery time to (wrongly) add events
    finally:
        await runtime.stop()
    assert crashes["left"] == 0
    assert runtime.consumer.stats.skipped_duplicates > 0, "the rewound batch came again and was recognised"
    assert exactly_one_set(routing_events(settings), 12)


async def test_killed_consumer_process_restarts_without_duplicates(pg_settings, producer, broker, tmp_path: Path):
    await publish_complaints(pg_settings(ServiceName.INTAKE), producer, 400)
    settings = pg_settings(ServiceName.ROUTING, consumer_max_records=20)
    cluster = LocalCluster(tmp_path, database_urls={ServiceName.ROUTING: settings.database_url},
                           bootstrap_servers=broker.bootstrap_servers, log_level="WARNING")
    try:
        cluster.start_service(ServiceName.ROUTING)

        await eventually(lambda: len(routing_events(settings)) > 0, what="routing to start processing")
        assert cluster.stop_service(ServiceName.ROUTING, kill=True) == -9
        partial = routing_events(settings)
        assert 0 < len(partial) < 800, "killed mid-way"

        cluster.start_service(ServiceName.ROUTING)
        await eventually(lambda: exactly_one_set(routing_events(settings), 400), timeout=60,
                         what="all 400 complaints routed once after the restart")
    finally:
        cluster.stop()


async def test_poison_messages_go_to_the_dead_letter_topic_and_consumption_goes_on(pg_settings, producer, broker):
    intake = IntakeApplication(env=store_env(pg_settings(ServiceName.INTAKE)))
    results = [intake.register_complaint(c) for c in register_commands(2)]
    from services.common.publishing import integration_events
    first, second = integration_events(intake, list(intake.recorder.select_notifications(1, 100)))
    bad_form_number = first.model_dump(mode="json") | {"form_number": "not-a-form-number"}
    a = first.notification_id
    second = second.model_copy(update={"notification_id": a + 10})  # room in the chain for the poison
    await send_chain(producer, INTAKE_TOPIC, [
        (serialize_event(first), a, 0), (b"\xff not json at all", a + 1, a),
        (json.dumps(bad_form_number).encode(), a + 2, a + 1), (serialize_event(second), a + 10, a + 2)])
    await send_chain(producer, INTAKE_TOPIC, [(serialize_event(first), a + 11, a + 10)], header_producer="billing")
    await producer.send_and_wait(INTAKE_TOPIC, value=serialize_event(first), key=b"k", partition=0)  # no headers

    settings = pg_settings(ServiceName.ROUTING)
    runtime = routing_runtime(settings)
    await runtime.start()
    try:
        await eventually(lambda: exactly_one_set(routing_events(settings), 2), what="both good messages routed")
        dead = await read_topic(broker.bootstrap_servers, dead_letter_topic("routing"), expected=4)
    finally:
        await runtime.stop()
    assert {r.complaint_id for r in results} == {first.complaint_id, second.complaint_id}
    reasons = [dict(r.headers)["error"].decode() for r in dead]
    assert len(dead) == 4, reasons
    assert sorted(r.split(":")[0] for r in reasons) == ["producer", "unchained", "unreadable", "unreadable"]
    assert any("form_number" in r for r in reasons)
    assert all(dict(r.headers)["source_topic"] == INTAKE_TOPIC.encode() for r in dead)
    assert runtime.consumer.stats.dead_lettered == 4
