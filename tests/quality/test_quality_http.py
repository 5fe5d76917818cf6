"""Quality's HTTP edge in process (real bootstrap, store and evidence directory; no broker needed): each
step of the investigation with the token of the role that takes it, the investigation as it stands,
and the refusals: the role (403), the scope (404, like a missing complaint), the state (409), the body
and the evidence (422), a repeated command id (200, nothing written)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from contracts.routing import ComplaintRouted
from services.demo import samples
from services.quality.bootstrap import create_app
from services.quality.entrypoints.http import QUALITY_STEPS
from services.quality.settings import QualitySettings
from tests.common.builders import complaint_routed, react
from tests.quality.chain import PNG

MANAGER = {"user": "rm-east", "role": "regional_manager", "region": "EAST"}
NORTH_MANAGER = {"user": "rm-north", "role": "regional_manager", "region": "NORTH"}
CLERK = {"user": "clerk-li", "role": "branch_clerk", "branch": "SH01"}
DIRECTOR = {"user": "md-sun", "role": "marketing_director"}
HQ_RM = {"user": "hqrm-qian", "role": "hq_regional_manager"}
HQ_CLERK = {"user": "hq-zhao", "role": "hq_clerk"}
QA = {"user": "qa-lin", "role": "quality_department"}


@pytest.fixture
def api(tmp_path: Path) -> FastAPI:
    return create_app(QualitySettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1"))


@pytest.fixture
def routed(api: FastAPI) -> ComplaintRouted:
    """A complaint of SH01 (region EAST) routed to quality, as quality's consumer would see it."""
    runtime = api.state.runtime
    event = complaint_routed()
    react(runtime.app, runtime.parts.policy, event)
    return event


def post(client: TestClient, complaint_id: UUID, segment: str, headers: dict[str, str], **body: Any) -> Any:
    return client.post(f"/complaints/{complaint_id}/{segment}", headers=headers,
                       json={"command_id": str(body.pop("command_id", uuid4()))} | body)


