"""E-mail channel: one notification as a multipart/alternative (text + HTML) message over SMTP.

The Message-ID is derived from the notification id, so a resend after a crash is
recognisably the same message to the recipient's mail system.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import SecretStr

from services.notify.channels import PermanentDeliveryError, TransientDeliveryError

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = 30.0
    validate_certs: bool = True
    cert_bundle: str | None = None  # CA file to trust for STARTTLS (a private relay's CA); None = system store


@dataclass(frozen=True)
class EmailNotice:
    """One notification to one address. ``context`` holds the complaint's facts for the template."""

    notification_id: str
    to: str
    context: Mapping[str, Any] = field(default_factory=dict)
    language: str = DEFAULT_LANGUAGE
    template: str = "notice"


@dataclass(frozen=True)
class EmailReceipt:
    message_id: str
    accepted: tuple[str, ...]


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_ENV = _environment()


def message_id_for(notification_id: str, sender: str) -> str:
    """A stable Message-ID: the same notification id always gives the same header."""
    local = re.sub(r"[^A-Za-z0-9.\-_]", "-", notification_id).strip(".") or "notification"
    domain = _envelope_address(sender).rpartition("@")[2] or "complaints.invalid"
    domain = re.sub(r"[^A-Za-z0-9.\-]", "-", domain)
    return f"<{local}.notify@{domain}>"


def render(notice: EmailNotice) -> tuple[str, str, str]:
    """(subject, text, html) for a notice, in its language (Chinese when the language is unknown)."""
    language = notice.language if notice.language in LANGUAGES else DEFAULT_LANGUAGE
    context = dict(notice.context)
    text_template = _ENV.get_template(f"{notice.template}.{language}.txt")
    html_template = _ENV.get_template(f"{notice.template}.{language}.html")
    subject = str(context.get("subject") or context.get("form_number") or "").strip()
    text = text_template.render(context)
    html = html_template.render(context)
    return " ".join(subject.split()), text, html


def build_message(notice: EmailNotice, settings: SmtpSettings) -> EmailMessage:
    subject, text, html = render(notice)
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = notice.to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id_for(notice.notification_id, settings.sender)
    message["X-Notification-Id"] = notice.notification_id
    message.set_content(text, charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    return message


def _envelope_address(address: str) -> str:
    try:
        return Address(addr_spec=address.rpartition("<")[2].rstrip(">").strip()).addr_spec
    except (ValueError, IndexError):
        return address


async def send_email(notice: EmailNotice, settings: SmtpSettings) -> EmailReceipt:
    """Send one notice. Raises TransientDeliveryError or PermanentDeliveryError when it does not go."""
    message = build_message(notice, settings)
    password = settings.password.get_secret_value() if settings.password is not None else None
    try:
        refused, _ = await aiosmtplib.send(
            message,
            sender=_envelope_address(settings.sender),
            recipients=[_envelope_address(notice.to)],
            hostname=settings.host,
            port=settings.port,
            start_tls=settings.starttls,
            use_tls=False,
            validate_certs=settings.validate_certs,
            cert_bundle=settings.cert_bundle,
            username=settings.username or None,
            password=password if settings.username else None,
            timeout=settings.timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as error:
        codes = [r.code for r in error.recipients]
        reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
        raise _classified(min(codes) if codes else 550, f"recipient refused: {reason}") from error
    except aiosmtplib.SMTPResponseException as error:
        raise _classified(error.code, f"{type(error).__name__}: {error.code} {error.message}") from error
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        # connection refused, dropped, timed out, TLS not offered: the server may be back later
        raise TransientDeliveryError(f"{type(error).__name__}: {error}") from error
    if refused:
        reason = "; ".join(f"{k}: {v.code} {v.message}" for k, v in refused.items())
        raise _classified(min(v.code for v in refused.values()), f"recipient refused: {reason}")
    return EmailReceipt(message_id=message["Message-ID"], accepted=(_envelope_address(notice.to),))


def _classified(code: int, reason: str) -> TransientDeliveryError | PermanentDeliveryError:
    if 500 <= code < 600:
        return PermanentDeliveryError(reason, status=code)
    return TransientDeliveryError(reason, status=code)


__all__ = ["EmailNotice", "EmailReceipt", "SmtpSettings", "build_message", "message_id_for", "render", "send_email"]
