"""HQ's read model end to end: the services and HQ as processes on PostgreSQL, HQ fed only by the topics.

A complaint walked from registration to closure is found at HQ by its form number as by its id; its
merged history holds every event every service published about it, each exactly once, in causal
order; a branch's token sees only its branch in every HQ query; the inbox shows each person what
they must do.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.envelope import ServiceName
from contracts.registry import parse_event
from contracts.topics import events_topic
from services.common.cluster import LocalCluster
from services.common.settings import ReadSide
from services.demo import samples
from services.demo.journey import record_determination, wait_for
from tests.e2e.conftest import open_quality_investigation
from tests.e2e.test_procedure import Walk, complaint, policy_within_regional_authority

pytestmark = pytest.mark.e2e
INTAKE = ServiceName.INTAKE
HQ = ReadSide.HQ
BEIJING_CLERK = samples.clerk_of("BJ02")


async def _published(bootstrap: str, complaint_ids: set[str]) -> dict[str, list[Any]]:
    """Every event on every service's topic about these complaints (the ground truth: what was published)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(events_topic(s), p) for s in ServiceName
               for p in sorted(consumer.partitions_for_topic(events_topic(s)) or {0, 1, 2, 3})]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: dict[str, list[Any]] = {c: [] for c in complaint_ids}
        idle = 0
        while idle < 6:  # read to each partition's high watermark as the fetches report it
            batch = await consumer.getmany(timeout_ms=500)
            idle = 0 if batch else idle + 1
            for records in batch.values():
                for record in records:
                    event = parse_event(record.value)
                    if str(event.complaint_id) in found:
                        found[str(event.complaint_id)].append(event)
            marks = [consumer.highwater(tp) for tp in tps]
            if all(m is not None for m in marks) and \
                    all([await consumer.position(tp) >= m for tp, m in zip(tps, marks)]):
                break
        return found
    finally:
        await consumer.stop()


def hq_get(client: httpx.Client, cluster: LocalCluster, path: str, who: dict[str, str] | None = None,
           **params: Any) -> httpx.Response:
    headers = cluster.auth(**(who or samples.OPERATOR))
    return client.get(f"{cluster.url(HQ)}{path}", params=params, headers=headers)


@pytest.fixture(scope="module")
def walked(cluster: LocalCluster) -> dict[str, Any]:
    """A policy complaint at Shanghai walked to closure, and a staff complaint at Beijing left open."""
    with httpx.Client(timeout=15) as c:
        shanghai = complaint("policy_service", "报价单与合同价格不一致，要求退还差价。")
        receipt = c.post(f"{cluster.url(INTAKE)}/complaints", json=shanghai, headers=cluster.auth(**samples.CLERK))
        assert receipt.status_code == 201, receipt.text
        walk = Walk(cluster, receipt.json(), "SH01")
        beijing = complaint("staff", "业务员态度恶劣，拒绝上门服务。", branch="BJ02")
        other = c.post(f"{cluster.url(INTAKE)}/complaints", json=beijing, headers=cluster.auth(**BEIJING_CLERK))
        assert other.status_code == 201, other.text
    try:
        policy_within_regional_authority(walk)
    finally:
        walk.client.close()
    return {"walk": walk, "beijing": other.json()}


def history_as_published(cluster: LocalCluster, complaint_id: str, timeout: float = 90) -> tuple[list, list]:
    """HQ's merged history of the complaint and what the services published about it, read after it: equal
    once HQ has caught up (notices are still being delivered when a walk ends)."""
    with httpx.Client(timeout=15) as c:
        def same() -> tuple[list, list] | None:
            events = hq_get(c, cluster, f"/complaints/{complaint_id}/history").json()["events"]
            published = asyncio.run(_published(cluster.bootstrap_servers, {complaint_id}))[complaint_id]
            ids = sorted(e["event_id"] for e in events)
            return (events, published) if ids == sorted(str(e.event_id) for e in published) else None
        return wait_for(same, timeout, f"HQ to hold every event published about {complaint_id}", interval=1.0)


def test_a_complaint_is_found_by_its_form_number_as_by_its_id(cluster: LocalCluster, walked: dict[str, Any]) -> None:
    walk = walked["walk"]
    with httpx.Client(timeout=15) as c:
        by_id = hq_get(c, cluster, f"/complaints/{walk.id}")
        by_number = hq_get(c, cluster, f"/complaints/{walk.form_number}")
        missing = hq_get(c, cluster, "/complaints/SH01-19990101-0001")
        bad = hq_get(c, cluster, "/complaints/not-a-reference")
    assert by_id.status_code == by_number.status_code == 200, by_number.text
    assert {k: by_id.json()[k] for k in ("complaint_id", "form_number", "received_at")} == \
        {k: by_number.json()[k] for k in ("complaint_id", "form_number", "received_at")}
    row = by_number.json()
    assert (row["complaint_id"], row["stage"], row["closure_outcome"]) == (walk.id, "closed", "resolved")
    assert row["satisfaction"] == "satisfied" and row["overdue"] is False and row["open_deadlines"] == []
    assert row["handler"] == walk.manager["user"] and row["valid"] is True and row["cause_category"] == "policy"
    assert missing.status_code == 404
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "ref"]


