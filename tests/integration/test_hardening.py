"""Reproductions of the backbone's stall and loss defects, against Apache Kafka and PostgreSQL.

Each test failed on the backbone as it was before the hardening: a poison message that
stalled its partition, republishing after broker data loss that skipped what a lagging
consumer had not seen, a forged or early message that moved the duplicate check past
events never processed, a newer schema version dead-lettered and lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.envelope import ServiceName
from contracts.registry import serialize_event
from contracts.topics import dead_letter_topic, events_topic
from services.common.consumer import UnitOfWork, tracking_name
from services.common.provision import provision_local
from services.common.kafkaserver import free_port
from services.common.publishing import integration_events
from services.common.runtime import ServiceParts, ServiceRuntime
from services.common.store import store_env
from services.intake.application import IntakeApplication
from services.routing.application import RoutingApplication
from services.routing.domain.case import ComplaintCase
from services.routing.policies import routing_policy
from tests.integration.conftest import chain_headers, eventually, read_topic, register_commands
from tests.integration.conftest import send_chain as conftest_send_chain
from tests.support.kafka import kafka, start_kafka

pytestmark = pytest.mark.integration
INTAKE_TOPIC = events_topic(ServiceName.INTAKE)


def routing_runtime(settings, policy=routing_policy) -> ServiceRuntime:
    app = RoutingApplication(env=store_env(settings))
    return ServiceRuntime(settings, ServiceParts(app=app, policy=policy, upstreams=[ServiceName.INTAKE]))


async def route_until(settings, check, what: str, policy=routing_policy, timeout: float = 20) -> ServiceRuntime:
    """Run routing's consumer until `check()` holds (or fail after `timeout`); returns the stopped runtime."""
    runtime = routing_runtime(settings, policy)
    await runtime.start()
    try:
        await eventually(check, timeout=timeout, what=what)
    finally:
        await runtime.stop()
    return runtime


def intake_runtime(settings) -> ServiceRuntime:
    return ServiceRuntime(settings, ServiceParts(app=IntakeApplication(env=store_env(settings))))


def routed_complaints(settings) -> Counter:
    """complaint id -> how many Routed events routing's store holds for it."""
    app = RoutingApplication(env=store_env(settings))
    try:
        return Counter(str(n.originator_id) for n in app.recorder.select_notifications(1, 1_000_000)
                       if n.topic.endswith(".Routed"))
    finally:
        app.close()


def registrations(settings, n: int) -> list:
    """n registrations stored in an intake store, as the integration events its relay would publish."""
    app = IntakeApplication(env=store_env(settings))
    try:
        for command in register_commands(n):
            app.register_complaint(command)
        return integration_events(app, list(app.recorder.select_notifications(1, 10_000)))
    finally:
        app.close()


async def send_chain(producer, items: list[tuple[bytes, int, int]], partition: int = 0) -> None:
    await conftest_send_chain(producer, INTAKE_TOPIC, items, partition)


def deeply_nested(depth: int = 5000) -> bytes:
    return ("[" * depth + "]" * depth).encode()


async def test_poison_messages_go_aside_and_the_partition_flows_on(pg_settings, producer, broker):
    events = registrations(pg_settings(ServiceName.INTAKE), 6)
    good = [serialize_event(e) for e in events]
    ids = [e.notification_id for e in events]
    list_type = json.loads(good[1]) | {"event_type": ["ComplaintRegistered"]}
    value_error_for, unpublishable_for = events[3].complaint_id, events[4].complaint_id

    def policy(event, uow: UnitOfWork) -> None:
        if event.complaint_id == value_error_for:
            raise ValueError("misuse_resolution: required for obvious misuse")  # a bug, not a refusal
        routing_policy(event, uow)
        if event.complaint_id == unpublishable_for:
            case: ComplaintCase = uow.get(event.complaint_id)
            case.destination = None
            case._routed(meta=case.meta, destination="nowhere", reason="x", subject=case.subject,
                         severity=case.severity, description=case.description, product=case.product)

    # One partition: a good message, a body whose event_type is a list, a deeply nested body,
    # a policy that raises ValueError, a policy whose event breaks its contract, a good one.
    await send_chain(producer, [
        (good[0], ids[0], 0), (json.dumps(list_type).encode(), ids[1], ids[0]),
        (deeply_nested(), ids[2], ids[1]), (good[3], ids[3], ids[2]), (good[4], ids[4], ids[3]),
        (good[5], ids[5], ids[4]),
    ])
    settings = pg_settings(ServiceName.ROUTING)
    runtime = routing_runtime(settings, policy)
    await runtime.start()
    try:
        await eventually(lambda: set(routed_complaints(settings)) == {str(events[0].complaint_id),
                                                                     str(events[5].complaint_id)},
                         timeout=20, what="the good messages on both sides of the poison routed")
        dead = await read_topic(broker.bootstrap_servers, dead_letter_topic("routing"), expected=4)
    finally:
        await runtime.stop()
    reasons = [dict(r.headers)["error"].decode() for r in dead]
    assert len(dead) == 4, reasons
    assert "event_type" in reasons[0]
    assert "nested" in reasons[1]
    assert "ValueError" in reasons[2] and "misuse_resolution" in reasons[2]
    assert "destination" in reasons[3]
    assert routed_complaints(settings)[str(events[5].complaint_id)] == 1


