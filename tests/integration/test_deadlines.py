"""Durable deadline timers against Apache Kafka and PostgreSQL: a deadline set before a restart fires
after it exactly once, two routing instances fire it once, and the escalation is published."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta

import pytest

from contracts.envelope import ServiceName, utc_now
from contracts.topics import events_topic
from services.common.bus import Bus
from services.common.outbox import KafkaSink, OutboxRelay
from services.common.runtime import ServiceRuntime
from services.common.store import store_env
from services.intake.application import IntakeApplication
from services.routing.application import RoutingApplication
from services.routing.bootstrap import build_parts
from services.routing.settings import RoutingSettings
from tests.integration.conftest import eventually, read_topic, register_commands

pytestmark = pytest.mark.integration
T0 = utc_now()
LATER = T0 + timedelta(days=30)  # every first-level deadline of a complaint registered at T0 is past


def routing_settings(pg_settings) -> RoutingSettings:
    base = pg_settings(ServiceName.ROUTING)
    return RoutingSettings(**base.model_dump(), timer_tick_seconds=0.2)


def runtime(settings: RoutingSettings, clock) -> ServiceRuntime:
    parts, timer = build_parts(settings, clock)
    rt = ServiceRuntime(settings, parts)
    timer.on_saved = rt.saved
    return rt


def deadline_events(settings) -> Counter:
    app = RoutingApplication(env=store_env(settings))
    try:
        return Counter(n.topic.rsplit(".", 1)[-1] for n in app.recorder.select_notifications(1, 1_000_000)
                       if ":DeadlineClock." in n.topic)
    finally:
        app.close()


async def publish_registrations(pg_settings, producer, n: int) -> None:
    intake = IntakeApplication(env=store_env(pg_settings(ServiceName.INTAKE)))
    for command in register_commands(n):
        intake.register_complaint(command.model_copy(update={"received_at": T0}))
    relay = OutboxRelay(intake, KafkaSink(Bus(producer.client._bootstrap_servers), events_topic(ServiceName.INTAKE), producer=producer))
    while await relay.publish_once():
        pass


async def test_a_deadline_set_before_a_restart_fires_after_it_exactly_once(pg_settings, producer, broker):
    await publish_registrations(pg_settings, producer, 3)
    settings = routing_settings(pg_settings)
    first = runtime(settings, clock=lambda: T0)
    await first.start()
    try:
        await eventually(lambda: deadline_events(settings)["Set"] == 3,
                         what="the on-site visit deadline of each complaint (sampling waits for the dispatch)")
    finally:
        await first.stop()
    assert deadline_events(settings)["Missed"] == 0

    # Down while the deadlines came due; back later: each fires once, escalated one level.
    second = runtime(settings, clock=lambda: LATER)
    await second.start()
    try:
        await eventually(lambda: deadline_events(settings)["Missed"] == 3, what="each deadline missed")
        # per complaint at least: routed, classified, who must act, deadline set, missed, escalated
        escalated = await read_topic(broker.bootstrap_servers, events_topic(ServiceName.ROUTING), expected=3 * 6)
    finally:
        await second.stop()
    counts = deadline_events(settings)
    assert (counts["Missed"], counts["Escalated"]) == (3, 3)
    kinds = Counter(json.loads(r.value)["event_type"] for r in escalated)
    assert kinds["OverdueHandlingEscalated"] == 3 and kinds["DeadlineMissed"] == 3
    roles = {json.loads(r.value)["escalated_to_role"] for r in escalated
             if json.loads(r.value)["event_type"] == "OverdueHandlingEscalated"}
    assert roles == {"marketing_director"}

    third = runtime(settings, clock=lambda: LATER)  # restarted again, the same moment: nothing more
    await third.start()
    try:
        await eventually(lambda: third.supervisor.records["deadline-timer"].state == "running", what="timer")
        await asyncio.sleep(1.5)
    finally:
        await third.stop()
    assert deadline_events(settings)["Missed"] == 3


async def test_two_routing_instances_fire_each_deadline_once(pg_settings, producer):
    await publish_registrations(pg_settings, producer, 4)
    settings = routing_settings(pg_settings)
    moment = {"now": T0}
    a, b = runtime(settings, clock=lambda: moment["now"]), runtime(settings, clock=lambda: moment["now"])
    await a.start()
    await b.start()
    try:
        await eventually(lambda: deadline_events(settings)["Set"] == 4, timeout=40, what="deadlines set")
        moment["now"] = LATER
        await eventually(lambda: deadline_events(settings)["Missed"] == 4, what="each deadline missed")
        await asyncio.sleep(1.5)  # both timers have looked again
    finally:
        await a.stop()
        await b.stop()
    counts = deadline_events(settings)
    assert (counts["Missed"], counts["Escalated"]) == (4, 4), counts
    timers = [rt.parts.background[0][1].__self__ for rt in (a, b)]
    assert sum(t.fired for t in timers) == 4, "between them the two timers fired each deadline once"
