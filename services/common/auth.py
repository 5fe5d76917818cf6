"""Who is calling: a bearer JWT, verified with PyJWT. The `Principal` comes only from it.

Keys, in order of preference (`AUTH_*` settings):
- `AUTH_JWKS_URL`: an OpenID Connect provider's JWKS (Keycloak: `<realm>/protocol/openid-connect/certs`);
- `AUTH_PUBLIC_KEY_FILE`: a PEM public key;
- neither (the embedded default): a local ES256 key pair created on first start in
  `<COMPLAINTS_DATA_DIR>/keys/`, shared by every service process on that data dir;
  `python -m services.common.tokens` mints tokens with it.

Verification names its algorithms (asymmetric only, so `alg: none` and HS256 signed with the
public key fail), requires `exp`, `iss`, `aud` and `sub`, and checks issuer and audience.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.envelope import Actor, Role
from services.common.domain import DomainError

OPERATOR = "operator"
#: Roles a token may carry: the business roles plus operations staff.
ROLES = frozenset({r.value for r in Role} | {OPERATOR})
LOCAL_ISSUER = "complaints-local"
AUDIENCE = "complaints"
ASYMMETRIC_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "RS256", "RS384", "RS512",
                                   "PS256", "PS384", "PS512", "EdDSA"})
MAX_TOKEN_CHARS = 8192
_BRANCH_RE = re.compile(r"^[A-Z0-9]{2,12}$")
_REGION_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class Unauthenticated(DomainError):
    """No token, or one that does not verify: 401 with `WWW-Authenticate: Bearer`."""

    status = 401

    def __init__(self, message: str, missing: bool = False):
        super().__init__(message)
        self.missing = missing

    @property
    def challenge(self) -> str:
        """The `WWW-Authenticate` value (RFC 6750 §3)."""
        if self.missing:
            return 'Bearer realm="complaints"'
        return f'Bearer realm="complaints", error="invalid_token", error_description="{self}"'


class IdentityProviderUnavailable(DomainError):
    status = 503


class AuthSettings(BaseSettings):
    """`AUTH_*`: where the token keys come from and what a valid token looks like."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    jwks_url: str | None = Field(default=None, description="JWKS of the identity provider (OpenID Connect)")
    public_key_file: Path | None = Field(default=None, description="PEM public key, when not using JWKS")
    issuer: str = LOCAL_ISSUER
    audience: str = AUDIENCE
    algorithms: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["ES256", "RS256"])
    role_claim: str = Field(default="role", description="claim holding the role (dotted path allowed, "
                                                        "e.g. realm_access.roles)")
    branch_claim: str = "branch"
    region_claim: str = "region"
    leeway_seconds: float = Field(default=30, ge=0, le=300)

    @field_validator("algorithms", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in ASYMMETRIC_ALGORITHMS]
        if bad or not value:
            raise ValueError(f"only asymmetric algorithms are accepted ({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}); "
                             f"got {', '.join(bad) or 'none'}")
        return value


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    user_id: str
    role: str
    branch: str | None = None
    region: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.role == OPERATOR

    def actor(self) -> Actor:
        """The envelope's actor for a command this principal sends (business roles only)."""
        if self.role not in {r.value for r in Role} or self.role == Role.SYSTEM.value:
            from services.common.access import Forbidden
            raise Forbidden(f"role {self.role} cannot act on complaints")
        return Actor(user_id=self.user_id, role=Role(self.role), branch=self.branch)


# --- the local key (embedded default) ------------------------------------------------------------

def key_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "keys"


def local_private_key_path(data_dir: Path) -> Path:
    return key_dir(data_dir) / "signing-key.pem"


def local_public_key_path(data_dir: Path) -> Path:
    return key_dir(data_dir) / "signing-key.pub.pem"