async def test_an_early_later_message_does_not_hide_an_earlier_one(pg_settings, producer):
    """A producer batch fails after a later one succeeded: the later message arrives first."""
    events = registrations(pg_settings(ServiceName.INTAKE), 3)
    a, b, c = events
    await send_chain(producer, [
        (serialize_event(c), c.notification_id, b.notification_id),  # arrived first: a and b were lost
        (serialize_event(a), a.notification_id, 0),  # the relay's retry: everything again, in order
        (serialize_event(b), b.notification_id, a.notification_id),
        (serialize_event(c), c.notification_id, b.notification_id),
    ])
    settings = pg_settings(ServiceName.ROUTING)
    await route_until(settings, lambda: len(routed_complaints(settings)) == 3, "all three routed")
    assert set(routed_complaints(settings).values()) == {1}


async def test_a_forged_huge_notification_id_hides_nothing(pg_settings, producer):
    events = registrations(pg_settings(ServiceName.INTAKE), 3)
    forged = events[0].model_copy(update={"notification_id": 10**12})
    items = [(serialize_event(forged), 10**12, 10**12 - 1)]
    previous = 0
    for e in events:
        items.append((serialize_event(e), e.notification_id, previous))
        previous = e.notification_id
    await send_chain(producer, items)
    settings = pg_settings(ServiceName.ROUTING)
    await route_until(settings, lambda: len(routed_complaints(settings)) == 3, "all three routed")


async def test_forged_relay_headers_on_unreadable_bodies_hide_no_later_genuine_message(pg_settings, broker):
    """Reproduced on the code before (issue 20): five unreadable bodies sent to partition 3 of the intake
    topic with `producer: intake` headers, whose previous id is the partition's last real id and whose own
    ids are a million higher, were dead-lettered, but the consumer's position jumped to the forged id: 0 of
    4 later complaints on that partition were routed, health said ok, only skipped_duplicates rose."""
    intake_settings = pg_settings(ServiceName.INTAKE)
    routing_settings = pg_settings(ServiceName.ROUTING)
    intake, routing = intake_runtime(intake_settings), routing_runtime(routing_settings)
    await intake.start()
    await routing.start()
    try:
        on_3 = commands_on_partition(3, 5)
        first = await intake.execute(intake.app.register_complaint, on_3[0])
        await eventually(lambda: str(first.complaint_id) in routed_complaints(routing_settings),
                         what="the first complaint on partition 3 routed")
        last_real = routing.consumer.stats.positions[tracking_name(ServiceName.INTAKE, 3)]
        producer = broker.bus.producer()
        await producer.start()
        try:
            for i in range(5):
                forged_id = last_real + 1_000_000 + i
                await producer.send_and_wait(INTAKE_TOPIC, value=b"\x00 not an event", key=b"forged", partition=3,
                                             headers=chain_headers("ComplaintRegistered", forged_id,
                                                                   last_real if i == 0 else forged_id - 1))
        finally:
            await producer.stop()
        later = [await intake.execute(intake.app.register_complaint, c) for c in on_3[1:]]
        await eventually(lambda: {str(r.complaint_id) for r in later} <= set(routed_complaints(routing_settings)),
                         timeout=30, what="the 4 later genuine complaints on partition 3 routed")
        ok, report = await routing.health()
    finally:
        await routing.stop()
        await intake.stop()
    assert set(routed_complaints(routing_settings).values()) == {1}
    consumer = report["consumer"]
    assert consumer["positions"][tracking_name(ServiceName.INTAKE, 3)] < 1_000_000, "no forged id counted as seen"
    assert consumer["unverified"] >= 1
    assert any("notification id" in alert and "no relay" in alert for alert in report["alerts"]), report["alerts"]
    dead = await read_topic(broker.bootstrap_servers, dead_letter_topic("routing"), expected=1)
    assert dead and all(r.partition == 3 for r in dead)


