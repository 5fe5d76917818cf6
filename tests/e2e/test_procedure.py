"""The procedure end to end (domain.md §5.2 to §5.8), the services as processes: one complaint of each
subject and of each kind from its HTTP registration to its closure at routing, each step over HTTP
with the token of the role that takes it; a dispute reopening a closed case, ruled by headquarters;
registrations published straight onto intake's commands topic.

Every complaint is registered first, then all are walked at once (a thread each); each test reports
its own walk.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.envelope import STAGE_SERVICES, ServiceName
from contracts.topics import INTAKE_COMMAND_RESULTS_TOPIC, INTAKE_COMMANDS_TOPIC, PARTITIONS
from services.common import access
from services.common.cluster import LocalCluster
from services.demo import samples
from services.demo.journey import dispatch_on_site, history, record_determination, wait_for, wait_for_events
from services.intake.domain.registration import complaint_id_for

pytestmark = pytest.mark.e2e
INTAKE, ROUTING, QUALITY, BILLING, NOTIFY = STAGE_SERVICES

HQ = samples.HQ_CLERK
SUPERVISOR = {"user": "sup-qian", "role": "supervisor"}
DIRECTOR = {"user": "md-sun", "role": "marketing_director"}
DEPARTMENT = {"user": "head-wu", "role": "responsible_department"}
LOGISTICS = "Logistics department"


def at(**delta: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


def complaint(subject: str, description: str, branch: str = "SH01", **extra: Any) -> dict[str, Any]:
    """A registration of another customer (its own phone: no repeat links between the walks)."""
    return samples.staff_complaint(branch) | {
        "subject": subject, "description": description, "channel": "phone",
        "customer": {"name": f"Customer {uuid4().hex[:6]}", "phone": samples.a_phone()}, **extra}


def published(events: list[dict[str, Any]]) -> list[str]:
    """The names of a history's events as published (`Closed` is `ComplaintClosed`)."""
    return [e["published_as"] or e["event_type"] for e in events]


