"""Where routing is put together: `create_app(settings)`."""

from __future__ import annotations

from fastapi import FastAPI

from contracts.envelope import ServiceName
from services.common.http import create_http_app
from services.common.runtime import ServiceParts, ServiceRuntime
from services.common.settings import ServiceSettings
from services.common.store import store_env
from services.routing.application import RoutingApplication
from services.routing.policies import routing_policy


def create_app(settings: ServiceSettings) -> FastAPI:
    app = RoutingApplication(env=store_env(settings))
    parts = ServiceParts(app=app, policy=routing_policy, upstreams=[ServiceName.INTAKE])
    return create_http_app(ServiceRuntime(settings, parts))