def commands_on_partition(partition: int, n: int) -> list:
    """n registrations whose complaints' messages go to `partition`."""
    from contracts.topics import message_key
    from services.common.broker import partition_for
    from services.intake.domain.registration import complaint_id_for
    found: list = []
    while len(found) < n:
        for command in register_commands(20):
            if partition_for(message_key(complaint_id_for(command.command_id))) == partition and len(found) < n:
                found.append(command)
    return found


async def test_a_newer_schema_version_stops_its_partition_and_is_never_skipped(pg_settings, producer, broker):
    events = registrations(pg_settings(ServiceName.INTAKE), 2)
    newer = json.loads(serialize_event(events[0])) | {"schema_version": 99}
    await send_chain(producer, [(json.dumps(newer).encode(), events[0].notification_id, 0),
                                (serialize_event(events[1]), events[1].notification_id, events[0].notification_id)])
    settings = pg_settings(ServiceName.ROUTING, stall_seconds=1.0)
    runtime = routing_runtime(settings)
    await runtime.start()
    try:
        async def stopped() -> dict:
            ok, report = await runtime.health()
            return {} if ok else report
        report = None
        for _ in range(100):
            report = await stopped()
            if report.get("consumer", {}).get("stopped"):
                break
            await asyncio.sleep(0.2)
        assert report and report["consumer"]["stopped"], report
        [(partition, reason)] = report["consumer"]["stopped"].items()
        assert partition == f"{INTAKE_TOPIC}[0]"
        assert "schema_version 99" in reason and "upgrade" in reason
    finally:
        await runtime.stop()
    assert routed_complaints(settings) == Counter(), "nothing behind the newer message was processed out of order"
    dead = await read_topic(broker.bootstrap_servers, dead_letter_topic("routing"), expected=0, timeout=1)
    assert dead == [], "the newer message was not dead-lettered"
    # The committed offset stays at the newer message, so an upgraded consumer reads it again.
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id="complaints-routing",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        assert (await consumer.committed(TopicPartition(INTAKE_TOPIC, 0))) in (None, 0)
    finally:
        await consumer.stop()


async def test_broker_restarted_empty_with_a_lagging_consumer_loses_nothing(pg_settings, tmp_path, settings_for):
    """200 complaints in flight, routing stopped while the broker loses everything: all complete."""
    cluster = start_kafka(tmp_path / "kafka")
    with contextlib.ExitStack() as stack:
        stack.callback(cluster.stop)
        first = cluster
        intake_settings = pg_settings(ServiceName.INTAKE, kafka_bootstrap_servers=first.bootstrap_servers,
                                      loss_check_seconds=1.0)
        routing_settings = pg_settings(ServiceName.ROUTING, kafka_bootstrap_servers=first.bootstrap_servers)
        intake = intake_runtime(intake_settings)
        routing = routing_runtime(routing_settings)
        await intake.start()
        await routing.start()
        commands = register_commands(200)
        for command in commands[:100]:
            await intake.execute(intake.app.register_complaint, command)
        await eventually(lambda: len(routed_complaints(routing_settings)) >= 20, timeout=30,
                         what="routing under way")
        await routing.stop()  # routing lags from here on
        for command in commands[100:150]:
            await intake.execute(intake.app.register_complaint, command)
        await eventually(lambda: intake.relays[0].stats.position >= intake.app.recorder.max_notification_id(),
                         timeout=20, what="intake's relay to publish everything to the first broker")
        # The broker loses everything it stored and comes back empty on the same port; provisioning (the
        # topic operator's job) makes the topics again, and intake's relay must notice and republish.
        def lose_everything() -> None:
            for node in cluster.nodes:
                node.wipe()
            cluster.start()
            provision_local(cluster.bus)
        await asyncio.to_thread(lose_everything)  # the services run on meanwhile
        back = asyncio.get_running_loop().time()
        for command in commands[150:]:
            await intake.execute(intake.app.register_complaint, command)
        routing = routing_runtime(routing_settings)
        await routing.start()
        try:
            await eventually(lambda: len(routed_complaints(routing_settings)) == 200, timeout=60,
                             what="every complaint routed after the broker came back empty")
            recovered = asyncio.get_running_loop().time() - back
        finally:
            await routing.stop()
            await intake.stop()
    assert set(routed_complaints(routing_settings).values()) == {1}
    print(f"recovered 200 complaints {recovered:.1f}s after the broker came back empty")
    assert recovered < 30


