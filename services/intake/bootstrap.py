"""Where intake is put together: `create_app(settings)`."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.http import create_http_app
from services.common.runtime import ServiceParts, ServiceRuntime
from services.common.settings import ServiceSettings
from services.common.store import store_env
from services.intake.application import IntakeApplication
from services.intake.entrypoints.http import router


def create_app(settings: ServiceSettings) -> FastAPI:
    app = IntakeApplication(env=store_env(settings))
    return create_http_app(ServiceRuntime(settings, ServiceParts(app=app)), [router])