def ensure_local_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The local ES256 signing key, created on first use (mode 0600).

    Created atomically: written to a temporary file and hard-linked into place, which fails
    if another process got there first; then everyone reads the one that won.
    """
    directory = key_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = local_private_key_path(data_dir)
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".signing-key.", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key")
    public = local_public_key_path(data_dir)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    if not public.exists() or public.read_bytes() != public_pem:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".signing-key.pub.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(public_pem)
        os.chmod(tmp, 0o644)
        os.replace(tmp, public)
    return key


def key_id(public_key: Any) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "local-" + hashlib.sha256(der).hexdigest()[:16]


def sign_local_token(data_dir: Path, claims: dict[str, Any]) -> str:
    key = ensure_local_key(data_dir)
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": key_id(key.public_key())})


# --- verification ----------------------------------------------------------------------------------

def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def principal_from_claims(claims: dict[str, Any], settings: AuthSettings) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 200 or _CONTROL_RE.search(sub):
        raise Unauthenticated("token subject (sub) is missing or malformed")
    role = _claim(claims, settings.role_claim)
    if isinstance(role, list):  # e.g. Keycloak's realm_access.roles: the first role this system knows
        known = [r for r in role if isinstance(r, str) and r in ROLES]
        role = known[0] if known else next((r for r in role if isinstance(r, str)), None)
    if not isinstance(role, str) or not role or len(role) > 64 or _CONTROL_RE.search(role):
        raise Unauthenticated(f"token has no role claim ({settings.role_claim})")
    branch = _claim(claims, settings.branch_claim)
    if branch is not None and (not isinstance(branch, str) or not _BRANCH_RE.match(branch)):
        raise Unauthenticated(f"token's branch claim ({settings.branch_claim}) is malformed")
    region = _claim(claims, settings.region_claim)
    if region is not None and (not isinstance(region, str) or not _REGION_RE.match(region)):
        raise Unauthenticated(f"token's region claim ({settings.region_claim}) is malformed")
    return Principal(user_id=sub, role=role, branch=branch, region=region)


class TokenVerifier:
    def __init__(self, settings: AuthSettings, data_dir: Path):
        self.settings = settings
        self._jwks: jwt.PyJWKClient | None = None
        self._key: Any = None
        if settings.jwks_url:
            self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300, timeout=5)
            self.source = "jwks"
        elif settings.public_key_file:
            self._key = serialization.load_pem_public_key(Path(settings.public_key_file).read_bytes())
            self.source = "public key file"
        else:
            self._key = ensure_local_key(data_dir).public_key()
            self.source = "local key"

    def _signing_key(self, token: str) -> Any:
        if self._jwks is None:
            return self._key
        try:
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError as e:
            raise IdentityProviderUnavailable("the identity provider's keys cannot be fetched; try again") from e
        except (jwt.PyJWKClientError, jwt.DecodeError) as e:
            raise Unauthenticated("token is not signed by a key of the identity provider") from e

    def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("token too long")
        s = self.settings
        try:
            claims = jwt.decode(
                token, self._signing_key(token), algorithms=s.algorithms, audience=s.audience, issuer=s.issuer,
                leeway=s.leeway_seconds, options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("token is from another issuer") from None
        except jwt.InvalidAlgorithmError:
            raise Unauthenticated("token algorithm not allowed") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("token signature does not verify") from None
        except jwt.MissingRequiredClaimError as e:
            raise Unauthenticated(f"token lacks the {e.claim} claim") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("token not valid yet") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise Unauthenticated("token is malformed") from None
        return principal_from_claims(claims, s)

    async def verify_async(self, token: str) -> Principal:
        if self._jwks is not None:  # may fetch the JWKS over the network
            return await asyncio.to_thread(self.verify, token)
        return self.verify(token)


def local_claims(user: str, role: str, branch: str | None, region: str | None, ttl: timedelta,
                 settings: AuthSettings, now: datetime | None = None) -> dict[str, Any]:
    issued = now or datetime.now(timezone.utc)
    claims: dict[str, Any] = {"iss": settings.issuer, "aud": settings.audience, "sub": user,
                              "iat": issued, "nbf": issued - timedelta(seconds=5), "exp": issued + ttl,
                              settings.role_claim: role}
    if branch:
        claims[settings.branch_claim] = branch
    if region:
        claims[settings.region_claim] = region
    return claims


# --- FastAPI ---------------------------------------------------------------------------------------

bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="bearer", bearerFormat="JWT",
    description="A JWT from the identity provider (or `python -m services.common.tokens` on the "
                "embedded default). Its `sub`, role, branch and region claims are the acting user.",
)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """FastAPI dependency: the verified caller, or 401."""
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("a bearer token is required (Authorization: Bearer <token>)", missing=True)
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify_async(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
