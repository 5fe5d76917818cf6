"""The quality chain end to end over separate processes (Apache Kafka and the five services on PostgreSQL): a
complaint the manager could not determine on site goes through the defective-product form, the return
and the quality department's adjudication (misuse, the salesperson negligent), and the approved decision
reaches routing for the reply, the remedy for the closure; billing and notify hear of it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from contracts.envelope import STAGE_SERVICES, ServiceName
from services.common.cluster import SERVICES, LocalCluster
from services.demo import samples
from services.demo.journey import (
    dispatch_on_site, history, quality_chain, record_determination, wait_for, wait_for_events,
)
from tests.support import postgres

pytestmark = pytest.mark.e2e
INTAKE, ROUTING, QUALITY, BILLING, NOTIFY = STAGE_SERVICES


@pytest.fixture(scope="module")
def cluster(postgres_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    databases = {service: postgres.create_database(f"qchain_{service.value}") for service in SERVICES}
    try:
        with LocalCluster(tmp_path_factory.mktemp("qchain"),
                          {s: postgres.url_for(db) for s, db in databases.items()}) as running:
            yield running
    finally:
        for db in databases.values():
            postgres.drop_database(db)


def test_an_undetermined_case_adjudicated_as_misuse_reaches_routing_billing_and_notify(cluster: LocalCluster) -> None:
    with httpx.Client(timeout=15, headers=cluster.auth(**samples.OPERATOR)) as client:
        receipt = client.post(f"{cluster.url(INTAKE)}/complaints", json=samples.quality_complaint(),
                              headers=cluster.auth(**samples.CLERK))
        assert receipt.status_code == 201, receipt.text
        cid = receipt.json()["complaint_id"]
        dispatch_on_site(client, cluster.url(ROUTING), cid, cluster.auth(**samples.HQ_CLERK),
                         regional_manager=samples.MANAGER["user"])
        wait_for_events(client, cluster.url(QUALITY), cid, "Opened")
        recorded = record_determination(client, cluster.url(QUALITY), cid, cluster.auth(**samples.MANAGER),
                                        samples.obvious_defect_determination()
                                        | {"determination": "cannot_be_determined"})
        assert recorded.status_code == 201, recorded.text

        view = quality_chain(client, cluster.url(QUALITY), cid, cluster.auth, samples.MANAGER,
                             adjudication=samples.adjudication("obvious_misuse", negligent=True),
                             remedy_kind="repair_done")
        assert view["stage"] == "remedy_delivered"
        assert (view["adjudication"]["on_site_determination"], view["adjudication"]["determination"]) == (
            "cannot_be_determined", "obvious_misuse")

        case = wait_for(lambda: (c := client.get(f"{cluster.url(ROUTING)}/complaints/{cid}/case").json())["state"]
                        == "awaiting_customer_reply" and c, 30, "routing takes quality's decision")
        assert any(a["step"] == "customer-reply" for a in case["awaited"])
        taken = wait_for_events(client, cluster.url(ROUTING), cid, "QualityRemedyTaken")
        assert taken, "routing knows the remedy was delivered"
        billing = wait_for(lambda: [e for e in history(client, cluster.url(BILLING), cid)
                                    if e["event_type"] not in ("Opened",)], 30, "billing hears of it")
        assert billing
        notices = wait_for(lambda: [e for e in history(client, cluster.url(NOTIFY), cid)
                                    if e["event_type"] == "Recorded"
                                    and e["data"]["recipient_role"] == "general_manager"], 30,
                           "the general manager told of the decision")
        assert notices
        published = [e["published_as"] or e["event_type"] for e in history(client, cluster.url(QUALITY), cid)]
        assert published == [
            "QualityInvestigationOpened", "OnSiteDeterminationRecorded", "DefectiveProductFormFiled",
            "DefectiveProductFormApproved", "DefectiveProductFormApproved", "DefectiveProductFormForwarded",
            "ProductReturnRequested", "ProductReturnShipped", "ProductReceived", "QualityAdjudicationRecorded",
            "QualityDecisionApproved", "QualityRemedyDelivered"]
