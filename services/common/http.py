"""The thin HTTP edge every service shares: lifespan, identity, body limit, health, history, errors.

Every endpoint needs a bearer token (`services.common.auth`) except `GET /health`, which says
only up or down. A service's routers are included with the token required, and each handler
declares its action: `authorize(principal, "<action>", branch)` (`services.common.access`).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import fastapi_offline
from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from contracts.envelope import LONG_TEXT_PATTERN, SHORT_TEXT_PATTERN, branch_of
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


# --- error answers -------------------------------------------------------------------------------
#
# Every error is `{"detail": [{"loc", "msg", "type", ...}]}`: request validation (422), the
# domain's refusals (401, 403, 404, 409, 422, 503), the body cap (413) and routing (404, 405).
# `loc` is the full path of the field at fault (`["body", "product", "shipping_date"]`). The
# input is never echoed whole: at most `INPUT_PREFIX` characters of it, with `input_cut: true`
# when cut; `msg` and `ctx` values are capped too (rule 12: every answer is bounded as well).

#: How much of a refused input an error answer repeats.
INPUT_PREFIX = 40
#: Longest `msg`, and longest `ctx` value, in an error answer.
MSG_MAX = 300
CTX_VALUE_MAX = 120
CUT = "…"

#: Patterns whose regular expression says less to a person than a sentence.
_PATTERN_MEANINGS = {
    SHORT_TEXT_PATTERN: "must hold a visible character and no control character (one line of text)",
    LONG_TEXT_PATTERN: "must hold a visible character and no control character other than tab and line breaks",
}


class ErrorItem(BaseModel):
    """One thing wrong with the request."""

    loc: list[str | int] = Field(description="Where: `body`, `path`, `query` or `header`, then the field path; "
                                             "empty when the error is about the request as a whole")
    msg: str = Field(max_length=MSG_MAX + 1)
    type: str = Field(description="What kind of error: a pydantic error type, or the domain's refusal")
    input: Any = Field(default=None, description=f"The refused value, or its first {INPUT_PREFIX} characters "
                                                 "(then `input_cut` is true); absent for domain refusals")
    input_cut: bool | None = Field(default=None, description="True when `input` is only a prefix")
    ctx: dict[str, Any] | None = Field(default=None, description="The rule's parameters (bounds, pattern, ...)")


class ErrorResponse(BaseModel):
    """Every error answer of every service."""

    detail: list[ErrorItem]


def error_body(msg: str, loc: Sequence[Any], kind: str) -> dict[str, Any]:
    return {"detail": [{"loc": list(loc), "msg": _cap(msg, MSG_MAX), "type": kind}]}


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + CUT


def _as_text(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        return repr(type(value).__name__)


def short_input(value: Any, limit: int = INPUT_PREFIX) -> tuple[Any, bool]:
    """The value when it is short, else the first `limit` characters of it (as text) and True."""
    if value is None or isinstance(value, bool):
        return value, False
    if isinstance(value, str):
        return (value, False) if len(value) <= limit else (value[:limit] + CUT, True)
    if isinstance(value, (int, float)):
        try:
            text = str(value)
        except ValueError:  # an int too long for str()
            return "…", True
        return (value, False) if len(text) <= limit else (text[:limit] + CUT, True)
    text = _as_text(value)
    if len(text) <= limit:
        try:
            return json.loads(text), False
        except ValueError:
            return text, False
    return text[:limit] + CUT, True


def _loc_part(part: Any) -> str | int:
    return part if isinstance(part, (str, int)) and not isinstance(part, bool) else str(part)


def validation_error_item(error: Mapping[str, Any]) -> dict[str, Any]:
    """A pydantic/FastAPI error as answered: full path, message, type, a bounded input and ctx."""
    kind = str(error.get("type", "value_error"))
    ctx = dict(error.get("ctx") or {})
    msg = str(error.get("msg", ""))
    pattern = ctx.get("pattern")
    if kind == "string_pattern_mismatch" and pattern in _PATTERN_MEANINGS:
        msg = f"String {_PATTERN_MEANINGS[pattern]}"
        ctx.pop("pattern")
    item: dict[str, Any] = {"loc": [_loc_part(p) for p in error.get("loc", ())], "msg": _cap(msg, MSG_MAX),
                            "type": kind}
    if "input" in error:
        item["input"], cut = short_input(error["input"])
        if cut:
            item["input_cut"] = True
    if ctx:
        item["ctx"] = {str(k): short_input(v if isinstance(v, (str, int, float, bool)) or v is None else str(v),
                                           CTX_VALUE_MAX)[0]
                       for k, v in ctx.items()}
    return item


def _error_responses(statuses: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    documented: dict[int | str, dict[str, Any]] = {}
    for status, description in statuses.items():
        documented[status] = {"model": ErrorResponse, "description": description}
        if status == 401:
            documented[status]["headers"] = {"WWW-Authenticate": {
                "description": "`Bearer realm=\"complaints\"`, with `error=\"invalid_token\"` when a token "
                               "was given (RFC 6750)", "schema": {"type": "string"}}}
    return documented


#: What each error status means, whichever endpoint answers it.
ERROR_MEANINGS: dict[int, str] = {
    401: "No bearer token, or one that is expired, wrongly signed or not for this system",
    403: "The caller's role may not perform this action (the answer names the role and the action)",
    404: "No such complaint here, or not within the caller's scope (the same answer either way)",
    409: "Conflicts with the complaint's state or with an earlier command",
    413: "Request body larger than COMPLAINTS_MAX_BODY_BYTES (default 1 MiB)",
    422: "The request breaks a rule: `loc` names the field, `msg` the rule",
    503: "The identity provider's keys or the service's store cannot be reached now; try again later",
}


def error_responses(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the `ErrorResponse` model.

    `described` overrides a meaning, keyed `_409="..."`.
    """
    meanings = {s: ERROR_MEANINGS[s] for s in statuses}
    meanings |= {int(k.lstrip("_")): v for k, v in described.items()}
    return _error_responses(meanings)


