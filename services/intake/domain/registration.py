"""A complaint as registered at the branch (§5.2)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import event

from contracts.envelope import COMPLAINTS_NAMESPACE
from contracts.registration import ComplaintRegistered, Customer, ProductDetails, RegistrationForm
from services.common.domain import ComplaintAggregate, EventMeta


def complaint_id_for(command_id: UUID) -> UUID:
    """The same registration command always names the same complaint (safe client retries)."""
    return uuid5(COMPLAINTS_NAMESPACE, f"complaint:{command_id}")


class ComplaintRegistration(ComplaintAggregate):
    class Registered(ComplaintAggregate.Created):
        PUBLISHED_AS = ComplaintRegistered
        meta: EventMeta
        command_id: UUID
        branch: str
        channel: str
        kind: str
        subject: str
        severity: str
        customer: Customer
        description: str
        product: ProductDetails | None
        received_at: datetime
        read_back_confirmed: bool
        resolved_on_the_spot: str | None

    @event(Registered)
    def __init__(self, meta: EventMeta, command_id: UUID, branch: str, channel: str, kind: str,
                 subject: str, severity: str, customer: Customer, description: str,
                 product: ProductDetails | None, received_at: datetime, read_back_confirmed: bool,
                 resolved_on_the_spot: str | None):
        self.meta = meta
        self.form_number = meta.form_number
        self.command_id = command_id
        self.branch = branch
        self.subject = subject
        self.severity = severity
        self.customer = customer
        self.product = product
        self.closed_at_intake = resolved_on_the_spot is not None

    @classmethod
    def register(cls, meta: EventMeta, command_id: UUID, form: RegistrationForm) -> ComplaintRegistration:
        fields = {name: getattr(form, name) for name in RegistrationForm.model_fields}
        return cls(meta=meta, command_id=command_id, **fields)
