"""Schemathesis fuzzes the console's own OpenAPI against the console and the whole system as OS
processes (the embedded default: SQLite, a Kafka node), once for this module.

The console's pages are HTML; its OpenAPI says which statuses each page answers and which forms it
takes. Every operation is called signed in (the HQ clerk's session cookie and CSRF header; sign-out
with a session of its own each time, so it does not end the others), with generated paths, queries
and forms, positive and negative. A run fails on a 5xx, a status or content type the operation does
not document, or a schema-invalid request accepted. A schema-valid request may be refused where the
schema cannot say what valid is (a form's fields come from the service's own body schema), so the
acceptance check counts a redirect, a page, or a 400/403/404/409 naming the problem as an answer.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from contracts.envelope import ServiceName
from services.common.cluster import ConsoleProcess, LocalCluster
from services.demo import samples

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

USER, PASSWORD = "hq-clerk-xu", "demo-password"
CONFIG: dict[str, Any] = {
    "generation": {"mode": "all", "max-examples": 40},
    "phases": {"stateful": {"enabled": False}},
    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "303", "400", "403", "404", "409"]}},
    "suppress-health-check": ["too_slow", "filter_too_much"],
}
SENT: Counter[tuple[str, int]] = Counter()


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleProcess]:
    with LocalCluster(tmp_path_factory.mktemp("console-fuzz"), log_level="WARNING") as cluster:
        response = httpx.post(cluster.url(ServiceName.INTAKE) + "/complaints", json=samples.quality_complaint(),
                              headers=cluster.auth(**samples.CLERK))
        assert response.status_code == 201, response.text
        with ConsoleProcess(cluster) as running:
            yield running


def sign_in(console: ConsoleProcess) -> tuple[str, str]:
    """A new session of the HQ clerk: its cookie and its CSRF token."""
    with httpx.Client(base_url=console.url, follow_redirects=False) as client:
        page = client.get("/login")
        client.cookies.set("console_login", page.cookies["console_login"])
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        signed = client.post("/login", data={"user": USER, "password": PASSWORD, "csrf_token": token})
        assert signed.status_code == 303, signed.text
        session = signed.cookies["console_session"]
        client.cookies.set("console_session", session)
        inbox = client.get("/inbox")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', inbox.text).group(1)  # type: ignore[union-attr]
        return session, csrf


@pytest.fixture(scope="module")
def session(console: ConsoleProcess) -> tuple[str, str]:
    return sign_in(console)


@pytest.fixture(scope="module")
def console_api(console: ConsoleProcess) -> Any:
    served = httpx.get(f"{console.url}/openapi.json", timeout=10)
    assert served.status_code == 200
    schema = schemathesis.openapi.from_dict(served.json(), config=SchemathesisConfig.from_dict(CONFIG))
    schema.config.update(base_url=console.url)
    return schema


console_schema = schemathesis.pytest.from_fixture("console_api")


@console_schema.parametrize()
def test_console_api(case: Any, console: ConsoleProcess, session: tuple[str, str]) -> None:
    cookie, csrf = sign_in(console) if case.operation.path == "/logout" else session
    headers = {"Cookie": f"console_session={cookie}", "X-CSRF-Token": csrf}
    if case.operation.path == "/login":
        headers = {}
    response = case.call(headers=headers, timeout=30, allow_redirects=False)
    SENT[(case.operation.label, response.status_code)] += 1
    case.validate_response(response, headers=headers)


def test_every_page_was_called_and_the_console_stayed_well(console: ConsoleProcess) -> None:
    for (label, status), count in sorted(SENT.items()):
        print(f"{label:60} {status} x{count}")
    called = {label for label, _ in SENT}
    assert {"GET /inbox", "GET /complaints", "GET /complaints/{ref}", "POST /register", "GET /dashboard",
            "POST /complaints/{ref}/steps/{service}/{segment}", "POST /login", "POST /logout"} <= called
    assert not any(status >= 500 for (_, status) in SENT)
    assert httpx.get(console.url + "/health").status_code == 200
    assert "Traceback" not in console.log_path.read_text(errors="replace")