async def test_an_unpublishable_stored_event_is_parked_and_the_log_behind_it_flows(pg_settings, producer, broker):
    """Stored under a larger limit (or an older contract), it cannot go out now: parked, not blocking."""
    settings = pg_settings(ServiceName.INTAKE, max_message_bytes=50_000)
    writer = IntakeApplication(env=store_env(settings))
    commands = register_commands(3)
    big = commands[1].model_copy(update={"description": "裂" * 3000})  # about 9 KB as JSON
    for command in (commands[0], big, commands[2]):
        writer.register_complaint(command)
    writer.close()

    strict = pg_settings(ServiceName.INTAKE, database_url=settings.database_url, max_message_bytes=6_000)
    intake = intake_runtime(strict)
    await intake.start()
    try:
        published = await read_topic(broker.bootstrap_servers, INTAKE_TOPIC, expected=2)
        ok, report = await intake.health()
    finally:
        await intake.stop()
    assert {json.loads(r.value)["complaint_id"] for r in published} == {
        str(e.complaint_id) for e in registrations_of(settings) if e.description != big.description}
    relay = report["relays"][INTAKE_TOPIC]
    assert relay["parked"] == 1 and len(relay["parked_events"]) == 1
    assert "6000-byte limit" in relay["parked_events"][0]["reason"]
    assert not ok and any("parked" in cause for cause in report["causes"])


def registrations_of(settings) -> list:
    app = IntakeApplication(env=store_env(settings))
    try:
        return integration_events(app, list(app.recorder.select_notifications(1, 10_000)))
    finally:
        app.close()


def test_a_command_whose_event_would_exceed_the_message_limit_is_refused_and_stores_nothing(pg_settings):
    from services.common.publishing import UnpublishableEvent
    settings = pg_settings(ServiceName.INTAKE, max_message_bytes=10_000)
    app = IntakeApplication(env=store_env(settings))
    try:
        command = register_commands(1)[0].model_copy(update={"description": "裂" * 3900})
        with pytest.raises(UnpublishableEvent, match="10000 bytes"):
            app.register_complaint(command)
        assert app.recorder.max_notification_id() in (None, 0)
    finally:
        app.close()


async def test_without_a_broker_the_service_starts_says_why_and_catches_up_when_it_comes(pg_settings, tmp_path):
    port = free_port()
    settings = pg_settings(ServiceName.INTAKE, kafka_bootstrap_servers=f"127.0.0.1:{port}")
    intake = intake_runtime(settings)
    await asyncio.wait_for(intake.start(), 5)  # does not wait for the broker
    try:
        await intake.execute(intake.app.register_complaint, register_commands(1)[0])  # the outbox takes it
        ok, report = await intake.health()
        assert not ok and report["broker"] == "down"
        assert any("broker unreachable" in c and "make broker" in c for c in report["causes"]), report["causes"]
        with kafka(tmp_path / "kafka", port=port) as broker:
            published = await read_topic(broker.bootstrap_servers, INTAKE_TOPIC, expected=1, timeout=30)
            assert len(published) == 1

            async def healthy() -> bool:
                return (await intake.health())[0]
            for _ in range(100):
                if await healthy():
                    break
                await asyncio.sleep(0.2)
            ok, report = await intake.health()
            assert ok, report["causes"]
            assert report["tasks"]["topics"]["state"] == "finished"
    finally:
        await intake.stop()


async def test_health_turns_503_when_a_relay_makes_no_progress_while_work_waits(pg_settings, tmp_path):
    with kafka(tmp_path / "kafka") as broker:
        settings = pg_settings(ServiceName.INTAKE, kafka_bootstrap_servers=broker.bootstrap_servers,
                               stall_seconds=1.0)
        intake = intake_runtime(settings)
        await intake.start()
        await eventually(lambda: intake.topics_ready.is_set(), what="topics")
        assert (await intake.health())[0]
    try:
        await intake.execute(intake.app.register_complaint, register_commands(1)[0])  # the broker is gone
        await asyncio.sleep(2.5)
        ok, report = await intake.health()
        assert not ok
        assert any(re.match(rf"relay {INTAKE_TOPIC} has \d+ notification\(s\) waiting and made no progress", c)
                   for c in report["causes"]), report["causes"]
        assert report["relays"][INTAKE_TOPIC]["last_error"]
    finally:
        await intake.stop()


