"""Billing's reactions to upstream events."""

from __future__ import annotations

from contracts.envelope import Actor, Envelope, ServiceName
from contracts.quality import OnSiteDeterminationRecorded
from services.billing.domain.allocation import CostAllocation
from services.common.consumer import UnitOfWork
from services.common.domain import EventMeta

BILLING = Actor.system(ServiceName.BILLING)


def billing_policy(event: Envelope, uow: UnitOfWork) -> None:
    if isinstance(event, OnSiteDeterminationRecorded) and uow.get(event.complaint_id) is None:
        uow.add(CostAllocation.by_rules(EventMeta.from_upstream(event, BILLING), event.determination,
                                        event.misuse_resolution, event.within_warranty))
