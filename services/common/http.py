"""The thin HTTP edge every service shares: lifespan, identity, body limit, health, history, errors.

Every endpoint needs a bearer token (`services.common.auth`) except `GET /health`, which says
only up or down. A service's routers are included with the token required, and each handler
declares its action: `authorize(principal, "<action>", branch)` (`services.common.access`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.envelope import branch_of
from services.common.access import authorize
from services.common.auth import AuthSettings, CurrentPrincipal, TokenVerifier, Unauthenticated, current_principal
from services.common.domain import DomainError, NotFound

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class HttpSettings(BaseSettings):
    """Limits of every service's HTTP edge (shared, unprefixed names)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, validation_alias="COMPLAINTS_MAX_BODY_BYTES")


def runtime_of(request: Request) -> Any:
    return request.app.state.runtime


def error_body(msg: str, loc: list[Any], kind: str) -> dict[str, Any]:
    return {"detail": [{"loc": loc, "msg": msg, "type": kind}]}


#: The statuses every authenticated endpoint may answer besides its own.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No bearer token, or one that is expired, wrongly signed or not for this system"},
    403: {"description": "The caller's role may not perform this action"},
    413: {"description": "Request body larger than COMPLAINTS_MAX_BODY_BYTES"},
}


class BodyLimit:
    """ASGI middleware: a body larger than `max_bytes` is a 413 before anything parses it.

    Judged by Content-Length when given, else while reading; the body is buffered (it is at
    most `max_bytes`) and replayed to the application.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_bytes:
                    await self._too_large(scope, receive, send)
                    return
            except ValueError:
                await JSONResponse(error_body("Content-Length is not a number", ["header", "content-length"],
                                              "bad_request"), status_code=400)(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # disconnected
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(error_body(f"request body larger than {self.max_bytes} bytes", ["body"],
                                           "body_too_large"), status_code=413, headers={"Connection": "close"})
        await response(scope, receive, send)


# --- health report scrubbing ---------------------------------------------------------------------

_SECRET_KEY_RE = re.compile(r"password|passwd|secret|dsn|url|token|credential|private|api_?key", re.I)
_URL_USERINFO_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/@]+@")
_KEY_VALUE_RE = re.compile(r"\b(password|passwd|secret|token|api_?key)\s*=\s*('[^']*'|\"[^\"]*\"|\S+)", re.I)
REDACTED = "[redacted]"


def scrub(value: Any, key: str | None = None) -> Any:
    """The report with credentials and connection strings removed, for `/health/details`."""
    if key is not None and _SECRET_KEY_RE.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return _KEY_VALUE_RE.sub(lambda m: f"{m.group(1)}={REDACTED}", _URL_USERINFO_RE.sub(r"\1***@", value))
    return value


# --- the app ------------------------------------------------------------------------------------

def create_http_app(runtime: Any, routers: Sequence[APIRouter] = (), *,
                    auth_settings: AuthSettings | None = None, http_settings: HttpSettings | None = None) -> FastAPI:
    service = runtime.app.SERVICE.value
    limits = http_settings or HttpSettings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    api = FastAPI(title=f"complaints-{service}", lifespan=lifespan,
                  description="Every endpoint but `GET /health` needs a bearer token (see the README, Tokens).")
    api.state.runtime = runtime
    # Created (or read) now, at start: every process on one data dir shares the local key.
    api.state.token_verifier = TokenVerifier(auth_settings or AuthSettings(), runtime.settings.data_dir)
    api.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)

    @api.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        loc: list[Any] = ["body", exc.field] if exc.field else []
        headers = None
        if isinstance(exc, Unauthenticated):
            headers = {"WWW-Authenticate": exc.challenge}
        return JSONResponse(status_code=exc.status, headers=headers,
                            content=error_body(str(exc), loc, type(exc).__name__))

    @api.get("/health", responses={503: {"description": "The service is not working"}})
    async def health() -> JSONResponse:
        """Liveness and readiness, without a token: only up or down."""
        ok, _ = await runtime.health()
        return JSONResponse(status_code=200 if ok else 503, content={"status": "up" if ok else "down"})

    @api.get("/health/details", responses={**AUTH_RESPONSES, 503: {"description": "The service is not working"}})
    async def health_details(principal: CurrentPrincipal) -> JSONResponse:
        """The detailed health report (operators), without connection strings or credentials."""
        authorize(principal, "health.details")
        ok, report = await runtime.health()
        return JSONResponse(status_code=200 if ok else 503, content=scrub(report))

    @api.get("/complaints/{complaint_id}/history",
             responses={**AUTH_RESPONSES, 404: {"description": "No such complaint here, or not within "
                                                               "the caller's scope"}})
    async def history(complaint_id: UUID, principal: CurrentPrincipal) -> dict[str, Any]:
        """This service's events for the complaint, rebuilt from its store (scoped to the caller)."""
        authorize(principal, "complaint.history.read")
        missing = f"{service} has no complaint {complaint_id}"
        try:
            events = await runtime.history(complaint_id)
        except NotFound:
            raise NotFound(missing) from None
        form_number = next((e["meta"]["form_number"] for e in events
                            if isinstance(e.get("meta"), dict) and e["meta"].get("form_number")), None)
        authorize(principal, "complaint.history.read", branch_of(form_number) if form_number else None,
                  not_found=missing)
        return {"service": service, "complaint_id": str(complaint_id), "events": events}

    for router in routers:
        api.include_router(router, dependencies=[Depends(current_principal)], responses=AUTH_RESPONSES)
    return api