async def test_a_relay_that_loses_its_leadership_session_leads_again_and_goes_on(pg_settings, broker):
    import psycopg

    from tests.support.postgres import ADMIN_URL
    settings = pg_settings(ServiceName.INTAKE)
    intake = intake_runtime(settings)
    await intake.start()
    try:
        commands = register_commands(4)
        await intake.execute(intake.app.register_complaint, commands[0])
        await read_topic(broker.bootstrap_servers, INTAKE_TOPIC, expected=1)
        dbname = settings.database_url.rsplit("/", 1)[1]
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            killed = conn.execute(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = %s", (dbname,)).fetchall()
        assert killed, "the leadership session was found and cut"
        task = f"relay:{INTAKE_TOPIC}"
        await eventually(lambda: intake.supervisor.records[task].restarts >= 1, timeout=10,
                         what="the relay to notice it lost its session")
        for command in commands[1:]:
            await intake.execute(intake.app.register_complaint, command)
        published = await read_topic(broker.bootstrap_servers, INTAKE_TOPIC, expected=4, timeout=30)
        assert {json.loads(r.value)["complaint_id"] for r in published} == {
            str(e.complaint_id) for e in registrations_of(settings)}
        ok, report = await intake.health()
        assert report["tasks"][f"relay:{INTAKE_TOPIC}"]["restarts"] >= 1
        assert "leadership session" in report["tasks"][f"relay:{INTAKE_TOPIC}"]["last_error"]
        assert report["relays"][INTAKE_TOPIC]["leader"]
    finally:
        await intake.stop()


async def test_dead_letters_are_redriven_once_after_the_cause_is_fixed(pg_settings, producer, broker):
    from services.common.redrive import read_dead_letters, redrive_records
    events = registrations(pg_settings(ServiceName.INTAKE), 3)
    refuse = {events[0].complaint_id, events[2].complaint_id}

    def buggy(event, uow: UnitOfWork) -> None:
        if event.complaint_id in refuse:
            raise KeyError("branch table not loaded")  # the bug, fixed later
        routing_policy(event, uow)

    previous, items = 0, []
    for e in events:
        items.append((serialize_event(e), e.notification_id, previous))
        previous = e.notification_id
    await send_chain(producer, items)
    settings = pg_settings(ServiceName.ROUTING)
    runtime = routing_runtime(settings, buggy)
    await runtime.start()
    try:
        await eventually(lambda: runtime.consumer.stats.dead_lettered == 2, what="two dead letters")
    finally:
        await runtime.stop()
    assert set(routed_complaints(settings)) == {str(events[1].complaint_id)}

    dead = await read_dead_letters(broker.bus, ServiceName.ROUTING)
    assert len(dead) == 2
    app = RoutingApplication(env=store_env(settings))
    try:
        only_one = redrive_records(app, routing_policy, dead, complaint=events[0].complaint_id)
        assert (len(only_one.redriven), only_one.matched) == (1, 1)
        everything = redrive_records(app, routing_policy, dead, event_type="ComplaintRegistered")
        assert (len(everything.redriven), len(everything.already)) == (1, 1)
        again = redrive_records(app, routing_policy, dead)
        assert (len(again.redriven), len(again.already)) == (0, 2)
    finally:
        app.close()
    assert routed_complaints(settings) == Counter({str(e.complaint_id): 1 for e in events})


async def test_bursts_of_publishing_are_not_mistaken_for_broker_data_loss(pg_settings, broker):
    """The development broker reports a stale end offset after bursts of batches: the relay must
    look at the message itself before republishing a whole log."""
    settings = pg_settings(ServiceName.INTAKE, loss_check_seconds=0.3)
    intake = intake_runtime(settings)
    await intake.start()
    try:
        commands = register_commands(240)
        for i in range(0, len(commands), 40):
            await asyncio.gather(*(intake.execute(intake.app.register_complaint, c) for c in commands[i:i + 40]))
        await eventually(lambda: intake.relays[0].stats.position >= intake.app.recorder.max_notification_id(),
                         timeout=30, what="everything published")
        await asyncio.sleep(2.0)  # several loss checks
        assert intake.relays[0].stats.recoveries == 0, intake.relays[0].stats.last_recovery
    finally:
        await intake.stop()