def photo(client: TestClient, headers: dict[str, str]) -> str:
    response = client.post("/evidence", files={"file": ("crack.png", PNG, "image/png")}, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()["sha256"]


def version(api: FastAPI, complaint_id: UUID) -> int:
    return api.state.runtime.app.investigation(complaint_id).version


def determination(evidence: list[str], **overrides: Any) -> dict[str, Any]:
    body = samples.obvious_defect_determination(evidence) | {"determination": "cannot_be_determined"} | overrides
    body.pop("command_id")
    return body


def test_the_whole_chain_over_http(client: TestClient, auth, routed: ComplaintRouted) -> None:
    cid, manager = routed.complaint_id, auth(**MANAGER)
    sha = photo(client, manager)

    def step(segment: str, who: dict[str, str], after: str, **body: Any) -> dict[str, Any]:
        response = post(client, cid, segment, auth(**who), **body)
        assert response.status_code == 201, (segment, response.text)
        assert response.json()["stage"] == after, (segment, response.json())
        return response.json()

    step("on-site-determination", MANAGER, "determined", **determination([sha]))
    form, ret, adjudication = str(uuid4()), str(uuid4()), str(uuid4())
    step("defective-product-form", MANAGER, "form_filed", defect_form_id=form, determination="cannot_be_determined",
         defect_description="Crack origin unclear", memo="Cannot tell impact from casting flaw", evidence=[sha],
         return_proposed=True, estimated_company_cost="1800.00")
    step("defective-product-form-approval", DIRECTOR, "form_marketing_approved", defect_form_id=form,
         stage="marketing_director")
    step("defective-product-form-approval", HQ_RM, "form_approved", defect_form_id=form, stage="hq_regional_manager",
         product_return=True)
    step("defective-product-form-forwarding", HQ_CLERK, "form_forwarded", defect_form_id=form)
    step("product-return", MANAGER, "return_requested", return_id=ret, reason="adjudication", quantity=1)
    step("product-return-shipment", MANAGER, "return_shipped", return_id=ret, carrier="SF Express",
         waybill="SF1234567890", shipped_at=datetime.now(timezone.utc).isoformat())
    step("product-receipt", QA, "return_received", return_id=ret, quantity=1, condition="Cracked, seals intact")
    step("adjudication", QA, "adjudicated", adjudication_id=adjudication, determination="obvious_misuse",
         misuse_resolution="complex_needs_parts", root_cause="Overload beyond the rated pressure",
         responsible_party="customer", proposed_handling="Repair; the customer pays the parts",
         salesperson="Sales Wu", salesperson_negligent=True, negligence_degree="low",
         production={"production_date": "2026-09-14", "line_or_unit": "Casting line 2", "shift": "night"},
         parts_used=[{"part_no": "GEAR-7", "quantity": 1}], labour_hours="3.5")
    step("quality-decision-approval", HQ_RM, "decision_approved", adjudication_id=adjudication,
         decision="Repair free of labour; the customer pays the gear", company_cost="400.00")
    step("quality-remedy", QA, "remedy_delivered", remedy_kind="repair_done", description="Gear replaced",
         delivered_at=datetime.now(timezone.utc).isoformat(), reference="WO-2026-0117",
         parts_used=[{"part_no": "GEAR-7", "quantity": 1}])

    view = client.get(f"/complaints/{cid}/investigation", headers=auth(**CLERK))
    assert view.status_code == 200, view.text
    v = view.json()
    assert (v["stage"], v["determination"], v["determination_approved"]) == ("remedy_delivered",
                                                                               "cannot_be_determined", True)
    assert [a["stage"] for a in v["form"]["approvals"]] == ["marketing_director", "hq_regional_manager"]
    assert (v["product_return"]["waybill"], v["product_return"]["state"]) == ("SF1234567890", "received")
    assert (v["adjudication"]["on_site_determination"], v["adjudication"]["determination"]) == (
        "cannot_be_determined", "obvious_misuse")
    assert v["decision"]["approver"] == "hqrm-qian" and v["remedies"][0]["reference"] == "WO-2026-0117"
    assert v["evidence"] == [sha] and v["inspection"]["inspector"] == "rm-east"
    history = client.get(f"/complaints/{cid}/history", headers=auth(**CLERK)).json()["events"]
    assert [e["event_type"] for e in history] == [
        "Opened", "DeterminationRecorded", "DefectiveProductFormFiled", "DefectiveProductFormApproved",
        "DefectiveProductFormApproved", "DefectiveProductFormForwarded", "ProductReturnRequested",
        "ProductReturnShipped", "ProductReceived", "QualityAdjudicationRecorded", "QualityDecisionApproved",
        "QualityRemedyDelivered"]
    assert {e["meta"]["actor"]["user_id"] for e in history[1:]} == {
        "rm-east", "md-sun", "hqrm-qian", "hq-zhao", "qa-lin"}


def test_a_branch_clerk_may_not_record_the_determination(client: TestClient, api: FastAPI, auth,
                                                         routed: ComplaintRouted) -> None:
    before = version(api, routed.complaint_id)
    response = post(client, routed.complaint_id, "on-site-determination", auth(**CLERK),
                    **determination([], determination="obvious_misuse", misuse_resolution="fixed_on_site",
                                    written_feedback="Fixed", customer_opinion="Fine"))
    assert response.status_code == 403
    assert response.json()["detail"][0]["msg"] == "role branch_clerk may not perform quality.on_site_determination.record"
    assert version(api, routed.complaint_id) == before


def test_a_manager_of_another_region_finds_nothing(client: TestClient, api: FastAPI, auth,
                                                   routed: ComplaintRouted) -> None:
    north = auth(**NORTH_MANAGER)
    sha = photo(client, north)
    hidden = post(client, routed.complaint_id, "on-site-determination", north, **determination([sha]))
    missing = post(client, uuid4(), "on-site-determination", north, **determination([sha]))
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json()["detail"][0]["msg"].split(" complaint ")[0] == \
        missing.json()["detail"][0]["msg"].split(" complaint ")[0]
    assert client.get(f"/complaints/{routed.complaint_id}/investigation", headers=north).status_code == 404
    assert version(api, routed.complaint_id) == 1


def test_a_defect_without_a_photo_or_with_an_unknown_hash_is_refused_naming_evidence(
        client: TestClient, api: FastAPI, auth, routed: ComplaintRouted) -> None:
    manager = auth(**MANAGER)
    for evidence in ([], ["0" * 64]):
        response = post(client, routed.complaint_id, "on-site-determination", manager, **determination(evidence))
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", "evidence"]
    assert version(api, routed.complaint_id) == 1


def test_forged_identity_fields_are_refused(client: TestClient, auth, routed: ComplaintRouted) -> None:
    sha = photo(client, auth(**MANAGER))
    for forged in ({"actor": {"user_id": "rm-li", "role": "regional_manager"}}, {"inspector": "rm-li"}):
        response = post(client, routed.complaint_id, "on-site-determination", auth(**MANAGER),
                        **determination([sha]) | forged)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", next(iter(forged))]


def test_a_repeat_answers_200_and_another_command_under_the_id_409(client: TestClient, api: FastAPI, auth,
                                                                   routed: ComplaintRouted) -> None:
    manager = auth(**MANAGER)
    sha = photo(client, manager)
    command_id = str(uuid4())
    body = determination([sha])
    first = post(client, routed.complaint_id, "on-site-determination", manager, command_id=command_id, **body)
    again = post(client, routed.complaint_id, "on-site-determination", manager, command_id=command_id, **body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["created"] is False and again.json()["version"] == first.json()["version"]
    other = post(client, routed.complaint_id, "on-site-determination-correction", manager, command_id=command_id,
                 determination="obvious_quality_defect", reason="Second look")
    assert other.status_code == 409 and other.json()["detail"][0]["loc"] == ["body", "command_id"]
    assert version(api, routed.complaint_id) == first.json()["version"]


def test_a_step_the_investigation_is_not_ready_for_is_409_naming_the_state(client: TestClient, auth,
                                                                           routed: ComplaintRouted) -> None:
    response = post(client, routed.complaint_id, "adjudication", auth(**QA), adjudication_id=str(uuid4()),
                    determination="obvious_quality_defect", root_cause="Pore", responsible_party="company",
                    proposed_handling="Replace", salesperson_negligent=False)
    assert response.status_code == 409
    assert response.json()["detail"][0]["loc"] == ["body", "state"]
    assert "awaiting_determination" in response.json()["detail"][0]["msg"]


def test_an_approval_beyond_authority_is_403_naming_the_limit(client: TestClient, api: FastAPI, auth,
                                                              routed: ComplaintRouted) -> None:
    manager = auth(**MANAGER)
    sha = photo(client, manager)
    assert post(client, routed.complaint_id, "on-site-determination", manager,
                **determination([sha])).status_code == 201
    form = str(uuid4())
    assert post(client, routed.complaint_id, "defective-product-form", manager, defect_form_id=form,
                determination="cannot_be_determined", defect_description="Crack", memo="See photos", evidence=[sha],
                return_proposed=False, estimated_company_cost="150000.00").status_code == 201
    before = version(api, routed.complaint_id)
    response = post(client, routed.complaint_id, "defective-product-form-approval", auth(**DIRECTOR),
                    defect_form_id=form, stage="marketing_director")
    assert response.status_code == 403
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "company_cost"] and "general_manager" in error["msg"] and "matrix" in error["msg"]
    assert version(api, routed.complaint_id) == before


def test_every_step_documents_every_status(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for step in QUALITY_STEPS:
        operation = spec["paths"][f"/complaints/{{complaint_id}}/{step.segment}"]["post"]
        assert {"200", "201", "401", "403", "404", "409", "422"} <= set(operation["responses"]), step.segment
    view = spec["paths"]["/complaints/{complaint_id}/investigation"]["get"]
    assert {"200", "401", "403", "404", "422"} <= set(view["responses"])
    body = spec["components"]["schemas"]["OnSiteDeterminationBody"]
    assert body["anyOf"] and "visited_at" in body["required"]


def test_the_misuse_fixed_on_site_sample_is_settled_on_site(client: TestClient, auth, routed: ComplaintRouted) -> None:
    body = samples.misuse_fixed_on_site_determination()
    response = client.post(f"/complaints/{routed.complaint_id}/on-site-determination", json=body,
                           headers=auth(**MANAGER))
    assert response.status_code == 201, response.text
    assert response.json()["stage"] == "settled_on_site"
    late = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    remedy = post(client, routed.complaint_id, "quality-remedy", auth(**QA), remedy_kind="fixed_on_site",
                  description="Plug tightened", delivered_at=late, reference="NOTE-1")
    assert remedy.status_code == 422 and remedy.json()["detail"][0]["loc"] == ["body", "delivered_at"]


def test_a_stage_approved_by_another_role_is_refused_naming_the_actor(client: TestClient, api: FastAPI, auth,
                                                                      routed: ComplaintRouted) -> None:
    before = version(api, routed.complaint_id)
    response = post(client, routed.complaint_id, "defective-product-form-approval", auth(**HQ_RM),
                    defect_form_id=str(uuid4()), stage="marketing_director")
    assert response.status_code == 403, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "actor"]
    assert "marketing_director stage is approved by" in response.json()["detail"][0]["msg"]
    assert version(api, routed.complaint_id) == before


@pytest.mark.parametrize(("segment", "field"), [("defective-product-form", "estimated_company_cost"),
                                               ("quality-decision-approval", "company_cost"),
                                               ("adjudication", "labour_hours")])
def test_money_and_hours_come_as_decimal_strings_only(client: TestClient, auth, routed: ComplaintRouted,
                                                      segment: str, field: str) -> None:
    response = post(client, routed.complaint_id, segment, auth(**MANAGER), **{field: 0.5})
    assert response.status_code == 422
    assert ["body", field] in [e["loc"] for e in response.json()["detail"]]


def test_the_edge_and_the_investigation_agree_on_who_takes_each_step() -> None:
    """access.yaml grants each step's action to exactly the roles the investigation lets take it."""
    from services.common.access import rules
    from services.quality.application import STEPS
    from services.quality.domain.investigation import STEP_ROLES
    access = rules()
    for spec in QUALITY_STEPS:
        granted = {role for role, grant in access.roles.items() if spec.action in grant.actions}
        allowed = {role.value for role in STEP_ROLES[STEPS[spec.command][0]]}
        assert granted == allowed, spec.segment


@pytest.mark.parametrize(("determination", "adjudicated", "product_return"), [
    ("obvious_quality_defect", "obvious_quality_defect", True),
    ("cannot_be_determined", "obvious_misuse", True),
    ("cannot_be_determined", "obvious_quality_defect", False),
])
def test_the_demo_s_chain_helper_walks_the_whole_chain(client: TestClient, auth, routed: ComplaintRouted,
                                                       determination: str, adjudicated: str,
                                                       product_return: bool) -> None:
    """`services.demo.journey.quality_chain`, which the end-to-end tests use over separate processes."""
    from services.demo.journey import quality_chain, record_determination
    recorded = record_determination(client, "", str(routed.complaint_id), auth(**MANAGER),
                                    samples.obvious_defect_determination() | {"determination": determination})
    assert recorded.status_code == 201, recorded.text
    negligent = determination == "cannot_be_determined" and adjudicated == "obvious_misuse"
    view = quality_chain(client, "", str(routed.complaint_id), auth, MANAGER, determination=determination,
                         adjudication=samples.adjudication(adjudicated, negligent=negligent),
                         product_return=product_return,
                         remedy_kind="repair_done" if adjudicated == "obvious_misuse" else "replacement_shipped")
    assert view["stage"] == "remedy_delivered"
    assert (view["adjudication"]["on_site_determination"], view["adjudication"]["determination"]) == (
        determination, adjudicated)
    assert view["adjudication"]["salesperson_negligent"] is negligent
    assert (view["product_return"] is not None) is product_return
    assert view["decision"]["approver_role"] == "hq_regional_manager"
