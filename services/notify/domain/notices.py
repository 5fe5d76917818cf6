"""What notify knows of one complaint: its registration, and the facts waiting for it.

A notice needs the complaint's registration (the customer to name and phone, and who the
complaint is about: never told who complained, §5.3.2⑴). The registration comes on intake's
topic, the other facts on routing's, quality's and billing's, in no guaranteed order
(architecture rule 8). So a fact seen before the registration waits here, whole; when the
registration is noted, the waiting facts are decided, each with its own time. The notices are
the same whichever topic delivered first.

The classes at the end are the events an earlier notify stored (its log sink's notices); they are
kept so that old stores still read, and an old notice is still published, as the current version
of its contract.
"""

from __future__ import annotations

from typing import Any, ClassVar

from eventsourcing.domain import event

from contracts.envelope import Envelope
from contracts.notify import NotificationRecorded
from contracts.registration import ComplaintRegistered
from contracts.registry import parse_event
from services.common.domain import ComplaintAggregate, EventMeta
from services.notify.domain.decide import Registration


class ComplaintNotices(ComplaintAggregate):
    @event("Opened")
    def __init__(self, meta: EventMeta):
        self.meta = meta
        self.registration: Registration | None = None
        self.waiting: list[dict[str, Any]] = []

    class RegistrationNoted(ComplaintAggregate.Event):
        meta: EventMeta
        customer_name: str
        phone: str
        branch: str
        subject: str
        kind: str
        severity: str
        complained_about: str | None
        email: str | None
        language: str

        def apply(self, notices: ComplaintNotices) -> None:
            notices.registration = Registration(self.customer_name, self.phone, self.branch, self.subject,
                                                self.kind, self.severity, self.complained_about, self.email,
                                                self.language)
            notices.waiting = []

    def note_registration(self, meta: EventMeta, registered: ComplaintRegistered) -> list[Envelope]:
        """Note the registration once; returns the facts that waited for it, in the order they came."""
        if self.registration is not None:
            return []
        waiting = [parse_event(raw) for raw in self.waiting]
        r = Registration.of(registered)
        self.trigger_event(self.RegistrationNoted, meta=meta, customer_name=r.customer_name, phone=r.phone,
                           branch=r.branch, subject=r.subject, kind=r.kind, severity=r.severity,
                           complained_about=r.complained_about, email=r.email, language=r.language)
        return waiting

    class FactAwaitingRegistration(ComplaintAggregate.Event):
        """A fact to notify of arrived before the complaint's registration: kept whole until then."""

        meta: EventMeta
        fact: dict[str, Any]

        def apply(self, notices: ComplaintNotices) -> None:
            notices.waiting = [*notices.waiting, self.fact]

    def wait_for_registration(self, meta: EventMeta, fact: Envelope) -> None:
        raw = fact.model_dump(mode="json")
        if any(w.get("event_id") == raw["event_id"] for w in self.waiting):
            return  # redelivered before the registration came
        self.trigger_event(self.FactAwaitingRegistration, meta=meta, fact=raw)

    # --- the events of the earlier notify (kept so that its stores still read) ----------------

    class ContactNoted(ComplaintAggregate.Event):
        meta: EventMeta
        customer_name: str
        phone: str
        branch: str
        subject: str

        def apply(self, notices: ComplaintNotices) -> None:
            notices.registration = notices.registration or Registration(
                self.customer_name, self.phone, self.branch, self.subject, "complaint", "general")

    class LegacyNotice(ComplaintAggregate.Event):
        """The fields of the earlier notify's notices (one recipient, one channel); never stored itself."""

        meta: EventMeta
        notice_id: Any
        recipient_role: str
        recipient: str
        channel: str
        subject: str
        body: str
        about_event_type: str

        def apply(self, notices: ComplaintNotices) -> None:
            pass

    class AwaitingContact(LegacyNotice):
        """A notice the earlier notify decided and kept for the contact; the new rules decide again."""

    class Recorded(LegacyNotice):
        """A notice of the earlier notify: published as NotificationRecorded v1, upcast."""

        PUBLISHED_AS = NotificationRecorded
        PUBLISHED_VERSION: ClassVar[int] = 1
