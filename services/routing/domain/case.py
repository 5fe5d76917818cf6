"""The complaint case headquarters works on (§5.3)."""

from __future__ import annotations

from decimal import Decimal

from eventsourcing.domain import event

from contracts.registration import Customer, ProductDetails
from contracts.routing import ComplaintRouted, SeriousComplaintEscalated
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
        self.escalated = False

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

    class SeriousEscalated(ComplaintAggregate.Event):
        PUBLISHED_AS = SeriousComplaintEscalated
        meta: EventMeta
        reasons: list[str]
        subject: str
        description: str
        customer: Customer
        claim_amount: Decimal | None
        departments: list[str]
        notified_roles: list[str]

        def apply(self, case: ComplaintCase) -> None:
            case.escalated = True

    @event(SeriousEscalated)
    def _serious_escalated(self, meta: EventMeta, reasons: list[str], subject: str, description: str,
                           customer: Customer, claim_amount: Decimal | None, departments: list[str],
                           notified_roles: list[str]) -> None:
        pass

    def escalate_serious(self, meta: EventMeta, reasons: list[str], customer: Customer,
                         claim_amount: Decimal | None, departments: list[str], notified_roles: list[str]) -> None:
        """A serious complaint: the department heads and the general manager are called in at once (once)."""
        if getattr(self, "escalated", False):
            return
        self._serious_escalated(meta=meta, reasons=reasons, subject=self.subject, description=self.description,
                                customer=customer, claim_amount=claim_amount, departments=departments,
                                notified_roles=notified_roles)

    def route(self, meta: EventMeta) -> None:
        if self.destination is not None:
            raise DomainError(f"case already routed to {self.destination}", field="destination")
        decision = decide_route(self.subject, self.severity, self.kind)
        self._routed(meta=meta, destination=decision.destination.value, reason=decision.reason,
                     subject=self.subject, severity=self.severity, description=self.description,
                     product=self.product)
