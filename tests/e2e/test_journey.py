"""End to end: Apache Kafka and the five services as separate OS processes, each on its own PostgreSQL database."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import httpx
import pytest

from contracts.envelope import STAGE_SERVICES, ServiceName
from services.common.cluster import LocalCluster
from services.demo import samples
from services.demo.journey import history, record_determination, wait_for_events
from services.intake.domain.registration import complaint_id_for
from tests.e2e.conftest import open_quality_investigation

pytestmark = pytest.mark.e2e
INTAKE, ROUTING, QUALITY, BILLING, NOTIFY = STAGE_SERVICES
#: Who is told along the journey: the customer that the regional manager is coming (the dispatch), then
#: the customer, the general manager and the management representative of the decision (§4.6, §5.7.2⑸),
#: and the customer what they owe (billing's statement: nothing, the company bears a defect's costs).
NOTICES = ["customer", "customer", "customer", "general_manager", "management_representative"]


@pytest.fixture(scope="module")
def journey(cluster: LocalCluster) -> dict:
    """One product-quality complaint taken through all five services."""
    receipt = open_quality_investigation(cluster)
    complaint_id = receipt["complaint_id"]
    with httpx.Client(timeout=15, headers=cluster.auth(**samples.OPERATOR)) as c:
        # The regional manager of the region uploads the photo, then records the determination naming it.
        determination = record_determination(c, cluster.url(QUALITY), complaint_id, cluster.auth(**samples.MANAGER))
        assert determination.status_code == 201, determination.text
        wait_for_events(c, cluster.url(NOTIFY), complaint_id, "Recorded", count=len(NOTICES))
        return {"receipt": receipt, "complaint_id": complaint_id,
                "histories": {s: history(c, cluster.url(s), complaint_id) for s in STAGE_SERVICES}}


def test_a_quality_complaint_travels_through_all_five_services(journey: dict) -> None:
    h = journey["histories"]
    kinds = {s: [e["event_type"] for e in events] for s, events in h.items()}
    assert kinds[INTAKE] == ["Registered"]
    assert kinds[ROUTING][0] == "Opened"
    # Routed to the HQ clerk, who dispatched the regional manager on site: only then to quality.
    routed = [e["data"]["destination"] for e in h[ROUTING] if e["event_type"] == "Routed"]
    assert routed == ["hq_clerk", "quality_department"]
    [triaged] = [e for e in h[ROUTING] if e["event_type"] == "QualityCaseTriaged"]
    assert triaged["data"]["answered_directly"] is False and triaged["meta"]["actor"]["role"] == "hq_clerk"
    first, second = (i for i, kind in enumerate(kinds[ROUTING]) if kind == "Routed")
    assert first < kinds[ROUTING].index("QualityCaseTriaged") < second
    [milestone] = [e for e in h[ROUTING] if e["event_type"] == "ProgressMilestoneReached"]
    assert milestone["data"]["milestone"] == "on_site_visit_dispatched"
    assert kinds[QUALITY] == ["Opened", "DeterminationRecorded"]
    [allocated] = [e for e in h[BILLING] if e["event_type"] == "Allocated"]  # beside the ledger's own events
    assert {(line["item"], line["payer"]) for line in allocated["data"]["lines"]} == {
        ("replacement", "company"), ("return_transport", "company"), ("delivery_transport", "company")}
    notices = [e for e in h[NOTIFY] if e["event_type"] == "Recorded"]
    assert sorted(n["data"]["recipient_role"] for n in notices) == NOTICES
    # One correlation id along the whole journey; each step caused by the one before.
    correlation = {e["meta"]["correlation_id"] for events in h.values() for e in events}
    assert len(correlation) == 1
    assert all(e["meta"]["form_number"] == journey["receipt"]["form_number"] for ev in h.values() for e in ev)


def test_the_notices_reach_the_general_manager_and_the_management_representative_by_email_and_inbox(
        cluster: LocalCluster, journey: dict, mail) -> None:
    """The e-mails arrive at a real SMTP server; the inbox and the clerk's phone tasks are notify's own;
    the e-mail's receipt link acknowledges the notice."""
    from services.demo.journey import wait_for
    complaint_id = journey["complaint_id"]
    form_number = journey["receipt"]["form_number"]
    operator = cluster.auth(**samples.OPERATOR)

    def all_delivered() -> list | None:
        found = httpx.get(f"{cluster.url(NOTIFY)}/complaints/{complaint_id}/notifications", headers=operator,
                          timeout=10).json()["notifications"]
        targets = [t for n in found for t in n["targets"]]
        return found if len(found) == len(NOTICES) and all(t["status"] == "delivered" for t in targets) else None
    notices = wait_for(all_delivered, 30, "every target delivered")
    gm = next(n for n in notices if n["recipient_user_id"] == "gm-chen")
    mr = next(n for n in notices if n["recipient_user_id"] == "mr-sun")
    assert {t["channel"] for t in gm["targets"]} == {t["channel"] for t in mr["targets"]} == {"email", "inbox"}
    with mail.lock:
        mine = [m for m in mail.messages if form_number in str(m["Subject"])]
    assert sorted(str(m["To"]) for m in mine) == ["gm@example.com", "mr@example.com"]  # once each
    message = next(m for m in mine if str(m["To"]) == "mr@example.com")
    assert message.get_content_type() == "multipart/alternative"
    link = next(word for word in message.get_body(("plain",)).get_content().split() if "/receipts/" in word)
    link = link.split("：")[-1]
    token = link.rsplit("/", 1)[-1]
    page = httpx.get(f"{cluster.url(NOTIFY)}/receipts/{token}", timeout=10)
    assert page.status_code == 200 and form_number in page.text and "<form" in page.text
    acknowledged = httpx.post(f"{cluster.url(NOTIFY)}/receipts/{token}", timeout=10)
    assert acknowledged.status_code == 200
    told = httpx.get(f"{cluster.url(NOTIFY)}/complaints/{complaint_id}/notifications", headers=operator,
                     timeout=10).json()["notifications"]
    assert next(n for n in told if n["notice_id"] == mr["notice_id"])["acknowledged"]["via"] == "link"
    assert httpx.get(f"{cluster.url(NOTIFY)}/receipts/{token[:-2]}xx", timeout=10).status_code == 404

    # the general manager's inbox shows it unread, then read; acknowledging it once
    gm_auth = cluster.auth("gm-chen", "general_manager")
    inbox = httpx.get(f"{cluster.url(NOTIFY)}/inbox", headers=gm_auth, timeout=10).json()
    mine = [i for i in inbox["items"] if i["complaint_id"] == complaint_id]
    assert [i["notice_id"] for i in mine] == [gm["notice_id"]] and not mine[0]["read"]
    read = httpx.post(f"{cluster.url(NOTIFY)}/inbox/{gm['notice_id']}/read", headers=gm_auth, timeout=10)
    assert read.status_code == 200 and read.json()["changed"] is True
    after = httpx.get(f"{cluster.url(NOTIFY)}/inbox", headers=gm_auth, timeout=10).json()
    assert after["unread"] == inbox["unread"] - 1
    ack = httpx.post(f"{cluster.url(NOTIFY)}/inbox/{gm['notice_id']}/acknowledgement", headers=gm_auth, timeout=10)
    assert ack.status_code == 200 and ack.json()["changed"] is True
    again = httpx.post(f"{cluster.url(NOTIFY)}/inbox/{gm['notice_id']}/acknowledgement", headers=gm_auth, timeout=10)
    assert again.json()["changed"] is False
    # someone else cannot read or acknowledge it
    other = httpx.post(f"{cluster.url(NOTIFY)}/inbox/{gm['notice_id']}/read",
                       headers=cluster.auth("mr-sun", "management_representative"), timeout=10)
    assert other.status_code == 404
    # the customer's phone tasks are in the SH01 clerk's inbox
    clerk = httpx.get(f"{cluster.url(NOTIFY)}/inbox", headers=cluster.auth(**samples.CLERK), timeout=10).json()
    tasks = [i for i in clerk["items"] if i["complaint_id"] == complaint_id]
    assert len(tasks) == 3 and {i["kind"] for i in tasks} == {"phone_task"}


