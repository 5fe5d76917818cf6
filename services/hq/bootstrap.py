"""Where HQ is put together: `create_app(settings)`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from contracts.envelope import utc_now
from contracts.topics import upstreams
from services.common.http import create_http_app
from services.common.readmodel import ReadModelStore
from services.common.readside import ReadModelRuntime
from services.common.settings import ServiceSettings
from services.hq.application import HqQueries
from services.hq.domain.model import SCHEMA
from services.hq.entrypoints.http import router
from services.hq.policies import projector


def open_store(settings: ServiceSettings, prefix: str = "") -> ReadModelStore:
    """HQ's read model in its database (created if missing)."""
    store = ReadModelStore(SCHEMA, settings.database_url, settings.sqlite_path, prefix=prefix)
    store.create()
    return store


def create_app(settings: ServiceSettings, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    store = open_store(settings)
    runtime = ReadModelRuntime(settings, store, projector(), upstreams=upstreams("hq"))
    api = create_http_app(runtime, [router], service_history=False)
    api.state.queries = HqQueries(store, clock)
    return api
