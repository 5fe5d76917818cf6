"""Identity, scoping and input bounds against the running services (issue 5; rules 11 and 12).

The same cluster as the journey (tests/e2e/conftest.py): five processes on PostgreSQL, Apache Kafka.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import jwt
import pytest

from contracts.envelope import STAGE_SERVICES, ServiceName
from services.common.auth import AuthSettings
from services.common.cluster import SERVICES, LocalCluster
from services.common.tokens import mint_token
from services.demo import samples
from services.demo.journey import history, wait_for_events
from services.intake.domain.registration import complaint_id_for
from tests.e2e.conftest import open_quality_investigation

pytestmark = pytest.mark.e2e
INTAKE, ROUTING, QUALITY, BILLING, NOTIFY = STAGE_SERVICES


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(client: httpx.Client, cluster: LocalCluster, body: dict, headers: dict[str, str]) -> httpx.Response:
    return client.post(f"{cluster.url(INTAKE)}/complaints", json=body, headers=headers)


def never_registered(client: httpx.Client, cluster: LocalCluster, body: dict) -> bool:
    """Nothing was written for this registration body (its complaint does not exist)."""
    return history(client, cluster.url(INTAKE), str(complaint_id_for(UUID(body["command_id"])))) == []


@pytest.fixture(scope="module")
def shanghai_quality(cluster: LocalCluster) -> str:
    """A Shanghai (EAST) product-quality complaint with its investigation open at quality."""
    return open_quality_investigation(cluster)["complaint_id"]


# --- who is calling ------------------------------------------------------------------------------

def bad_tokens(cluster: LocalCluster, elsewhere: Path) -> dict[str, str]:
    past = datetime.now(timezone.utc) - timedelta(hours=9)
    now = datetime.now(timezone.utc)
    claims = {"iss": "complaints-local", "aud": "complaints", "sub": "clerk-li", "role": "branch_clerk",
              "branch": "SH01", "exp": int((now + timedelta(hours=1)).timestamp())}
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    none_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return {
        "expired": mint_token(cluster.workdir, "clerk-li", "branch_clerk", "SH01", ttl=timedelta(hours=8), now=past),
        "wrongly signed": mint_token(elsewhere, "clerk-li", "branch_clerk", "SH01"),
        "alg none": f"{none_header}.{none_body}.",
        "wrong audience": mint_token(cluster.workdir, "clerk-li", "branch_clerk", "SH01",
                                     settings=AuthSettings(audience="another-system")),
        "wrong issuer": jwt.encode(claims | {"iss": "https://evil.example"},
                                   (cluster.workdir / "keys" / "signing-key.pem").read_bytes(), "ES256"),
    }


def test_no_token_and_bad_tokens_are_401_and_write_nothing(cluster: LocalCluster, client: httpx.Client,
                                                            shanghai_quality: str, tmp_path: Path) -> None:
    body = samples.quality_complaint()
    for name, token in [("none", None), *bad_tokens(cluster, tmp_path).items()]:
        headers = bearer(token) if token else {"Authorization": ""}
        registered = register(client, cluster, body, headers)
        assert registered.status_code == 401, (name, registered.text)
        assert registered.headers["www-authenticate"].startswith("Bearer"), name
        read = client.get(f"{cluster.url(ROUTING)}/complaints/{shanghai_quality}/history", headers=headers)
        assert read.status_code == 401, (name, read.text)
    assert never_registered(client, cluster, body)


# --- scope: branch A cannot see or act on branch B's complaint ------------------------------------------

@pytest.mark.parametrize("service", list(STAGE_SERVICES))
def test_another_branch_s_complaint_is_not_found_at_every_service(cluster: LocalCluster, client: httpx.Client,
                                                                  shanghai_quality: str, service: ServiceName) -> None:
    wait_for_events(client, cluster.url(QUALITY), shanghai_quality, "Opened")
    path = f"{cluster.url(service)}/complaints/{shanghai_quality}/history"
    beijing = client.get(path, headers=cluster.auth(**samples.clerk_of("BJ02")))
    missing = client.get(f"{cluster.url(service)}/complaints/{uuid4()}/history",
                         headers=cluster.auth(**samples.clerk_of("BJ02")))
    assert (beijing.status_code, missing.status_code) == (404, 404)
    assert beijing.json()["detail"][0]["msg"].split(" complaint ")[0] == \
        missing.json()["detail"][0]["msg"].split(" complaint ")[0]
    if service in (INTAKE, ROUTING, QUALITY):  # these hold events for it by now
        assert client.get(path, headers=cluster.auth(**samples.CLERK)).status_code == 200


def test_a_manager_of_another_region_cannot_record_the_determination(cluster: LocalCluster, client: httpx.Client,
                                                                      shanghai_quality: str) -> None:
    before = history(client, cluster.url(QUALITY), shanghai_quality)
    url = f"{cluster.url(QUALITY)}/complaints/{shanghai_quality}/on-site-determination"
    north = client.post(url, json=samples.obvious_defect_determination(),
                        headers=cluster.auth(**samples.manager_of("NORTH")))
    missing = client.post(f"{cluster.url(QUALITY)}/complaints/{uuid4()}/on-site-determination",
                          json=samples.obvious_defect_determination(),
                          headers=cluster.auth(**samples.manager_of("NORTH")))
    assert (north.status_code, missing.status_code) == (404, 404)
    assert "not been routed to quality" in north.text
    assert history(client, cluster.url(QUALITY), shanghai_quality) == before


def test_headquarters_steps_need_their_role_and_the_case_in_scope(cluster: LocalCluster, client: httpx.Client) -> None:
    receipt = register(client, cluster, samples.quality_complaint(), cluster.auth(**samples.CLERK))
    assert receipt.status_code == 201, receipt.text
    complaint_id = receipt.json()["complaint_id"]
    wait_for_events(client, cluster.url(ROUTING), complaint_id, "Routed")
    before = history(client, cluster.url(ROUTING), complaint_id)
    dispatch = f"{cluster.url(ROUTING)}/complaints/{complaint_id}/on-site-dispatch"
    clerk = client.post(dispatch, json=samples.on_site_dispatch(), headers=cluster.auth(**samples.CLERK))
    assert clerk.status_code == 403
    assert clerk.json()["detail"][0]["msg"] == "role branch_clerk may not perform case.triage"
    beijing = client.get(f"{cluster.url(ROUTING)}/complaints/{complaint_id}/case",
                         headers=cluster.auth(**samples.clerk_of("BJ02")))
    north = client.post(dispatch.replace("on-site-dispatch", "handler"),
                        json={"command_id": str(uuid4()), "handler": "rm-north", "handler_role": "regional_manager"},
                        headers=cluster.auth(**samples.manager_of("NORTH")))
    assert (beijing.status_code, north.status_code) == (404, 404), "outside their branch or region"
    assert history(client, cluster.url(ROUTING), complaint_id) == before
    own = client.get(f"{cluster.url(ROUTING)}/complaints/{complaint_id}/case", headers=cluster.auth(**samples.CLERK))
    assert own.status_code == 200 and own.json()["state"] == "awaiting_triage"


def test_a_clerk_may_not_register_for_another_branch(cluster: LocalCluster, client: httpx.Client) -> None:
    body = samples.quality_complaint(branch="BJ02")
    response = register(client, cluster, body, cluster.auth(**samples.CLERK))
    assert response.status_code == 403
    assert response.json()["detail"][0]["loc"] == ["body", "branch"]
    assert never_registered(client, cluster, body)


# --- roles and actions ------------------------------------------------------------------------------

def test_a_role_without_the_action_is_403_naming_role_and_action(cluster: LocalCluster, client: httpx.Client,
                                                                  shanghai_quality: str) -> None:
    body = samples.quality_complaint()
    sales = register(client, cluster, body, cluster.auth(user="sales-he", role="salesperson", branch="SH01"))
    assert sales.status_code == 403
    assert sales.json()["detail"][0]["msg"] == "role salesperson may not perform complaint.register"
    assert never_registered(client, cluster, body)

    before = history(client, cluster.url(QUALITY), shanghai_quality)
    clerk = client.post(f"{cluster.url(QUALITY)}/complaints/{shanghai_quality}/on-site-determination",
                        json=samples.obvious_defect_determination(), headers=cluster.auth(**samples.CLERK))
    assert clerk.status_code == 403
    assert clerk.json()["detail"][0]["msg"] == \
        "role branch_clerk may not perform quality.on_site_determination.record"
    assert history(client, cluster.url(QUALITY), shanghai_quality) == before


def test_a_body_naming_another_actor_changes_nothing(cluster: LocalCluster, client: httpx.Client,
                                                     shanghai_quality: str) -> None:
    body = samples.quality_complaint() | {"actor": {"user_id": "gm-chen", "role": "general_manager"}}
    response = register(client, cluster, body, cluster.auth(**samples.CLERK))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "actor"]
    assert never_registered(client, cluster, body)

    before = history(client, cluster.url(QUALITY), shanghai_quality)
    for forged in ({"actor": {"user_id": "rm-li", "role": "regional_manager"}}, {"inspector": "rm-li"}):
        refused = client.post(f"{cluster.url(QUALITY)}/complaints/{shanghai_quality}/on-site-determination",
                              json=samples.obvious_defect_determination() | forged,
                              headers=cluster.auth(**samples.MANAGER))
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["body", next(iter(forged))]
    assert history(client, cluster.url(QUALITY), shanghai_quality) == before


def test_the_registered_actor_is_the_token_s_user(cluster: LocalCluster, client: httpx.Client) -> None:
    receipt = register(client, cluster, samples.staff_complaint(branch="GZ03"),
                       cluster.auth(**samples.clerk_of("GZ03")))
    assert receipt.status_code == 201, receipt.text
    [registered] = history(client, cluster.url(INTAKE), receipt.json()["complaint_id"])
    assert registered["meta"]["actor"] == {"user_id": "clerk-gz03", "role": "branch_clerk", "branch": "GZ03"}


# --- idempotency ----------------------------------------------------------------------------------

def test_command_id_is_required_and_the_idempotency_key_serves(cluster: LocalCluster, client: httpx.Client) -> None:
    clerk = cluster.auth(**samples.CLERK)
    body = samples.quality_complaint()
    del body["command_id"]
    missing = register(client, cluster, body, clerk)
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "command_id"]

    key = str(uuid4())
    first = register(client, cluster, body, clerk | {"Idempotency-Key": key})
    again = register(client, cluster, body | {"command_id": key}, clerk | {"Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["complaint_id"] == first.json()["complaint_id"] == str(complaint_id_for(UUID(key)))

    disagree = register(client, cluster, body | {"command_id": str(uuid4())}, clerk | {"Idempotency-Key": key})
    assert disagree.status_code == 422 and disagree.json()["detail"][0]["loc"] == ["body", "command_id"]


def test_the_same_command_id_with_another_body_is_409_and_writes_nothing(cluster: LocalCluster,
                                                                         client: httpx.Client) -> None:
    clerk = cluster.auth(**samples.CLERK)
    body = samples.quality_complaint()
    first = register(client, cluster, body, clerk)
    assert first.status_code == 201
    before = history(client, cluster.url(INTAKE), first.json()["complaint_id"])

    changed = register(client, cluster, body | {"description": "Something else entirely."}, clerk)
    assert changed.status_code == 409
    assert changed.json()["detail"][0]["loc"] == ["body", "command_id"]
    assert history(client, cluster.url(INTAKE), first.json()["complaint_id"]) == before
    same = register(client, cluster, body, clerk)
    assert (same.status_code, same.json()["form_number"]) == (200, first.json()["form_number"])


# --- received_at within a sane window ---------------------------------------------------------------

@pytest.mark.parametrize("received_at", [
    datetime(2030, 1, 1, 2, 0, tzinfo=timezone.utc),
    datetime.now(timezone.utc) - timedelta(days=8),
], ids=["2030", "8-days-ago"])
def test_received_at_outside_the_window_is_422_naming_it(cluster: LocalCluster, client: httpx.Client,
                                                         received_at: datetime) -> None:
    body = samples.quality_complaint() | {"received_at": received_at.isoformat()}
    response = register(client, cluster, body, cluster.auth(**samples.CLERK))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "received_at"]
    assert never_registered(client, cluster, body)


def test_a_role_that_may_backdate_registers_eight_days_back(cluster: LocalCluster, client: httpx.Client) -> None:
    received = datetime.now(timezone.utc) - timedelta(days=8)
    body = samples.staff_complaint(branch="SH01") | {"received_at": received.isoformat(), "channel": "letter"}
    response = register(client, cluster, body, cluster.auth(user="hq-sun", role="hq_clerk"))
    assert response.status_code == 201, response.text
    assert response.json()["form_number"].startswith("SH01-" + (received + timedelta(hours=8)).strftime("%Y%m%d"))


# --- bounded bodies, health ---------------------------------------------------------------------------

@pytest.mark.parametrize("service", [INTAKE, QUALITY])
def test_a_two_mebibyte_body_is_413(cluster: LocalCluster, client: httpx.Client, shanghai_quality: str,
                                    service: ServiceName) -> None:
    path = "/complaints" if service is INTAKE else f"/complaints/{shanghai_quality}/on-site-determination"
    body = samples.quality_complaint() | {"description": "x" * (2 * 1024 * 1024)}
    response = client.post(cluster.url(service) + path, json=body, headers=cluster.auth(**samples.CLERK))
    assert response.status_code == 413
    assert never_registered(client, cluster, body)


def test_health_without_a_token_says_only_up(cluster: LocalCluster) -> None:
    for service in SERVICES:
        response = httpx.get(cluster.url(service) + "/health", timeout=10)
        assert (response.status_code, response.json()) == (200, {"status": "up"})


def test_health_details_need_an_operator_token(cluster: LocalCluster) -> None:
    url = cluster.url(INTAKE) + "/health/details"
    assert httpx.get(url, timeout=10).status_code == 401
    clerk = httpx.get(url, headers=cluster.auth(**samples.CLERK), timeout=10)
    assert clerk.status_code == 403 and "health.details" in clerk.text
    operator = httpx.get(url, headers=cluster.auth(**samples.OPERATOR), timeout=10)
    assert operator.status_code == 200 and isinstance(operator.json(), dict)
    assert "postgres@" not in operator.text and "postgresql://" not in operator.text
