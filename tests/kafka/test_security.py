"""Apache Kafka as production runs it: three brokers over a controller quorum, SASL_SSL (SCRAM-SHA-512
over TLS, keys from a throwaway CA), the StandardAuthorizer, and every principal's least-privilege ACLs
from `complaints acls apply`. Every service runs as its own process under its own principal.

Proves (issue 20, section 4): a complaint goes through every service, each under its own principal;
a branch system registers over the commands topic and reads its result, a subscriber reads events;
the broker refuses each thing a principal was not granted (each refusal is printed); a wrong password
or an untrusted certificate is a clear error in the service's health and log while it keeps running.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka.errors import (
    ClusterAuthorizationFailedError, GroupAuthorizationFailedError, TopicAuthorizationFailedError,
)

from contracts.envelope import ServiceName
from contracts.topics import (
    INTAKE_COMMAND_RESULTS_TOPIC, INTAKE_COMMANDS_TOPIC, PARTITIONS, dead_letter_topic, events_topic,
)
from services.common.bus import Bus
from services.common.cluster import SERVICES, LocalCluster
from services.common.kafkaserver import KafkaCluster, Security
from services.common.provision import PROCESSES, principal_of
from services.common.settings import ReadSide
from services.demo import samples
from services.demo.journey import dispatch_on_site, record_determination, wait_for, wait_for_events
from services.intake.domain.registration import complaint_id_for
from tests.support.kafka import start_kafka

pytestmark = pytest.mark.e2e
INTAKE, ROUTING, QUALITY, BILLING, NOTIFY, ANALYTICS = (
    ServiceName.INTAKE, ServiceName.ROUTING, ServiceName.QUALITY, ServiceName.BILLING, ServiceName.NOTIFY,
    ServiceName.ANALYTICS)
BRANCH, SUBSCRIBER, OPERATOR = "complaints-branch", "complaints-subscriber", "complaints-operator"
REFUSALS: list[str] = []  # what the broker refused, printed at the end (the closing note lists them)


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    directory = tmp_path_factory.mktemp("secured")
    users = [principal_of(p) for p in PROCESSES] + [BRANCH, SUBSCRIBER, OPERATOR]
    cluster = start_kafka(directory / "kafka", 3, security=Security.generate(directory / "tls", users))
    try:
        yield cluster
    finally:
        cluster.stop()
        if REFUSALS:
            print("\nrefused by the cluster's ACLs:\n  " + "\n  ".join(REFUSALS))


@pytest.fixture(scope="module")
def services(kafka: KafkaCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("services"), kafka=kafka, log_level="WARNING") as running:
        yield running


def details(cluster: LocalCluster, service: Any) -> dict[str, Any]:
    response = httpx.get(f"{cluster.url(service)}/health/details", headers=cluster.auth(**samples.OPERATOR),
                         timeout=10)
    return response.json()


def test_every_service_runs_under_its_own_principal_and_a_complaint_goes_through(services: LocalCluster) -> None:
    for service in SERVICES:
        bus = details(services, service)["bus"]
        assert f"SASL_SSL SCRAM-SHA-512 as {principal_of(service.value)}" in bus, (service, bus)
    with httpx.Client(timeout=15, headers=services.auth(**samples.OPERATOR)) as client:
        receipt = client.post(f"{services.url(INTAKE)}/complaints", json=samples.quality_complaint(),
                              headers=services.auth(**samples.CLERK))
        assert receipt.status_code == 201, receipt.text
        complaint_id, form_number = receipt.json()["complaint_id"], receipt.json()["form_number"]
        dispatch_on_site(client, services.url(ROUTING), complaint_id, services.auth(**samples.HQ_CLERK),
                         regional_manager=samples.MANAGER["user"])
        wait_for_events(client, services.url(QUALITY), complaint_id, "Opened")
        determined = record_determination(client, services.url(QUALITY), complaint_id,
                                          services.auth(**samples.MANAGER))
        assert determined.status_code in (200, 201), determined.text
        wait_for_events(client, services.url(BILLING), complaint_id, "ChargesStated", timeout=60)
        wait_for_events(client, services.url(NOTIFY), complaint_id, "Recorded", timeout=60)
        wait_for(lambda: client.get(f"{services.url(ReadSide.HQ)}/complaints/{form_number}").status_code == 200,
                 60, "HQ to show the complaint")
        month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
        wait_for(lambda: form_number in {line["form_number"] for line in client.get(
            f"{services.url(ANALYTICS)}/reports/monthly/{month}").json()["complaint_register"]},
                 60, "analytics to count the complaint")
    for service in SERVICES:
        report = details(services, service)
        assert report["status"] == "ok", (service, report["causes"])


async def test_a_branch_system_registers_over_kafka_and_a_subscriber_reads_events(
        services: LocalCluster, kafka: KafkaCluster) -> None:
    command = samples.quality_complaint() | {"command_type": "RegisterComplaint", "schema_version": 1,
                                             "issued_at": datetime.now(ZoneInfo("UTC")).isoformat()}
    token = services.token("branch-system-sh01", "branch_clerk", "SH01")
    producer = kafka.bus_as(BRANCH).producer()
    await producer.start()
    try:
        await producer.send_and_wait(INTAKE_COMMANDS_TOPIC, json.dumps(command).encode(),
                                     key=command["command_id"].encode(),
                                     headers=[("authorization", f"Bearer {token}".encode())])
    finally:
        await producer.stop()
    results = await read_all(kafka.bus_as(BRANCH), INTAKE_COMMAND_RESULTS_TOPIC, f"{BRANCH}-sh01",
                             lambda r: r.key == command["command_id"].encode())
    [result] = [json.loads(r.value) for r in results]
    assert result["outcome"] == "registered" and result["form_number"].startswith("SH01-"), result
    complaint_id = str(complaint_id_for(UUID(command["command_id"])))
    events = await read_all(kafka.bus_as(SUBSCRIBER), events_topic(INTAKE), f"{SUBSCRIBER}-analytics",
                            lambda r: r.key == complaint_id.encode())
    assert [dict(r.headers)["event_type"] for r in events] == [b"ComplaintRegistered"]


async def read_all(bus: Bus, topic: str, group: str, wanted: Any, timeout: float = 60) -> list[Any]:
    """The records of `topic` that `wanted` picks, read in consumer group `group` as `bus`'s principal."""
    consumer = bus.consumer(topic, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False)
    found: list[Any] = []
    try:
        await consumer.start()
        deadline = asyncio.get_running_loop().time() + timeout
        while not found and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [r for r in records if wanted(r)]
    finally:
        await consumer.stop()
    return found


