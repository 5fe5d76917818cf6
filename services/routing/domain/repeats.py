"""Repeat complaints (linked, never merged): an index of recent complaints per customer and product,
and per person complained about, kept as an event-sourced aggregate so the check is part of the
same unit of work as the routing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from contracts.envelope import COMPLAINTS_NAMESPACE
from contracts.registration import Customer, ProductDetails, Subject
from contracts.routing import RepeatBasis

#: Entries kept per key (the oldest go first); far more than any real customer repeats.
KEEP = 50


def _normalise(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def repeat_keys(subject: str, customer: Customer, product: ProductDetails | None,
                complained_about: str | None) -> list[tuple[RepeatBasis, str]]:
    """What makes a complaint a repeat: the same customer (phone) and product model, or the same
    person complained about (a staff complaint)."""
    keys = []
    if product is not None and _normalise(customer.phone) and _normalise(product.model):
        keys.append((RepeatBasis.SAME_CUSTOMER_AND_PRODUCT,
                     f"{_normalise(customer.phone)}|{_normalise(product.model)}"))
    if subject == Subject.STAFF.value and complained_about and _normalise(complained_about):
        keys.append((RepeatBasis.SAME_PERSON_COMPLAINED_ABOUT, _normalise(complained_about)))
    return keys


def index_id(basis: RepeatBasis, key: str) -> UUID:
    return uuid5(COMPLAINTS_NAMESPACE, f"repeat-index:{basis.value}:{key}")


class RepeatIndex(Aggregate):
    """The recent complaints of one repeat key."""

    @staticmethod
    def create_id(basis: str, key: str) -> UUID:
        return index_id(RepeatBasis(basis), key)

    @event("Started")
    def __init__(self, basis: str, key: str):
        self.basis = basis
        self.entries: list[dict[str, Any]] = []

    @event("Noted")
    def note(self, complaint_id: UUID, form_number: str, received_at: datetime) -> None:
        self.entries = [e for e in self.entries if e["complaint_id"] != str(complaint_id)][-(KEEP - 1):]
        self.entries.append({"complaint_id": str(complaint_id), "form_number": form_number,
                             "received_at": received_at.isoformat()})

    def recent(self, before: UUID, received_at: datetime, window: timedelta) -> list[dict[str, Any]]:
        """Entries within the window before `received_at`, newest first, other than `before`."""
        out = [e for e in self.entries if e["complaint_id"] != str(before)
               and received_at - window <= datetime.fromisoformat(e["received_at"]) <= received_at]
        return list(reversed(out))
