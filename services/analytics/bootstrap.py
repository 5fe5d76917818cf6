"""Where analytics is put together: `create_app(settings)`."""

from __future__ import annotations

from fastapi import FastAPI

from contracts.topics import upstreams
from services.analytics.application import AnalyticsApplication
from services.analytics.domain.alerts import load_alert_rules
from services.analytics.domain.model import SCHEMA
from services.analytics.domain.projection import Projector
from services.analytics.entrypoints.http import router
from services.analytics.figures import Figures
from services.analytics.policies import AlertPolicy
from services.analytics.settings import AnalyticsSettings
from services.common.access import rules as access_rules
from services.common.calendar import load_calendar
from services.common.http import create_http_app
from services.common.readmodel import ReadModelStore
from services.common.readside import projection_consumer
from services.common.runtime import ServiceParts, ServiceRuntime
from services.common.store import store_env

#: The read model's consumer group and name (the alert policy's group is `complaints-analytics`).
READ_MODEL = "analytics-read"


def open_store(settings: AnalyticsSettings, prefix: str = "") -> ReadModelStore:
    """Analytics' read model in its database (created if missing)."""
    store = ReadModelStore(SCHEMA, settings.read_model_url, settings.read_model_sqlite_path, prefix=prefix)
    store.create()
    return store


def projector(settings: AnalyticsSettings) -> Projector:
    return Projector(load_calendar(settings.calendar_file), access_rules().region_of)


def create_app(settings: AnalyticsSettings) -> FastAPI:
    app = AnalyticsApplication(env=store_env(settings), alert_rules=load_alert_rules(settings.alert_rules_file))
    store = open_store(settings)
    reader = projection_consumer(store, projector(settings), upstreams(READ_MODEL), settings, READ_MODEL)
    parts = ServiceParts(app=app, policy=AlertPolicy(app.alert_rules), upstreams=upstreams("analytics"),
                         consumers=[("projection", reader)], closers=[_closer(store)])
    api = create_http_app(ServiceRuntime(settings, parts), [router], service_history=False)
    api.state.figures = Figures(store, load_calendar(settings.calendar_file).default().zone)
    return api


def _closer(store: ReadModelStore):  # noqa: ANN202
    async def close() -> None:
        store.close()
    return close
