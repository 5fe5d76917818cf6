"""The cost ledger of one complaint (§5.5): every cost in money with exactly one payer, booked by
decision, never edited.

Each fact billing learns (upstream: the on-site determination, its correction, the quality
adjudication, a dispute ruling with a determination, the complaint's routing; its own commands: a
cost incurred, the salesperson's penalty rate, a goodwill payment proposed and approved) is noted
once (by its event or command id), then the whole case is priced again (`costing.targets`) and only
the difference is booked as entries referencing that decision (`costing.compensate`). A decision
that changes nothing books nothing. The ledger's total is the sum of its entries; the customer is
told what they owe whenever that changes.

Amounts a payer cannot be named for yet (cannot be determined, quality not decided yet) are booked
to `to_be_decided`, and moved to the party found responsible by a reversal and a new entry when the
decision comes.

Stores written before the ledger hold `CostAllocation.Allocated` (no amounts): it is read as this
aggregate's creation (`LegacyAllocated`), keeping the determination it names, so the next fact prices
the case in full.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.utils import register_topic

from contracts.billing import (
    CompensationApproved, CompensationProposed, CostAllocated, CostEntriesBooked, CostItem, CostLine,
    ENTRIES_MAX, CostRecorded, CustomerChargeLine, CustomerChargesStated, DecisionKind, LedgerEntry, LedgerItem, Payer,
    PayerTotal, SalespersonPenaltyCharged,
)
from contracts.envelope import COMPLAINTS_NAMESPACE
from contracts.quality import Determination, MisuseResolution
from services.billing.domain.costing import (
    ZERO, CaseFacts, Determined, Incurred, OpenEntry, Target, compensate, position, targets,
)
from services.billing.domain.money import cny
from services.billing.domain.pricing import CostRules, PenaltyRateError, PriceList, salesperson_penalty
from services.common.domain import ComplaintAggregate, DomainError, EventMeta, InvalidCommand, NotFound

#: The kind noted for routing's ComplaintRouted (not a decision: it books nothing).
ROUTED = "complaint_routed"


def _determined(fact: dict[str, Any] | None) -> Determined | None:
    if not fact or not fact.get("determination"):
        return None
    hours = fact.get("labour_hours")
    return Determined(
        determination=Determination(fact["determination"]),
        misuse_resolution=MisuseResolution(fact["misuse_resolution"]) if fact.get("misuse_resolution") else None,
        within_warranty=fact.get("within_warranty"),
        model=fact.get("model"),
        quantity=fact.get("quantity"),
        parts=tuple((str(p), int(q)) for p, q in fact["parts"]) if fact.get("parts") is not None else None,
        labour_hours=Decimal(hours) if hours is not None else None,
    )


class CostLedger(ComplaintAggregate):
    def __init__(self, meta: EventMeta):
        self.meta = meta
        self.on_site: dict[str, Any] | None = None
        self.adjudication: dict[str, Any] | None = None
        self.ruling: dict[str, Any] | None = None
        self.routing: dict[str, Any] | None = None
        self.costs: list[dict[str, Any]] = []
        self.penalty: dict[str, Any] | None = None
        self.compensations: dict[str, dict[str, Any]] = {}
        self.entries: list[LedgerEntry] = []
        self.decisions: set[str] = set()
        self.fingerprints: dict[str, str] = {}
        #: command id -> the amount it charged or approved (a repeated command answers it again)
        self.results: dict[str, str] = {}
        self.allocated = False
        self.customer_stated: Decimal | None = None
        self.rule_id: str | None = None
        self.rules_version: str | None = None
        self.price_list_version: str | None = None
        self.unpriced: list[str] = []

    # --- events ------------------------------------------------------------------------------

    class Opened(ComplaintAggregate.Created):
        meta: EventMeta

    class LegacyAllocated(ComplaintAggregate.Created):
        """A cost allocation stored before the ledger existed (determination and payers, no amounts)."""

        PUBLISHED_AS = CostAllocated
        meta: EventMeta
        determination: str
        misuse_resolution: str | None
        rule: str
        lines: list[CostLine]

        def apply(self, ledger: CostLedger) -> None:
            # Outside the warranty the old rules left undetermined labour to be decided.
            within = not any(line.item == CostItem.REPAIR_LABOUR and line.payer == Payer.TO_BE_DECIDED
                             for line in self.lines)
            ledger.on_site = {"determination": self.determination, "misuse_resolution": self.misuse_resolution,
                              "within_warranty": within}
            ledger.allocated = True
            ledger.decisions.add(str(self.meta.causation_id))

    class FactNoted(ComplaintAggregate.Event):
        """An upstream fact about the case (internal): what billing prices from."""

        meta: EventMeta
        decision_id: str
        kind: str
        fact: dict[str, Any]

        def apply(self, ledger: CostLedger) -> None:
            ledger.decisions.add(self.decision_id)
            fact = dict(self.fact)
            if self.kind in (DecisionKind.ON_SITE_DETERMINATION, DecisionKind.ON_SITE_CORRECTION):
                ledger.on_site = fact
            elif self.kind == DecisionKind.QUALITY_ADJUDICATION:
                ledger.adjudication = fact
            elif self.kind == DecisionKind.DISPUTE_RULING:
                ledger.ruling = fact
            elif self.kind == ROUTED:
                ledger.routing = fact

    class Allocated(ComplaintAggregate.Event):
        """Who pays which cost by the §5.5 row, with amounts so far: published once, on the on-site
        determination (the reader of `CostAllocated` v1 learns the decision)."""

        PUBLISHED_AS = CostAllocated
        meta: EventMeta
        determination: str
        misuse_resolution: str | None
        rule: str
        lines: list[CostLine]

        def apply(self, ledger: CostLedger) -> None:
            ledger.allocated = True

    class CostIncurred(ComplaintAggregate.Event):
        PUBLISHED_AS = CostRecorded
        meta: EventMeta
        command_id: UUID
        fingerprint: str
        cost_id: UUID
        item: str
        amount: Decimal
        incurred_on: Any
        description: str | None
        source_document: str | None
        recorded_by: str

        def apply(self, ledger: CostLedger) -> None:
            ledger.fingerprints = {**ledger.fingerprints, str(self.command_id): self.fingerprint}
            ledger.decisions.add(str(self.command_id))
            ledger.costs = [*ledger.costs, {"cost_id": str(self.cost_id), "item": str(self.item),
                                            "amount": str(self.amount), "source_document": self.source_document,
                                            "incurred_on": str(self.incurred_on),
                                            "description": self.description}]

    class PenaltyCharged(ComplaintAggregate.Event):
        PUBLISHED_AS = SalespersonPenaltyCharged
        meta: EventMeta
        command_id: UUID
        fingerprint: str
        penalty_id: UUID
        salesperson: str
        adjudication_id: UUID
        degree: str
        transit_transport_cost: Decimal
        penalty_percent: Decimal
        amount: Decimal
        reason: str
        approved_by: str

        def apply(self, ledger: CostLedger) -> None:
            ledger.fingerprints = {**ledger.fingerprints, str(self.command_id): self.fingerprint}
            ledger.decisions.add(str(self.command_id))
            ledger.results = {**ledger.results, str(self.command_id): str(self.amount)}
            ledger.penalty = {"penalty_id": str(self.penalty_id), "percent": str(self.penalty_percent),
                              "salesperson": self.salesperson, "approved_by": self.approved_by}

    class PaymentProposed(ComplaintAggregate.Event):
        PUBLISHED_AS = CompensationProposed
        meta: EventMeta
        command_id: UUID
        fingerprint: str
        compensation_id: UUID
        amount: Decimal
        reason: str
        proposed_by: str

        def apply(self, ledger: CostLedger) -> None:
            ledger.fingerprints = {**ledger.fingerprints, str(self.command_id): self.fingerprint}
            ledger.results = {**ledger.results, str(self.command_id): str(self.amount)}
            ledger.compensations = {**ledger.compensations, str(self.compensation_id): {
                "amount": str(self.amount), "reason": self.reason, "proposed_by": self.proposed_by,
                "approved_by": None}}

    class PaymentApproved(ComplaintAggregate.Event):
        PUBLISHED_AS = CompensationApproved
        meta: EventMeta
        command_id: UUID
        fingerprint: str
        compensation_id: UUID
        amount: Decimal
        approver: str
        approver_role: str
        authority_level: str
        authority_version: str
        comments: str | None

        def apply(self, ledger: CostLedger) -> None:
            ledger.fingerprints = {**ledger.fingerprints, str(self.command_id): self.fingerprint}
            ledger.decisions.add(str(self.command_id))
            ledger.results = {**ledger.results, str(self.command_id): str(self.amount)}
            key = str(self.compensation_id)
            ledger.compensations = {**ledger.compensations,
                                    key: {**ledger.compensations[key], "approved_by": self.approver}}

    class EntriesBooked(ComplaintAggregate.Event):
        PUBLISHED_AS = CostEntriesBooked
        meta: EventMeta
        decision_event_id: UUID
        decision_kind: str
        determination: str | None
        rule_id: str
        rules_version: str
        price_list_version: str
        entries: list[LedgerEntry]
        ledger_total: Decimal
        by_payer: list[PayerTotal]
        unpriced: list[str]

        def apply(self, ledger: CostLedger) -> None:
            ledger.entries = [*ledger.entries, *self.entries]

    class Priced(ComplaintAggregate.Event):
        """The rule and versions the case is priced by now (internal), when they changed without
        any entry changing."""

        meta: EventMeta
        rule_id: str
        rules_version: str
        price_list_version: str
        unpriced: list[str]

        def apply(self, ledger: CostLedger) -> None:
            ledger.rule_id, ledger.rules_version = self.rule_id, self.rules_version
            ledger.price_list_version, ledger.unpriced = self.price_list_version, list(self.unpriced)

    class ChargesStated(ComplaintAggregate.Event):
        PUBLISHED_AS = CustomerChargesStated
        meta: EventMeta
        amount_owed: Decimal
        lines: list[CustomerChargeLine]
        rules_version: str
        price_list_version: str
        decision_event_id: UUID
        decision_kind: str

        def apply(self, ledger: CostLedger) -> None:
            ledger.customer_stated = self.amount_owed

    @classmethod
    def open(cls, meta: EventMeta) -> CostLedger:
        return cls._create(cls.Opened, meta=meta)

    # --- reading -----------------------------------------------------------------------------

    def facts(self) -> CaseFacts:
        costs = tuple(Incurred(c["cost_id"], LedgerItem(c["item"]), Decimal(c["amount"]), c.get("source_document"))
                      for c in self.costs)
        approved = tuple((key, Decimal(c["amount"])) for key, c in self.compensations.items() if c["approved_by"])
        return CaseFacts(on_site=_determined(self.on_site), adjudication=_determined(self.adjudication),
                         ruling=_determined(self.ruling), costs=costs,
                         penalty_percent=Decimal(self.penalty["percent"]) if self.penalty else None,
                         compensations=approved)

    def open_entries(self) -> list[OpenEntry]:
        reversed_ids = {str(e.reverses) for e in self.entries if e.reverses is not None}
        return [OpenEntry(str(e.entry_id), e.item, e.key, e.payer, e.amount, e.price_list_version, e.source_document)
                for e in self.entries
                if e.reverses is None and str(e.entry_id) not in reversed_ids]

    @property
    def total(self) -> Decimal:
        return sum((e.amount for e in self.entries), ZERO)

    def customer_lines(self) -> list[CustomerChargeLine]:
        by_id = {str(e.entry_id): e for e in self.entries}
        return [CustomerChargeLine(item=o.item, key=o.key, amount=o.amount,
                                   source_document=by_id[o.entry_id].source_document,
                                   basis=by_id[o.entry_id].basis)
                for o in self.open_entries() if o.payer is Payer.CUSTOMER]

    def transit_transport(self) -> Decimal:
        return self.facts().transit_transport()

    @property
    def negligence(self) -> dict[str, Any] | None:
        """The quality department's negligence finding on this complaint, if any (§5.4.6)."""
        adjudication = self.adjudication or {}
        return adjudication if adjudication.get("salesperson_negligent") else None

    # --- commands ----------------------------------------------------------------------------

    def repeated_with(self, command_id: UUID, fingerprint: str) -> bool:
        """True: the command was carried out before (a repeat). Another command under the same id
        is refused (409, `command_id`)."""
        known = self.fingerprints.get(str(command_id))
        if known is None:
            return False
        if known != fingerprint:
            raise DomainError(f"command_id {command_id} was already used for another command or other fields",
                              field="command_id")
        return True

    def note(self, meta: EventMeta, decision_id: UUID, kind: str, fact: dict[str, Any],
             prices: PriceList, rules: CostRules) -> bool:
        """Note an upstream fact once (by its event id) and book what it changes; False: known already."""
        if str(decision_id) in self.decisions:
            return False
        self.trigger_event(self.FactNoted, meta=meta, decision_id=str(decision_id), kind=str(kind), fact=fact)
        if kind != ROUTED:
            self._book(meta, decision_id, DecisionKind(kind), prices, rules)
        return True

    def record_cost(self, meta: EventMeta, command_id: UUID, fingerprint: str, cost_id: UUID, item: LedgerItem,
                    amount: Decimal, incurred_on: Any, description: str | None, source_document: str | None,
                    recorded_by: str, prices: PriceList, rules: CostRules) -> None:
        if any(c["cost_id"] == str(cost_id) for c in self.costs):
            raise DomainError(f"cost {cost_id} is recorded already", field="cost_id")
        if item in (LedgerItem.RETURN_TRANSPORT, LedgerItem.DELIVERY_TRANSPORT) and not source_document:
            raise InvalidCommand("transport is recorded with its invoice or waybill number", field="source_document")
        self.trigger_event(self.CostIncurred, meta=meta, command_id=command_id, fingerprint=fingerprint, cost_id=cost_id,
                            item=str(item), amount=cny(amount), incurred_on=incurred_on, description=description,
                            source_document=source_document, recorded_by=recorded_by)
        self._book(meta, command_id, DecisionKind.COST_INCURRED, prices, rules)

    def charge_penalty(self, meta: EventMeta, command_id: UUID, fingerprint: str, penalty_percent: Decimal,
                       reason: str | None, approved_by: str, prices: PriceList, rules: CostRules) -> Decimal:
        """§5.5.3⑶: the salesperson bears `penalty_percent` (30-60 %) of the transit transport
        incurred; refused (nothing written) outside the range or without a negligence finding."""
        transit = self.transit_transport()
        try:
            amount = salesperson_penalty(transit, penalty_percent)
        except PenaltyRateError as e:
            raise InvalidCommand(str(e), field="penalty_percent") from None
        finding = self.negligence
        if finding is None:
            raise DomainError("no negligence finding: the quality department has not found that the salesperson "
                              "could have determined this case on site (§5.4.6)", field="penalty_percent")
        self.trigger_event(self.PenaltyCharged, 
            meta=meta, command_id=command_id, fingerprint=fingerprint,
            penalty_id=uuid5(COMPLAINTS_NAMESPACE, f"penalty/{command_id}"),
            salesperson=finding.get("salesperson") or "unnamed salesperson",
            adjudication_id=UUID(finding["adjudication_id"]), degree=finding.get("negligence_degree") or "medium",
            transit_transport_cost=transit, penalty_percent=Decimal(penalty_percent), amount=amount,
            reason=reason or finding.get("negligence_finding") or "Determinable on site but sent back (§5.4.6)",
            approved_by=approved_by)
        self._book(meta, command_id, DecisionKind.SALESPERSON_PENALTY, prices, rules)
        return amount

    def propose_compensation(self, meta: EventMeta, command_id: UUID, fingerprint: str, compensation_id: UUID,
                             amount: Decimal, reason: str, proposed_by: str) -> None:
        if str(compensation_id) in self.compensations:
            raise DomainError(f"compensation {compensation_id} is proposed already", field="compensation_id")
        self.trigger_event(self.PaymentProposed, meta=meta, command_id=command_id, fingerprint=fingerprint,
                               compensation_id=compensation_id, amount=cny(amount), reason=reason,
                               proposed_by=proposed_by)

    def approve_compensation(self, meta: EventMeta, command_id: UUID, fingerprint: str, compensation_id: UUID,
                             approver: str, approver_role: str, comments: str | None, authority: Any,
                             level: Any, region: str | None, prices: PriceList, rules: CostRules) -> Decimal:
        """Approve a proposed payment within the approver's authority (`authority.check` raises
        BeyondAuthority, 403, naming the limit); then it is booked to the company."""
        proposal = self.compensations.get(str(compensation_id))
        if proposal is None:
            raise NotFound(f"no compensation {compensation_id} is proposed for this complaint")
        if proposal["approved_by"]:
            raise DomainError(f"compensation {compensation_id} is approved already", field="compensation_id")
        if self.routing is None:
            raise DomainError("billing has not learned the complaint's subject and severity from routing yet; "
                              "try again shortly", field="compensation_id")
        amount = Decimal(proposal["amount"])
        if level is None:
            raise DomainError(f"{approver_role} approves no payment", field="approver_role")
        authority.check(approver_role, level, self.routing["subject"], self.routing["severity"], region,
                        compensation=amount, company_cost=None)
        self.trigger_event(self.PaymentApproved, meta=meta, command_id=command_id, fingerprint=fingerprint,
                               compensation_id=compensation_id, amount=amount, approver=approver,
                               approver_role=str(approver_role), authority_level=str(getattr(level, "value", level)),
                               authority_version=authority.version, comments=comments)
        self._book(meta, command_id, DecisionKind.COMPENSATION_APPROVED, prices, rules)
        return amount

    # --- booking -----------------------------------------------------------------------------

    def _book(self, meta: EventMeta, decision_id: UUID, kind: DecisionKind, prices: PriceList,
              rules: CostRules) -> None:
        target = targets(self.facts(), prices, rules)
        if kind in (DecisionKind.ON_SITE_DETERMINATION, DecisionKind.ON_SITE_CORRECTION) and not self.allocated:
            self._allocate(meta, target, rules)
        bookings = compensate(self.open_entries(), target)
        if bookings:
            entries = []
            for n, booking in enumerate(bookings, start=len(self.entries)):
                line = booking.line
                entries.append(LedgerEntry(
                    entry_id=uuid5(COMPLAINTS_NAMESPACE, f"billing:{self.id}:entry:{n}"), item=line.item,
                    key=line.key, payer=line.payer, amount=booking.amount,
                    reverses=UUID(booking.reverses) if booking.reverses else None, rule_id=line.rule_id,
                    rules_version=target.rules_version, price_list_version=line.price_list_version,
                    source_document=line.source_document, basis=line.basis, decision_event_id=decision_id,
                    decision_kind=kind))
            for start in range(0, len(entries), ENTRIES_MAX):  # a message holds at most ENTRIES_MAX
                chunk = entries[start:start + ENTRIES_MAX]
                after = position((e.item, e.payer, e.amount) for e in [*self.entries, *chunk])
                self.trigger_event(
                    self.EntriesBooked, meta=meta, decision_event_id=decision_id, decision_kind=str(kind),
                    determination=target.determination and str(target.determination), rule_id=target.rule_id,
                    rules_version=target.rules_version, price_list_version=target.price_list_version,
                    entries=chunk, ledger_total=after.total,
                    by_payer=[PayerTotal(payer=p, amount=a) for p, a in sorted(after.by_payer.items())],
                    unpriced=list(target.unpriced))
        if (target.rule_id, target.rules_version, target.price_list_version, list(target.unpriced)) != (
                self.rule_id, self.rules_version, self.price_list_version, self.unpriced):
            self.trigger_event(self.Priced, meta=meta, rule_id=target.rule_id, rules_version=target.rules_version,
                         price_list_version=target.price_list_version, unpriced=list(target.unpriced))
        if target.pending:
            return  # the customer is told once the case is decided
        lines = self.customer_lines()
        owed = sum((line.amount for line in lines), ZERO)
        if owed != self.customer_stated:
            self.trigger_event(self.ChargesStated, meta=meta, amount_owed=owed, lines=lines, rules_version=target.rules_version,
                                 price_list_version=target.price_list_version, decision_event_id=decision_id,
                                 decision_kind=str(kind))

    def _allocate(self, meta: EventMeta, target: Target, rules: CostRules) -> None:
        row = next((r for r in rules.rows if r.id == target.rule_id), None)
        if row is None or target.determination is None:
            return
        on_site = self.on_site or {}
        lines = []
        for spec in row.lines:
            amounts = [line.amount for line in target.lines if line.item.value == spec.item.value
                       and line.rule_id == row.id]
            lines.append(CostLine(item=spec.item, payer=spec.payer,
                                  amount=sum(amounts, ZERO) if amounts else None,
                                  note=spec.pricing.replace("_", " ")))
        self.trigger_event(self.Allocated, meta=meta, determination=on_site.get("determination") or str(target.determination),
                        misuse_resolution=on_site.get("misuse_resolution"), rule=row.rule, lines=lines)


# Stores written before the ledger name the old aggregate and its one event by these topics.
register_topic("services.billing.domain.allocation:CostAllocation", CostLedger)
register_topic("services.billing.domain.allocation:CostAllocation.Allocated", CostLedger.LegacyAllocated)
