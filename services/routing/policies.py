"""Routing's reactions to upstream events."""

from __future__ import annotations

from contracts.envelope import Actor, Envelope, ServiceName
from contracts.registration import ComplaintRegistered
from services.common.consumer import UnitOfWork
from services.common.domain import EventMeta
from services.routing.domain.case import ComplaintCase
from services.routing.domain.rules import needs_routing

ROUTING = Actor.system(ServiceName.ROUTING)


def routing_policy(event: Envelope, uow: UnitOfWork) -> None:
    if isinstance(event, ComplaintRegistered):
        if not needs_routing(event.resolved_on_the_spot) or uow.get(event.complaint_id):
            return
        meta = EventMeta.from_upstream(event, ROUTING)
        case = uow.add(ComplaintCase(meta=meta, branch=event.branch, kind=event.kind, subject=event.subject,
                                     severity=event.severity, description=event.description,
                                     product=event.product))
        case.route(meta)