class Walk:
    """One complaint on its way through the procedure: each step over HTTP as the person who takes it."""

    def __init__(self, cluster: LocalCluster, receipt: dict[str, Any], branch: str, **about: Any):
        self.cluster = cluster
        self.id, self.form_number = receipt["complaint_id"], receipt["form_number"]
        self.clerk = samples.clerk_of(branch)
        self.manager = samples.manager_of(access.rules().region_of(branch))
        self.about = about
        self.client = httpx.Client(timeout=15, headers=cluster.auth(**samples.OPERATOR))
        self.routing = cluster.url(ROUTING)
        self.closures = 0

    def post(self, segment: str, who: dict[str, str], fields: dict[str, Any]) -> httpx.Response:
        return self.client.post(f"{self.routing}/complaints/{self.id}/{segment}",
                                json={"command_id": str(uuid4()), **fields}, headers=self.cluster.auth(**who))

    def step(self, segment: str, who: dict[str, str], state: str, **fields: Any) -> dict[str, Any]:
        """Take the step as `who`; the case is then in `state`."""
        response = self.post(segment, who, fields)
        assert response.status_code == 201, (self.form_number, segment, who["role"], response.text)
        assert response.json()["state"] == state, (self.form_number, segment, response.json())
        return response.json()

    def refused(self, segment: str, who: dict[str, str], status: int, **fields: Any) -> str:
        response = self.post(segment, who, fields)
        assert response.status_code == status, (self.form_number, segment, response.text)
        return response.text

    def case(self) -> dict[str, Any]:
        response = self.client.get(f"{self.routing}/complaints/{self.id}/case")
        assert response.status_code == 200, response.text
        return response.json()

    def awaits(self, step: str, role: str) -> dict[str, Any]:
        """The case waits for `role` to take `step` (its inbox entry)."""
        awaited = self.case()["awaited"]
        found = [a for a in awaited if (a["step"], a["role"]) == (step, role)]
        assert found, (self.form_number, step, role, awaited)
        return found[0]

    def wait_state(self, state: str) -> dict[str, Any]:
        return wait_for(lambda: (c := self.case())["state"] == state and c, 30, f"{self.form_number} {state}")

    def routed(self, state: str, track: str | None) -> None:
        wait_for_events(self.client, self.routing, self.id, "Routed")
        case = self.case()
        assert (case["state"], case["track"]) == (state, track), case

    def handler(self) -> None:
        """The HQ clerk names the regional manager responsible for handling (awaited from the start)."""
        who = self.manager
        self.awaits("handler", "hq_clerk")
        self.step("handler", HQ, self.case()["state"], handler=who["user"], handler_role=who["role"])
        assert self.case()["handler"] == who["user"]

    def memo(self, by: dict[str, str], addressed_to: str, **fields: Any) -> str:
        memo_id = str(uuid4())
        self.step("memo", by, "memo_filed", memo_id=memo_id, addressed_to=addressed_to,
                  description=f"Internal memo on {self.form_number}: the customer's account and our records.",
                  requested_reply_by=at(days=2), **fields)
        self.awaits("memo-dispatch", "hq_clerk")
        return memo_id

    def department_reply(self, memo_id: str, **fields: Any) -> None:
        self.awaits("department-reply", "responsible_department")
        self.step("department-reply", DEPARTMENT, "awaiting_approval", memo_id=memo_id, department=LOGISTICS,
                  signed_by={"name": "Wu Gang, head of logistics", "role": "responsible_department",
                             "signed_at": at()}, **fields)

    def reply_and_close(self, remedy: str | None, outcome: str, follow_up_tries: int = 1) -> None:
        """The branch clerk gives the approved reply; the remedy is delivered (when there is one); the
        satisfaction follow-up; the HQ clerk closes and archives."""
        assert self.awaits("customer-reply", "branch_clerk")["branch"] == self.clerk["branch"]
        self.step("customer-reply", self.clerk, "awaiting_remedy" if remedy else "awaiting_follow_up",
                  channel="phone", reply="We have looked into your complaint; this is our answer and what we do.")
        if remedy:
            self.step("remedy", self.manager, "awaiting_follow_up", remedy=remedy, delivered_at=at(minutes=-5),
                      reference=f"DLV-{self.form_number}")
        self.follow_up_and_close(outcome, follow_up_tries)

    def follow_up_and_close(self, outcome: str, tries: int = 1) -> None:
        for _ in range(tries - 1):
            self.step("follow-up", self.clerk, "awaiting_follow_up", channel="phone", reached_customer=False)
        self.step("follow-up", self.clerk, "ready_to_close", channel="phone", reached_customer=True,
                  satisfaction="satisfied", comments="Satisfied with how it was handled.")
        self.awaits("closure", "hq_clerk")
        self.step("closure", HQ, "closed", resolution_summary=f"{self.form_number} resolved; the customer agreed.")
        self.closed(outcome)

    def closed(self, outcome: str) -> list[dict[str, Any]]:
        """Closed (once more) and archived at routing, with this outcome; returns routing's history."""
        self.closures += 1
        events = history(self.client, self.routing, self.id)
        names = published(events)
        assert names.count("ComplaintClosed") == names.count("ComplaintArchived") == self.closures, names
        closed = [e for e in events if e["published_as"] == "ComplaintClosed"][-1]
        assert closed["data"]["outcome"] == outcome, closed
        archived = [e for e in events if e["event_type"] == "ComplaintArchived"][-1]
        assert archived["data"]["decision_trail"] and archived["meta"]["actor"]["role"] in ("hq_clerk", "system")
        case = self.case()
        assert (case["state"], case["awaited"]) == ("closed", []), case
        still = [d for d in self.deadlines() if d["status"] in ("open", "paused")]
        assert not still, f"{self.form_number} closed with deadlines running: {still}"
        return events

    def deadlines(self) -> list[dict[str, Any]]:
        response = self.client.get(f"{self.routing}/complaints/{self.id}/deadlines")
        if response.status_code == 404:
            return []
        assert response.status_code == 200, response.text
        return response.json()["deadlines"]


# --- the walks, one per subject and kind ---------------------------------------------------------

