"""Identity on every endpoint (architecture rule 11): tokens verified with PyJWT, 401 otherwise."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import multiprocessing
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from services.common.auth import (
    AuthSettings, Principal, TokenVerifier, Unauthenticated, ensure_local_key, local_claims, local_public_key_path,
)
from services.common.tokens import mint_token
from tests.http.conftest import StubRuntime


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims(**overrides: object) -> dict[str, object]:
    now = datetime.now(timezone.utc)
    values: dict[str, object] = {"iss": "complaints-local", "aud": "complaints", "sub": "clerk-li",
                                 "role": "branch_clerk", "branch": "SH01", "iat": now,
                                 "exp": now + timedelta(hours=1)}
    return {k: v for k, v in (values | overrides).items() if v is not None}


def unsigned(payload: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        raw = json.dumps(data, default=lambda d: int(d.timestamp())).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def assert_401(response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert reason in response.json()["detail"][0]["msg"]


def test_no_token_is_401_on_every_endpoint_but_health(edge: TestClient, runtime: StubRuntime) -> None:
    complaint = runtime.add_complaint("SH01-20261125-0001")
    for method, path in [("GET", f"/complaints/{complaint}/history"), ("GET", "/health/details"),
                         ("POST", "/echo")]:
        response = edge.request(method, path)
        assert_401(response, "bearer token is required")
        assert response.headers["www-authenticate"] == 'Bearer realm="complaints"'
    assert runtime.posted == []
    assert edge.get("/health").status_code == 200


def test_a_token_signed_with_the_local_key_is_accepted(edge: TestClient, runtime: StubRuntime, auth) -> None:
    complaint = runtime.add_complaint("SH01-20261125-0001")
    response = edge.get(f"/complaints/{complaint}/history", headers=auth())
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("token_of", "reason"), [
    (lambda key, other: jwt.encode(claims(exp=datetime.now(timezone.utc) - timedelta(minutes=5)), key, "ES256"),
     "expired"),
    (lambda key, other: jwt.encode(claims(), other, "ES256"), "signature"),
    (lambda key, other: unsigned(claims()), "algorithm"),
    (lambda key, other: jwt.encode(claims(aud="someone-else"), key, "ES256"), "audience"),
    (lambda key, other: jwt.encode(claims(iss="https://evil.example"), key, "ES256"), "issuer"),
    (lambda key, other: jwt.encode(claims(exp=None), key, "ES256"), "exp"),
    (lambda key, other: jwt.encode(claims(sub=None), key, "ES256"), "sub"),
    (lambda key, other: jwt.encode(claims(role=None), key, "ES256"), "role"),
    (lambda key, other: jwt.encode(claims(branch="sh01; drop"), key, "ES256"), "branch"),
    (lambda key, other: "not-a-jwt", "malformed"),
], ids=["expired", "wrongly-signed", "alg-none", "wrong-audience", "wrong-issuer", "no-exp", "no-sub", "no-role",
        "bad-branch", "garbage"])
def test_bad_tokens_are_401(edge: TestClient, runtime: StubRuntime, token_of, reason: str) -> None:
    complaint = runtime.add_complaint("SH01-20261125-0001")
    key = ensure_local_key(runtime.settings.data_dir)
    other = ec.generate_private_key(ec.SECP256R1())
    response = edge.get(f"/complaints/{complaint}/history", headers=bearer(token_of(key, other)))
    assert_401(response, reason)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_hs256_signed_with_the_public_key_is_401(edge: TestClient, runtime: StubRuntime) -> None:
    """The classic key-confusion trick: HMAC with the verifier's public key as the secret."""
    complaint = runtime.add_complaint("SH01-20261125-0001")
    ensure_local_key(runtime.settings.data_dir)
    public_pem = local_public_key_path(runtime.settings.data_dir).read_bytes()
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(claims(), default=lambda d: int(d.timestamp())).encode()).rstrip(b"=")
    import hashlib
    import hmac
    signature = base64.urlsafe_b64encode(hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest())
    token = (header + b"." + payload + b"." + signature.rstrip(b"=")).decode()
    assert_401(edge.get(f"/complaints/{complaint}/history", headers=bearer(token)), "algorithm")


def test_a_token_minted_for_another_data_dir_is_401(edge: TestClient, runtime: StubRuntime, tmp_path: Path) -> None:
    complaint = runtime.add_complaint("SH01-20261125-0001")
    foreign = mint_token(tmp_path / "elsewhere", "clerk-li", "branch_clerk", "SH01")
    assert_401(edge.get(f"/complaints/{complaint}/history", headers=bearer(foreign)), "signature")


