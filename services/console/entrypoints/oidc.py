"""Signing in through the company's OpenID Connect provider (Keycloak or similar), with Authlib.

`/login/oidc` sends the browser to the provider (authorization code flow with PKCE, its state and
nonce in a short-lived signed cookie); `/auth/callback` takes the code back, gets the tokens, and
starts a console session holding the provider's access token, which the console then passes to
the services (they verify it against the same provider's keys: `AUTH_JWKS_URL`). The role, branch
and region are read from the access token's claims named by `CONSOLE_OIDC_*_CLAIM`, as the
services read them.

Not exercised against a real provider in this repository's tests (none runs here); the embedded
default's users file is.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated, Any

import jwt
from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.console.entrypoints import web

router = APIRouter()
_oauth: dict[int, OAuth] = {}


def client(request: Request) -> Any:
    settings = web.state(request).settings
    oauth = _oauth.get(id(settings))
    if oauth is None:
        oauth = OAuth()
        oauth.register("company", server_metadata_url=settings.oidc_metadata_url, client_id=settings.oidc_client_id,
                       client_secret=settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret
                       else None, client_kwargs={"scope": settings.oidc_scope, "code_challenge_method": "S256"})
        _oauth[id(settings)] = oauth
    return oauth.company


def claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        value = value[0] if value else None
    return value


@router.get("/login/oidc", responses={302: {"description": "To the identity provider"}})
async def login_oidc(request: Request, next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    request.session["next"] = web.safe_next(next)
    return await client(request).authorize_redirect(request, str(request.url_for("oidc_callback")))


@router.get("/auth/callback", name="oidc_callback", responses={303: {"description": "Signed in"},
                                                               403: web.POST[403]})
async def callback(request: Request) -> Response:
    settings = web.state(request).settings
    try:
        tokens = await client(request).authorize_access_token(request)
    except OAuthError as e:
        raise web.PageError(403, f"sign-in refused by the identity provider: {e.error}") from None
    access = tokens["access_token"]
    claims = jwt.decode(access, options={"verify_signature": False})  # the services verify it; here only read
    info = tokens.get("userinfo") or {}
    role = claim(claims, settings.oidc_role_claim)
    if not role:
        raise web.PageError(403, f"the provider's token has no {settings.oidc_role_claim} claim")
    user_id = str(claims.get("preferred_username") or claims["sub"])
    ttl = web.state(request).ttl
    if isinstance(claims.get("exp"), (int, float)):  # the session ends when its token does
        ttl = min(ttl, timedelta(seconds=max(0.0, claims["exp"] - time.time())))
    session_id, _ = web.state(request).sessions.create(
        user_id=user_id, name=str(info.get("name") or user_id), role=str(role),
        branch=claim(claims, settings.oidc_branch_claim), region=claim(claims, settings.oidc_region_claim),
        token=access, ttl=ttl, language=web.language_of(request))
    response = web.see_other(web.safe_next(request.session.pop("next", None)))
    web.set_cookie(request, response, web.SESSION_COOKIE, session_id, max_age=int(ttl.total_seconds()))
    return response
