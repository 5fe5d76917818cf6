"""Deadlines over HTTP, the services as processes: a quality complaint's on-site deadlines are
set (the visit at registration, the sampling at the HQ clerk's dispatch), explained on request, met by
the determination; the explicit re-plan needs its role."""

from __future__ import annotations

import httpx
import pytest

from contracts.envelope import ServiceName
from services.common.cluster import LocalCluster
from services.demo import samples
from services.demo.journey import dispatch_on_site, record_determination, wait_for, wait_for_events

pytestmark = pytest.mark.e2e
INTAKE, ROUTING, QUALITY = ServiceName.INTAKE, ServiceName.ROUTING, ServiceName.QUALITY


def deadlines(client: httpx.Client, cluster: LocalCluster, complaint_id: str) -> dict[str, dict]:
    response = client.get(f"{cluster.url(ROUTING)}/complaints/{complaint_id}/deadlines")
    if response.status_code == 404:
        return {}
    assert response.status_code == 200, response.text
    return {d["kind"]: d for d in response.json()["deadlines"]}


def test_a_quality_complaints_deadlines_are_set_explained_and_met(cluster: LocalCluster, client: httpx.Client) -> None:
    receipt = client.post(f"{cluster.url(INTAKE)}/complaints", json=samples.quality_complaint(),
                          headers=cluster.auth(**samples.CLERK))
    assert receipt.status_code == 201, receipt.text
    complaint_id = receipt.json()["complaint_id"]
    found = wait_for(lambda: deadlines(client, cluster, complaint_id), 20, "the on-site visit deadline")
    assert set(found) == {"on_site_visit"}, "the sampling clock starts only when the HQ clerk dispatches"
    visit = found["on_site_visit"]
    assert visit["status"] == "open" and visit["responsible_role"] == "regional_manager"
    assert visit["rule_version"] and visit["calendar_version"]
    assert any("working days" in step and "calendar" in step for step in visit["steps"]), visit["steps"]

    other_branch = cluster.auth(**samples.clerk_of("BJ02"))
    assert httpx.get(f"{cluster.url(ROUTING)}/complaints/{complaint_id}/deadlines", headers=other_branch,
                     timeout=10).status_code == 404, "another branch's complaint does not exist for it"

    dispatch_on_site(client, cluster.url(ROUTING), complaint_id, cluster.auth(**samples.HQ_CLERK))
    found = wait_for(lambda: (d := deadlines(client, cluster, complaint_id)) and len(d) == 2 and d, 20,
                     "the on-site sampling deadline")
    assert set(found) == {"on_site_visit", "on_site_sampling"}
    assert found["on_site_sampling"]["status"] == "open"
    wait_for_events(client, cluster.url(QUALITY), complaint_id, "Opened")
    determined = record_determination(client, cluster.url(QUALITY), complaint_id, cluster.auth(**samples.MANAGER))
    assert determined.status_code == 201, determined.text
    met = wait_for(lambda: all(d["status"] == "met" for d in deadlines(client, cluster, complaint_id).values()),
                   20, "both deadlines met by the determination")
    assert met


def test_the_explicit_replan_needs_its_role(cluster: LocalCluster) -> None:
    url = f"{cluster.url(ROUTING)}/deadlines/replan"
    refused = httpx.post(url, json={"reason": "try"}, headers=cluster.auth(**samples.CLERK), timeout=10)
    assert refused.status_code == 403 and "deadline.replan" in refused.text
    done = httpx.post(url, json={"reason": "nothing changed in the calendar"},
                      headers=cluster.auth(**samples.OPERATOR), timeout=30)
    assert done.status_code == 200, done.text
    assert done.json()["replanned"] == 0, "the same calendar moves nothing"
