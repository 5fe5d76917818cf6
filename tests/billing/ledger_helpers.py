"""Driving one cost ledger directly (pure: no store), from real upstream events."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from contracts.billing import LedgerItem, Payer
from contracts.envelope import Actor, Envelope, Role, ServiceName
from services.billing.domain.costing import ZERO
from services.billing.domain.ledger import CostLedger
from services.billing.domain.pricing import CostRules, PriceList, default_prices, default_rules
from services.billing.policies import fact_of
from services.common.domain import EventMeta

D = Decimal
HQ = Actor(user_id="hq-clerk-zhou", role=Role.HQ_CLERK)


def new_ledger(complaint_id: UUID | None = None, form_number: str = "SH01-20261125-0001") -> CostLedger:
    meta = EventMeta(complaint_id=complaint_id or uuid4(), form_number=form_number, correlation_id=uuid4(),
                     actor=Actor.system(ServiceName.BILLING))
    return CostLedger.open(meta)


def feed(ledger: CostLedger, event: Envelope, prices: PriceList | None = None, rules: CostRules | None = None) -> bool:
    found = fact_of(event)
    assert found is not None, f"billing does not price from {event.event_type}"
    kind, fact = found
    return ledger.note(EventMeta.from_upstream(event, Actor.system(ServiceName.BILLING)), event.event_id, kind, fact,
                       prices or default_prices(), rules or default_rules())


def cost(ledger: CostLedger, item: str, amount: str, document: str | None = None,
         prices: PriceList | None = None, command_id: UUID | None = None) -> UUID:
    command_id = command_id or uuid4()
    ledger.record_cost(ledger.meta.caused_by(command_id, HQ), command_id, f"fp-{command_id}", uuid4(),
                       LedgerItem(item), D(amount), date(2026, 11, 26), None, document, HQ.user_id,
                       prices or default_prices(), default_rules())
    return command_id


def penalty(ledger: CostLedger, percent: str, command_id: UUID | None = None) -> Decimal:
    command_id = command_id or uuid4()
    return ledger.charge_penalty(ledger.meta.caused_by(command_id, HQ), command_id, f"fp-{command_id}", D(percent),
                                 None, "md-chen", default_prices(), default_rules())


def holdings(ledger: CostLedger) -> dict[tuple[str, str], tuple[Payer, Decimal]]:
    """What the ledger holds now: (item, source document or key) -> (payer, amount)."""
    by_id = {str(e.entry_id): e for e in ledger.entries}
    out: dict[tuple[str, str], tuple[Payer, Decimal]] = {}
    for entry in ledger.open_entries():
        label = by_id[entry.entry_id].source_document or entry.key
        assert (entry.item.value, label) not in out, f"two open entries for {entry.item} {label}"
        out[(entry.item.value, label)] = (entry.payer, entry.amount)
    return out


def pending_names(ledger: CostLedger) -> list[str]:
    return [type(e).__name__ for e in ledger.pending_events]


def by_payer(ledger: CostLedger) -> dict[Payer, Decimal]:
    out: dict[Payer, Decimal] = {}
    for entry in ledger.entries:
        out[entry.payer] = out.get(entry.payer, ZERO) + entry.amount
    return {p: a for p, a in out.items() if a or any(o.payer is p for o in ledger.open_entries())}


def published_payloads(ledger: CostLedger, name: str) -> list[Any]:
    return [e for e in ledger.pending_events if type(e).__name__ == name]
