"""Schemathesis over the corrective-action and exception-report endpoints, in process (real bootstrap and
store, no broker): positive and negative requests with a token of the role that may call each, the
same checks as the whole-system fuzz run (no 5xx, only documented statuses, responses matching their
schema, schema-invalid requests refused, schema-valid ones accepted: 2xx, 404 or 409).

The rules JSON Schema cannot state are met for positive cases the way the system fuzz run would have
to (`make_valid`): half the paths name an existing action, report or complaint; `due_at` and
`respond_by` lie in the future; evidence names stored files only."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi import checks

from contracts.routing import Destination
from services.common.tokens import mint_token
from services.quality.bootstrap import create_app
from services.quality.settings import QualitySettings
from tests.common.builders import complaint_routed, react
from tests.http.test_openapi_fuzz import CONFIG, _rewrite_patterns
from tests.quality.test_corrective import NOW, PDF, SHA

QA = ("qa-lin", "quality_department")
GM = ("gm-he", "general_manager")
DEPT = ("prod-ma", "responsible_department")
#: Who calls each operation (a role granted its action, every branch in scope).
CALLERS: dict[tuple[str, str], tuple[str, str]] = {
    ("POST", "/corrective-actions"): QA,
    ("POST", "/corrective-actions/{action_id}/proposal"): QA,
    ("POST", "/corrective-actions/{action_id}/approval"): GM,
    ("POST", "/corrective-actions/{action_id}/implementation"): DEPT,
    ("POST", "/corrective-actions/{action_id}/verification"): QA,
    ("GET", "/corrective-actions/{action_id}"): GM,
    ("GET", "/corrective-actions"): GM,
    ("POST", "/complaints/{complaint_id}/exception-report"): QA,
    ("POST", "/complaints/{complaint_id}/exception-report/{report_id}/answer"): DEPT,
    ("GET", "/complaints/{complaint_id}/exception-report/{report_id}"): GM,
}
EXAMPLES = 40
SENT: Counter[tuple[str, str, int]] = Counter()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path, dict[str, Any]]]:
    data_dir = tmp_path_factory.mktemp("capa-fuzz")
    api = create_app(QualitySettings(data_dir=data_dir, kafka_bootstrap_servers="127.0.0.1:1"))
    app = api.state.runtime.app
    app.corrective_clock = lambda: NOW
    app.evidence.put(PDF)
    with TestClient(api) as client:
        routed = complaint_routed(Destination.QUALITY_DEPARTMENT)
        react(app, api.state.runtime.parts.policy, routed)

        def auth(who: tuple[str, str]) -> dict[str, str]:
            return {"Authorization": f"Bearer {mint_token(data_dir, who[0], who[1], None, None)}"}

        actions = []
        for _ in range(3):  # raised, approved, implemented: each step meets some of them in its state
            response = client.post("/corrective-actions", headers=auth(QA), json={
                "command_id": str(uuid4()), "complaint_id": str(routed.complaint_id),
                "alert": {"alert_id": str(uuid4()), "model": "GX-200", "batch_number": "B1"}})
            assert response.status_code == 201, response.text
            actions.append(response.json()["action_id"])
        for action_id in actions[1:]:
            for segment, who, body in [
                ("proposal", QA, {"root_cause": "Wear", "actions": ["Fix"], "responsible_department": "Production",
                                  "due_at": (NOW + timedelta(days=3)).isoformat()}),
                ("approval", GM, {}), ("approval", ("mr-gao", "management_representative"), {})]:
                done = client.post(f"/corrective-actions/{action_id}/{segment}", headers=auth(who),
                                   json={"command_id": str(uuid4())} | body)
                assert done.status_code == 201, done.text
        done = client.post(f"/corrective-actions/{actions[2]}/implementation", headers=auth(DEPT),
                           json={"command_id": str(uuid4()), "summary": "Fixed", "evidence": [SHA]})
        assert done.status_code == 201, done.text
        report_id = str(uuid4())
        done = client.post(f"/complaints/{routed.complaint_id}/exception-report", headers=auth(QA), json={
            "command_id": str(uuid4()), "report_id": report_id, "no_loss": True, "unit": "Line 2",
            "description": "Scratch", "requested_response": "Check"})
        assert done.status_code == 201, done.text
        seeded = {"actions": actions, "complaint_id": str(routed.complaint_id), "report_id": report_id,
                  "auth": auth}
        yield client, data_dir, seeded


def _digest(value: Any) -> int:
    return int(hashlib.sha256(repr(value).encode()).hexdigest()[:8], 16)


def make_valid(case: Any, seeded: dict[str, Any]) -> None:
    """The rules the schema cannot state, for a positive case."""
    params = case.path_parameters or {}
    body = case.body if isinstance(case.body, dict) else None
    if "action_id" in params and _digest(params["action_id"]) % 2 == 0:
        params["action_id"] = seeded["actions"][_digest(params["action_id"]) % len(seeded["actions"])]
    if "complaint_id" in params and _digest(params["complaint_id"]) % 4 != 0:
        params["complaint_id"] = seeded["complaint_id"]
    if "report_id" in params and _digest(params["report_id"]) % 2 == 0:
        params["report_id"] = seeded["report_id"]
    if body is None:
        return
    if "complaint_id" in body and _digest(body) % 4 != 0:
        body["complaint_id"] = seeded["complaint_id"]
    for field in ("due_at", "respond_by"):
        if body.get(field) is not None:
            body[field] = (NOW + timedelta(minutes=1 + _digest(body) % 100_000)).isoformat()
    if "evidence" in body:
        body["evidence"] = [SHA] if _digest(body) % 2 else []


def fuzz(operation: Any, mode: GenerationMode, client: TestClient, seeded: dict[str, Any]) -> None:
    who = CALLERS[(operation.method.upper(), operation.path)]
    headers = seeded["auth"](who)

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        if mode is GenerationMode.POSITIVE:
            make_valid(case, seeded)
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        sent = {k: v for k, v in kwargs.items() if k in ("method", "url", "headers", "params", "json", "content")}
        response = client.request(**sent)
        SENT[(operation.label, mode.value, response.status_code)] += 1
        assert response.status_code < 500, response.text
        # ignored_auth sends the request again without the token over the network: not in process
        # (every operation documents 401, and the edge's auth is tested on its own).
        case.validate_response(response, headers=headers, excluded_checks=[checks.ignored_auth])

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize(("method", "path"), sorted(CALLERS), ids=lambda v: str(v))
def test_corrective_endpoints_hold_under_fuzzing(running: Any, method: str, path: str, mode: GenerationMode) -> None:
    client, _, seeded = running
    spec = client.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(_rewrite_patterns(spec), config=SchemathesisConfig.from_dict(CONFIG))
    fuzz(schema[path][method], mode, client, seeded)


def test_the_fuzzer_reached_real_actions_and_reports(running: Any) -> None:
    """Positive cases met existing actions and reports: some steps were written (201) or met a state (409)."""
    statuses = Counter(status for (_, mode, status), n in SENT.items() if mode == "positive" for _ in range(n))
    if not SENT:
        pytest.skip("run with the fuzz tests above")
    assert statuses[201] + statuses[200] > 0 and statuses[409] > 0 and statuses[404] > 0, statuses


def test_every_operation_has_a_caller(running: Any) -> None:
    client, _, _ = running
    paths = client.get("/openapi.json").json()["paths"]
    ours = {(m.upper(), p) for p, ops in paths.items() for m in ops
            if p.startswith("/corrective-actions") or "/exception-report" in p}
    assert ours == set(CALLERS)