def policy_within_regional_authority(w: Walk) -> None:
    """§5.3.1⑴: the regional manager handles it; the handler's solution is approved under regional authority."""
    w.routed("awaiting_memo", "regional")
    w.handler()
    w.awaits("cause-and-solution", "regional_manager")
    w.step("cause-and-solution", w.manager, "awaiting_approval", cause="The price list sent was out of date.",
           cause_category="policy", valid=True, proposed_solution="Credit the price difference.",
           compensation="500.00")
    w.awaits("approval", "regional_manager")
    w.step("approval", w.manager, "awaiting_customer_reply", approved_reply="We credit you the price difference.",
           remedy="Credit note of 500 CNY", compensation="500.00")
    w.reply_and_close(remedy="Credit note of 500 CNY issued", outcome="resolved")


def policy_over_regional_authority(w: Walk) -> None:
    """§5.3.1⑵-⑹: the memo to the marketing director, the HQ clerk's dispatch, the department's signed
    reply, the supervisor's then the marketing director's approval."""
    w.routed("awaiting_memo", "regional")
    w.handler()
    memo_id = w.memo(w.clerk, "marketing_director", crosses_departments=True)
    assert w.case()["track"] == "headquarters"
    w.step("memo-dispatch", HQ, "with_department", memo_id=memo_id, destination="responsible_department",
           department=LOGISTICS)
    w.department_reply(memo_id, reply="Freight was charged twice; we refund it.", cause="Double freight charge",
                       proposed_remedy="Refund the freight", compensation="3000.00")
    w.awaits("approval", "supervisor")
    beyond = w.refused("approval", SUPERVISOR, 403, approved_reply="Refund", compensation="8000.00")
    assert "limit of 5000" in beyond, beyond
    w.step("approval", SUPERVISOR, "awaiting_approval", approved_reply="We refund the freight charged twice.",
           remedy="Refund the freight", compensation="3000.00")
    w.awaits("approval", "marketing_director")
    w.step("approval", DIRECTOR, "awaiting_customer_reply", approved_reply="We refund the freight charged twice.",
           remedy="Refund the freight", compensation="3000.00")
    w.reply_and_close(remedy="Freight of 3000 CNY refunded", outcome="resolved")


def staff(w: Walk, beyond_supervisor: bool) -> None:
    """§5.3.2: the regional manager's memo to the supervisor of the person, who investigates; beyond the
    supervisor's authority the marketing director approves and the direct superior is told."""
    w.routed("awaiting_memo", "staff_supervisor")
    w.handler()
    memo_id = w.memo(w.manager, "supervisor")
    w.step("memo-dispatch", HQ, "with_department", memo_id=memo_id, destination="supervisor",
           department=SUPERVISOR["user"])
    w.awaits("staff-investigation", "supervisor")
    compensation = "6000.00" if beyond_supervisor else None
    w.step("staff-investigation", SUPERVISOR, "awaiting_approval", memo_id=memo_id,
           staff_member=w.about["complained_about"], substantiated=True, findings="Two visits were missed.",
           opinion="Apologise; a new salesperson takes over the account.", compensation=compensation,
           exceeds_supervisor_authority=beyond_supervisor,
           direct_superior="sales-director-ma" if beyond_supervisor else None)
    w.awaits("approval", "supervisor")
    w.step("approval", SUPERVISOR, "awaiting_approval" if beyond_supervisor else "awaiting_customer_reply",
           approved_reply="We apologise; a new salesperson takes over your account.")
    if beyond_supervisor:
        w.awaits("approval", "marketing_director")
        w.step("approval", DIRECTOR, "awaiting_customer_reply",
               approved_reply="We apologise and compensate the lost orders.", remedy="Compensation for lost orders",
               compensation=compensation)
        wait_for(lambda: any(e["event_type"] == "Recorded" and e["data"]["recipient_user_id"] == "sales-director-ma"
                             for e in history(w.client, w.cluster.url(NOTIFY), w.id)), 30, "the direct superior told")
    w.reply_and_close(remedy="Compensation of 6000 CNY paid" if beyond_supervisor else None, outcome="resolved")