async def refused(what: str, attempt: Any, *errors: type[BaseException]) -> None:
    """`attempt()` must fail with one of `errors`: the broker refused it."""
    try:
        await asyncio.wait_for(attempt(), 30)
    except errors as e:
        REFUSALS.append(f"{what}: {type(e).__name__}")
        return
    raise AssertionError(f"the cluster allowed: {what}")


async def write(bus: Bus, topic: str, idempotent: bool = True) -> None:
    producer = bus.producer(enable_idempotence=idempotent, request_timeout_ms=5000)
    try:
        await producer.start()
        await producer.send_and_wait(topic, b'{"forged": true}', key=b"k")
    finally:
        await producer.stop()


async def read(bus: Bus, topic: str, group: str | None = None) -> None:
    consumer = bus.consumer(topic, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        await consumer.start()
        for _ in range(20):
            await consumer.getmany(timeout_ms=250)
    finally:
        await consumer.stop()


async def test_the_broker_refuses_what_a_principal_was_not_granted(kafka: KafkaCluster) -> None:
    topic_or_cluster = (TopicAuthorizationFailedError, ClusterAuthorizationFailedError)
    routing = kafka.bus_as(principal_of("routing"))
    await refused("complaints-routing writing intake's events topic",
                  lambda: write(routing, events_topic(INTAKE)), *topic_or_cluster)
    await refused("complaints-billing reading routing's dead letters",
                  lambda: read(kafka.bus_as(principal_of("billing")), dead_letter_topic("routing"),
                               "complaints-billing"), TopicAuthorizationFailedError)
    await refused("complaints-hq reading in routing's consumer group",
                  lambda: read(kafka.bus_as(principal_of("hq")), events_topic(INTAKE), "complaints-routing"),
                  GroupAuthorizationFailedError)
    branch = kafka.bus_as(BRANCH)
    await refused("a branch system reading intake's events", lambda: read(branch, events_topic(INTAKE)),
                  TopicAuthorizationFailedError)
    await refused("a branch system writing intake's events topic",
                  lambda: write(branch, events_topic(INTAKE), idempotent=False), TopicAuthorizationFailedError)
    subscriber = kafka.bus_as(SUBSCRIBER)
    for topic in (events_topic(INTAKE), events_topic(ANALYTICS), INTAKE_COMMANDS_TOPIC):
        await refused(f"a subscriber writing {topic}", lambda t=topic: write(subscriber, t, idempotent=False),
                      TopicAuthorizationFailedError)
    await refused("a subscriber starting an idempotent producer (it may write nowhere)",
                  lambda: write(subscriber, events_topic(INTAKE)), ClusterAuthorizationFailedError)
    await refused("a subscriber reading intake's commands", lambda: read(subscriber, INTAKE_COMMANDS_TOPIC),
                  TopicAuthorizationFailedError)
    await refused("a subscriber reading in a group not named after it",
                  lambda: read(subscriber, events_topic(INTAKE), "complaints-hq"), GroupAuthorizationFailedError)
    assert len(REFUSALS) >= 10


@pytest.mark.parametrize("fault", ["wrong password", "untrusted certificate"])
def test_a_wrong_password_or_an_untrusted_certificate_is_a_clear_error_not_a_crash_loop(
        kafka: KafkaCluster, tmp_path: Path, fault: str) -> None:
    if fault == "wrong password":
        env, expected = {"KAFKA_SASL_PASSWORD": "not-the-password"}, "refused the credentials of 'complaints-routing'"
    else:
        stranger = Security.generate(tmp_path / "stranger", [])
        env, expected = {"KAFKA_SSL_CA_FILE": str(stranger.ca_file)}, "certificate is not trusted"
    cluster = LocalCluster(tmp_path / "routing", kafka=kafka, log_level="WARNING", env=env)
    cluster.start_service(ROUTING, wait=False)
    try:
        def said_why() -> dict[str, Any] | None:
            try:
                report = details(cluster, ROUTING)
            except httpx.HTTPError:
                return None
            return report if any(expected in c for c in report.get("causes", [])) else None
        report = wait_for(said_why, 60, f"routing's health to say {expected!r}", interval=0.5)
        assert report["status"] == "degraded"
        assert httpx.get(f"{cluster.url(ROUTING)}/health", timeout=5).status_code == 503
        time.sleep(3)
        assert cluster.processes[ROUTING].poll() is None, "still running: it retries, it does not crash"
        assert expected in cluster.log_path(ROUTING).read_text(), "the log says it too"
        assert "not-the-password" not in json.dumps(report)
    finally:
        cluster.stop()
