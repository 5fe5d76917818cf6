"""Corrective actions and exception reports over quality's HTTP edge, in process (real bootstrap and
store, no broker needed): each step by its roles, 201 then 200 for a repeated command_id, refusals
that name the field and write nothing, the open list overdue first, and every status documented."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from contracts.routing import ComplaintRouted, Destination
from services.quality.bootstrap import create_app
from services.quality.domain.corrective import action_id_for_adjudication
from services.quality.settings import QualitySettings
from tests.common.builders import complaint_routed, react, stored_events
from tests.quality.test_corrective import PDF, SHA, adjudication

QA = {"user": "qa-lin", "role": "quality_department"}
MR = {"user": "mr-gao", "role": "management_representative"}
GM = {"user": "gm-he", "role": "general_manager"}
DEPT = {"user": "prod-ma", "role": "responsible_department"}
CLERK = {"user": "clerk-li", "role": "branch_clerk", "branch": "SH01"}
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def api(tmp_path: Path) -> FastAPI:
    api = create_app(QualitySettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1"))
    api.state.runtime.app.corrective_clock = lambda: NOW
    api.state.runtime.app.evidence.put(PDF)
    return api


@pytest.fixture
def routed(api: FastAPI) -> ComplaintRouted:
    event = complaint_routed(Destination.QUALITY_DEPARTMENT)
    react(api.state.runtime.app, api.state.runtime.parts.policy, event)
    return event


def raise_from_alert(client: TestClient, auth, complaint_id: UUID, alert_id: UUID | None = None,
                     command_id: UUID | None = None, who: dict[str, str] = QA) -> Any:
    return client.post("/corrective-actions", headers=auth(**who), json={
        "command_id": str(command_id or uuid4()), "complaint_id": str(complaint_id),
        "alert": {"alert_id": str(alert_id or uuid4()), "model": "GX-200", "batch_number": "B2026-1107"}})


def step(client: TestClient, action_id: Any, segment: str, headers: dict[str, str], **body: Any) -> Any:
    return client.post(f"/corrective-actions/{action_id}/{segment}", headers=headers,
                       json={"command_id": str(body.pop("command_id", uuid4()))} | body)


def proposal(due: datetime = NOW + timedelta(days=5), **kw: Any) -> dict[str, Any]:
    return {"root_cause": "Mould wear", "actions": ["Replace the mould"], "responsible_department": "Production",
            "due_at": due.isoformat(), "due_in_working_days": 3} | kw


def log_size(api: FastAPI) -> int:
    return len(stored_events(api.state.runtime.app))


def started(client: TestClient, auth, complaint_id: UUID, due: datetime = NOW + timedelta(days=5)) -> str:
    action_id = raise_from_alert(client, auth, complaint_id).json()["action_id"]
    assert step(client, action_id, "proposal", auth(**QA), **proposal(due)).status_code == 201
    assert step(client, action_id, "approval", auth(**MR)).status_code == 201
    assert step(client, action_id, "approval", auth(**GM)).status_code == 201
    return action_id


# --- the contract -------------------------------------------------------------------------------------


def test_every_endpoint_documents_each_status(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    posts = ["/corrective-actions", *[f"/corrective-actions/{{action_id}}/{s}" for s in
                                      ("proposal", "approval", "implementation", "verification")],
             "/complaints/{complaint_id}/exception-report",
             "/complaints/{complaint_id}/exception-report/{report_id}/answer"]
    for path in posts:
        documented = set(paths[path]["post"]["responses"])
        assert {"200", "201", "401", "403", "404", "409", "413", "422", "503"} <= documented, path
    for path in ("/corrective-actions", "/corrective-actions/{action_id}",
                 "/complaints/{complaint_id}/exception-report/{report_id}"):
        assert {"200", "401", "403", "422"} <= set(paths[path]["get"]["responses"]), path
    assert "404" in paths["/corrective-actions/{action_id}"]["get"]["responses"]


def test_the_verification_rule_is_in_the_schema(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["VerificationBody"]
    effective, not_effective = schema["anyOf"]
    assert effective["properties"]["effective"] == {"const": True}
    assert not_effective["required"] == ["actions", "due_at"]
    assert schema["additionalProperties"] is False


# --- the whole life over HTTP ------------------------------------------------------------------------


def test_raised_proposed_approved_by_both_implemented_verified(api: FastAPI, client: TestClient, auth,
                                                               routed: ComplaintRouted) -> None:
    raised = raise_from_alert(client, auth, routed.complaint_id, alert_id=UUID(int=9))
    assert raised.status_code == 201, raised.text
    view = raised.json()
    action_id = view["action_id"]
    assert (view["state"], view["source"], view["complaint_id"], view["form_number"], view["owner"]) == (
        "raised", "batch_alert", str(routed.complaint_id), routed.form_number, "quality_department")
    assert view["due_at"] is None and view["overdue"] is False and view["created"] is True

    proposed = step(client, action_id, "proposal", auth(**QA), **proposal())
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["outstanding_approvals"] == ["general_manager", "management_representative"]
    first = step(client, action_id, "approval", auth(**GM)).json()
    assert (first["state"], first["outstanding_approvals"]) == ("proposed", ["management_representative"])
    both = step(client, action_id, "approval", auth(**MR)).json()
    assert both["state"] == "approved" and both["approvals"] == {"general_manager": "gm-he",
                                                                 "management_representative": "mr-gao"}
    done = step(client, action_id, "implementation", auth(**DEPT), summary="Mould replaced", evidence=[SHA])
    assert done.status_code == 201, done.text
    assert done.json()["implementation"]["evidence"] == [SHA]
    closed = step(client, action_id, "verification", auth(**QA), effective=True, findings="No cracks since")
    assert closed.status_code == 201 and closed.json()["state"] == "closed"
    got = client.get(f"/corrective-actions/{action_id}", headers=auth(**MR)).json()
    assert got["state"] == "closed" and got["verifications"][0]["effective"] is True


def test_not_effective_reopens_and_needs_both_approvals_again(client: TestClient, auth,
                                                              routed: ComplaintRouted) -> None:
    action_id = started(client, auth, routed.complaint_id)
    step(client, action_id, "implementation", auth(**QA), summary="Mould replaced")
    reopened = step(client, action_id, "verification", auth(**QA), effective=False, findings="Cracks recur",
                    actions=["Change the alloy supplier"], due_at=(NOW + timedelta(days=20)).isoformat())
    assert reopened.status_code == 201, reopened.text
    view = reopened.json()
    assert (view["state"], view["round"], view["actions"], view["approvals"]) == (
        "proposed", 2, ["Change the alloy supplier"], {})
    assert step(client, action_id, "implementation", auth(**DEPT), summary="x").status_code == 409


def test_a_repeated_command_id_answers_200_and_writes_nothing(api: FastAPI, client: TestClient, auth,
                                                              routed: ComplaintRouted) -> None:
    command_id, alert_id = uuid4(), uuid4()
    first = raise_from_alert(client, auth, routed.complaint_id, alert_id, command_id)
    size = log_size(api)
    again = raise_from_alert(client, auth, routed.complaint_id, alert_id, command_id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["action_id"] == first.json()["action_id"] and again.json()["created"] is False
    other = raise_from_alert(client, auth, routed.complaint_id, alert_id)  # same alert, new command
    assert other.status_code == 409 and other.json()["detail"][0]["loc"] == ["body", "alert"]
    action_id = first.json()["action_id"]
    body = proposal()
    reused_raise = step(client, action_id, "proposal", auth(**QA), command_id=command_id, **body)
    assert reused_raise.status_code == 409 and reused_raise.json()["detail"][0]["loc"] == ["body", "command_id"]
    assert log_size(api) == size
    command_id = uuid4()
    assert step(client, action_id, "proposal", auth(**QA), command_id=command_id, **body).status_code == 201
    size = log_size(api)
    assert step(client, action_id, "proposal", auth(**QA), command_id=command_id, **body).status_code == 200
    reused = step(client, action_id, "approval", auth(**MR), command_id=command_id)
    assert reused.status_code == 409 and reused.json()["detail"][0]["loc"] == ["body", "command_id"]
    assert log_size(api) == size


@pytest.mark.parametrize(("segment", "who", "body"), [
    ("proposal", CLERK, proposal()),
    ("proposal", MR, proposal()),
    ("approval", QA, {}),
    ("approval", DEPT, {}),
    ("implementation", MR, {"summary": "done"}),
    ("verification", DEPT, {"effective": True, "findings": "ok"}),
])
def test_each_step_only_by_its_roles(api: FastAPI, client: TestClient, auth, routed: ComplaintRouted, segment: str,
                                     who: dict[str, str], body: dict[str, Any]) -> None:
    action_id = raise_from_alert(client, auth, routed.complaint_id).json()["action_id"]
    size = log_size(api)
    refused = step(client, action_id, segment, auth(**who), **body)
    assert refused.status_code == 403, refused.text
    assert log_size(api) == size


def test_refusals_name_the_field_and_write_nothing(api: FastAPI, client: TestClient, auth,
                                                   routed: ComplaintRouted) -> None:
    action_id = raise_from_alert(client, auth, routed.complaint_id).json()["action_id"]
    size = log_size(api)
    past = step(client, action_id, "proposal", auth(**QA), **proposal(NOW - timedelta(hours=1)))
    assert past.status_code == 422 and past.json()["detail"][0]["loc"] == ["body", "due_at"]
    early = step(client, action_id, "approval", auth(**MR))
    assert early.status_code == 409 and "raised" in early.json()["detail"][0]["msg"]
    bad_hash = step(client, action_id, "implementation", auth(**DEPT), summary="x", evidence=["photo.jpg"])
    assert bad_hash.status_code == 422 and bad_hash.json()["detail"][0]["loc"][:2] == ["body", "evidence"]
    missing = step(client, action_id, "verification", auth(**QA), effective=False, findings="Cracks recur")
    assert missing.status_code == 422 and {tuple(d["loc"]) for d in missing.json()["detail"]} >= {("body", "actions")}
    assert step(client, uuid4(), "proposal", auth(**QA), **proposal()).status_code == 404
    assert raise_from_alert(client, auth, uuid4()).status_code == 404
    assert log_size(api) == size


# --- overdue ------------------------------------------------------------------------------------------


def test_the_open_list_shows_overdue_first_and_leaves_closed_out(api: FastAPI, client: TestClient, auth,
                                                                  routed: ComplaintRouted) -> None:
    late = started(client, auth, routed.complaint_id, due=NOW + timedelta(days=2))
    later = started(client, auth, routed.complaint_id, due=NOW + timedelta(days=1))
    fresh = started(client, auth, routed.complaint_id, due=NOW + timedelta(days=30))
    unproposed = raise_from_alert(client, auth, routed.complaint_id).json()["action_id"]
    closed = started(client, auth, routed.complaint_id, due=NOW + timedelta(hours=1))
    step(client, closed, "implementation", auth(**DEPT), summary="done")
    step(client, closed, "verification", auth(**QA), effective=True, findings="ok")

    api.state.runtime.app.corrective_clock = lambda: NOW + timedelta(days=3)
    listed = client.get("/corrective-actions", headers=auth(**GM), params={"state": "open"})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [a["action_id"] for a in body["actions"]] == [later, late, fresh, unproposed]
    assert [a["overdue"] for a in body["actions"]] == [True, True, False, False] and body["overdue"] == 2
    assert body["total"] == 4
    first_two = client.get("/corrective-actions", headers=auth(**GM), params={"limit": 2}).json()
    assert [a["action_id"] for a in first_two["actions"]] == [later, late]
    assert (first_two["total"], first_two["overdue"]) == (4, 2)
    assert client.get(f"/corrective-actions/{late}", headers=auth(**QA)).json()["overdue"] is True
    assert client.get(f"/corrective-actions/{closed}", headers=auth(**QA)).json()["overdue"] is False
    everything = client.get("/corrective-actions", headers=auth(**QA), params={"state": "all"}).json()
    assert len(everything["actions"]) == 5
    only_closed = client.get("/corrective-actions", headers=auth(**QA), params={"state": "closed"}).json()
    assert [a["action_id"] for a in only_closed["actions"]] == [closed]
    assert client.get("/corrective-actions", headers=auth(**CLERK)).status_code == 403


def test_an_adjudicated_defect_shows_up_as_a_raised_action(api: FastAPI, client: TestClient, auth) -> None:
    event = adjudication()
    react(api.state.runtime.app, api.state.runtime.parts.policy, event)
    action_id = action_id_for_adjudication(event.adjudication_id)
    view = client.get(f"/corrective-actions/{action_id}", headers=auth(**QA)).json()
    assert (view["state"], view["source"], view["adjudication_id"], view["complaint_id"]) == (
        "raised", "adjudication", str(event.adjudication_id), str(event.complaint_id))


# --- exception reports --------------------------------------------------------------------------------


def test_an_exception_report_is_issued_and_answered_by_the_unit(api: FastAPI, client: TestClient, auth,
                                                                routed: ComplaintRouted) -> None:
    report_id, command_id = uuid4(), uuid4()
    body = {"command_id": str(command_id), "report_id": str(report_id), "no_loss": True, "unit": "Packing line 2",
            "description": "Scratched label", "requested_response": "Check the guide rail"}
    url = f"/complaints/{routed.complaint_id}/exception-report"
    assert client.post(url, headers=auth(**DEPT), json=body).status_code == 403
    issued = client.post(url, headers=auth(**QA), json=body)
    assert issued.status_code == 201, issued.text
    assert client.post(url, headers=auth(**QA), json=body).status_code == 200
    loss = client.post(url, headers=auth(**QA), json=body | {"no_loss": False, "command_id": str(uuid4())})
    assert loss.status_code == 422 and loss.json()["detail"][0]["loc"] == ["body", "no_loss"]
    taken = client.post(url, headers=auth(**QA), json=body | {"command_id": str(uuid4())})
    assert taken.status_code == 409 and taken.json()["detail"][0]["loc"] == ["body", "report_id"]
    answer = client.post(f"{url}/{report_id}/answer", headers=auth(**DEPT),
                         json={"command_id": str(uuid4()), "response": "Guide rail re-aligned"})
    assert answer.status_code == 201, answer.text
    assert (answer.json()["answered"], answer.json()["answered_by"]) == (True, "prod-ma")
    again = client.post(f"{url}/{report_id}/answer", headers=auth(**DEPT),
                        json={"command_id": str(uuid4()), "response": "Again"})
    assert again.status_code == 409
    elsewhere = client.post(f"/complaints/{uuid4()}/exception-report/{report_id}/answer", headers=auth(**DEPT),
                            json={"command_id": str(uuid4()), "response": "Wrong complaint"})
    assert elsewhere.status_code == 404
    got = client.get(f"{url}/{report_id}", headers=auth(**MR)).json()
    assert got["response"] == "Guide rail re-aligned"
    assert client.get(f"/complaints/{uuid4()}/exception-report/{report_id}", headers=auth(**MR)).status_code == 404
    assert client.post(f"/complaints/{uuid4()}/exception-report", headers=auth(**QA),
                       json=body | {"command_id": str(uuid4()), "report_id": str(uuid4())}).status_code == 404


def test_an_exception_report_instead_of_the_adjudications_action(api: FastAPI, client: TestClient, auth,
                                                                 routed: ComplaintRouted) -> None:
    event = adjudication(complaint_id=routed.complaint_id, form_number=routed.form_number)
    react(api.state.runtime.app, api.state.runtime.parts.policy, event)
    action_id = action_id_for_adjudication(event.adjudication_id)
    report_id = uuid4()
    issued = client.post(f"/complaints/{routed.complaint_id}/exception-report", headers=auth(**QA), json={
        "command_id": str(uuid4()), "report_id": str(report_id), "no_loss": True, "unit": "Casting unit",
        "description": "Porosity, no loss", "requested_response": "Check degassing",
        "adjudication_id": str(event.adjudication_id)})
    assert issued.status_code == 201, issued.text
    view = client.get(f"/corrective-actions/{action_id}", headers=auth(**QA)).json()
    assert (view["state"], view["superseded_by_report"], view["overdue"]) == ("superseded", str(report_id), False)
    open_ids = [a["action_id"] for a in client.get("/corrective-actions", headers=auth(**QA)).json()["actions"]]
    assert str(action_id) not in open_ids


def test_the_complaints_history_at_quality_lists_its_corrective_action(client: TestClient, auth,
                                                                        routed: ComplaintRouted) -> None:
    raise_from_alert(client, auth, routed.complaint_id)
    history = client.get(f"/complaints/{routed.complaint_id}/history", headers=auth(user="op", role="operator"))
    assert history.status_code == 200, history.text
    assert "CorrectiveActionRaised" in {e["published_as"] for e in history.json()["events"]}
