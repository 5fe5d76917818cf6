"""From a business fact to the notifications it calls for: pure, no I/O.

`Decider.decide(event, registration)` applies the notice rules (who), the texts (what, in the
recipient's language), the working-time calendar (when: internal notices go out at the start of
the recipient's next working period, serious complaints, urgent rows and the customer's notices at
once) and the receipt rules (by when a mandatory one must be acknowledged). Everything it uses
comes from the event, the complaint's registration and the data files, and the time is the
event's own: the same fact always gives the same drafts, whenever and however often it is seen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from contracts.envelope import Envelope, Role, branch_of
from contracts.notify import NotificationChannel
from contracts.registration import ComplaintRegistered, Severity
from services.common.calendar import BusinessCalendar
from services.notify.domain.notice_rules import NoticeChannel, NoticeRules, Recipient
from services.notify.domain.texts import Texts

ESCALATION_TEMPLATE = "acknowledgement_overdue"


@dataclass(frozen=True)
class Registration:
    """What notify keeps of a complaint's registration: the complainant and how the case is filed."""

    customer_name: str
    phone: str
    branch: str
    subject: str
    kind: str
    severity: str
    complained_about: str | None = None
    email: str | None = None
    language: str = "zh"

    @classmethod
    def of(cls, event: ComplaintRegistered) -> Registration:
        return cls(customer_name=event.customer.name, phone=event.customer.phone, branch=event.branch,
                   subject=event.subject.value, kind=event.kind.value, severity=event.severity.value,
                   complained_about=event.complained_about, email=event.customer.email,
                   language=event.customer.language.value)


@dataclass(frozen=True)
class Draft:
    """One notification to record: the fields of `NotificationRecorded`."""

    notice_id: UUID
    rule: str
    rules_version: str
    recipient_role: str | None
    recipient: str
    recipient_user_id: str | None
    language: str
    targets: tuple[tuple[str, str], ...]  # (channel, address)
    subject: str
    body: str
    about_event_type: str
    mandatory: bool
    urgent: bool
    send_at: datetime
    acknowledge_by: datetime | None

    def fields(self) -> dict[str, Any]:
        return {
            "notice_id": self.notice_id, "rule": self.rule, "rules_version": self.rules_version,
            "recipient_role": self.recipient_role, "recipient": self.recipient,
            "recipient_user_id": self.recipient_user_id, "language": self.language,
            "targets": [{"channel": c, "address": a} for c, a in self.targets], "subject": self.subject,
            "body": self.body, "about_event_type": self.about_event_type, "mandatory": self.mandatory,
            "urgent": self.urgent, "send_at": self.send_at, "acknowledge_by": self.acknowledge_by,
        }


def notice_id_for(cause: UUID, rule: str, recipient: str | None) -> UUID:
    """The one notification a cause gives a recipient under a rule, however often it is seen."""
    return uuid5(cause, f"{rule}:{recipient or 'customer'}")


