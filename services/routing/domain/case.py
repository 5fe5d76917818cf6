"""The complaint case headquarters works on (§5.3)."""

from __future__ import annotations

from eventsourcing.domain import event

from contracts.registration import ProductDetails
from contracts.routing import ComplaintRouted
from services.common.domain import ComplaintAggregate, DomainError, EventMeta
from services.routing.domain.rules import decide_route


class ComplaintCase(ComplaintAggregate):
    class Opened(ComplaintAggregate.Created):
        meta: EventMeta
        branch: str
        kind: str
        subject: str
        severity: str
        description: str
        product: ProductDetails | None

    @event(Opened)
    def __init__(self, meta: EventMeta, branch: str, kind: str, subject: str, severity: str,
                 description: str, product: ProductDetails | None):
        self.meta = meta
        self.branch = branch
        self.kind = kind
        self.subject = subject
        self.severity = severity
        self.description = description
        self.product = product
        self.destination: str | None = None

    class Routed(ComplaintAggregate.Event):
        PUBLISHED_AS = ComplaintRouted
        meta: EventMeta
        destination: str
        reason: str
        subject: str
        severity: str
        description: str
        product: ProductDetails | None

        def apply(self, case: ComplaintCase) -> None:
            case.destination = self.destination

    @event(Routed)
    def _routed(self, meta: EventMeta, destination: str, reason: str, subject: str, severity: str,
                description: str, product: ProductDetails | None) -> None:
        pass

    def route(self, meta: EventMeta) -> None:
        if self.destination is not None:
            raise DomainError(f"case already routed to {self.destination}", field="destination")
        decision = decide_route(self.subject, self.severity, self.kind)
        self._routed(meta=meta, destination=decision.destination.value, reason=decision.reason,
                     subject=self.subject, severity=self.severity, description=self.description,
                     product=self.product)
