"""Billing's application: the cost ledger of each complaint, its commands and its reading."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from contracts.billing import (
    ApproveCompensation, ChargeSalespersonPenalty, CostLine, CustomerChargeLine, LedgerEntry, LedgerItem, Payer,
    PayerTotal, ProposeCompensation, RecordCost,
)
from contracts.envelope import ComplaintCommand, ServiceName, branch_of
from services.billing.domain.costing import TRANSPORT, ZERO, position
from services.billing.domain.ledger import CostLedger
from services.billing.domain.pricing import CostRules, PriceList, default_prices, default_rules
from services.common.authority import AuthorityMatrix, level_of, load_authority
from services.common.domain import EventMeta, NotFound
from services.common.store import ServiceApplication


def command_fingerprint(command: ComplaintCommand) -> str:
    """What a command asks, apart from when it was sent: the same id must ask the same again."""
    asked = command.model_dump(mode="json", exclude={"command_id", "issued_at", "correlation_id"})
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Done:
    """A command's result: the ledger after it (a repeated command id: the ledger now, nothing written)."""

    ledger: CostLedger
    created: bool
    amount: Decimal | None = None


class BillingApplication(ServiceApplication):
    SERVICE = ServiceName.BILLING
    VALUE_TYPES = (EventMeta, CostLine, LedgerEntry, PayerTotal, CustomerChargeLine)

    def __init__(self, *args: Any, prices: PriceList | None = None, rules: CostRules | None = None,
                 authority: AuthorityMatrix | None = None, region_of: Callable[[str], str | None] | None = None,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.prices = prices or default_prices()
        self.rules = rules or default_rules()
        self.authority = authority or load_authority()
        if region_of is None:
            from services.common.access import rules as access_rules
            region_of = access_rules().region_of
        self.region_of = region_of

    @staticmethod
    def missing(complaint_id: UUID) -> NotFound:
        return NotFound(f"billing has no ledger for complaint {complaint_id}: it has not been routed or determined")

    def ledger(self, complaint_id: UUID, in_scope: Callable[[str], bool] = lambda branch: True) -> CostLedger:
        """The complaint's ledger; one outside the caller's scope is not found, like a missing one."""
        try:
            ledger = self.repository.get(complaint_id)
        except AggregateNotFoundError:
            raise self.missing(complaint_id) from None
        if not isinstance(ledger, CostLedger) or not in_scope(branch_of(ledger.meta.form_number)):
            raise self.missing(complaint_id)
        return ledger

    def _run(self, command: ComplaintCommand, in_scope: Callable[[str], bool],
             step: Callable[[CostLedger, EventMeta, str], Decimal | None]) -> Done:
        ledger = self.ledger(command.complaint_id, in_scope)
        fingerprint = command_fingerprint(command)
        if ledger.repeated_with(command.command_id, fingerprint):
            result = ledger.results.get(str(command.command_id))
            return Done(ledger, created=False, amount=Decimal(result) if result is not None else None)
        meta = ledger.meta.caused_by(command.command_id, command.actor)
        amount = step(ledger, meta, fingerprint)
        self.save(ledger)
        return Done(ledger, created=True, amount=amount)

    def record_cost(self, command: RecordCost, in_scope: Callable[[str], bool] = lambda b: True) -> Done:
        return self._run(command, in_scope, lambda ledger, meta, fp: ledger.record_cost(
            meta, command.command_id, fp, command.cost_id, LedgerItem(command.item.value), command.amount,
            command.incurred_on, command.description, command.source_document, command.recorded_by,
            self.prices, self.rules))

    def charge_penalty(self, command: ChargeSalespersonPenalty, in_scope: Callable[[str], bool] = lambda b: True) -> Done:
        return self._run(command, in_scope, lambda ledger, meta, fp: ledger.charge_penalty(
            meta, command.command_id, fp, command.penalty_percent, command.reason, command.approved_by,
            self.prices, self.rules))

    def propose_compensation(self, command: ProposeCompensation,
                             in_scope: Callable[[str], bool] = lambda b: True) -> Done:
        return self._run(command, in_scope, lambda ledger, meta, fp: ledger.propose_compensation(
            meta, command.command_id, fp, command.compensation_id, command.amount, command.reason,
            command.proposed_by))

    def approve_compensation(self, command: ApproveCompensation,
                             in_scope: Callable[[str], bool] = lambda b: True) -> Done:
        def step(ledger: CostLedger, meta: EventMeta, fp: str) -> Decimal:
            return ledger.approve_compensation(
                meta, command.command_id, fp, command.compensation_id, command.approver, command.approver_role,
                command.comments, self.authority, level_of(command.approver_role),
                self.region_of(branch_of(ledger.meta.form_number)), self.prices, self.rules)
        return self._run(command, in_scope, step)


def ledger_view(ledger: CostLedger) -> dict[str, Any]:
    """The ledger for a reader: entries, totals by payer and by item, transport on its own, what
    the customer owes, the versions priced by, and the open proposals."""
    figures = position((e.item, e.payer, e.amount) for e in ledger.entries)
    open_entries = ledger.open_entries()
    transport = [o for o in open_entries if o.item in TRANSPORT]
    customer = ledger.customer_lines()
    return {
        "complaint_id": ledger.id,
        "form_number": ledger.meta.form_number,
        "currency": "CNY",
        "entries": ledger.entries,
        "total": figures.total,
        "by_payer": {p.value: figures.by_payer.get(p, ZERO) for p in Payer if p in figures.by_payer},
        "by_item": {i.value: figures.by_item.get(i, ZERO) for i in LedgerItem if i in figures.by_item},
        "transport": {
            "total": sum((o.amount for o in transport), ZERO),
            "lines": [{"item": o.item, "key": o.key, "payer": o.payer, "amount": o.amount} for o in transport],
        },
        "customer_owes": sum((line.amount for line in customer), ZERO),
        "customer_lines": customer,
        "pending": sum((o.amount for o in open_entries if o.payer is Payer.TO_BE_DECIDED), ZERO),
        "rule_id": ledger.rule_id,
        "rules_version": ledger.rules_version,
        "price_list_version": ledger.price_list_version,
        "unpriced": ledger.unpriced,
        "penalty": ledger.penalty,
        "compensations": [{"compensation_id": k, **v} for k, v in ledger.compensations.items()],
        "version": ledger.version,
    }