@pytest.mark.parametrize("service", [BILLING, ROUTING])
def test_a_killed_service_rebuilds_the_same_state_from_its_store(cluster: LocalCluster, client: httpx.Client,
                                                                  journey: dict, service: ServiceName) -> None:
    before = history(client, cluster.url(service), journey["complaint_id"])
    assert cluster.stop_service(service, kill=True) == -9
    cluster.start_service(service)
    after = history(client, cluster.url(service), journey["complaint_id"])
    assert after == before
    assert client.get(cluster.url(service) + "/health").json() == {"status": "up"}


def test_form_numbers_stay_unique_under_concurrent_registrations(cluster: LocalCluster) -> None:
    headers = cluster.auth(**samples.clerk_of("CD09"))

    def register(_: int) -> httpx.Response:
        with httpx.Client(timeout=30, headers=headers) as c:
            return c.post(f"{cluster.url(INTAKE)}/complaints", json=samples.staff_complaint(branch="CD09"))
    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(register, range(24)))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    numbers = sorted(r.json()["form_number"] for r in responses)
    assert len(set(numbers)) == 24
    assert [int(n.rsplit("-", 1)[1]) for n in numbers] == list(range(1, 25)), "no number skipped or repeated"


def test_a_repeated_registration_command_is_the_same_complaint(cluster: LocalCluster, client: httpx.Client) -> None:
    body = samples.staff_complaint(branch="XA07")
    clerk = cluster.auth(**samples.clerk_of("XA07"))
    first = client.post(f"{cluster.url(INTAKE)}/complaints", json=body, headers=clerk)
    again = client.post(f"{cluster.url(INTAKE)}/complaints", json=body, headers=clerk)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["complaint_id"] == first.json()["complaint_id"]
    assert again.json()["form_number"] == first.json()["form_number"]
    assert len(history(client, cluster.url(INTAKE), first.json()["complaint_id"])) == 1


