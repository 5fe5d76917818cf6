"""One notification: recorded, then delivered to each of its targets, acknowledged when mandatory.

Each target (an e-mail address, a webhook, the recipient's inbox, a clerk's phone task) goes its
own way, so a dead channel holds up no other: queued until `send_at`, an attempt started (with a
lease: a process that dies mid-send leaves the attempt to be retried once the lease runs out),
then delivered, or failed with the reason and retried on the schedule, or given up (a permanent
refusal, or still failing after the configured time) with an alert. A mandatory notification is
acknowledged by its recipient, or, not acknowledged by `acknowledge_by`, escalated once.

All times are passed in (`now`): the aggregate is pure.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from contracts.notify import (
    NotificationAcknowledgementOverdue, NotificationChannel, NotificationDelivered, NotificationDeliveryFailed,
    NotificationRecorded, ReceiptAcknowledged,
)
from services.common.domain import DomainError, EventMeta, NotFound

#: Channels delivered inside notify (no I/O to another system): always at the first attempt.
LOCAL_CHANNELS = frozenset({NotificationChannel.INBOX.value, NotificationChannel.PHONE_TASK.value})


@dataclass(frozen=True)
class RetrySchedule:
    """Exponential backoff with full jitter between `base` and `cap`; given up after `give_up_after`."""

    base: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(minutes=30)
    give_up_after: timedelta = timedelta(hours=24)

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> timedelta:
        ceiling = min(self.cap, self.base * (2 ** max(0, attempt - 1)))
        return self.base / 2 + (ceiling - self.base / 2) * rand()


@dataclass(frozen=True)
class Target:
    channel: str
    address: str
    status: str = "queued"  # queued, sending, delivered, failed (retry at next_at), given_up
    attempts: int = 0
    next_at: datetime | None = None  # queued/failed: when due; sending: when the lease ends
    reason: str | None = None
    provider_ref: str | None = None

    @property
    def done(self) -> bool:
        return self.status in ("delivered", "given_up")

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.address}"


class Notification(Aggregate):
    @staticmethod
    def create_id(notice_id: UUID, **_: Any) -> UUID:
        return notice_id

    class Event(Aggregate.Event):
        PUBLISHED_AS: ClassVar[Any] = None

    class Recorded(Event, Aggregate.Created):
        PUBLISHED_AS = NotificationRecorded
        meta: EventMeta
        notice_id: UUID
        rule: str
        rules_version: str
        recipient_role: str | None
        recipient: str
        recipient_user_id: str | None
        language: str
        targets: list[dict[str, str]]
        subject: str
        body: str
        about_event_type: str
        mandatory: bool
        urgent: bool
        send_at: datetime
        acknowledge_by: datetime | None

    @event(Recorded)
    def __init__(self, meta: EventMeta, notice_id: UUID, rule: str, rules_version: str, recipient_role: str | None,
                 recipient: str, recipient_user_id: str | None, language: str, targets: list[dict[str, str]],
                 subject: str, body: str, about_event_type: str, mandatory: bool, urgent: bool, send_at: datetime,
                 acknowledge_by: datetime | None) -> None:
        self.meta = meta
        self.notice_id = notice_id
        self.rule = rule
        self.rules_version = rules_version
        self.recipient_role = recipient_role
        self.recipient = recipient
        self.recipient_user_id = recipient_user_id
        self.language = language
        self.subject = subject
        self.body = body
        self.about_event_type = about_event_type
        self.mandatory = mandatory
        self.urgent = urgent
        self.send_at = send_at
        self.acknowledge_by = acknowledge_by
        self.targets: dict[str, Target] = {}
        for t in targets:
            target = Target(t["channel"], t["address"], next_at=send_at)
            self.targets[target.key] = target
        self.read_by: dict[str, datetime] = {}
        self.acknowledged: dict[str, Any] | None = None
        self.overdue = False

    # -- delivery --

    def target(self, key: str) -> Target:
        try:
            return self.targets[key]
        except KeyError:
            raise NotFound(f"notification {self.notice_id} has no target {key}", field="target") from None

    def due(self, now: datetime) -> list[Target]:
        """Targets to try now: queued or failed and due, or sending with the lease run out."""
        return [t for t in self.targets.values()
                if not t.done and t.next_at is not None and t.next_at <= now]

    @property
    def finished(self) -> bool:
        """Nothing left to do: every target done, and no receipt awaited (or it was escalated)."""
        return all(t.done for t in self.targets.values()) and (
            not self.mandatory or self.acknowledged is not None or self.overdue or self.acknowledge_by is None)

    class AttemptStarted(Event):
        meta: EventMeta
        key: str
        attempt: int
        lease_until: datetime

        def apply(self, n: Notification) -> None:
            t = n.targets[self.key]
            n.targets[self.key] = replace(t, status="sending", attempts=self.attempt, next_at=self.lease_until)

    def start_attempt(self, key: str, now: datetime, lease: timedelta) -> int:
        t = self.target(key)
        if t.done or t.next_at is None or t.next_at > now:
            raise DomainError(f"{key} of notification {self.notice_id} is not due", field="target")
        attempt = t.attempts + 1
        self.trigger_event(self.AttemptStarted, meta=self.meta, key=key, attempt=attempt, lease_until=now + lease)
        return attempt

    class AttemptEvent(Event):
        """The fields of one attempt's outcome (never stored itself)."""

        meta: EventMeta
        key: str
        notice_id: UUID
        recipient_role: str | None
        recipient: str
        channel: str
        address: str
        attempt: int

    class Delivered(AttemptEvent):
        PUBLISHED_AS = NotificationDelivered
        provider_ref: str | None

        def apply(self, n: Notification) -> None:
            t = n.targets[self.key]
            n.targets[self.key] = replace(t, status="delivered", next_at=None, provider_ref=self.provider_ref,
                                          reason=None)

    class DeliveryFailed(AttemptEvent):
        PUBLISHED_AS = NotificationDeliveryFailed
        error: str
        permanent: bool
        retry_at: datetime | None

        def apply(self, n: Notification) -> None:
            t = n.targets[self.key]
            n.targets[self.key] = replace(t, status="failed" if self.retry_at else "given_up",
                                          next_at=self.retry_at, reason=self.error)

    def _attempt_fields(self, key: str, attempt: int) -> dict[str, Any]:
        t = self.target(key)
        return {"meta": self.meta, "key": key, "notice_id": self.notice_id, "recipient_role": self.recipient_role,
                "recipient": self.recipient, "channel": t.channel, "address": t.address, "attempt": attempt}

    def delivered(self, key: str, attempt: int, provider_ref: str | None = None) -> None:
        t = self.target(key)
        if t.done or t.attempts != attempt:
            return  # an outcome of an attempt superseded (the lease ran out and it was retried)
        self.trigger_event(self.Delivered, **self._attempt_fields(key, attempt), provider_ref=provider_ref)

    def failed(self, key: str, attempt: int, error: str, permanent: bool, now: datetime, schedule: RetrySchedule,
               rand: Callable[[], float] = random.random) -> bool:
        """Record a failed attempt; True when this gives the target up."""
        t = self.target(key)
        if t.done or t.attempts != attempt:
            return False
        retry_at = None
        if not permanent:
            retry_at = now + schedule.delay(attempt, rand)
            if retry_at - self.send_at > schedule.give_up_after:
                retry_at = None
        self.trigger_event(self.DeliveryFailed, **self._attempt_fields(key, attempt), error=error[:2000] or "failed",
                           permanent=permanent, retry_at=retry_at)
        return retry_at is None

    # -- the recipient --

    def addressed_to(self, user_id: str) -> bool:
        """The notice is in this user's inbox (as the recipient, or as the clerk of a phone task)."""
        return any(t.channel in LOCAL_CHANNELS and t.address == user_id for t in self.targets.values())

    def visible_to(self, user_id: str) -> bool:
        return any(t.channel in LOCAL_CHANNELS and t.address == user_id and t.status == "delivered"
                   for t in self.targets.values())

    class Read(Event):
        meta: EventMeta
        user_id: str
        at: datetime

        def apply(self, n: Notification) -> None:
            n.read_by = {**n.read_by, self.user_id: self.at}

    def mark_read(self, user_id: str, now: datetime) -> bool:
        if not self.visible_to(user_id):
            raise NotFound(f"no notification {self.notice_id} in the inbox of {user_id}", field="notice_id")
        if user_id in self.read_by:
            return False
        self.trigger_event(self.Read, meta=self.meta, user_id=user_id, at=now)
        return True

    class Acknowledged(Event):
        PUBLISHED_AS = ReceiptAcknowledged
        meta: EventMeta
        notice_id: UUID
        acknowledged_by: str
        recipient_role: str | None
        via: str
        late: bool

        def apply(self, n: Notification) -> None:
            n.acknowledged = {"by": self.acknowledged_by, "via": self.via, "at": self.timestamp, "late": self.late}

    def acknowledge(self, user_id: str, via: str, now: datetime) -> bool:
        """The recipient (or, for a phone task, a clerk it was given to) confirms; False when already done."""
        if not (user_id == self.recipient_user_id or self.addressed_to(user_id)):
            raise NotFound(f"no notification {self.notice_id} for {user_id}", field="notice_id")
        if self.acknowledged is not None:
            return False
        late = self.acknowledge_by is not None and now > self.acknowledge_by
        self.trigger_event(self.Acknowledged, meta=self.meta, notice_id=self.notice_id, acknowledged_by=user_id,
                           recipient_role=self.recipient_role, via=via, late=late)
        return True

    def overdue_at(self, now: datetime) -> bool:
        return (self.mandatory and self.acknowledge_by is not None and self.acknowledged is None
                and not self.overdue and now > self.acknowledge_by)

    class AcknowledgementOverdue(Event):
        PUBLISHED_AS = NotificationAcknowledgementOverdue
        meta: EventMeta
        notice_id: UUID
        recipient: str
        recipient_user_id: str | None
        acknowledge_by: datetime
        escalated_to: list[str]
        escalated_to_role: str | None

        def apply(self, n: Notification) -> None:
            n.overdue = True

    def escalate(self, escalated_to: list[str], role: str | None) -> None:
        assert self.acknowledge_by is not None
        self.trigger_event(self.AcknowledgementOverdue, meta=self.meta, notice_id=self.notice_id,
                           recipient=self.recipient, recipient_user_id=self.recipient_user_id,
                           acknowledge_by=self.acknowledge_by, escalated_to=escalated_to, escalated_to_role=role)

    # -- views --

    def summary(self) -> dict[str, Any]:
        return {
            "notice_id": str(self.notice_id), "complaint_id": str(self.meta.complaint_id),
            "form_number": self.meta.form_number, "rule": self.rule, "recipient": self.recipient,
            "recipient_user_id": self.recipient_user_id, "recipient_role": self.recipient_role,
            "subject": self.subject, "body": self.body, "about_event_type": self.about_event_type,
            "mandatory": self.mandatory, "urgent": self.urgent, "send_at": self.send_at.isoformat(),
            "acknowledge_by": self.acknowledge_by.isoformat() if self.acknowledge_by else None,
            "acknowledged": ({**self.acknowledged, "at": self.acknowledged["at"].isoformat()}
                             if self.acknowledged else None),
            "overdue": self.overdue,
            "targets": [{"channel": t.channel, "address": t.address, "status": t.status, "attempts": t.attempts,
                         "reason": t.reason} for t in self.targets.values()],
        }
