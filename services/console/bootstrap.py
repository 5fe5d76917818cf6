"""The console's assembly: settings, users or identity provider, sessions, the service client, the
pages, and the HTML answers for errors."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.http import allow_header
from services.common.tokens import check_identity, mint_token
from services.console.application import Services, TokenRejected
from services.console.catalog import HERE, Catalogue, load_catalogue, translator
from services.console.domain.users import User, parse_users
from services.console.entrypoints import web
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings

#: Headers on every answer: the pages load nothing from elsewhere, run no inline script, are framed nowhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
}


@dataclass
class Throttle:
    """Failed sign-ins per user id: after `limit` in a row, sign-in pauses for `pause` seconds."""

    limit: int
    pause: float
    failures: dict[str, tuple[int, float]] = field(default_factory=dict)

    def blocked(self, user: str) -> bool:
        count, last = self.failures.get(user.casefold(), (0, 0.0))
        return count >= self.limit and time.monotonic() - last < self.pause

    def failed(self, user: str) -> None:
        count, _ = self.failures.get(user.casefold(), (0, 0.0))
        self.failures[user.casefold()] = (count + 1, time.monotonic())
        if len(self.failures) > 10_000:
            self.failures.pop(next(iter(self.failures)))

    def succeeded(self, user: str) -> None:
        self.failures.pop(user.casefold(), None)


@dataclass
class ConsoleState:
    settings: ConsoleSettings
    users: dict[str, User]
    sessions: SessionStore
    services: Services
    catalogue: Catalogue
    throttle: Throttle
    zone: ZoneInfo

    @property
    def ttl(self) -> timedelta:
        return timedelta(hours=self.settings.session_hours)

    def mint(self, user: User) -> str:
        """The user's bearer token on the embedded default: signed with the local key of the data dir,
        for as long as the session lasts."""
        return mint_token(self.settings.data_dir, user.user_id, user.role, user.branch, user.region, self.ttl)


def load_users(path: Path) -> dict[str, User]:
    return parse_users(yaml.safe_load(path.read_text(encoding="utf-8")), check_identity)


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    state = ConsoleState(settings, {} if settings.oidc else load_users(settings.users_file),
                         SessionStore(settings.sessions_path), Services(settings), load_catalogue(), Throttle(
                             settings.login_attempts, settings.login_pause_seconds), ZoneInfo(settings.timezone))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await state.services.close()
        state.sessions.close()

    app = FastAPI(title="Complaints console", version="1", lifespan=lifespan,
                  description="The web console: pages for branch clerks, managers and headquarters. HTML, "
                              "server-rendered; the services' own APIs are where the data lives.",
                  docs_url=None, redoc_url=None)
    app.state.console = state
    app.include_router(web.router)
    if settings.oidc:
        from starlette.middleware.sessions import SessionMiddleware

        from services.console.entrypoints import oidc
        app.include_router(oidc.router)
        app.add_middleware(SessionMiddleware, secret_key=_state_secret(settings), session_cookie="console_oidc",
                           max_age=600, same_site="lax", https_only=settings.cookie_secure)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(web.Redirect)
    async def redirect(request: Request, e: web.Redirect) -> RedirectResponse:
        if request.headers.get("HX-Request") == "true":
            response = RedirectResponse(e.url, status_code=303)
            response.headers["HX-Redirect"] = e.url
            return response
        return RedirectResponse(e.url, status_code=303)

    @app.exception_handler(TokenRejected)
    async def token_rejected(request: Request, e: TokenRejected) -> RedirectResponse:
        """The token expired (a provider's access token lives minutes) or was revoked: the session
        ends and the person signs in again, coming back to the page they were on."""
        state.sessions.delete(request.cookies.get(web.SESSION_COOKIE))
        target = "/login?next=" + quote(web.safe_next(str(request.url.path)), safe="")
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(web.SESSION_COOKIE, path="/")
        if request.headers.get("HX-Request") == "true":
            response.headers["HX-Redirect"] = target
        return response

    @app.exception_handler(web.PageError)
    async def page_error(request: Request, e: web.PageError) -> HTMLResponse:
        return _error_page(request, e.status, e.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> HTMLResponse:
        message = "; ".join(f"{'.'.join(str(p) for p in err['loc'][1:])}: {err['msg']}" for err in e.errors())
        return _error_page(request, 422, message[:1000])

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception) -> HTMLResponse:
        import logging
        logging.getLogger("services.console").exception("page failed: %s %s", request.method, request.url.path)
        return _error_page(request, 500, type(e).__name__)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> HTMLResponse:
        response = _error_page(request, e.status_code, str(e.detail))
        for name, value in (allow_header(request, e) or {}).items():
            response.headers[name] = value
        return response

    return app


def _state_secret(settings: ConsoleSettings) -> str:
    if settings.state_secret is not None:
        return settings.state_secret.get_secret_value()
    path = settings.data_dir / "console-state.key"
    if not path.exists():
        import secrets
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    session = web.session_of(request)
    return web.render(request, "error.html", {"status": status, "message": message}, status=status, session=session)


__all__ = ["create_app", "translator"]
