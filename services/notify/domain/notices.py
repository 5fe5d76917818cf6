"""The notices of one complaint: who was to be told what, recorded before any delivery."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import event

from contracts.notify import NotificationRecorded
from services.common.domain import ComplaintAggregate, EventMeta
from services.notify.domain.rules import Contact, NoticeSpec


class ComplaintNotices(ComplaintAggregate):
    @event("Opened")
    def __init__(self, meta: EventMeta):
        self.meta = meta
        self.contact: Contact | None = None
        self.notices: dict[UUID, str] = {}

    class ContactNoted(ComplaintAggregate.Event):
        meta: EventMeta
        customer_name: str
        phone: str
        branch: str
        subject: str

        def apply(self, notices: ComplaintNotices) -> None:
            notices.contact = Contact(self.customer_name, self.phone, self.branch, self.subject)

    @event(ContactNoted)
    def note_contact(self, meta: EventMeta, customer_name: str, phone: str, branch: str, subject: str) -> None:
        pass

    class Recorded(ComplaintAggregate.Event):
        PUBLISHED_AS = NotificationRecorded
        meta: EventMeta
        notice_id: UUID
        recipient_role: str
        recipient: str
        channel: str
        subject: str
        body: str
        about_event_type: str

        def apply(self, notices: ComplaintNotices) -> None:
            notices.notices[self.notice_id] = self.recipient_role

    @event(Recorded)
    def _recorded(self, meta: EventMeta, notice_id: UUID, recipient_role: str, recipient: str, channel: str,
                  subject: str, body: str, about_event_type: str) -> None:
        pass

    def record(self, meta: EventMeta, spec: NoticeSpec, about_event_type: str) -> None:
        """Record a notice once per cause and recipient, however often the cause is seen."""
        assert meta.causation_id is not None
        notice_id = uuid5(meta.causation_id, spec.recipient_role.value)
        if notice_id in self.notices:
            return
        self._recorded(meta=meta, notice_id=notice_id, recipient_role=spec.recipient_role.value,
                       recipient=spec.recipient, channel=spec.channel.value, subject=spec.subject,
                       body=spec.body, about_event_type=about_event_type)
