"""Billing's HTTP edge over the real bootstrap (SQLite store, no broker needed): costs, the penalty,
goodwill payments and the ledger, each by its roles, refused with the field named and nothing written,
and idempotent by command_id."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from contracts.envelope import Money
from services.billing.bootstrap import create_app
from services.billing.settings import BillingSettings
from services.common.tokens import mint_token
from tests.billing.events import adjudicated, on_site, routed
from tests.common.builders import react

HQ_CLERK = {"user": "hq-clerk-zhou", "role": "hq_clerk"}
DIRECTOR = {"user": "md-chen", "role": "marketing_director"}
HQ_RM = {"user": "hqrm-liu", "role": "hq_regional_manager"}
EAST_RM = {"user": "rm-wang", "role": "regional_manager", "region": "EAST"}
NORTH_RM = {"user": "rm-zhao", "role": "regional_manager", "region": "NORTH"}
CLERK = {"user": "clerk-li", "role": "branch_clerk", "branch": "SH01"}
OTHER_CLERK = {"user": "clerk-bj", "role": "branch_clerk", "branch": "BJ02"}
SALES = {"user": "sales-wu", "role": "salesperson", "region": "EAST"}

PATHS = ["/complaints/{complaint_id}/costs", "/complaints/{complaint_id}/salesperson-penalty",
         "/complaints/{complaint_id}/compensation", "/complaints/{complaint_id}/compensation/{compensation_id}/approval",
         "/complaints/{complaint_id}/ledger"]


@pytest.fixture
def api(tmp_path: Path) -> FastAPI:
    return create_app(BillingSettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1"))


@pytest.fixture
def auth(tmp_path: Path) -> Callable[..., dict[str, str]]:
    def make(who: dict[str, Any]) -> dict[str, str]:
        token = mint_token(tmp_path, who["user"], who["role"], who.get("branch"), who.get("region"))
        return {"Authorization": f"Bearer {token}"}
    return make


def feed(api: FastAPI, *events: Any) -> None:
    for event in events:
        react(api.state.runtime.app, api.state.runtime.parts.policy, event)


@pytest.fixture
def complaint(api: FastAPI) -> UUID:
    """An undetermined case at SH01 (region EAST) found misuse, the salesperson negligent."""
    complaint_id = uuid4()
    feed(api, routed(complaint_id), on_site(complaint_id, "cannot_be_determined"),
         adjudicated(complaint_id, "obvious_misuse", negligent=True, degree="medium"))
    return complaint_id


def ledger(client: TestClient, auth, complaint_id: UUID, who=HQ_CLERK) -> dict[str, Any]:
    response = client.get(f"/complaints/{complaint_id}/ledger", headers=auth(who))
    assert response.status_code == 200, response.text
    return response.json()


def field_of(response) -> list[str]:
    return [str(part) for item in response.json()["detail"] for part in item["loc"]]


def transport(client, auth, complaint_id, item="return_transport", amount="220.50", document="SF-R1", **extra):
    body = {"item": item, "amount": amount, "incurred_on": "2026-11-26", "source_document": document, **extra}
    return client.post(f"/complaints/{complaint_id}/costs", json=body, headers=auth(HQ_CLERK))


def test_a_cost_is_recorded_and_booked_to_the_party_the_case_makes_pay(client, auth, complaint) -> None:
    response = transport(client, auth, complaint, "delivery_transport", "80.00", "SF-D1")
    assert response.status_code == 201, response.text
    assert response.json()["ledger_total"] == "80.00" and response.json()["customer_owes"] == "80.00"
    view = ledger(client, auth, complaint)
    [entry] = [e for e in view["entries"] if e["amount"] != "0.00"]
    assert (entry["payer"], entry["source_document"], entry["decision_kind"]) == ("customer", "SF-D1", "cost_incurred")
    assert view["transport"]["total"] == "80.00" and view["customer_owes"] == "80.00"
    assert view["rules_version"] and view["price_list_version"]


def test_a_repeated_command_returns_the_first_result_and_writes_nothing(client, auth, complaint) -> None:
    command_id = str(uuid4())
    first = transport(client, auth, complaint, command_id=command_id)
    again = transport(client, auth, complaint, command_id=command_id)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    other = transport(client, auth, complaint, amount="99.00", command_id=command_id)
    assert other.status_code == 409 and "command_id" in field_of(other)
    assert ledger(client, auth, complaint)["version"] == first.json()["version"]


def test_transport_without_its_waybill_is_422_naming_source_document(client, auth, complaint) -> None:
    version = ledger(client, auth, complaint)["version"]
    body = {"item": "return_transport", "amount": "10.00", "incurred_on": "2026-11-26"}
    response = client.post(f"/complaints/{complaint}/costs", json=body, headers=auth(HQ_CLERK))
    assert response.status_code == 422 and "source_document" in field_of(response)
    other = {"item": "other", "amount": "10.00", "incurred_on": "2026-11-26", "description": "Lab test fee"}
    assert client.post(f"/complaints/{complaint}/costs", json=other, headers=auth(HQ_CLERK)).status_code == 201
    assert ledger(client, auth, complaint)["version"] > version


@pytest.mark.parametrize("amount", ["10.001", "-1.00", "0.00", 10, 10.5])
def test_an_amount_that_is_not_whole_positive_fen_as_text_is_422(client, auth, complaint, amount) -> None:
    response = transport(client, auth, complaint, amount=amount)
    assert response.status_code == 422 and "amount" in field_of(response)


def test_costs_by_role_and_scope(client, auth, complaint) -> None:
    body = {"item": "other", "amount": "5.00", "incurred_on": "2026-11-26"}
    assert client.post(f"/complaints/{complaint}/costs", json=body, headers=auth(CLERK)).status_code == 403
    assert client.post(f"/complaints/{complaint}/costs", json=body, headers=auth(NORTH_RM)).status_code == 404
    assert client.post(f"/complaints/{complaint}/costs", json=body, headers=auth(EAST_RM)).status_code == 201
    assert client.post(f"/complaints/{uuid4()}/costs", json=body, headers=auth(HQ_CLERK)).status_code == 404


@pytest.mark.parametrize("who", [DIRECTOR, HQ_RM])
def test_the_approver_sets_the_penalty_rate(client, auth, complaint, who) -> None:
    transport(client, auth, complaint)
    response = client.post(f"/complaints/{complaint}/salesperson-penalty", json={"penalty_percent": "45"},
                           headers=auth(who))
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == "99.23"                 # 220.50 x 45 %, half-up
    assert ledger(client, auth, complaint)["by_payer"]["salesperson"] == "99.23"


@pytest.mark.parametrize("percent", ["29", "29.99", "60.01", "61"])
def test_a_rate_outside_30_to_60_is_422_naming_penalty_percent_and_nothing_is_written(client, auth, complaint,
                                                                                       percent) -> None:
    transport(client, auth, complaint)
    version = ledger(client, auth, complaint)["version"]
    response = client.post(f"/complaints/{complaint}/salesperson-penalty", json={"penalty_percent": percent},
                           headers=auth(DIRECTOR))
    assert response.status_code == 422 and "penalty_percent" in field_of(response)
    assert ledger(client, auth, complaint)["version"] == version


@pytest.mark.parametrize("percent, amount", [("30", "66.15"), ("60", "132.30")])
def test_the_rate_edges_30_and_60_are_allowed(client, auth, complaint, percent, amount) -> None:
    transport(client, auth, complaint)
    response = client.post(f"/complaints/{complaint}/salesperson-penalty", json={"penalty_percent": percent},
                           headers=auth(DIRECTOR))
    assert response.status_code == 201 and response.json()["amount"] == amount


def test_no_penalty_without_a_negligence_finding_and_not_by_other_roles(api, client, auth) -> None:
    complaint_id = uuid4()
    feed(api, routed(complaint_id), on_site(complaint_id, "cannot_be_determined"),
         adjudicated(complaint_id, "obvious_misuse"))
    response = client.post(f"/complaints/{complaint_id}/salesperson-penalty", json={"penalty_percent": "45"},
                           headers=auth(DIRECTOR))
    assert response.status_code == 409 and "negligence" in response.text
    response = client.post(f"/complaints/{complaint_id}/salesperson-penalty", json={"penalty_percent": "45"},
                           headers=auth(EAST_RM))
    assert response.status_code == 403


def test_goodwill_is_proposed_then_approved_within_authority(client, auth, complaint) -> None:
    proposed = client.post(f"/complaints/{complaint}/compensation", json={"amount": "3000.01", "reason": "Goodwill"},
                           headers=auth(EAST_RM))
    assert proposed.status_code == 201, proposed.text
    compensation_id = proposed.json()["id"]
    version = ledger(client, auth, complaint)["version"]
    approval = f"/complaints/{complaint}/compensation/{compensation_id}/approval"
    beyond = client.post(approval, json={}, headers=auth(HQ_RM))          # hq_regional: 3000.00 at most
    assert beyond.status_code == 403 and "3000.00" in beyond.text and "compensation" in field_of(beyond)
    assert ledger(client, auth, complaint)["version"] == version
    approved = client.post(approval, json={"comments": "Within policy"}, headers=auth(DIRECTOR))
    assert approved.status_code == 201 and approved.json()["amount"] == "3000.01"
    assert client.post(approval, json={}, headers=auth(DIRECTOR)).status_code == 409
    view = ledger(client, auth, complaint)
    assert view["by_item"]["compensation"] == "3000.01"
    assert view["compensations"][0]["approved_by"] == "md-chen"
    unknown = client.post(f"/complaints/{complaint}/compensation/{uuid4()}/approval", json={}, headers=auth(DIRECTOR))
    assert unknown.status_code == 404
    assert client.post(approval, json={}, headers=auth(SALES)).status_code == 403


def test_the_ledger_is_read_by_hq_the_branch_s_clerk_and_the_region_s_manager(client, auth, complaint) -> None:
    for who in (HQ_CLERK, DIRECTOR, CLERK, EAST_RM):
        assert ledger(client, auth, complaint, who)["form_number"] == "SH01-20261125-0001"
    assert client.get(f"/complaints/{complaint}/ledger", headers=auth(OTHER_CLERK)).status_code == 404
    assert client.get(f"/complaints/{complaint}/ledger", headers=auth(NORTH_RM)).status_code == 404
    assert client.get(f"/complaints/{complaint}/ledger", headers=auth(SALES)).status_code == 403
    assert client.get(f"/complaints/{complaint}/ledger").status_code == 401


def test_every_endpoint_documents_every_status_it_returns(client) -> None:
    spec = client.get("/openapi.json").json()
    for path in PATHS:
        for method, operation in spec["paths"][path].items():
            documented = set(operation["responses"])
            expected = {"200"} if method == "get" else {"201", "409", "422"}
            assert expected | {"403", "404"} <= documented, (path, method, documented)
    cost = spec["components"]["schemas"]["CostBody"]
    assert any(branch.get("required") == ["source_document"] for branch in cost["anyOf"])


def test_a_repeated_penalty_answers_its_amount_again_and_a_json_number_rate_is_refused(client, auth, complaint) -> None:
    transport(client, auth, complaint)
    body = {"command_id": str(uuid4()), "penalty_percent": "50"}
    first = client.post(f"/complaints/{complaint}/salesperson-penalty", json=body, headers=auth(DIRECTOR))
    again = client.post(f"/complaints/{complaint}/salesperson-penalty", json=body, headers=auth(DIRECTOR))
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.json()["amount"] == "110.25"
    number = client.post(f"/complaints/{complaint}/salesperson-penalty", json={"penalty_percent": 45},
                         headers=auth(DIRECTOR))
    assert number.status_code == 422 and "penalty_percent" in field_of(number)


class _MoneyBody(BaseModel):
    amount: Money


def test_money_in_any_fastapi_body_refuses_a_json_number() -> None:
    """FastAPI validates a parsed body in Python mode, where a JSON number is a float: Money refuses it."""
    api = FastAPI()

    @api.post("/amount")
    def take(body: _MoneyBody) -> dict[str, str]:
        return {"amount": str(body.amount)}

    with TestClient(api) as client:
        assert client.post("/amount", json={"amount": 0.5}).status_code == 422