def quality_answered_directly(w: Walk) -> None:
    """§5.3.3⑵: the HQ clerk answers a simple question directly; quality never sees it."""
    w.routed("awaiting_triage", "quality")
    w.awaits("triage", "hq_clerk")
    w.step("direct-answer", HQ, "awaiting_follow_up", channel="phone",
           answer="The film at the seam is assembly grease sweating out: wipe it after 50 hours; nothing leaks.")
    assert w.case()["handler"] == HQ["user"], "the HQ clerk who answered handled it"
    assert {d["kind"]: d["status"] for d in w.deadlines()} == {"on_site_visit": "met", "cause_and_solution": "met"}, \
        "no visit is due, and the answer is the handler's cause and solution"
    w.follow_up_and_close("answered_directly")
    assert history(w.client, w.cluster.url(QUALITY), w.id) == [], "never routed to quality"


def quality_misuse_fixed_on_site(w: Walk) -> None:
    """§5.3.3⑷, §5.5.2⑴: dispatched on site; obvious misuse fixed there, the customer agreeing."""
    w.routed("awaiting_triage", "quality")
    w.handler()
    dispatch_on_site(w.client, w.routing, w.id, w.cluster.auth(**HQ), regional_manager=w.manager["user"])
    assert w.awaits("on-site-determination", "regional_manager")["assignee"] == w.manager["user"]
    wait_for_events(w.client, w.cluster.url(QUALITY), w.id, "Opened")
    determined = record_determination(w.client, w.cluster.url(QUALITY), w.id, w.cluster.auth(**w.manager),
                                      samples.misuse_fixed_on_site_determination())
    assert determined.status_code == 201, determined.text
    w.wait_state("awaiting_customer_reply")
    w.reply_and_close(remedy=None, outcome="resolved")


def transport_packaging(w: Walk) -> None:
    """The responsible department answers the memo the HQ clerk dispatched; the regional manager approves."""
    w.routed("awaiting_memo", "regional")
    w.handler()
    memo_id = w.memo(w.clerk, "hq_clerk", attachments=[{"kind": "photo", "ref": "photos/crate-broken-1.jpg"}])
    w.step("memo-dispatch", HQ, "with_department", memo_id=memo_id, destination="responsible_department",
           department=LOGISTICS)
    w.department_reply(memo_id, reply="The crates were too light for the route.", cause="Packaging under-rated",
                       proposed_remedy="Re-ship in reinforced crates")
    w.awaits("approval", "regional_manager")
    w.step("approval", w.manager, "awaiting_customer_reply", approved_reply="We re-ship in reinforced crates.",
           remedy="Re-ship in reinforced crates", company_cost="1200.00")
    w.reply_and_close(remedy="Re-shipped in reinforced crates", outcome="resolved")


def other(w: Walk) -> None:
    """Other: the HQ clerk dispatches the memo; no remedy; the customer is reached at the second try."""
    w.routed("awaiting_memo", "regional")
    w.handler()
    memo_id = w.memo(w.manager, "hq_clerk")
    w.step("memo-dispatch", HQ, "with_department", memo_id=memo_id, destination="responsible_department",
           department=LOGISTICS)
    w.department_reply(memo_id, reply="The delivery notes now carry the hotline number.",
                       cause="The hotline number was missing on delivery notes")
    w.step("approval", w.manager, "awaiting_customer_reply", approved_reply="The hotline is now on every note.")
    w.reply_and_close(remedy=None, outcome="resolved", follow_up_tries=2)


def inquiry(w: Walk) -> None:
    """95279: an inquiry answered at intake closes and archives the case at routing."""
    w.routed("awaiting_answer", None)
    answered = w.client.post(f"{w.cluster.url(INTAKE)}/complaints/{w.id}/inquiry-answer",
                             json={"command_id": str(uuid4()), "answer": "Every 500 hours.", "channel": "phone"},
                             headers=w.cluster.auth(**w.clerk))
    assert answered.status_code == 201, answered.text
    wait_for_events(w.client, w.routing, w.id, "ComplaintArchived")
    w.closed("answered_directly")


