"""Quality's reactions to upstream events."""

from __future__ import annotations

from contracts.envelope import Actor, Envelope, ServiceName
from contracts.routing import ComplaintRouted, Destination
from services.common.consumer import UnitOfWork
from services.common.domain import EventMeta
from services.quality.domain.investigation import QualityInvestigation

QUALITY = Actor.system(ServiceName.QUALITY)


def quality_policy(event: Envelope, uow: UnitOfWork) -> None:
    if isinstance(event, ComplaintRouted) and event.destination is Destination.QUALITY_DEPARTMENT:
        if uow.get(event.complaint_id) is None:
            uow.add(QualityInvestigation(meta=EventMeta.from_upstream(event, QUALITY),
                                         product=event.product, description=event.description))
