"""The notices of one complaint: who was to be told what, recorded before any delivery.

The facts a notice needs come from two upstream topics (intake's contact, billing's
decision) in no guaranteed order (architecture rule 8). The aggregate keeps what has
arrived: a notice addressed through the customer's contact waits until the contact is
noted, then is recorded with the meta of the decision that caused it. So the recorded
notices are the same whichever topic delivered first, and each is recorded once per
cause and recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid5

from eventsourcing.domain import event

from contracts.envelope import Role
from contracts.notify import NotificationChannel, NotificationRecorded
from services.common.domain import ComplaintAggregate, EventMeta
from services.notify.domain.rules import Contact, NoticeSpec, addressed


@dataclass(frozen=True)
class AwaitingNotice:
    meta: EventMeta
    spec: NoticeSpec
    about_event_type: str


class ComplaintNotices(ComplaintAggregate):
    @event("Opened")
    def __init__(self, meta: EventMeta):
        self.meta = meta
        self.contact: Contact | None = None
        self.notices: dict[UUID, str] = {}
        #: Notices decided but not yet recordable: they wait for the customer's contact.
        self.awaiting: dict[UUID, AwaitingNotice] = {}

    class ContactNoted(ComplaintAggregate.Event):
        meta: EventMeta
        customer_name: str
        phone: str
        branch: str
        subject: str

        def apply(self, notices: ComplaintNotices) -> None:
            notices.contact = Contact(self.customer_name, self.phone, self.branch, self.subject)

    @event(ContactNoted)
    def _contact_noted(self, meta: EventMeta, customer_name: str, phone: str, branch: str, subject: str) -> None:
        pass

    def note_contact(self, meta: EventMeta, customer_name: str, phone: str, branch: str, subject: str) -> None:
        """Note the customer's contact once, and record the notices that were waiting for it."""
        if self.contact is not None:
            return
        self._contact_noted(meta=meta, customer_name=customer_name, phone=phone, branch=branch, subject=subject)
        assert self.contact is not None
        for notice_id, waiting in list(self.awaiting.items()):
            self._record(waiting.meta, notice_id, addressed(waiting.spec, self.contact), waiting.about_event_type)

    class NoticeEvent(ComplaintAggregate.Event):
        """A notice's fields, carried by the events below (never stored itself)."""

        meta: EventMeta
        notice_id: UUID
        recipient_role: str
        recipient: str
        channel: str
        subject: str
        body: str
        about_event_type: str

    class AwaitingContact(NoticeEvent):
        """A notice is decided but needs the customer's contact, which has not arrived yet."""

        def apply(self, notices: ComplaintNotices) -> None:
            spec = NoticeSpec(Role(self.recipient_role), self.recipient, NotificationChannel(self.channel),
                              self.subject, self.body, needs_contact=True)
            notices.awaiting[self.notice_id] = AwaitingNotice(self.meta, spec, self.about_event_type)

    @event(AwaitingContact)
    def _awaiting_contact(self, meta: EventMeta, notice_id: UUID, recipient_role: str, recipient: str,
                          channel: str, subject: str, body: str, about_event_type: str) -> None:
        pass

    class Recorded(NoticeEvent):
        PUBLISHED_AS = NotificationRecorded

        def apply(self, notices: ComplaintNotices) -> None:
            notices.notices[self.notice_id] = self.recipient_role
            notices.awaiting.pop(self.notice_id, None)

    @event(Recorded)
    def _recorded(self, meta: EventMeta, notice_id: UUID, recipient_role: str, recipient: str, channel: str,
                  subject: str, body: str, about_event_type: str) -> None:
        pass

    def _record(self, meta: EventMeta, notice_id: UUID, spec: NoticeSpec, about_event_type: str) -> None:
        self._recorded(meta=meta, notice_id=notice_id, recipient_role=spec.recipient_role.value,
                       recipient=spec.recipient, channel=spec.channel.value, subject=spec.subject,
                       body=spec.body, about_event_type=about_event_type)

    def record(self, meta: EventMeta, spec: NoticeSpec, about_event_type: str) -> None:
        """Record a notice once per cause and recipient, however often the cause is seen; one
        that needs the customer's contact waits for it."""
        assert meta.causation_id is not None
        notice_id = uuid5(meta.causation_id, spec.recipient_role.value if spec.key is None
                          else f"{spec.recipient_role.value}:{spec.key}")
        if notice_id in self.notices or notice_id in self.awaiting:
            return
        if spec.needs_contact:
            if self.contact is None:
                self._awaiting_contact(meta=meta, notice_id=notice_id, recipient_role=spec.recipient_role.value,
                                       recipient=spec.recipient, channel=spec.channel.value, subject=spec.subject,
                                       body=spec.body, about_event_type=about_event_type)
                return
            spec = addressed(spec, self.contact)
        self._record(meta, notice_id, spec, about_event_type)
