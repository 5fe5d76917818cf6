"""The step catalogue (services/console/steps.yaml) against the services' own OpenAPI, built in-process from
their routers (no process, no network): every form's endpoint is a POST the service has (a `{target}` standing
for its one path parameter), a form said to take no body takes none, every body reads as fields of known
kinds, every property a body requires is shown or filled in by the console, and every `prefill` and `fill`
key names a property of the body (the bodies refuse properties they do not declare)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from fastapi import FastAPI

from services.console.application import _target_name
from services.console.catalog import FormSpec, load_catalogue
from services.console.domain.forms import KINDS, _resolve, fields_of

ROUTERS = {
    "intake": ("services.intake.entrypoints.http",),
    "routing": ("services.routing.entrypoints.http",),
    "quality": ("services.quality.entrypoints.http", "services.quality.entrypoints.corrective",
                "services.quality.entrypoints.evidence"),
    "billing": ("services.billing.entrypoints.http",),
    "notify": ("services.notify.entrypoints.http",),
}
#: What the console puts in every body itself (services/console/entrypoints/web.py `_step_context`).
SKIP = {"command_id", "complaint_id", "correlation_id"}
FORMS = load_catalogue().forms


@pytest.fixture(scope="module")
def openapi() -> dict[str, dict[str, Any]]:
    docs = {}
    for service, modules in ROUTERS.items():
        app = FastAPI()
        for module in modules:
            app.include_router(importlib.import_module(module).router)
        docs[service] = app.openapi()
    docs["capa"] = docs["quality"]
    return docs


def operation(openapi: dict[str, dict[str, Any]], form: FormSpec) -> dict[str, Any]:
    api = openapi[form.service]
    path = form.path.replace("{target}", "{" + _target_name(api, form) + "}") if form.needs_target else form.path
    assert path in api["paths"], (form.key, path)
    assert "post" in api["paths"][path], (form.key, path)
    return api["paths"][path]["post"]


def body(openapi: dict[str, dict[str, Any]], form: FormSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    schema = operation(openapi, form)["requestBody"]["content"]["application/json"]["schema"]
    components = openapi[form.service]["components"]["schemas"]
    return _resolve(schema, components), components


def test_every_form_is_a_post_its_service_has(openapi: dict[str, dict[str, Any]]) -> None:
    for form in FORMS.values():
        op = operation(openapi, form)
        assert ("requestBody" in op) == form.body, form.key


def test_every_body_reads_as_fields_of_known_kinds(openapi: dict[str, dict[str, Any]]) -> None:
    seen = set()
    for form in (f for f in FORMS.values() if f.body):
        schema, components = body(openapi, form)
        fields = fields_of(schema, components, skip=SKIP | set(form.prefill))
        names = [f.name for top in fields for f in top.walk()]
        assert len(names) == len(set(names)), form.key
        seen |= {f.kind for top in fields for f in top.walk()}
    assert seen <= set(KINDS)
    assert {"select", "checkbox", "yesno", "datetime", "lines", "files", "rows", "group", "const"} <= seen


def test_every_required_property_is_shown_or_filled_in(openapi: dict[str, dict[str, Any]]) -> None:
    missing = {}
    for form in (f for f in FORMS.values() if f.body):
        schema, components = body(openapi, form)
        shown = {f.key for f in fields_of(schema, components, skip=SKIP | set(form.prefill))}
        left = set(schema.get("required", ())) - shown - set(form.prefill) - {"command_id"}
        if left:
            missing[form.key] = sorted(left)
    assert missing == {}


@pytest.mark.parametrize("key", [
    pytest.param(k)
    for k, f in FORMS.items() if f.prefill or f.fill])
def test_prefill_and_fill_name_properties_of_the_body(openapi: dict[str, dict[str, Any]], key: str) -> None:
    schema, _ = body(openapi, FORMS[key])
    properties = schema["properties"]
    assert sorted(set(FORMS[key].prefill) - properties.keys()) == []
    assert sorted(set(FORMS[key].fill) - properties.keys()) == []
    assert not set(FORMS[key].prefill) & set(FORMS[key].fill)


def test_the_target_is_the_endpoints_one_path_parameter(openapi: dict[str, dict[str, Any]]) -> None:
    assert _target_name(openapi["capa"], FORMS["capa/proposal"]) == "action_id"
    assert _target_name(openapi["notify"], FORMS["notify/acknowledgement"]) == "notice_id"
    assert _target_name(openapi["billing"], FORMS["billing/compensation-approval"]) == "compensation_id"
