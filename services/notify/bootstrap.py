"""Where notify is put together: `create_app(settings)`."""

from __future__ import annotations

from fastapi import FastAPI

from contracts.envelope import ServiceName
from services.common.http import create_http_app
from services.common.runtime import ServiceParts, ServiceRuntime
from services.common.settings import ServiceSettings
from services.common.store import store_env
from services.notify.application import NotifyApplication
from services.notify.delivery import log_sink
from services.notify.policies import notify_policy


def create_app(settings: ServiceSettings) -> FastAPI:
    app = NotifyApplication(env=store_env(settings))
    parts = ServiceParts(
        app=app, policy=notify_policy, upstreams=[ServiceName.INTAKE, ServiceName.ROUTING, ServiceName.QUALITY, ServiceName.BILLING],
        extra_sinks=[("delivery:log", log_sink(settings.data_dir / "notify-deliveries.jsonl"))],
    )
    return create_http_app(ServiceRuntime(settings, parts))
