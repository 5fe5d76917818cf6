"""The cost allocation of one complaint."""

from __future__ import annotations

from eventsourcing.domain import event

from contracts.billing import CostAllocated, CostLine
from services.billing.domain.rules import allocate
from services.common.domain import ComplaintAggregate, EventMeta


class CostAllocation(ComplaintAggregate):
    class Allocated(ComplaintAggregate.Created):
        PUBLISHED_AS = CostAllocated
        meta: EventMeta
        determination: str
        misuse_resolution: str | None
        rule: str
        lines: list[CostLine]

    @event(Allocated)
    def __init__(self, meta: EventMeta, determination: str, misuse_resolution: str | None, rule: str,
                 lines: list[CostLine]):
        self.meta = meta
        self.determination = determination
        self.rule = rule
        self.lines = list(lines)

    @classmethod
    def by_rules(cls, meta: EventMeta, determination: str, misuse_resolution: str | None,
                 within_warranty: bool) -> CostAllocation:
        allocation = allocate(determination, misuse_resolution, within_warranty)
        return cls(meta=meta, determination=determination, misuse_resolution=misuse_resolution,
                   rule=allocation.rule, lines=list(allocation.lines))
