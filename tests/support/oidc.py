"""An OpenID Connect provider for the console's sign-in tests: oidc-provider-mock's authorization
server (Authlib under Flask, served over real HTTP on its own port), issuing access tokens as
Keycloak does, as JWTs signed with the key it publishes at its JWKS, carrying each user's role,
branch and region claims. The services verify them with `AUTH_JWKS_URL`, as in production."""

from __future__ import annotations

import threading
import time
from typing import Any

import flask
import jwt
from oidc_provider_mock import init_app
from oidc_provider_mock._storage import User
from werkzeug.serving import make_server

from tests.support.servers import free_port

AUDIENCE = "complaints"


def _access_token(client: Any, grant_type: str, user: User, scope: str) -> str:
    """The access token: a JWT signed with the provider's own key (RS256, its `kid`)."""
    storage = flask.g.oidc_provider_mock_storage
    key = storage.jwk
    now = int(time.time())
    claims = {"iss": flask.request.host_url.rstrip("/"), "aud": AUDIENCE, "sub": user.sub, "iat": now,
              "exp": now + 3600, "scope": scope, "preferred_username": user.sub, **user.claims}
    pem = key.as_pem(is_private=True)
    return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": key.as_dict()["kid"]})


class Provider:
    """`users`: subject -> claims (role, branch, region, name)."""

    def __init__(self, users: dict[str, dict[str, Any]]):
        self.port = free_port()
        app = flask.Flask("oidc_provider_mock._app")  # its templates, from its package
        app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = _access_token
        init_app(app, user_claims=[User(sub=sub, claims=claims) for sub, claims in users.items()])
        app.secret_key = b"tests only"
        app.debug = False
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Provider:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