def suggestion(w: Walk) -> None:
    """95279: a suggestion: the customer is promised a reply date, then told whether it was adopted."""
    w.routed("awaiting_answer", None)
    intake = f"{w.cluster.url(INTAKE)}/complaints/{w.id}"
    for path, body in [("suggestion-reply-promise", {"reply_by": str(date.today() + timedelta(days=7))}),
                       ("suggestion-answer", {"adopted": True, "channel": "phone",
                                              "answer": "Adopted: weekend deliveries start next month."})]:
        response = w.client.post(f"{intake}/{path}", json={"command_id": str(uuid4()), **body},
                                 headers=w.cluster.auth(**w.clerk))
        assert response.status_code == 201, response.text
    wait_for_events(w.client, w.routing, w.id, "ComplaintArchived")
    w.closed("answered_directly")


def dispute_after_closure(w: Walk) -> None:
    """§5.6.1: the customer disputes the closed outcome; headquarters rules finally; closed again."""
    policy_within_regional_authority(w)
    dispute_id = str(uuid4())
    w.step("dispute", w.clerk, "disputed", dispute_id=dispute_id, forum="headquarters",
           disputed_decision="The credit of 500 CNY", grounds="The difference was 800 CNY, not 500.")
    raised = [e for e in history(w.client, w.routing, w.id) if e["event_type"] == "DisputeRaised"]
    assert [e["data"]["reopened"] for e in raised] == [True]
    w.awaits("ruling", "marketing_director")
    w.refused("ruling", w.manager, 403, dispute_id=dispute_id, ruled_by="rm", outcome="rejected", ruling="No.")
    w.step("ruling", DIRECTOR, "awaiting_customer_reply", dispute_id=dispute_id, ruled_by="headquarters",
           outcome="partially_upheld", ruling="The difference was 650 CNY: 150 CNY more is credited.",
           remedy="Further credit note of 150 CNY")
    w.reply_and_close(remedy="Further credit note of 150 CNY issued", outcome="resolved_after_dispute")
    assert w.closures == 2


#: Each walk, the branch it starts at and its registration.
WALKS: dict[str, tuple[Callable[[Walk], None], Callable[[], dict[str, Any]]]] = {
    "policy_regional": (policy_within_regional_authority,
                        lambda: complaint("policy_service", "The price list we were sent was out of date.")),
    "policy_over_authority": (policy_over_regional_authority,
                              lambda: complaint("policy_service", "Freight was charged twice on one order.")),
    "staff": (lambda w: staff(w, beyond_supervisor=False),
              lambda: complaint("staff", "Salesperson missed two agreed visits.", "BJ02",
                                complained_about=f"sales-he-{uuid4().hex[:4]}")),
    "staff_beyond_supervisor": (lambda w: staff(w, beyond_supervisor=True),
                                lambda: complaint("staff", "Salesperson's missed visits lost us two orders.", "BJ02",
                                                  complained_about=f"sales-li-{uuid4().hex[:4]}")),
    "quality_direct_answer": (quality_answered_directly, samples.quality_complaint),
    "quality_misuse_on_site": (quality_misuse_fixed_on_site, samples.quality_complaint),
    "transport_packaging": (transport_packaging,
                            lambda: complaint("transport_packaging", "Two crates arrived broken.")),
    "other": (other, lambda: complaint("other", "Nobody answered the number on the delivery note.")),
    "inquiry": (inquiry, lambda: complaint("other", "How often should the filter be changed?", kind="inquiry")),
    "suggestion": (suggestion, lambda: complaint("policy_service", "Please deliver on Saturdays too.",
                                                 kind="suggestion")),
    "dispute": (dispute_after_closure,
                lambda: complaint("policy_service", "The discount promised was not applied.")),
}


