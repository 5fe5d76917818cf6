"""Where quality is put together: `create_app(settings)`."""

from __future__ import annotations

from fastapi import FastAPI

from contracts.topics import upstreams
from services.common.evidence import evidence_store_from
from services.common.http import create_http_app
from services.common.runtime import ServiceParts, ServiceRuntime
from services.common.settings import ServiceSettings
from services.common.store import store_env
from services.quality.application import QualityApplication
from services.quality.entrypoints.corrective import router as corrective_router
from services.quality.entrypoints.evidence import evidence_body_allowance, router as evidence_router
from services.quality.entrypoints.http import router
from services.quality.policies import quality_policy


def create_app(settings: ServiceSettings) -> FastAPI:
    app = QualityApplication(env=store_env(settings))
    app.evidence = evidence_store_from(settings)  # photos and scans (QUALITY_EVIDENCE_*)
    # Quality follows its own topic too: an adjudicated defect raises its corrective action (policies.py);
    # and analytics' batch-defect alerts, each of which raises one.
    parts = ServiceParts(app=app, policy=quality_policy,
                         upstreams=upstreams("quality"))
    return create_http_app(ServiceRuntime(settings, parts), [router, evidence_router, corrective_router],
                           body_allowances=[evidence_body_allowance(settings)])
