"""Billing's reactions to upstream events: each fact about a complaint's case is noted once in its
cost ledger (by the upstream event id, so a redelivered event books nothing twice), and the ledger
books what the fact changes.

- routing's `ComplaintRouted`: the subject and severity (a goodwill payment is checked against
  the authority matrix with them); `DisputeRuled` with a determination: the ruling prices the case.
- quality's `OnSiteDeterminationRecorded`, `OnSiteDeterminationCorrected` and
  `QualityAdjudicationRecorded`: the determination, warranty, product model, quantity, parts and
  labour the case is priced with; the adjudication's negligence finding allows the penalty.
"""

from __future__ import annotations

from typing import Any

from contracts import quality
from contracts.billing import DecisionKind
from contracts.envelope import Actor, Envelope, ServiceName
from contracts.routing import ComplaintRouted, DisputeRuled
from services.billing.domain.ledger import ROUTED, CostLedger
from services.common.consumer import UnitOfWork
from services.common.domain import EventMeta

BILLING = Actor.system(ServiceName.BILLING)

#: quality's correction of the on-site determination (absent from older contracts).
_CORRECTED = getattr(quality, "OnSiteDeterminationCorrected", None)


def _value(value: Any) -> Any:
    return getattr(value, "value", value)


def _case(event: Any, *, labour: bool = False) -> dict[str, Any]:
    product = getattr(event, "product", None)
    fact: dict[str, Any] = {
        "determination": _value(event.determination),
        "misuse_resolution": _value(getattr(event, "misuse_resolution", None)),
        "within_warranty": getattr(event, "within_warranty", None),
        "model": product.model if product is not None else None,
        "quantity": getattr(event, "quantity", None) or (product.quantity if product is not None else None),
        "parts": [[p.part_no, p.quantity] for p in getattr(event, "parts_used", None) or []],
    }
    if labour:
        hours = getattr(event, "labour_hours", None)
        fact["labour_hours"] = str(hours) if hours is not None else None
    return fact


def fact_of(event: Envelope) -> tuple[str, dict[str, Any]] | None:
    """(decision kind, fact) of an upstream event billing prices from; None for the others."""
    if isinstance(event, ComplaintRouted):
        return ROUTED, {"subject": _value(event.subject), "severity": _value(event.severity)}
    if isinstance(event, quality.OnSiteDeterminationRecorded):
        return DecisionKind.ON_SITE_DETERMINATION, _case(event)
    if _CORRECTED is not None and isinstance(event, _CORRECTED):
        return DecisionKind.ON_SITE_CORRECTION, _case(event)
    if isinstance(event, quality.QualityAdjudicationRecorded):
        fact = _case(event, labour=True) | {
            "adjudication_id": str(event.adjudication_id),
            "salesperson": getattr(event, "salesperson", None),
            "salesperson_negligent": bool(getattr(event, "salesperson_negligent", False)),
            "negligence_degree": _value(getattr(event, "negligence_degree", None)),
            "negligence_finding": getattr(event, "negligence_finding", None),
        }
        return DecisionKind.QUALITY_ADJUDICATION, fact
    if isinstance(event, DisputeRuled) and event.determination is not None:
        return DecisionKind.DISPUTE_RULING, {"determination": _value(event.determination),
                                             "misuse_resolution": _value(event.misuse_resolution)}
    return None


def billing_policy(event: Envelope, uow: UnitOfWork) -> None:
    """Note the fact in the complaint's ledger, priced with the application's price list and rules."""
    found = fact_of(event)
    if found is None:
        return
    kind, fact = found
    meta = EventMeta.from_upstream(event, BILLING)
    ledger = uow.get(event.complaint_id)
    if ledger is None:
        ledger = uow.add(CostLedger.open(meta))
    app = uow.app
    ledger.note(meta, event.event_id, kind, fact, app.prices, app.rules)
