"""Notify's reactions to upstream events: record the notifications each business fact calls for.

The decision is `Decider.decide` (pure: the rules table, the directory, the texts, the calendar);
a fact that comes before its complaint's registration waits in `ComplaintNotices` until the
registration is noted (architecture rule 8). Each notification's id is derived from the fact and
the recipient, so a redelivered fact records nothing new.
"""

from __future__ import annotations

from contracts.envelope import Actor, Envelope, ServiceName
from contracts.registration import ComplaintRegistered
from services.common.consumer import UnitOfWork
from services.common.domain import EventMeta
from services.notify.domain.decide import Decider
from services.notify.domain.notices import ComplaintNotices
from services.notify.domain.notification import Notification

NOTIFY = Actor.system(ServiceName.NOTIFY)


class NotifyPolicy:
    def __init__(self, decider: Decider) -> None:
        self.decider = decider

    def __call__(self, event: Envelope, uow: UnitOfWork) -> None:
        registered = isinstance(event, ComplaintRegistered)
        if not registered and not self.decider.handles(event.event_type):
            return
        meta = EventMeta.from_upstream(event, NOTIFY)
        notices = uow.get(event.complaint_id)
        if notices is None:
            notices = uow.add(ComplaintNotices(meta=meta))
        if registered:
            if notices.registration is not None:
                return  # redelivered
            facts = [event, *notices.note_registration(meta, event)]
        elif notices.registration is None:
            notices.wait_for_registration(meta, event)
            return
        else:
            facts = [event]
        for fact in facts:
            if not self.decider.handles(fact.event_type):
                continue
            fact_meta = EventMeta.from_upstream(fact, NOTIFY)
            for draft in self.decider.decide(fact, notices.registration):
                if uow.get(draft.notice_id) is None:
                    uow.add(Notification(meta=fact_meta, **draft.fields()))
