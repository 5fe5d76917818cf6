"""Analytics' reactions: each registration about a product is counted in its batch's watch, which
raises the batch-defect alert (stored in analytics' own store, published on its topic); and every
event of every service is projected into the read model (`domain/projection.py`)."""

from __future__ import annotations

from contracts.envelope import Actor, Envelope, ServiceName
from contracts.registration import ComplaintRegistered, MinorComplaintClosedAtIntake, RequestKind
from services.analytics.domain.alerts import AlertRules, BatchWatch, watch_id
from services.common.consumer import UnitOfWork
from services.common.domain import EventMeta

ANALYTICS = Actor.system(ServiceName.ANALYTICS)


class AlertPolicy:
    def __init__(self, rules: AlertRules):
        self.rules = rules

    def __call__(self, event: Envelope, uow: UnitOfWork) -> None:
        if not isinstance(event, (ComplaintRegistered, MinorComplaintClosedAtIntake)):
            return
        if isinstance(event, MinorComplaintClosedAtIntake) and not self.rules.count_minor:
            return
        if event.product is None or event.kind is not RequestKind.COMPLAINT or event.subject.value not in self.rules.subjects:
            return
        product = event.product
        watch = uow.get(watch_id(product.model, product.batch_number))
        if watch is None:
            watch = uow.add(BatchWatch(model=product.model, batch_number=product.batch_number))
        watch.note(EventMeta.from_upstream(event, ANALYTICS), event.form_number, event.received_at, self.rules)
