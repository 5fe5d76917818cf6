"""An HTTP edge over a stub runtime: identity, scoping, limits and health without broker or store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient

from contracts.envelope import ServiceName
from services.common.auth import AuthSettings
from services.common.domain import NotFound
from services.common.http import HttpSettings, create_http_app
from services.common.tokens import mint_token


class StubRuntime:
    """What `create_http_app` needs of a `ServiceRuntime`."""

    def __init__(self, data_dir: Path):
        self.app = SimpleNamespace(SERVICE=ServiceName.ROUTING)
        self.name = ServiceName.ROUTING.value
        self.settings = SimpleNamespace(data_dir=data_dir)
        self.events: dict[UUID, list[dict[str, Any]]] = {}
        self.ok = True
        self.report: dict[str, Any] = {"service": "routing"}
        self.posted: list[bytes] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def health(self) -> tuple[bool, dict[str, Any]]:
        return self.ok, self.report

    async def history(self, complaint_id: UUID) -> list[dict[str, Any]]:
        if complaint_id not in self.events:
            raise NotFound(f"routing has no events for complaint {complaint_id}")
        return self.events[complaint_id]

    def add_complaint(self, form_number: str) -> UUID:
        complaint_id = uuid4()
        self.events[complaint_id] = [{"event_type": "Opened", "meta": {"form_number": form_number}, "data": {}}]
        return complaint_id


def echo_router(runtime: StubRuntime) -> APIRouter:
    router = APIRouter()

    @router.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        runtime.posted.append(body)
        return {"bytes": len(body)}

    return router


@pytest.fixture
def runtime(tmp_path: Path) -> StubRuntime:
    return StubRuntime(tmp_path)


@pytest.fixture
def edge(runtime: StubRuntime) -> Iterator[TestClient]:
    api = create_http_app(runtime, [echo_router(runtime)], auth_settings=AuthSettings(),
                          http_settings=HttpSettings(max_body_bytes=1024 * 1024))
    with TestClient(api) as client:
        yield client


@pytest.fixture
def auth(runtime: StubRuntime):
    def make(user: str = "clerk-li", role: str = "branch_clerk", branch: str | None = "SH01",
             region: str | None = None, **kw: Any) -> dict[str, str]:
        token = mint_token(runtime.settings.data_dir, user, role, branch, region, settings=AuthSettings(), **kw)
        return {"Authorization": f"Bearer {token}"}
    return make
