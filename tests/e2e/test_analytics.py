"""Analytics end to end: the services and analytics as processes on PostgreSQL.

The batch-defect alert fires once when the third complaint about one model and batch arrives within
the window, not again for a fourth of the same batch and window, and not for complaints of other
batches; quality raises one corrective action from it and notify tells the quality department and the
management representative. The monthly figures count what was registered, within the caller's scope.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import httpx
import pytest

from contracts.envelope import ServiceName
from services.common.cluster import LocalCluster
from services.demo import samples
from services.demo.journey import wait_for

pytestmark = pytest.mark.e2e
ANALYTICS, INTAKE, QUALITY, NOTIFY = ServiceName.ANALYTICS, ServiceName.INTAKE, ServiceName.QUALITY, ServiceName.NOTIFY
MONTH = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


def register(cluster: LocalCluster, client: httpx.Client, batch: str, branch: str = "SH01") -> dict[str, Any]:
    body = samples.quality_complaint(branch=branch, customer=f"Customer {uuid4().hex[:6]}", batch=batch)
    body["product"] = body["product"] | {"model": "GX-900"}
    receipt = client.post(f"{cluster.url(INTAKE)}/complaints", json=body,
                          headers=cluster.auth(**samples.clerk_of(branch)))
    assert receipt.status_code == 201, receipt.text
    return receipt.json()


def figures(client: httpx.Client, cluster: LocalCluster, who: dict[str, str] | None = None) -> dict[str, Any]:
    response = client.get(f"{cluster.url(ANALYTICS)}/reports/monthly/{MONTH}",
                          headers=cluster.auth(**(who or samples.OPERATOR)))
    assert response.status_code == 200, response.text
    return response.json()


def counted(client: httpx.Client, cluster: LocalCluster, *receipts: dict[str, Any]) -> None:
    """Wait until analytics' register holds these complaints (it has processed their registrations)."""
    wanted = {r["form_number"] for r in receipts}
    wait_for(lambda: wanted <= {line["form_number"] for line in figures(client, cluster)["complaint_register"]},
             60, f"analytics to count {wanted}", interval=0.5)


def alerts_for(client: httpx.Client, cluster: LocalCluster, batch: str) -> list[dict[str, Any]]:
    response = client.get(f"{cluster.url(ANALYTICS)}/alerts", params={"month": MONTH},
                          headers=cluster.auth(**samples.OPERATOR))
    assert response.status_code == 200, response.text
    return [a for a in response.json()["alerts"] if a["batch_number"] == batch]


@pytest.fixture(scope="module")
def alerted(cluster: LocalCluster) -> dict[str, Any]:
    batch, other, third = (f"B-{uuid4().hex[:8]}" for _ in range(3))
    with httpx.Client(timeout=15) as c:
        first = [register(cluster, c, batch) for _ in range(3)]
        alert = wait_for(lambda: alerts_for(c, cluster, batch), 60, "the batch alert")
        fourth = register(cluster, c, batch, branch="BJ02")
        others = [register(cluster, c, other), register(cluster, c, other), register(cluster, c, third)]
        counted(c, cluster, fourth, *others)
    return {"batch": batch, "other": other, "third": third, "first": first, "fourth": fourth, "alert": alert}


def test_the_batch_alert_fires_once_for_the_batch_and_window(cluster: LocalCluster, alerted: dict[str, Any]) -> None:
    with httpx.Client(timeout=15) as c:
        [alert] = alerts_for(c, cluster, alerted["batch"])
        assert alerts_for(c, cluster, alerted["other"]) == [] and alerts_for(c, cluster, alerted["third"]) == []
    assert (alert["model"], alert["count"], alert["threshold"]) == ("GX-900", 3, 3)
    assert {x["form_number"] for x in alert["complaints"]} == {r["form_number"] for r in alerted["first"]}
    assert alert["form_number"] in {r["form_number"] for r in alerted["first"]}


def test_quality_raises_one_corrective_action_and_notify_tells_quality_and_the_representative(
        cluster: LocalCluster, alerted: dict[str, Any]) -> None:
    [alert] = alerted["alert"]
    with httpx.Client(timeout=15) as c:
        def raised() -> list[dict[str, Any]]:
            listed = c.get(f"{cluster.url(QUALITY)}/corrective-actions", params={"state": "all", "limit": 500},
                           headers=cluster.auth(**samples.OPERATOR))
            assert listed.status_code == 200, listed.text
            return [a for a in listed.json()["actions"]
                    if (a.get("alert") or {}).get("alert_id") == alert["alert_id"]]
        [action] = wait_for(raised, 60, "the corrective action of the alert")
        assert action["source"] == "batch_alert" and action["state"] == "raised"
        trigger = next(r for r in alerted["first"] if r["form_number"] == alert["form_number"])

        def told() -> list[dict[str, Any]]:
            response = c.get(f"{cluster.url(NOTIFY)}/complaints/{trigger['complaint_id']}/notifications",
                             headers=cluster.auth(**samples.OPERATOR))
            return [n for n in response.json().get("notifications", []) if n.get("rule") == "batch_defect_alert"]
        notices = wait_for(lambda: (n := told()) and len(n) >= 2 and n, 60, "the alert's notices")
    assert {n["recipient_role"] for n in notices} == {"quality_department", "management_representative"}


def test_the_monthly_figures_count_the_registrations_within_the_callers_scope(
        cluster: LocalCluster, alerted: dict[str, Any]) -> None:
    with httpx.Client(timeout=15) as c:
        everyone = figures(c, cluster)
        beijing = figures(c, cluster, samples.clerk_of("BJ02"))
    forms = {line["form_number"] for line in everyone["complaint_register"]}
    assert {r["form_number"] for r in alerted["first"]} <= forms
    assert everyone["summary"]["total"] == len(everyone["complaint_register"])
    assert everyone["summary"]["by_subject"]["product_quality"] >= 7
    assert {line["branch"] for line in beijing["complaint_register"]} == {"BJ02"}
    assert alerted["fourth"]["form_number"] in {line["form_number"] for line in beijing["complaint_register"]}
    assert beijing["alerts"] == []  # the alert was raised on a Shanghai complaint