def walk_all(walks: dict[str, Walk], steps: dict[str, Callable[[Any], None]]
             ) -> Iterator[dict[str, BaseException | None]]:
    """Walk every complaint at once (a thread each): yields name -> the walk's failure, if any (each
    reported by its own test); the walks' clients are closed afterwards."""
    def run(name: str) -> BaseException | None:
        try:
            steps[name](walks[name])
            return None
        except BaseException as e:  # noqa: BLE001 - reported by the walk's own test
            return e
    with ThreadPoolExecutor(max_workers=len(walks)) as pool:
        failures = dict(zip(walks, pool.map(run, walks)))
    yield failures
    for walk in walks.values():
        walk.client.close()


@pytest.fixture(scope="module")
def walked(cluster: LocalCluster) -> Iterator[dict[str, BaseException | None]]:
    """Register every complaint over HTTP, then walk them all at once: name -> the walk's failure, if any."""
    walks: dict[str, Walk] = {}
    with httpx.Client(timeout=15) as c:
        for name, (_, body) in WALKS.items():
            registration = body()
            clerk = samples.clerk_of(registration["branch"])
            receipt = c.post(f"{cluster.url(INTAKE)}/complaints", json=registration, headers=cluster.auth(**clerk))
            assert receipt.status_code == 201, receipt.text
            walks[name] = Walk(cluster, receipt.json(), registration["branch"],
                               complained_about=registration.get("complained_about"))

    yield from walk_all(walks, {name: walk for name, (walk, _) in WALKS.items()})


@pytest.mark.parametrize("name", list(WALKS))
def test_each_subject_and_kind_from_registration_to_closure(walked: dict[str, BaseException | None],
                                                            name: str) -> None:
    if (failure := walked[name]) is not None:
        raise failure


# --- registrations straight onto Kafka ------------------------------------------------------------

async def results_of(bootstrap: str, command_ids: set[str], timeout: float = 30) -> dict[str, dict]:
    """Intake's result of each command, read from the results topic (keyed by command id)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: dict[str, dict] = {}
    try:
        partitions = [TopicPartition(INTAKE_COMMAND_RESULTS_TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)  # no group to join: read every partition from the start
        await consumer.seek_to_beginning(*partitions)
        deadline = asyncio.get_running_loop().time() + timeout
        while set(found) != command_ids and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    if record.key and record.key.decode() in command_ids:
                        found[record.key.decode()] = json.loads(record.value)
    finally:
        await consumer.stop()
    return found


async def test_a_registration_published_on_kafka_reaches_routing_and_a_bad_one_is_refused_naming_the_field(
        cluster: LocalCluster, client: httpx.Client) -> None:
    def command(**change: Any) -> dict[str, Any]:
        return complaint("policy_service", "Registered by the branch system.") | {
            "command_type": "RegisterComplaint", "schema_version": 1, "issued_at": at()} | change

    bad, good = command(), command()
    del bad["customer"]
    # The branch system's identity is its signed token, in the message's authorization header.
    signed = [("authorization", f"Bearer {cluster.token('branch-system-sh01', 'branch_clerk', 'SH01')}".encode())]
    producer = cluster.bus.producer()
    await producer.start()
    try:  # one partition, the bad command first: the consumer goes on past it
        for body in (bad, good):
            await producer.send_and_wait(INTAKE_COMMANDS_TOPIC, json.dumps(body).encode(),
                                         key=body["command_id"].encode(), partition=0, headers=signed)
    finally:
        await producer.stop()

    results = await results_of(cluster.bootstrap_servers, {bad["command_id"], good["command_id"]})
    refused, registered = results[bad["command_id"]], results[good["command_id"]]
    assert (refused["outcome"], refused["field"]) == ("refused", "customer"), refused
    assert registered["outcome"] == "registered" and registered["form_number"].startswith("SH01-"), registered
    complaint_id = str(complaint_id_for(UUID(good["command_id"])))
    [routed] = await asyncio.to_thread(wait_for_events, client, cluster.url(ROUTING), complaint_id, "Routed")
    assert routed["data"]["destination"] == "regional_manager"
    assert routed["meta"]["form_number"] == registered["form_number"]
    assert await asyncio.to_thread(history, client, cluster.url(INTAKE),
                                   str(complaint_id_for(UUID(bad["command_id"])))) == []
