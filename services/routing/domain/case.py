"""The complaint case headquarters works on (§5.3)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from eventsourcing.domain import event

from contracts.registration import Customer, ProductDetails
from contracts.routing import ClosureOutcome, ComplaintClosed, ComplaintRouted, SeriousComplaintEscalated
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
        received_at: datetime | None  # cases opened before it was kept have none

    @event(Opened)
    def __init__(self, meta: EventMeta, branch: str, kind: str, subject: str, severity: str,
                 description: str, product: ProductDetails | None, received_at: datetime | None = None):
        self.meta = meta
        self.received_at = received_at
        self.closed = False
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

    class Closed(ComplaintAggregate.Event):
        PUBLISHED_AS = ComplaintClosed
        meta: EventMeta
        outcome: str
        resolution_summary: str
        subject: str
        severity: str
        kind: str
        received_at: datetime
        customer_agrees: bool | None

        def apply(self, case: ComplaintCase) -> None:
            case.closed = True

    @event(Closed)
    def _closed(self, meta: EventMeta, outcome: str, resolution_summary: str, subject: str, severity: str,
                kind: str, received_at: datetime, customer_agrees: bool | None) -> None:
        pass

    def withdraw(self, meta: EventMeta, reason: str, at: datetime) -> None:
        """The customer withdrew the complaint at intake: the case closes (once), nothing is deleted."""
        if getattr(self, "closed", False):
            return
        self._closed(meta=meta, outcome=ClosureOutcome.WITHDRAWN.value,
                     resolution_summary=f"Withdrawn by the customer: {reason}", subject=self.subject,
                     severity=self.severity, kind=self.kind,
                     received_at=getattr(self, "received_at", None) or at, customer_agrees=None)

    def route(self, meta: EventMeta) -> None:
        if self.destination is not None:
            raise DomainError(f"case already routed to {self.destination}", field="destination")
        decision = decide_route(self.subject, self.severity, self.kind)
        self._routed(meta=meta, destination=decision.destination.value, reason=decision.reason,
                     subject=self.subject, severity=self.severity, description=self.description,
                     product=self.product)