def test_openapi_declares_the_bearer_scheme(edge: TestClient) -> None:
    spec = edge.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"]}
    history = spec["paths"]["/complaints/{complaint_id}/history"]["get"]
    assert history["security"] == [{"bearer": []}]
    assert {"401", "403", "404"} <= set(history["responses"])
    assert spec["paths"]["/echo"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/health"]["get"]


# --- verification with an identity provider's keys -------------------------------------------------

@pytest.fixture
def identity_provider(tmp_path: Path) -> Iterator[tuple[rsa.RSAPrivateKey, str]]:
    """An HTTP server publishing a JWKS, as Keycloak does at .../protocol/openid-connect/certs."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk |= {"kid": "kc-1", "use": "sig", "alg": "RS256"}
    (tmp_path / "certs").write_text(json.dumps({"keys": [jwk]}))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield key, f"http://127.0.0.1:{server.server_address[1]}/certs"
    finally:
        server.shutdown()
        server.server_close()


def test_jwks_of_an_identity_provider_with_keycloak_style_claims(
        tmp_path: Path, identity_provider: tuple[rsa.RSAPrivateKey, str]) -> None:
    key, url = identity_provider
    settings = AuthSettings(jwks_url=url, issuer="https://sso.example/realms/complaints", audience="complaints-api",
                            role_claim="realm_access.roles", branch_claim="branch_code")
    verifier = TokenVerifier(settings, tmp_path)
    payload = claims(iss=settings.issuer, aud=settings.audience, role=None, branch=None,
                     realm_access={"roles": ["offline_access", "regional_manager"]}, branch_code="BJ02")
    token = jwt.encode(payload, key, "RS256", headers={"kid": "kc-1"})
    assert verifier.verify(token) == Principal(user_id="clerk-li", role="regional_manager", branch="BJ02")
    with pytest.raises(Unauthenticated, match="not signed by a key"):
        verifier.verify(jwt.encode(payload, key, "RS256", headers={"kid": "unknown"}))
    with pytest.raises(Unauthenticated, match="not signed by a key|algorithm"):
        verifier.verify(unsigned(payload))


def test_a_public_key_file(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "idp.pub.pem"
    pem.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    verifier = TokenVerifier(AuthSettings(public_key_file=pem), tmp_path / "data")
    assert verifier.verify(jwt.encode(claims(), key, "ES256")).role == "branch_clerk"
    assert not (tmp_path / "data" / "keys").exists(), "no local key when a key file is configured"


def test_symmetric_algorithms_cannot_be_configured() -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        AuthSettings(algorithms=["HS256"])
    with pytest.raises(ValueError, match="asymmetric"):
        AuthSettings(algorithms=["none"])


# --- the local key ------------------------------------------------------------------------------

def _start_service_key(data_dir: str, queue) -> None:  # a "service process" creating or reading the key
    key = ensure_local_key(Path(data_dir))
    queue.put(key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo))


def test_processes_starting_at_once_agree_on_one_private_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    processes = [ctx.Process(target=_start_service_key, args=(str(tmp_path), queue)) for _ in range(6)]
    for p in processes:
        p.start()
    keys = {queue.get(timeout=60) for _ in processes}
    for p in processes:
        p.join(30)
    assert len(keys) == 1
    private = tmp_path / "keys" / "signing-key.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "keys").iterdir() if p.name.endswith(".tmp")] == []


# --- minting ------------------------------------------------------------------------------------

def run_tokens(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.common.tokens", *args], capture_output=True, text=True,
                          timeout=60)


def test_the_tokens_command_mints_a_token_the_services_accept(tmp_path: Path) -> None:
    done = run_tokens("--user", "clerk-li", "--role", "branch_clerk", "--branch", "SH01", "--ttl", "1h",
                      "--data-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    principal = TokenVerifier(AuthSettings(), tmp_path).verify(done.stdout.strip())
    assert principal == Principal(user_id="clerk-li", role="branch_clerk", branch="SH01")


@pytest.mark.parametrize(("args", "message"), [
    (["--role", "wizard", "--branch", "SH01"], "unknown role"),
    (["--role", "branch_clerk"], "give --branch"),
    (["--role", "regional_manager"], "give --region"),
    (["--role", "branch_clerk", "--branch", "ZZ99"], "unknown branch"),
    (["--role", "regional_manager", "--branch", "SH01", "--region", "WEST"], "is in region EAST"),
    (["--role", "branch_clerk", "--branch", "SH01", "--ttl", "forever"], "ttl"),
])
def test_bad_token_arguments_are_a_clear_error(tmp_path: Path, args: list[str], message: str) -> None:
    done = run_tokens("--user", "someone", "--data-dir", str(tmp_path), *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


def test_mint_token_refuses_a_branch_role_without_a_branch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="give --branch"):
        mint_token(tmp_path, "clerk-li", "branch_clerk")


def test_local_claims_use_the_configured_claim_names() -> None:
    settings = AuthSettings(role_claim="app_role", branch_claim="site")
    made = local_claims("u", "branch_clerk", "SH01", None, timedelta(minutes=5), settings)
    assert made["app_role"] == "branch_clerk" and made["site"] == "SH01" and "role" not in made
