"""Notify's settings: the generic service settings plus its rules, channels and delivery schedule."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr

from contracts.envelope import ServiceName
from services.common.settings import ServiceSettings


class NotifySettings(ServiceSettings.for_service(ServiceName.NOTIFY)):  # type: ignore[misc]
    rules_file: Path | None = Field(
        default=None, description="Who must be told what (YAML); unset: services/notify/notice_rules.yaml")
    directory_file: Path | None = Field(
        default=None, description="The people, their roles, e-mail and webhooks (YAML); unset: services/notify/directory.yaml")
    calendar_file: Path | None = Field(
        default=None, description="The working-time calendar (YAML); unset: services/common/calendar.yaml")
    smtp_host: str | None = Field(
        default=None, description="The SMTP relay; unset: e-mails are written as .eml files to NOTIFY_MAIL_DIR")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = Field(default=False, description="STARTTLS before login and sending")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = Field(default="Complaints <notify@complaints.invalid>", description="The From of every e-mail")
    smtp_timeout_seconds: float = Field(default=20.0, gt=0)
    smtp_ca_file: str | None = Field(default=None, description="The CA bundle trusted for STARTTLS (a private relay's CA)")
    mail_dir: Path | None = Field(
        default=None, description="Without an SMTP host, where e-mails are written (.eml); unset: mail/ in COMPLAINTS_DATA_DIR")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    public_url: str = Field(default="http://127.0.0.1:8005",
                            description="Where notify is reached from a mail reader: the base of receipt links")
    receipt_key: SecretStr | None = Field(
        default=None, description="The HMAC key of receipt links; unset: a key kept in keys/ of COMPLAINTS_DATA_DIR")
    receipt_link_days: int = Field(default=30, ge=1, le=365, description="How long a receipt link stays valid")
    retry_base_seconds: float = Field(default=5.0, gt=0, description="First retry after about this long (doubling, jittered)")
    retry_cap_seconds: float = Field(default=1800.0, gt=0, description="The longest wait between two attempts")
    give_up_after_seconds: float = Field(
        default=86400.0, gt=0, description="A target still failing this long after its send time is given up, with an alert")
    lease_seconds: float = Field(
        default=120.0, gt=0, description="An attempt not finished this long (the process died) is tried again")
    dispatch_poll_seconds: float = Field(default=0.2, gt=0, description="How often delivery looks for due work")
    channel_concurrency: int = Field(default=8, ge=1, le=256, description="Sends in flight per channel")

    def webhook_secret(self, name: str) -> str | None:
        """The HMAC key of a webhook subscription, from the setting the directory names
        (`NOTIFY_WEBHOOK_SECRET_*` only: a directory cannot make notify read any other variable)."""
        if not name.startswith("NOTIFY_WEBHOOK_SECRET_"):
            return None
        return os.environ.get(name)
