"""A serious complaint over HTTP, the services as processes: intake records its triggers,
routing calls in senior management at once, notify tells each of them."""

from __future__ import annotations

import httpx
import pytest

from contracts.envelope import ServiceName
from services.common.cluster import LocalCluster
from services.demo import samples
from services.demo.journey import wait_for_events

pytestmark = pytest.mark.e2e


def test_a_large_claim_makes_a_complaint_serious_and_senior_management_is_told_at_once(
        cluster: LocalCluster, client: httpx.Client) -> None:
    body = samples.quality_complaint() | {"claim_amount": "120000.00", "demand": "Compensation for the line stop",
                                          "complained_about": "GX-200 gearbox"}
    receipt = client.post(f"{cluster.url(ServiceName.INTAKE)}/complaints", json=body,
                          headers=cluster.auth(**samples.CLERK))
    assert receipt.status_code == 201, receipt.text
    complaint_id = receipt.json()["complaint_id"]
    routing = wait_for_events(client, cluster.url(ServiceName.ROUTING), complaint_id, "SeriousEscalated")
    [escalated] = routing
    assert escalated["data"]["reasons"] == ["large_claim"]
    notices = wait_for_events(client, cluster.url(ServiceName.NOTIFY), complaint_id, "Recorded", count=6)
    recipients = {e["data"]["recipient_user_id"] for e in notices if e["data"]["rule"] == "serious_complaint_called_in"}
    assert {"gm-chen", "head-quality-ma"} <= recipients
    registered = client.get(f"{cluster.url(ServiceName.INTAKE)}/complaints/{complaint_id}/history").json()
    assert registered["events"][0]["data"]["severity"] == "serious"
