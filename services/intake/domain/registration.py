"""A complaint as registered at the branch (§5.2)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from eventsourcing.domain import event

from contracts.envelope import COMPLAINTS_NAMESPACE
from contracts.registration import ComplaintRegistered, Customer, ProductDetails, RegistrationForm
from services.common.domain import ComplaintAggregate, EventMeta, InvalidCommand


def complaint_id_for(command_id: UUID) -> UUID:
    """The same registration command always names the same complaint (safe client retries)."""
    return uuid5(COMPLAINTS_NAMESPACE, f"complaint:{command_id}")


def form_fingerprint(form: RegistrationForm) -> str:
    """A digest of the registration form's fields (canonical JSON): tells a retried command from
    another form sent under the same command id. Fields left at their defaults are left out, so
    a field added to the form later (with a default) does not change old fingerprints."""
    fields = form.model_dump(mode="json", include=set(RegistrationForm.model_fields), exclude_defaults=True)
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def check_received_at(received_at: datetime, now: datetime, max_skew: timedelta, window: timedelta,
                      may_backdate: bool) -> None:
    """`received_at` lies within [now - window, now + max_skew]; a role that may backdate skips the window."""
    if received_at > now + max_skew:
        raise InvalidCommand(f"received_at {received_at.isoformat()} is in the future "
                             f"(more than {max_skew} ahead of {now.isoformat()})", field="received_at")
    if received_at < now - window and not may_backdate:
        raise InvalidCommand(f"received_at {received_at.isoformat()} is more than {window} ago; "
                             "registering it needs a role that may backdate (complaint.register.backdate)",
                             field="received_at")


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
        #: `form_fingerprint(form)`; not published. Events stored before it existed lack it.
        form_fingerprint: str | None

    @event(Registered)
    def __init__(self, meta: EventMeta, command_id: UUID, branch: str, channel: str, kind: str,
                 subject: str, severity: str, customer: Customer, description: str,
                 product: ProductDetails | None, received_at: datetime, read_back_confirmed: bool,
                 resolved_on_the_spot: str | None, form_fingerprint: str | None = None):
        self.meta = meta
        self.form_fingerprint = form_fingerprint
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
        return cls(meta=meta, command_id=command_id, form_fingerprint=form_fingerprint(form), **fields)