def test_the_merged_history_lists_every_published_event_once_in_causal_order(
        cluster: LocalCluster, walked: dict[str, Any]) -> None:
    walk = walked["walk"]
    events, published = history_as_published(cluster, walk.id)
    assert len(events) == len(published) > 20
    assert len({e["event_id"] for e in events}) == len(events)
    assert {e["service"] for e in events} >= {"intake", "routing", "notify"}
    position = {e["event_id"]: i for i, e in enumerate(events)}
    for i, e in enumerate(events):  # each after its cause, and after its own service's earlier events
        if e["causation_id"] in position:
            assert position[e["causation_id"]] < i, (e["event_type"], e["causation_id"])
    for service in {e["service"] for e in events}:
        ids = [e["notification_id"] for e in events if e["service"] == service]
        assert ids == sorted(ids), service
    registered = events[0]
    assert (registered["event_type"], registered["actor_user"], registered["service"]) == (
        "ComplaintRegistered", samples.CLERK["user"], "intake")
    closed = next(e for e in events if e["event_type"] == "ComplaintClosed")
    assert closed["actor_role"] == "hq_clerk" and closed["changes"]["outcome"] == "resolved"


def test_a_branch_token_sees_only_its_branch_in_every_hq_query(cluster: LocalCluster, walked: dict[str, Any]) -> None:
    walk, beijing = walked["walk"], walked["beijing"]
    with httpx.Client(timeout=15) as c:
        listed = hq_get(c, cluster, "/complaints", BEIJING_CLERK, limit=200).json()["items"]
        searched = hq_get(c, cluster, "/complaints", BEIJING_CLERK, q="报价单").json()["items"]
        found = hq_get(c, cluster, "/complaints", BEIJING_CLERK, q="态度").json()["items"]
        other = hq_get(c, cluster, f"/complaints/{walk.form_number}", BEIJING_CLERK)
        other_history = hq_get(c, cluster, f"/complaints/{walk.id}/history", BEIJING_CLERK)
        own = hq_get(c, cluster, f"/complaints/{beijing['form_number']}", BEIJING_CLERK)
        inbox = hq_get(c, cluster, "/inbox", BEIJING_CLERK).json()["items"]
        everyone = hq_get(c, cluster, "/complaints", samples.OPERATOR, q="报价单").json()["items"]
    assert listed and {row["branch"] for row in listed} == {"BJ02"}
    assert beijing["complaint_id"] in {row["complaint_id"] for row in listed}
    assert searched == [] and [row["complaint_id"] for row in found] == [beijing["complaint_id"]]
    assert other.status_code == other_history.status_code == 404
    assert own.status_code == 200
    assert {item["branch"] for item in inbox} <= {"BJ02"}
    assert walk.id in {row["complaint_id"] for row in everyone}


def test_the_inbox_shows_the_hq_clerk_the_handler_to_name_on_the_open_complaint(
        cluster: LocalCluster, walked: dict[str, Any]) -> None:
    beijing = walked["beijing"]
    with httpx.Client(timeout=15) as c:
        hq_clerk = hq_get(c, cluster, "/inbox", samples.HQ_CLERK).json()
        clerk = hq_get(c, cluster, "/inbox", samples.CLERK).json()
    mine = [i for i in hq_clerk["items"] if i["complaint_id"] == beijing["complaint_id"]]
    assert "handler" in {i["step"] for i in mine}, hq_clerk
    dues = [i["due_at"] for i in hq_clerk["items"] if i["due_at"] is not None]
    assert dues == sorted(dues)
    assert all(i["complaint_id"] != beijing["complaint_id"] for i in clerk["items"])


def test_the_inbox_shows_quality_s_next_step_once_the_determination_is_recorded(cluster: LocalCluster) -> None:
    receipt = open_quality_investigation(cluster)
    cid = receipt["complaint_id"]
    with httpx.Client(timeout=15) as c:
        determined = record_determination(c, cluster.url(ServiceName.QUALITY), cid, cluster.auth(**samples.MANAGER))
        assert determined.status_code == 201, determined.text

        def steps(who: dict[str, str]) -> set[str]:
            items = hq_get(c, cluster, "/inbox", who).json()["items"]
            return {i["step"] for i in items if i["complaint_id"] == cid}
        wait_for(lambda: "defective-product-form" in steps(samples.MANAGER), 60, "the form in the manager's inbox")
        assert "on-site-determination" not in steps(samples.MANAGER)
        assert steps(samples.clerk_of("BJ02")) == set()