#: The statuses every authenticated endpoint may answer besides its own.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = error_responses(401, 403, 413, 503)


@dataclass(frozen=True)
class BodyAllowance:
    """A larger body cap for one upload endpoint (`method path`, exact) than the service-wide one.

    A 413 there names `field` (`["body", field]`) and says `message`.
    """

    method: str
    path: str
    max_bytes: int
    field: str
    message: str = "the upload is too large"


class BodyLimit:
    """ASGI middleware: a body larger than `max_bytes` is a 413 before anything parses it.

    Judged by Content-Length when given, else while reading; the body is buffered (it is at
    most `max_bytes`) and replayed to the application. An `allowances` endpoint has its own
    cap instead (uploads); every other request keeps `max_bytes`.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int,
                 allowances: Sequence[BodyAllowance] = ()):
        self.app = app
        self.max_bytes = max_bytes
        self.allowances = {(a.method.upper(), a.path): a for a in allowances}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        allowance = self.allowances.get((str(scope.get("method", "")).upper(), scope.get("path")))
        limit = allowance.max_bytes if allowance else self.max_bytes
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    await self._too_large(scope, receive, send, limit, allowance)
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
            if size > limit:
                await self._too_large(scope, receive, send, limit, allowance)
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

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int,
                         allowance: BodyAllowance | None = None) -> None:
        if allowance is None:
            body = error_body(f"request body larger than {limit} bytes", ["body"], "body_too_large")
        else:
            body = error_body(f"{allowance.message} (request body larger than {limit} bytes)",
                              ["body", allowance.field], "body_too_large")
        response = JSONResponse(body, status_code=413, headers={"Connection": "close"})
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


# --- offline API documentation --------------------------------------------------------------------

#: Swagger UI and ReDoc assets, shipped in the `fastapi-offline` wheel and served by each service.
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_URL = "/docs-assets"


def add_offline_docs(api: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc` with their scripts, styles and icon served from this
    service (no CDN: they work offline). Open without a token: they describe the API, no data."""
    api.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    def root(request: Request) -> str:
        return str(request.scope.get("root_path") or "")

    @api.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request)
        return get_swagger_ui_html(
            openapi_url=f"{base}{api.openapi_url}", title=f"{api.title} - Swagger UI",
            swagger_js_url=f"{base}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{base}{DOCS_ASSETS_URL}/favicon.png",
            oauth2_redirect_url=None, swagger_ui_parameters={"persistAuthorization": True})

    @api.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        return get_redoc_html(
            openapi_url=f"{base}{api.openapi_url}", title=f"{api.title} - ReDoc",
            redoc_js_url=f"{base}{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{base}{DOCS_ASSETS_URL}/favicon.png", with_google_fonts=False)


# --- response models of the shared endpoints -----------------------------------------------------

class HealthStatus(BaseModel):
    status: Literal["up", "down"]


class ServiceHistory(BaseModel):
    """A service's events for one complaint, oldest first, rebuilt from its store."""

    service: str
    complaint_id: UUID
    events: list[dict[str, Any]] = Field(description="Each event's type, version, time, meta and data")


# --- the app ------------------------------------------------------------------------------------

