"""The console's settings (`CONSOLE_*`), read here and nowhere else in the console.

On the embedded default the console signs people in against a users file (argon2 hashes) and
mints their tokens with the local key of the services' data directory; with `CONSOLE_OIDC_*` set
it signs them in through the company's OpenID Connect provider and passes on its access token.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.envelope import ServiceName
from services.common.settings import DEFAULT_HTTP_PORTS, ReadSide

HERE = Path(__file__).parent


class Console(StrEnum):
    """The console's process name (logs, `python -m services.console --help`)."""

    CONSOLE = "console"


DEFAULT_PORT = 8008


def _local(service: ServiceName | ReadSide) -> str:
    return f"http://127.0.0.1:{DEFAULT_HTTP_PORTS[service]}"


class ConsoleSettings(BaseSettings):
    """`CONSOLE_*`: where the services are, how people sign in, how the session cookie is set."""

    SERVICE: ClassVar[Console] = Console.CONSOLE
    ABOUT: ClassVar[str] = "the web pages people work in, calling the services' HTTP APIs with their tokens"
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default=Path("var"), validation_alias="COMPLAINTS_DATA_DIR",
                           description="The services' data dir: the local signing key (embedded default) and "
                                       "the console's session file live here")
    http_host: str = Field(default="127.0.0.1", description="Address the console listens on")
    http_port: int = Field(default=DEFAULT_PORT, description="Port of the console")
    intake_url: str = Field(default=_local(ServiceName.INTAKE), description="Intake's HTTP API")
    routing_url: str = Field(default=_local(ServiceName.ROUTING), description="Routing's HTTP API")
    quality_url: str = Field(default=_local(ServiceName.QUALITY), description="Quality's HTTP API")
    billing_url: str = Field(default=_local(ServiceName.BILLING), description="Billing's HTTP API")
    notify_url: str = Field(default=_local(ServiceName.NOTIFY), description="Notify's HTTP API")
    hq_url: str = Field(default=_local(ReadSide.HQ), description="HQ's read model (lists, inbox, history)")
    analytics_url: str = Field(default=_local(ServiceName.ANALYTICS), description="Analytics' monthly figures")
    users_file: Path = Field(default=HERE / "users.yaml",
                             description="Who may sign in on the embedded default, with argon2 password hashes "
                                         "(`python -m services.console.users hash` makes one)")
    sessions_file: Path | None = Field(default=None, description="SQLite file of the sessions; unset: "
                                                                 "console-sessions.sqlite in the data dir")
    session_hours: float = Field(default=8.0, gt=0, le=24, description="A session (and its token) lasts this long")
    cookie_secure: bool = Field(default=True, description="Send the session cookie over HTTPS only (browsers treat "
                                                          "http://127.0.0.1 and localhost as secure)")
    login_attempts: int = Field(default=5, ge=1, description="Failed sign-ins per user before a pause")
    login_pause_seconds: float = Field(default=60.0, ge=0, description="How long sign-in pauses after them")
    timezone: str = Field(default="Asia/Shanghai", description="Company time: how times are shown and entered")
    default_language: Literal["zh", "en"] = Field(default="zh", description="zh or en; each user can switch")
    service_timeout_seconds: float = Field(default=15.0, gt=0, description="How long a call to a service may take")
    oidc_metadata_url: str | None = Field(default=None, description="OpenID Connect discovery document "
                                                                    "(Keycloak: <realm>/.well-known/"
                                                                    "openid-configuration); set: sign-in goes "
                                                                    "there instead of the users file")
    oidc_client_id: str | None = Field(default=None, description="The console's client id at the provider")
    oidc_client_secret: SecretStr | None = Field(default=None, description="The console's client secret")
    oidc_scope: str = Field(default="openid profile", description="Scopes asked for")
    oidc_role_claim: str = Field(default="role", description="Claim of the access token holding the role (dotted "
                                                             "path allowed), as the services' AUTH_ROLE_CLAIM")
    oidc_branch_claim: str = Field(default="branch", description="Claim holding the branch")
    oidc_region_claim: str = Field(default="region", description="Claim holding the region")
    state_secret: SecretStr | None = Field(default=None, description="Signs the short-lived sign-in state cookie of "
                                                                     "OpenID Connect; unset: a key kept in the data "
                                                                     "dir")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: Literal["json", "text"] | None = Field(default=None, validation_alias="COMPLAINTS_LOG_FORMAT",
                                                       description="json or text; unset: text on a terminal")

    @property
    def service(self) -> Console:
        return self.SERVICE

    @property
    def sessions_path(self) -> Path:
        return self.sessions_file or self.data_dir / "console-sessions.sqlite"

    @property
    def oidc(self) -> bool:
        return bool(self.oidc_metadata_url)

    def service_urls(self) -> dict[str, str]:
        """Base URL of each service the console calls, by the name the step catalogue uses."""
        return {"intake": self.intake_url, "routing": self.routing_url, "quality": self.quality_url,
                "capa": self.quality_url, "billing": self.billing_url, "notify": self.notify_url,
                "hq": self.hq_url, "analytics": self.analytics_url}
