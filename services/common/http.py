"""The thin HTTP edge every service shares: lifespan, health, history, domain errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.domain import DomainError
from services.common.runtime import ServiceRuntime


def runtime_of(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


def create_http_app(runtime: ServiceRuntime, routers: Sequence[APIRouter] = ()) -> FastAPI:
    service = runtime.app.SERVICE.value

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    api = FastAPI(title=f"complaints-{service}", lifespan=lifespan)
    api.state.runtime = runtime

    @api.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        loc: list[Any] = ["body", exc.field] if exc.field else []
        return JSONResponse(status_code=exc.status,
                            content={"detail": [{"loc": loc, "msg": str(exc), "type": type(exc).__name__}]})

    @api.get("/health")
    async def health() -> JSONResponse:
        ok, report = await runtime.health()
        return JSONResponse(status_code=200 if ok else 503, content=report)

    @api.get("/complaints/{complaint_id}/history")
    async def history(complaint_id: UUID) -> dict[str, Any]:
        """This service's events for the complaint, rebuilt from its store."""
        return {"service": service, "complaint_id": str(complaint_id),
                "events": await runtime.history(complaint_id)}

    for router in routers:
        api.include_router(router)
    return api
