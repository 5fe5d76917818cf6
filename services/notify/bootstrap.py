"""Where notify is put together: `create_app(settings)`."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from contracts.topics import upstreams
from services.common.calendar import load_calendar
from services.common.http import create_http_app
from services.common.runtime import ServiceParts, ServiceRuntime
from services.common.store import store_env
from services.notify.application import NotifyApplication
from services.notify.channels.email import SmtpSettings
from services.notify.delivery import Channels, Dispatcher, ReceiptLinks
from services.notify.domain.decide import ESCALATION_TEMPLATE, Decider
from services.notify.domain.notice_rules import DEFAULT_DIRECTORY, DEFAULT_RULES, load_notice_rules
from services.notify.domain.notification import RetrySchedule
from services.notify.domain.texts import load_texts
from services.notify.entrypoints.http import public, router
from services.notify.policies import NotifyPolicy
from services.notify.settings import NotifySettings


def build_decider(settings: NotifySettings) -> Decider:
    rules = load_notice_rules(settings.rules_file or DEFAULT_RULES, settings.directory_file or DEFAULT_DIRECTORY)
    texts = load_texts({rule.template for rule in rules.rules} | {ESCALATION_TEMPLATE})
    return Decider(rules, texts, load_calendar(settings.calendar_file).default())


def build_channels(settings: NotifySettings, decider: Decider) -> Channels:
    smtp = None
    if settings.smtp_host:
        smtp = SmtpSettings(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_sender,
                            starttls=settings.smtp_starttls, username=settings.smtp_username,
                            password=settings.smtp_password, timeout=settings.smtp_timeout_seconds,
                            cert_bundle=settings.smtp_ca_file)
    directory = decider.rules.directory

    def webhook_secret(user_id: str, url: str) -> str | None:
        person = directory.person(user_id)
        hook = next((h for h in (person.webhooks if person else ()) if h.url == url), None)
        return settings.webhook_secret(hook.secret) if hook else None

    key = ReceiptLinks.key_from(settings.receipt_key.get_secret_value() if settings.receipt_key else None,
                                settings.data_dir)
    return Channels(smtp=smtp, mail_dir=settings.mail_dir or settings.data_dir / "mail",
                    webhook_secret=webhook_secret, webhook_timeout=settings.webhook_timeout_seconds,
                    links=ReceiptLinks(key, settings.public_url, timedelta(days=settings.receipt_link_days)))


def create_app(settings: NotifySettings) -> FastAPI:
    app = NotifyApplication(env=store_env(settings))
    decider = build_decider(settings)
    dispatcher = Dispatcher(
        app, decider, build_channels(settings, decider),
        RetrySchedule(base=timedelta(seconds=settings.retry_base_seconds),
                      cap=timedelta(seconds=settings.retry_cap_seconds),
                      give_up_after=timedelta(seconds=settings.give_up_after_seconds)),
        lease=timedelta(seconds=settings.lease_seconds), poll_seconds=settings.dispatch_poll_seconds,
        concurrency=settings.channel_concurrency)
    app.dispatcher = dispatcher
    parts = ServiceParts(
        app=app, policy=NotifyPolicy(decider),
        upstreams=upstreams("notify"),
        background=[("delivery", dispatcher.run)], reports=[("delivery", dispatcher.report)],
        closers=[dispatcher.close],
    )
    return create_http_app(ServiceRuntime(settings, parts), [router], public_routers=[public])