def allow_header(request: Request, exc: StarletteHTTPException) -> dict[str, str] | None:
    """The headers of an HTTP error, with a 405's `Allow` naming every method the path supports:
    Starlette names the methods of the path's first route only, and a path served by several routes
    (GET and POST /corrective-actions, or a page and its form) supports all of theirs (RFC 9110)."""
    headers = exc.headers
    if exc.status_code == 405:
        methods = {method for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
                   if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
                          for route in request.app.routes)}
        headers = {**(headers or {}), "Allow": ", ".join(sorted(methods))}
    return headers


def create_http_app(runtime: Any, routers: Sequence[APIRouter] = (), *,
                    public_routers: Sequence[APIRouter] = (),
                    auth_settings: AuthSettings | None = None, http_settings: HttpSettings | None = None,
                    body_allowances: Sequence[BodyAllowance] = (), service_history: bool = True) -> FastAPI:
    """A service's app: its routers behind the token, health, and (`service_history`) the history
    of a complaint in its own store."""
    service = runtime.name
    limits = http_settings or HttpSettings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    api = FastAPI(title=f"complaints-{service}", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Every endpoint but `GET /health` (and these docs) needs a bearer token "
                              "(see the README, Tokens). Every error answer is an `ErrorResponse`: `loc` "
                              "names the field at fault, and a refused input is never repeated beyond "
                              f"its first {INPUT_PREFIX} characters.")
    api.state.runtime = runtime
    # Created (or read) now, at start: every process on one data dir shares the local key.
    api.state.token_verifier = TokenVerifier(auth_settings or AuthSettings(), runtime.settings.data_dir)
    api.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes, allowances=tuple(body_allowances))
    add_offline_docs(api)

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": [validation_error_item(e) for e in exc.errors()]})

    @api.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        loc: list[Any] = ["body", exc.field] if exc.field else []
        headers = None
        if isinstance(exc, Unauthenticated):
            headers = {"WWW-Authenticate": exc.challenge}
        return JSONResponse(status_code=exc.status, headers=headers,
                            content=error_body(str(exc), loc, type(exc).__name__))

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer to a body it cannot decode (not UTF-8, say): the same 422 as any
            # body that is not JSON, so that a bad body has one documented answer.
            return JSONResponse(status_code=422, content=error_body(
                "the body is not JSON text (UTF-8)", ["body"], "json_invalid"))
        if exc.status_code == 400:
            # Starlette's answer to form data it cannot parse (a malformed multipart upload, say):
            # the same 422 as any body that breaks the schema, for the same reason.
            return JSONResponse(status_code=422, content=error_body(
                f"the body is not valid form data: {exc.detail}", ["body"], "form_invalid"))
        headers = allow_header(request, exc)
        return JSONResponse(status_code=exc.status_code, headers=headers,
                            content=error_body(str(exc.detail), [], "http_error"))

    @api.exception_handler(OperationalError)
    @api.exception_handler(InterfaceError)
    async def store_unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                            content=error_body(f"{service}'s store cannot be reached now ({type(exc).__name__}); "
                                               "try again", [], "StoreUnavailable"))

    @api.get("/health", response_model=HealthStatus,
             responses={503: {"model": HealthStatus, "description": "The service is not working"},
                        **error_responses(413)})
    async def health() -> JSONResponse:
        """Liveness and readiness, without a token: only up or down."""
        ok, _ = await runtime.health()
        return JSONResponse(status_code=200 if ok else 503, content={"status": "up" if ok else "down"})

    @api.get("/health/details", response_model=dict[str, Any],
             responses={**AUTH_RESPONSES,
                        503: {"content": {"application/json": {"schema": {"anyOf": [
                            {"$ref": "#/components/schemas/ErrorResponse"},
                            {"type": "object", "additionalProperties": True}]}}},
                              "description": "The service is not working (the same report, naming the causes), "
                                             "or the identity provider cannot be reached"}})
    async def health_details(principal: CurrentPrincipal) -> JSONResponse:
        """The detailed health report (operators), without connection strings or credentials."""
        authorize(principal, "health.details")
        ok, report = await runtime.health()
        return JSONResponse(status_code=200 if ok else 503, content=scrub(report))

    if service_history:
        add_service_history(api, runtime, service)
    for router in routers:
        api.include_router(router, dependencies=[Depends(current_principal)], responses=AUTH_RESPONSES)
    for router in public_routers:  # without a token: each handler checks what it is given (a signed link)
        api.include_router(router, responses=error_responses(413, 503))
    return api


def add_service_history(api: FastAPI, runtime: Any, service: str) -> None:
    @api.get("/complaints/{complaint_id}/history", response_model=ServiceHistory,
             responses={**AUTH_RESPONSES, **error_responses(404, 422)})
    async def history(complaint_id: UUID, principal: CurrentPrincipal) -> dict[str, Any]:
        """This service's events for the complaint, rebuilt from its store (scoped to the caller:
        a complaint outside it is a 404, exactly like one that does not exist)."""
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
