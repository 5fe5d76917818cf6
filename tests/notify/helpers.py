"""Builders for notify's tests: upstream facts of a complaint, and notify's store in memory."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import Tracking

from contracts.envelope import Envelope
from contracts.notify import NotificationRecorded
from contracts.registration import ComplaintRegistered
from contracts.registry import EVENT_TYPES
from services.common.calendar import load_calendar
from services.common.consumer import UnitOfWork
from services.notify.application import NotifyApplication
from services.notify.domain.decide import ESCALATION_TEMPLATE, Decider
from services.notify.domain.notice_rules import notice_rules
from services.notify.domain.texts import load_texts
from services.notify.policies import NotifyPolicy
from tests.common.builders import in_memory, published
from tests.contracts.conftest import event_data


ROUND_THE_CLOCK = Path(__file__).resolve().parents[1] / "support" / "round_the_clock.yaml"


def decider(calendar: Path | None = None) -> Decider:
    """The shipped rules and texts, on the company calendar (or another calendar file)."""
    rules = notice_rules()
    return Decider(rules, load_texts({r.template for r in rules.rules} | {ESCALATION_TEMPLATE}),
                   load_calendar(calendar).default())


def fact(cls_name: str, registered: ComplaintRegistered, occurred_at: datetime | None = None,
         **overrides: Any) -> Envelope:
    """A valid `cls_name` event about the registered complaint (a new event id each time)."""
    cls = EVENT_TYPES[cls_name]
    data = event_data(cls, **overrides)
    data.update(event_id=str(uuid4()), complaint_id=str(registered.complaint_id),
                form_number=registered.form_number, producer=cls.PRODUCER.value,
                occurred_at=(occurred_at or registered.occurred_at).isoformat())
    data["actor"] = {"user_id": "system", "role": "system", "branch": None} if cls.PRODUCER.value != "intake" \
        else data["actor"]
    return cls.model_validate(data)


class Notify:
    """Notify's policy over an in-memory store, fed batch by batch as the consumer does."""

    def __init__(self) -> None:
        self.app = in_memory(NotifyApplication)
        self.policy = NotifyPolicy(decider())
        self.position = 0

    def feed(self, *events: Envelope) -> None:
        uow = UnitOfWork(self.app)
        for event in events:
            self.policy(event, uow)
        self.position += 1
        self.app.save_processed(list(uow.aggregates.values()), Tracking("test/p0", self.position))

    def recorded(self) -> list[NotificationRecorded]:
        return [e for e in published(self.app) if isinstance(e, NotificationRecorded)]