class Decider:
    def __init__(self, rules: NoticeRules, texts: Texts, calendar: BusinessCalendar) -> None:
        self.rules = rules
        self.texts = texts
        self.calendar = calendar

    def handles(self, event_type: str) -> bool:
        return event_type in self.rules.events()

    # -- facts --

    def decide(self, event: Envelope, registration: Registration) -> list[Draft]:
        """The notifications `event` calls for, once the complaint's registration is known."""
        serious = registration.severity == Severity.SERIOUS.value
        drafts = []
        for recipient in self.rules.recipients(event, registration.complained_about):
            rule = next(r for r in self.rules.rules if r.name == recipient.rule)
            if recipient.is_customer:
                # the customer as registered: their e-mail address (if any) and language, whatever
                # the event at hand carries
                channels = tuple(c for c in rule.channels if c is NoticeChannel.PHONE_TASK
                                 or (c is NoticeChannel.EMAIL and registration.email))
                recipient = replace(recipient, email=registration.email, language=registration.language,
                                    channels=channels)
            customer = registration.customer_name if rule.names_complainant else ""
            context = {"e": event, "form_number": event.form_number, "customer": customer,
                       "recipient_name": recipient.name or customer}
            subject, body = self.texts.render(recipient.template, recipient.language, context)
            targets = self._targets(recipient, registration)
            external = recipient.is_customer
            urgent = recipient.urgent or serious
            send_at = event.occurred_at if urgent or external else self.calendar.next_working_instant(event.occurred_at)
            drafts.append(Draft(
                notice_id=notice_id_for(event.event_id, recipient.rule, recipient.user_id),
                rule=recipient.rule, rules_version=self.rules.version,
                recipient_role=recipient.role.value if recipient.role is not None else None,
                recipient=(recipient.name or recipient.user_id or customer or "customer")[:200],
                recipient_user_id=recipient.user_id, language=recipient.language, targets=targets,
                subject=subject, body=body, about_event_type=event.event_type, mandatory=recipient.mandatory,
                urgent=urgent, send_at=send_at,
                acknowledge_by=self.acknowledge_by(send_at, urgent) if recipient.mandatory and targets else None,
            ))
        return drafts

    def acknowledge_by(self, send_at: datetime, urgent: bool) -> datetime:
        receipts = self.rules.receipts
        if urgent:
            return send_at + timedelta(hours=receipts.urgent_within_hours)
        return self.calendar.add_working_hours(send_at, receipts.within_working_hours).due_at

    def _targets(self, recipient: Recipient, registration: Registration) -> tuple[tuple[str, str], ...]:
        targets: list[tuple[str, str]] = []
        for channel in recipient.channels:
            if channel is NoticeChannel.EMAIL and recipient.email:
                targets.append((NotificationChannel.EMAIL.value, recipient.email))
            elif channel is NoticeChannel.WEBHOOK:
                targets.extend((NotificationChannel.WEBHOOK.value, hook.url) for hook in recipient.webhooks)
            elif channel is NoticeChannel.INBOX and recipient.user_id:
                targets.append((NotificationChannel.INBOX.value, recipient.user_id))
            elif channel is NoticeChannel.PHONE_TASK and recipient.is_customer:
                # never the clerk the complaint is about: the task names who complained
                clerks = tuple(c for c in recipient.via if c != registration.complained_about) or self._hq_clerks()
                targets.extend((NotificationChannel.PHONE_TASK.value, clerk) for clerk in clerks)
        return tuple(dict.fromkeys(targets))

    def _hq_clerks(self) -> tuple[str, ...]:
        """Who phones a customer of a branch with no clerk in the directory: headquarters' clerks."""
        return tuple(p.user_id for p in self.rules.directory.people if Role.HQ_CLERK in p.roles)

    # -- receipts --

    def escalation(self, notice: Any, at: datetime) -> tuple[Role | None, list[Draft]]:
        """The next authority's notices when mandatory `notice` (a Notification) was not acknowledged
        by its time: (the role escalated to, its drafts); none above the general manager."""
        role = Role(notice.recipient_role) if notice.recipient_role else None
        above = self.rules.receipts.next_authority(role)
        if above is None:
            return None, []
        branch = branch_of(notice.meta.form_number)
        region = self.rules.directory.regions.get(branch)
        drafts = []
        for person in self.rules.directory.people:
            if above not in person.roles or not person.works_for(branch, region) \
                    or person.user_id == notice.recipient_user_id:
                continue
            context = {"e": notice, "form_number": notice.meta.form_number, "customer": "",
                       "recipient_name": person.name}
            subject, body = self.texts.render(ESCALATION_TEMPLATE, person.language, context)
            targets = [(NotificationChannel.INBOX.value, person.user_id)]
            if person.email:
                targets.insert(0, (NotificationChannel.EMAIL.value, person.email))
            drafts.append(Draft(
                notice_id=notice_id_for(notice.notice_id, ESCALATION_TEMPLATE, person.user_id),
                rule=ESCALATION_TEMPLATE, rules_version=self.rules.version, recipient_role=above.value,
                recipient=person.name, recipient_user_id=person.user_id, language=person.language,
                targets=tuple(targets), subject=subject, body=body,
                about_event_type="NotificationAcknowledgementOverdue", mandatory=False, urgent=notice.urgent,
                send_at=at if notice.urgent else self.calendar.next_working_instant(at), acknowledge_by=None,
            ))
        return above, drafts
