"""Intake's steps over separate processes: a record taken without its read-back is not routed until
confirmed; withdrawal; a minor complaint closed at intake; an inquiry answered."""

from __future__ import annotations

import time
from uuid import uuid4

import httpx
import pytest

from contracts.envelope import ServiceName
from services.common.cluster import LocalCluster
from services.demo import samples
from services.demo.journey import wait_for_events

INTAKE, ROUTING = ServiceName.INTAKE, ServiceName.ROUTING


def post(client: httpx.Client, cluster: LocalCluster, path: str, body: dict) -> httpx.Response:
    return client.post(f"{cluster.url(INTAKE)}{path}", json=body, headers=cluster.auth(**samples.CLERK))


def test_a_taken_record_is_routed_only_after_its_read_back(cluster: LocalCluster, client: httpx.Client) -> None:
    body = samples.staff_complaint(branch="SH01")
    del body["read_back_confirmed"]
    taken = post(client, cluster, "/complaints", body)
    assert taken.status_code == 201 and taken.json()["state"] == "awaiting_read_back", taken.text
    complaint_id = taken.json()["complaint_id"]
    time.sleep(2)  # give routing time it would need to route it
    assert client.get(f"{cluster.url(ROUTING)}/complaints/{complaint_id}/history").status_code == 404
    confirmed = post(client, cluster, f"/complaints/{complaint_id}/read-back",
                     {"command_id": str(uuid4()), "record_revision": 1, "confirmed_by": "Mr. Zhao"})
    assert confirmed.status_code == 201 and confirmed.json()["state"] == "registered", confirmed.text
    wait_for_events(client, cluster.url(ROUTING), complaint_id, "Routed")


def test_withdrawal_closes_and_is_refused_after(cluster: LocalCluster, client: httpx.Client) -> None:
    receipt = post(client, cluster, "/complaints", samples.staff_complaint(branch="SH01")).json()
    path = f"/complaints/{receipt['complaint_id']}/withdrawal"
    withdrawn = post(client, cluster, path, {"command_id": str(uuid4()), "reason": "Settled directly"})
    assert withdrawn.status_code == 201 and withdrawn.json()["state"] == "withdrawn", withdrawn.text
    again = post(client, cluster, path, {"command_id": str(uuid4()), "reason": "again"})
    assert again.status_code == 409 and "withdrawn" in again.text
    [closed] = wait_for_events(client, cluster.url(ROUTING), receipt["complaint_id"], "Closed")
    assert closed["data"]["outcome"] == "withdrawn", "routing closes the case"


def test_a_minor_complaint_closes_at_intake_and_is_never_routed(cluster: LocalCluster, client: httpx.Client) -> None:
    receipt = post(client, cluster, "/complaints", samples.minor_complaint(branch="SH01")).json()
    assert receipt["state"] == "closed_at_intake"
    wait_for_events(client, cluster.url(INTAKE), receipt["complaint_id"], "ClosedAtIntake")
    assert client.get(f"{cluster.url(ROUTING)}/complaints/{receipt['complaint_id']}/history").status_code == 404


@pytest.mark.parametrize("role", [samples.MANAGER])
def test_an_inquiry_is_answered_by_the_clerk_only(cluster: LocalCluster, client: httpx.Client, role) -> None:
    body = samples.staff_complaint(branch="SH01") | {"kind": "inquiry", "subject": "other",
                                                      "description": "How often should the filter be changed?"}
    receipt = post(client, cluster, "/complaints", body).json()
    path = f"{cluster.url(INTAKE)}/complaints/{receipt['complaint_id']}/inquiry-answer"
    answer = {"command_id": str(uuid4()), "answer": "Every 500 hours", "channel": "phone"}
    assert client.post(path, json=answer, headers=cluster.auth(**role)).status_code == 403
    answered = client.post(path, json=answer, headers=cluster.auth(**samples.CLERK))
    assert answered.status_code == 201 and answered.json()["state"] == "inquiry_answered", answered.text
