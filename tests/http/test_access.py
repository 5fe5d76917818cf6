"""Scoping and limits at the shared edge: history, health, body size (rules 11 and 12)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from contracts.envelope import Role
from services.common.access import Forbidden, authorize, rules
from services.common.auth import OPERATOR, Principal
from services.common.domain import NotFound
from services.common.http import scrub
from tests.http.conftest import StubRuntime

import pytest


def test_the_access_table_knows_every_business_role_and_the_operator() -> None:
    assert set(rules().roles) == {r.value for r in Role if r is not Role.SYSTEM} | {OPERATOR}
    assert rules().region_of("SH01") == "EAST" and rules().region_of("BJ02") == "NORTH"


def test_another_branch_s_complaint_is_a_404_exactly_like_a_missing_one(edge: TestClient, runtime: StubRuntime,
                                                                         auth) -> None:
    theirs = runtime.add_complaint("BJ02-20261125-0001")
    out_of_scope = edge.get(f"/complaints/{theirs}/history", headers=auth(branch="SH01"))
    missing_id = "00000000-0000-4000-8000-000000000001"
    missing = edge.get(f"/complaints/{missing_id}/history", headers=auth(branch="SH01"))
    assert (out_of_scope.status_code, missing.status_code) == (404, 404)
    assert out_of_scope.json()["detail"][0]["msg"].replace(str(theirs), "X") == \
        missing.json()["detail"][0]["msg"].replace(missing_id, "X")
    assert edge.get(f"/complaints/{theirs}/history", headers=auth(user="clerk-zhang", branch="BJ02")).status_code == 200


def test_a_regional_manager_sees_the_region_and_hq_sees_all(edge: TestClient, runtime: StubRuntime, auth) -> None:
    shanghai = runtime.add_complaint("SH01-20261125-0001")
    hangzhou = runtime.add_complaint("HZ05-20261125-0001")
    beijing = runtime.add_complaint("BJ02-20261125-0001")
    east = auth(user="rm-wang", role="regional_manager", branch=None, region="EAST")
    by_branch = auth(user="rm-wang", role="regional_manager", branch="SH01")  # region from organisation.yaml
    hq = auth(user="gm-chen", role="general_manager", branch=None)
    for headers in (east, by_branch):
        assert [edge.get(f"/complaints/{c}/history", headers=headers).status_code
                for c in (shanghai, hangzhou, beijing)] == [200, 200, 404]
    assert [edge.get(f"/complaints/{c}/history", headers=hq).status_code
            for c in (shanghai, hangzhou, beijing)] == [200, 200, 200]


def test_a_role_without_the_action_is_403_naming_role_and_action(edge: TestClient, runtime: StubRuntime,
                                                                  auth) -> None:
    complaint = runtime.add_complaint("SH01-20261125-0001")
    response = edge.get(f"/complaints/{complaint}/history",
                        headers=auth(user="sales-he", role="salesperson", branch="SH01"))
    assert response.status_code == 403
    assert response.json()["detail"][0]["msg"] == "role salesperson may not perform complaint.history.read"


def test_authorize_refuses_a_new_command_for_a_branch_out_of_scope() -> None:
    clerk = Principal("clerk-li", "branch_clerk", "SH01")
    authorize(clerk, "complaint.register", "SH01")
    with pytest.raises(Forbidden) as refused:
        authorize(clerk, "complaint.register", "BJ02")
    assert refused.value.field == "branch"
    with pytest.raises(NotFound, match="^gone$"):
        authorize(clerk, "complaint.history.read", "BJ02", not_found="gone")
    with pytest.raises(KeyError):
        authorize(clerk, "complaint.teleport")


def test_health_without_a_token_says_only_up_or_down(edge: TestClient, runtime: StubRuntime) -> None:
    runtime.report = {"service": "routing", "store_error": "postgresql://complaints:hunter2@db/x is down"}
    assert (edge.get("/health").status_code, edge.get("/health").json()) == (200, {"status": "up"})
    runtime.ok = False
    assert (edge.get("/health").status_code, edge.get("/health").json()) == (503, {"status": "down"})


def test_health_details_need_an_operator_and_never_echo_credentials(edge: TestClient, runtime: StubRuntime,
                                                                    auth) -> None:
    runtime.report = {
        "service": "routing",
        "database_url": "postgresql://complaints:hunter2@db:5432/routing",
        "store_error": "connection to postgresql://complaints:hunter2@db:5432/routing failed",
        "relays": [{"sink": "kafka", "dsn": "host=db password=hunter2", "last_error": "password=hunter2 rejected"}],
        "broker": {"bootstrap": "kafka:9092", "sasl_password": "hunter2", "api_key": "k"},
    }
    assert edge.get("/health/details").status_code == 401
    clerk = edge.get("/health/details", headers=auth())
    assert clerk.status_code == 403 and "health.details" in clerk.text
    details = edge.get("/health/details", headers=auth(user="ops-zhou", role="operator", branch=None))
    assert details.status_code == 200
    assert "hunter2" not in details.text
    assert details.json()["service"] == "routing"
    assert details.json()["broker"]["bootstrap"] == "kafka:9092"
    assert details.json()["store_error"] == "connection to postgresql://***@db:5432/routing failed"


def test_scrub_keeps_numbers_and_structure() -> None:
    assert scrub({"relays": {"kafka": {"position": 7, "lag": 0}}, "ok": True}) == {
        "relays": {"kafka": {"position": 7, "lag": 0}}, "ok": True}


# --- body size -------------------------------------------------------------------------------------

def test_a_body_over_the_limit_is_413_before_anything_reads_it(edge: TestClient, runtime: StubRuntime,
                                                               auth) -> None:
    response = edge.post("/echo", content=b"x" * (2 * 1024 * 1024), headers=auth())
    assert response.status_code == 413
    assert runtime.posted == []
    assert edge.post("/echo", content=b"x" * 1000, headers=auth()).json() == {"bytes": 1000}


def test_a_streamed_body_without_length_over_the_limit_is_413(edge: TestClient, runtime: StubRuntime,
                                                              auth) -> None:
    def chunks():
        for _ in range(40):
            yield b"y" * 65536  # 2.5 MiB in all, chunked
    response = edge.post("/echo", content=chunks(), headers=auth())
    assert response.status_code == 413
    assert runtime.posted == []


def test_an_oversized_body_is_413_even_without_a_token(edge: TestClient, runtime: StubRuntime) -> None:
    assert edge.post("/echo", content=b"x" * (2 * 1024 * 1024)).status_code == 413
