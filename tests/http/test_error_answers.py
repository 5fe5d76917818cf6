"""Error answers name the field path and never echo the input whole (issue 5, Operating it).

Intake's and quality's real routers over the stub runtime: every case here is refused before
the handler reaches a store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.auth import AuthSettings
from services.common.http import INPUT_PREFIX, HttpSettings, create_http_app, short_input
from services.demo import samples
from services.intake.entrypoints.http import router as intake_router
from services.quality.entrypoints.http import router as quality_router
from tests.http.conftest import StubRuntime

SMALL = 2048


@pytest.fixture
def api(runtime: StubRuntime) -> Iterator[TestClient]:
    app = create_http_app(runtime, [intake_router, quality_router], auth_settings=AuthSettings(),
                          http_settings=HttpSettings(max_body_bytes=1024 * 1024))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def clerk(auth) -> dict[str, str]:
    return auth(**samples.CLERK)


def register(api: TestClient, headers: dict[str, str], **changes: Any) -> Any:
    body = samples.quality_complaint()
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = body
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return api.post("/complaints", json=body, headers=headers)


def refused(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    return response.json()["detail"]


def locs(response: Any) -> list[list[Any]]:
    return [e["loc"] for e in refused(response)]


def test_a_10000_character_name_is_refused_in_a_small_answer_naming_customer_name(api: TestClient, clerk) -> None:
    response = register(api, clerk, customer__name="x" * 10_000)
    assert len(response.content) < SMALL, len(response.content)
    [error] = refused(response)
    assert error["loc"] == ["body", "customer", "name"]
    assert error["type"] == "string_too_long"
    assert error["input"] == "x" * INPUT_PREFIX + "…" and error["input_cut"] is True
    assert error["ctx"] == {"max_length": 200}


def test_big_inputs_anywhere_never_come_back(api: TestClient, clerk) -> None:
    big = "y" * 50_000
    body = samples.quality_complaint() | {"description": big, "actor": {"user_id": big, "role": "hq_clerk"},
                                         "read_back_confirmed": big}
    body["product"]["model"] = big
    body["customer"] = {"name": big, "phone": big, "address": "\x00" + big}
    response = api.post("/complaints", json=body, headers=clerk)
    assert response.status_code == 422
    assert len(response.content) < 4 * SMALL, len(response.content)
    assert big[:200] not in response.text
    for error in response.json()["detail"]:
        inp = error.get("input")
        assert inp is None or len(inp if isinstance(inp, str) else json.dumps(inp)) <= INPUT_PREFIX + 1
        assert all(len(json.dumps(v, ensure_ascii=False)) <= 130 for v in (error.get("ctx") or {}).values())
    assert ["body", "actor"] in [e["loc"] for e in response.json()["detail"]]


def test_shipping_before_order_names_product_shipping_date(api: TestClient, clerk) -> None:
    [error] = refused(register(api, clerk, product__order_date="2026-11-20", product__shipping_date="2026-11-10",
                               product__arrival_date="2026-11-21"))
    assert error["loc"] == ["body", "product", "shipping_date"]
    assert "before order_date" in error["msg"]
    [error] = refused(register(api, clerk, product__order_date="2026-11-01", product__shipping_date="2026-11-10",
                               product__arrival_date="2026-11-09"))
    assert error["loc"] == ["body", "product", "arrival_date"]


def test_a_product_complaint_without_its_product_names_product(api: TestClient, clerk) -> None:
    assert locs(register(api, clerk, product=None)) == [["body", "product"]]


@pytest.mark.parametrize("value", ["yes", "true", 1, False, None])
def test_read_back_confirmed_accepts_only_true(api: TestClient, clerk, value: Any) -> None:
    assert locs(register(api, clerk, read_back_confirmed=value)) == [["body", "read_back_confirmed"]]


@pytest.mark.parametrize("field, value", [
    ("description", ""), ("description", "   "), ("description", "\t\n "), ("description", "bad\x00byte"),
    ("customer__name", "  "), ("customer__name", "line\nbreak"), ("customer__name", "bell\x07"),
    ("customer__name", "\u3000"), ("customer__contact_person", "x\x7f"), ("product__model", "\x9b"),
])
def test_blank_and_control_character_text_is_refused_naming_the_field(api: TestClient, clerk, field: str,
                                                                      value: str) -> None:
    [error] = refused(register(api, clerk, **{field: value}))
    assert error["loc"] == ["body", *field.split("__")]
    assert error["type"] in {"string_pattern_mismatch", "string_too_short"}
    assert "pattern" not in (error.get("ctx") or {}), "the pattern is said in words, not as a 200-char regex"


def test_on_site_findings_name_their_field(api: TestClient, auth) -> None:
    manager = auth(**samples.MANAGER)
    url = "/complaints/00000000-0000-4000-8000-000000000001/on-site-determination"
    body = samples.obvious_defect_determination() | {"determination": "obvious_misuse"}
    assert locs(api.post(url, json=body, headers=manager)) == [["body", "misuse_resolution"]]
    body = samples.obvious_defect_determination() | {"photo_refs": ["ok.jpg", " "], "customer_agrees": "yes"}
    assert sorted(locs(api.post(url, json=body, headers=manager))) == [
        ["body", "customer_agrees"], ["body", "photo_refs", 1]]


def test_domain_refusals_and_limits_answer_in_the_same_shape(api: TestClient, auth, runtime: StubRuntime) -> None:
    salesperson = auth(user="sales-he", role="salesperson", branch="SH01")
    answers = {
        403: api.post("/complaints", json=samples.quality_complaint(), headers=salesperson),
        401: api.post("/complaints", json=samples.quality_complaint()),
        404: api.get("/complaints/00000000-0000-4000-8000-000000000001/history", headers=auth()),
        405: api.delete("/complaints", headers=auth()),
        413: api.post("/complaints", content=b"{" + b" " * (1024 * 1024) + b"}",
                      headers=auth() | {"Content-Type": "application/json"}),
    }
    for status, response in answers.items():
        assert response.status_code == status, response.text
        [error] = response.json()["detail"]
        assert set(error) == {"loc", "msg", "type"} and isinstance(error["loc"], list), error


def test_short_input_keeps_short_values_and_cuts_long_ones() -> None:
    assert short_input("abc") == ("abc", False)
    assert short_input(12) == (12, False)
    assert short_input({"a": 1}) == ({"a": 1}, False)
    assert short_input(None) == (None, False)
    cut, was_cut = short_input({"k": "v" * 100})
    assert was_cut and len(cut) == INPUT_PREFIX + 1
    cut, was_cut = short_input(10 ** 100)
    assert was_cut and cut.startswith("1000")
