"""Notify's reactions to upstream events.

Intake's `ComplaintRegistered` and billing's `CostAllocated` arrive on different topics in
any order; the `ComplaintNotices` aggregate keeps both and records each notice once the
facts it needs are there, so the notices do not depend on the order (architecture rule 8).
"""

from __future__ import annotations

from contracts.envelope import Actor, Envelope, ServiceName
from contracts.registration import ComplaintRegistered
from services.common.consumer import UnitOfWork
from services.common.domain import EventMeta
from services.notify.domain.notices import ComplaintNotices
from services.notify.domain.rules import who_must_know

NOTIFY = Actor.system(ServiceName.NOTIFY)


def notify_policy(event: Envelope, uow: UnitOfWork) -> None:
    meta = EventMeta.from_upstream(event, NOTIFY)
    if isinstance(event, ComplaintRegistered):
        notices = uow.get(event.complaint_id) or uow.add(ComplaintNotices(meta=meta))
        notices.note_contact(meta=meta, customer_name=event.customer.name, phone=event.customer.phone,
                             branch=event.branch, subject=event.subject)
        return
    specs = who_must_know(event, None)
    if not specs:
        return
    notices = uow.get(event.complaint_id) or uow.add(ComplaintNotices(meta=meta))
    for spec in specs:
        notices.record(meta, spec, event.event_type)
