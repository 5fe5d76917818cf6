"""Swagger UI and ReDoc work offline, and each service's OpenAPI is a faithful contract."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from services.common.auth import AuthSettings
from services.common.http import HttpSettings, create_http_app
from services.intake.entrypoints.http import router as intake_router
from services.quality.entrypoints.http import router as quality_router
from tests.http.conftest import StubRuntime

ROUTERS: dict[str, list[APIRouter]] = {"intake": [intake_router], "quality": [quality_router], "other": []}
ASSET_RE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']|spec-url=["']([^"']+)["']""")


@pytest.fixture(params=list(ROUTERS))
def service(request: pytest.FixtureRequest, runtime: StubRuntime) -> Iterator[TestClient]:
    app = create_http_app(runtime, ROUTERS[request.param], auth_settings=AuthSettings(),
                          http_settings=HttpSettings())
    with TestClient(app) as client:
        yield client


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_need_no_token_and_load_only_local_assets(service: TestClient, page: str) -> None:
    response = service.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not re.search(r"""["'(]\s*(https?:)?//""", html), "an absolute or protocol-relative URL in the page"
    referenced = [next(g for g in m.groups() if g) for m in ASSET_RE.finditer(html)]
    assert any(u.endswith(".js") for u in referenced) and "/openapi.json" in referenced
    for url in referenced:
        assert url.startswith("/"), url
        asset = service.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100 or url == "/openapi.json", url


def test_openapi_json_needs_no_token(service: TestClient) -> None:
    assert service.get("/openapi.json").status_code == 200


def test_every_operation_documents_its_statuses_with_a_model(service: TestClient) -> None:
    spec = service.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"] == spec["components"]["securitySchemes"]["bearer"] | {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for method, path, operation in operations(spec):
        statuses = set(operation["responses"])
        if path == "/health":
            assert {"200", "503"} <= statuses and "security" not in operation
        else:
            assert operation["security"] == [{"bearer": []}], path
            assert {"401", "403", "413", "503"} <= statuses, (method, path)
            assert "www-authenticate" in {h.lower() for h in operation["responses"]["401"].get("headers", {})}
        if "{complaint_id}" in path:
            assert {"404", "422"} <= statuses, (method, path)
        if method == "POST":
            assert {"409", "422"} <= statuses, (method, path)
        for status, response in operation["responses"].items():
            assert response.get("content", {}).get("application/json", {}).get("schema"), (method, path, status)
        for status in statuses - {"200", "201", "503"}:
            if status.startswith("4"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)


def test_registration_states_its_rules(runtime: StubRuntime) -> None:
    with TestClient(create_http_app(runtime, [intake_router], auth_settings=AuthSettings())) as client:
        spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/complaints"]["post"]
    assert {"200", "201", "401", "403", "409", "413", "422", "503"} <= set(operation["responses"])
    [key] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header" and key["description"]
    form = spec["components"]["schemas"]["RegistrationRequest"]
    assert form["properties"]["read_back_confirmed"] == form["properties"]["read_back_confirmed"] | {
        "type": "boolean", "const": True}
    assert "SH01" in form["properties"]["branch"]["enum"]
    assert form["properties"]["description"]["pattern"]
    assert spec["components"]["schemas"]["Customer"]["properties"]["name"]["pattern"]
    assert form["allOf"], "product required for product_quality, resolved_on_the_spot only when minor"
    for rule in ("received_at", "order_date", "shipping_date", "arrival_date", "Idempotency-Key"):
        assert rule in form["description"], rule


def test_on_site_determination_states_its_rules(runtime: StubRuntime) -> None:
    with TestClient(create_http_app(runtime, [quality_router], auth_settings=AuthSettings())) as client:
        spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/complaints/{complaint_id}/on-site-determination"]["post"]
    assert {"201", "401", "403", "404", "409", "413", "422", "503"} <= set(operation["responses"])
    body = spec["components"]["schemas"]["OnSiteDeterminationBody"]
    assert body["anyOf"], "misuse_resolution exactly when obvious_misuse"
    assert body["properties"]["photo_refs"]["maxItems"] == 50