@pytest.mark.parametrize(("change", "field"), [
    ({"branch": "sh01"}, "branch"),
    ({"received_at": "2026-11-25T10:00:00"}, "received_at"),
    ({"read_back_confirmed": False}, "read_back_confirmed"),
    ({"product": None}, "product"),
    ({"customer": {"name": "X", "phone": "abc"}}, "phone"),
])
def test_bad_registrations_are_refused_naming_the_field_and_store_nothing(
        cluster: LocalCluster, client: httpx.Client, change: dict, field: str) -> None:
    body = samples.quality_complaint() | change
    response = client.post(f"{cluster.url(INTAKE)}/complaints", json=body, headers=cluster.auth(**samples.CLERK))
    assert response.status_code == 422
    assert field in json.dumps(response.json()["detail"])
    assert history(client, cluster.url(INTAKE), str(complaint_id_for(UUID(body["command_id"])))) == []


def test_determination_for_a_complaint_quality_never_received_is_404(cluster: LocalCluster,
                                                                      client: httpx.Client) -> None:
    response = client.post(f"{cluster.url(QUALITY)}/complaints/{'0' * 8}-0000-4000-8000-{'0' * 12}"
                           "/on-site-determination", json=samples.obvious_defect_determination(),
                           headers=cluster.auth(**samples.MANAGER))
    assert response.status_code == 404
    assert "not been routed to quality" in response.text


def test_determination_naming_another_complaint_in_the_body_is_refused(cluster: LocalCluster, client: httpx.Client,
                                                                       journey: dict) -> None:
    body = samples.obvious_defect_determination() | {"complaint_id": "00000000-0000-4000-8000-000000000001"}
    response = client.post(f"{cluster.url(QUALITY)}/complaints/{journey['complaint_id']}/on-site-determination",
                           json=body, headers=cluster.auth(**samples.MANAGER))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "complaint_id"]
