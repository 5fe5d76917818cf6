"""The case's HTTP edge at routing, in process (real bootstrap and store, no broker needed): each
human step is an endpoint that authorises, scopes and hides the case from the person complained
about, refuses without writing, and answers a repeated command id with the state now."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from contracts.registration import ComplaintRegistered
from services.routing.bootstrap import create_app
from services.routing.entrypoints.http import CASE_STEPS
from services.routing.settings import RoutingSettings
from tests.common.builders import complaint_registered, react

HQ_CLERK = {"user": "hq-chen", "role": "hq_clerk"}
EAST_MANAGER = {"user": "rm-east", "role": "regional_manager", "region": "EAST"}
NORTH_MANAGER = {"user": "rm-north", "role": "regional_manager", "region": "NORTH"}
SEGMENTS = {
    "direct-answer", "on-site-dispatch", "handler", "cause-and-solution", "memo", "memo-dispatch", "memo-return",
    "department-reply", "staff-investigation", "approval", "rejection", "escalation", "customer-reply", "remedy",
    "follow-up", "dispute", "ruling", "closure", "unreasonable-demand", "urgent-meeting", "negotiator",
    "repeat-link",
}


@pytest.fixture
def api(tmp_path: Path) -> FastAPI:
    # No broker at this address: the runtime keeps retrying it in the background while the edge serves.
    return create_app(RoutingSettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1"))


@pytest.fixture
def registered(api: FastAPI) -> Callable[..., ComplaintRegistered]:
    """A complaint registered at intake and routed here (as routing's consumer would)."""
    runtime = api.state.runtime

    def make(**fields: Any) -> ComplaintRegistered:
        event = complaint_registered(**fields)
        react(runtime.app, runtime.parts.policy, event)
        return event
    return make


def step(client: TestClient, complaint_id: UUID, segment: str, headers: dict[str, str], **body: Any) -> Any:
    return client.post(f"/complaints/{complaint_id}/{segment}", headers=headers,
                       json={"command_id": str(body.pop("command_id", uuid4()))} | body)


def version_of(api: FastAPI, complaint_id: UUID) -> int:
    return api.state.runtime.app.find_case(complaint_id).version


def a_policy_complaint_awaiting_regional_approval(client: TestClient, registered, auth) -> UUID:
    """§5.3.1⑴: within regional authority the regional manager, named handler, proposes the
    solution and it awaits the regional approval."""
    complaint = registered(subject="policy_service", product=None,
                           description="Invoice sent to the old address twice.").complaint_id
    assert step(client, complaint, "handler", auth(**HQ_CLERK), handler="rm-east",
                handler_role="regional_manager").status_code == 201
    proposed = step(client, complaint, "cause-and-solution", auth(**EAST_MANAGER), cause="Address not updated",
                    cause_category="policy", valid=True, proposed_solution="Refund the late fee",
                    compensation="1500.00")
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["state"] == "awaiting_approval"
    return complaint


# --- the contract -------------------------------------------------------------------------------


def test_every_human_step_is_one_endpoint_documenting_each_status(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {s.segment for s in CASE_STEPS} == SEGMENTS
    for segment in SEGMENTS:
        operation = spec["paths"][f"/complaints/{{complaint_id}}/{segment}"]["post"]
        assert {"200", "201", "401", "403", "404", "409", "422"} <= set(operation["responses"]), segment
        assert operation["summary"] and operation["description"], segment
        assert "(the answer names its state)" in operation["responses"]["409"]["description"], segment
        body = spec["components"]["schemas"][operation["requestBody"]["content"]["application/json"]["schema"]
                                              ["$ref"].rsplit("/", 1)[1]]
        assert "command_id" in body["required"] and body["additionalProperties"] is False, segment
        assert "actor" not in body["properties"] and "complaint_id" not in body["properties"], segment
    approval = spec["paths"]["/complaints/{complaint_id}/approval"]["post"]
    assert "beyond the approver's authority (the answer names the limit)" in approval["responses"]["403"][
        "description"]
    case = spec["paths"]["/complaints/{complaint_id}/case"]["get"]
    assert {"200", "401", "403", "404", "422"} <= set(case["responses"])
    view = spec["components"]["schemas"]["CaseView"]
    assert {"state", "track", "handler", "awaited", "repeat_of", "repeats", "serious", "trail"} <= set(
        view["required"])


def test_the_cross_field_rules_json_schema_can_state_are_in_the_bodies(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for body in ("RecordFollowUpBody", "RecordUnreasonableDemandBody", "DecideRepeatLinkBody"):  # the contract's
        assert len(schemas[body]["anyOf"]) == 2, body
    for body in ("RaiseDisputeBody", "RecordStaffInvestigationBody"):  # the edge's
        [rule] = schemas[body]["allOf"]
        assert len(rule["anyOf"]) == 2, body
    [signed] = schemas["RecordDepartmentReplyBody"]["allOf"]
    assert signed["properties"]["signed_by"]["properties"]["role"] == {"const": "responsible_department"}


# --- the steps ------------------------------------------------------------------------------------


def test_an_approval_beyond_the_approvers_authority_is_403_naming_the_limit_and_writes_nothing(
        api: FastAPI, client: TestClient, registered, auth) -> None:
    complaint = a_policy_complaint_awaiting_regional_approval(client, registered, auth)
    before = version_of(api, complaint)

    refused = step(client, complaint, "approval", auth(**EAST_MANAGER), approved_reply="We refund 2,500 CNY.",
                   compensation="2500.00")

    assert refused.status_code == 403, refused.text
    [error] = refused.json()["detail"]
    assert "2000.00" in error["msg"] and "regional_manager" in error["msg"], error
    assert error["loc"] == ["body", "compensation"] and error["type"] == "BeyondAuthority"
    assert version_of(api, complaint) == before
    approved = step(client, complaint, "approval", auth(**EAST_MANAGER), approved_reply="We refund 1,500 CNY.",
                    compensation="1500.00")
    assert (approved.status_code, approved.json()["state"]) == (201, "awaiting_customer_reply")


def test_an_approver_whose_level_is_not_next_is_refused_naming_the_level(client: TestClient, registered,
                                                                          auth) -> None:
    complaint = a_policy_complaint_awaiting_regional_approval(client, registered, auth)
    refused = step(client, complaint, "approval", auth(user="md-liu", role="marketing_director"),
                   approved_reply="Refund the late fee.")
    assert refused.status_code == 403
    assert "regional approval is given by regional_manager" in refused.json()["detail"][0]["msg"]


def test_a_step_the_case_is_not_ready_for_is_409_naming_the_state(api: FastAPI, client: TestClient, registered,
                                                                  auth) -> None:
    complaint = registered().complaint_id  # a quality complaint: awaiting the HQ clerk's triage
    before = version_of(api, complaint)

    refused = step(client, complaint, "closure", auth(**HQ_CLERK), resolution_summary="Done.")

    assert refused.status_code == 409
    [error] = refused.json()["detail"]
    assert error["loc"] == ["body", "state"] and "awaiting_triage" in error["msg"] and "ready_to_close" in error["msg"]
    assert version_of(api, complaint) == before


def test_a_repeated_command_id_answers_200_with_the_state_now_and_writes_nothing(api: FastAPI, client: TestClient,
                                                                                registered, auth) -> None:
    complaint = registered().complaint_id
    command_id = uuid4()
    first = step(client, complaint, "direct-answer", auth(**HQ_CLERK), command_id=command_id,
                 answer="Tighten the seam bolts to 40 Nm; the seal seats then.", channel="phone")
    assert first.status_code == 201, first.text
    assert first.json() | {"version": 0} == {"complaint_id": str(complaint), "form_number": "SH01-20261125-0001",
                                             "state": "awaiting_follow_up", "version": 0, "created": True}

    again = step(client, complaint, "direct-answer", auth(**HQ_CLERK), command_id=command_id,
                 answer="Tighten the seam bolts to 40 Nm; the seal seats then.", channel="phone")

    assert again.status_code == 200
    assert again.json() == first.json() | {"created": False}
    assert version_of(api, complaint) == first.json()["version"]


def test_a_ruling_needs_one_of_the_two_ruling_actions(client: TestClient, registered, auth) -> None:
    complaint = registered().complaint_id
    refused = step(client, complaint, "ruling", auth(user="clerk-li", role="branch_clerk", branch="SH01"),
                   dispute_id=str(uuid4()), ruled_by="HQ", outcome="rejected", ruling="The decision stands.")
    assert refused.status_code == 403
    assert refused.json()["detail"][0]["msg"] == \
        "role branch_clerk may not perform case.dispute.rule or case.dispute.record_result"
    for ruler in ({"user": "md-liu", "role": "marketing_director"}, HQ_CLERK):  # either action: on to the case
        answer = step(client, complaint, "ruling", auth(**ruler), dispute_id=str(uuid4()), ruled_by="HQ",
                      outcome="rejected", ruling="The decision stands.")
        assert answer.status_code == 409 and "awaiting_triage" in answer.json()["detail"][0]["msg"]


# --- scope: out of scope and the person complained about see nothing --------------------------------


def test_a_case_outside_the_callers_scope_is_404_exactly_like_a_missing_one(api: FastAPI, client: TestClient,
                                                                            registered, auth) -> None:
    complaint = registered().complaint_id  # SH01, region EAST
    missing = uuid4()
    before = version_of(api, complaint)
    for segment, body in (("handler", {"handler": "rm-north", "handler_role": "regional_manager"}),
                          ("unreasonable-demand", {"demand": "Ten new gearboxes", "call_recording_ref": "REC-1",
                                                   "company_position": "One replacement",
                                                   "customer_accepted_position": True})):
        theirs = step(client, complaint, segment, auth(**NORTH_MANAGER), **body)
        nothing = step(client, missing, segment, auth(**NORTH_MANAGER), **body)
        assert (theirs.status_code, nothing.status_code) == (404, 404), segment
        assert theirs.json()["detail"][0]["msg"].replace(str(complaint), "X") == \
            nothing.json()["detail"][0]["msg"].replace(str(missing), "X")
    other_clerk = auth(user="clerk-bj", role="branch_clerk", branch="BJ02")
    assert client.get(f"/complaints/{complaint}/case", headers=other_clerk).status_code == 404
    assert client.get(f"/complaints/{complaint}/case", headers=auth(**EAST_MANAGER)).status_code == 200
    assert version_of(api, complaint) == before


def test_the_person_complained_about_never_sees_or_touches_the_staff_case(api: FastAPI, client: TestClient,
                                                                          registered, auth) -> None:
    complaint = registered(subject="staff", product=None, complained_about="rm-zhao",
                           description="The regional manager was rude on the phone.").complaint_id
    before = version_of(api, complaint)
    them = auth(user="RM-Zhao", role="regional_manager", region="EAST")  # the same person, any case
    missing = uuid4()

    view = client.get(f"/complaints/{complaint}/case", headers=them)
    memo = step(client, complaint, "memo", them, memo_id=str(uuid4()), addressed_to="supervisor",
                description="Rudeness on the phone", requested_reply_by="2099-01-01T00:00:00Z")
    nothing = client.get(f"/complaints/{missing}/case", headers=them)

    assert (view.status_code, memo.status_code) == (404, 404)
    assert view.json()["detail"][0]["msg"].replace(str(complaint), "X") == \
        nothing.json()["detail"][0]["msg"].replace(str(missing), "X")
    assert version_of(api, complaint) == before
    colleague = client.get(f"/complaints/{complaint}/case", headers=auth(**EAST_MANAGER))
    assert colleague.status_code == 200 and colleague.json()["subject"] == "staff"


# --- the case as HQ sees it ---------------------------------------------------------------------------


def test_the_case_view_shows_state_track_who_must_act_and_the_decision_trail(client: TestClient, registered,
                                                                             auth) -> None:
    event = registered()
    complaint = event.complaint_id
    assert step(client, complaint, "handler", auth(**HQ_CLERK), handler="rm-east",
                handler_role="regional_manager").status_code == 201

    view = client.get(f"/complaints/{complaint}/case", headers=auth(user="ops-zhou", role="operator"))

    assert view.status_code == 200, view.text
    case = view.json()
    assert case | {"awaited": None, "trail": None} == {
        "complaint_id": str(complaint), "form_number": event.form_number, "branch": "SH01", "region": "EAST",
        "subject": "product_quality", "severity": "general", "kind": "complaint", "state": "awaiting_triage",
        "track": "quality", "handler": "rm-east", "awaited": None, "repeat_of": None, "repeats": [],
        "serious": False, "trail": None}
    assert {"step": "triage", "role": "hq_clerk"}.items() <= case["awaited"][0].items()
    assert [(e["step"], e["by"], e["role"]) for e in case["trail"]] == [
        ("ComplaintClassified", "system:routing", "system"), ("HandlerAssigned", "hq-chen", "hq_clerk")]
    assert case["trail"][-1]["summary"] == "HandlerAssigned: rm-east"


def test_after_a_step_the_case_says_who_must_act_now(client: TestClient, registered, auth) -> None:
    complaint = registered().complaint_id
    assert step(client, complaint, "handler", auth(**HQ_CLERK), handler="rm-east",
                handler_role="regional_manager").status_code == 201
    awaited = client.get(f"/complaints/{complaint}/case", headers=auth(**HQ_CLERK)).json()["awaited"]
    assert "handler" not in [a["step"] for a in awaited]


def test_a_repeat_complaint_shows_the_link_until_the_hq_clerk_decides(client: TestClient, registered,
                                                                      auth) -> None:
    first = registered()
    second = registered(form_number="SH01-20261125-0002")
    case = client.get(f"/complaints/{second.complaint_id}/case", headers=auth(**HQ_CLERK)).json()
    assert case["repeat_of"] == {"complaint_id": str(first.complaint_id), "form_number": first.form_number,
                                 "confirmed": False}
    assert step(client, second.complaint_id, "repeat-link", auth(**HQ_CLERK), confirmed=True).status_code == 201
    case = client.get(f"/complaints/{second.complaint_id}/case", headers=auth(**HQ_CLERK)).json()
    assert case["repeat_of"]["confirmed"] is True
    original = client.get(f"/complaints/{first.complaint_id}/case", headers=auth(**HQ_CLERK)).json()
    assert original["repeats"] == [{"complaint_id": str(second.complaint_id), "form_number": second.form_number}]
