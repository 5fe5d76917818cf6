"""Where billing is put together: `create_app(settings)`."""

from __future__ import annotations

from fastapi import FastAPI

from contracts.topics import upstreams
from services.billing.application import BillingApplication
from services.billing.entrypoints.http import router
from services.billing.policies import billing_policy
from services.common.http import create_http_app
from services.common.runtime import ServiceParts, ServiceRuntime
from services.common.settings import ServiceSettings
from services.common.store import store_env


def create_app(settings: ServiceSettings) -> FastAPI:
    app = BillingApplication(env=store_env(settings))
    # quality: the determinations and the adjudication; routing: the subject and severity (for the
    # authority matrix) and dispute rulings.
    parts = ServiceParts(app=app, policy=billing_policy, upstreams=upstreams("billing"))
    return create_http_app(ServiceRuntime(settings, parts), [router])
