"""What a complaint's ledger should hold, given everything known about the case, and the
compensating entries that take the ledger there. Pure: no I/O, no aggregate.

The case (`CaseFacts`) is what billing has learned: the on-site determination (as corrected), the
quality adjudication, a dispute ruling, the costs actually incurred, the salesperson's penalty rate
and the approved goodwill payments. `targets()` prices the whole case with `pricing.price()` and
gives every cost line exactly one payer; `compensate()` compares that with the open entries of the
ledger and returns only the difference: a line whose payer or amount changed is reversed (an entry
of the negated amount naming it) and booked anew; a line that is the same books nothing.

Which determination is priced: the on-site one until the quality department adjudicates; a dispute
ruling with a determination overrides both. When the on-site determination was "cannot be
determined", the adjudicated (or ruled) determination is priced as that row's quality outcome (the
return to the company stays the company's); otherwise an adjudication or ruling that overturns it is
priced as the determination it reached.

Costs the §5.5 row does not assign (transport recorded in a case fixed on site, parts listed in a
quality-defect case) are the company's (rule `company_bears_uncovered`); costs recorded before any
determination wait with payer `to_be_decided` (rule `awaiting_determination`); other costs incurred
are the company's (`other_cost_company`). A model or part number missing from the price list is not
priced: it is listed in `unpriced` instead of stopping the ledger.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from contracts.billing import CostItem, LedgerItem, Payer
from contracts.quality import Determination, MisuseResolution
from services.billing.domain.money import cny
from services.billing.domain.pricing import (
    PENDING, CostRules, PriceList, Priced, PricingError, default_prices, default_rules, price, salesperson_penalty,
)

ZERO = Decimal("0.00")
TRANSPORT = (LedgerItem.RETURN_TRANSPORT, LedgerItem.DELIVERY_TRANSPORT)

#: Billing's own rules (beside the cost_rules.yaml rows), named on the entries they book.
AWAITING_DETERMINATION = "awaiting_determination"
COMPANY_BEARS_UNCOVERED = "company_bears_uncovered"
OTHER_COST_COMPANY = "other_cost_company"
SALESPERSON_PENALTY = "salesperson_penalty"
GOODWILL_APPROVED = "goodwill_approved"


@dataclass(frozen=True)
class Determined:
    """One determination of the case: on site, adjudicated or ruled."""

    determination: Determination
    misuse_resolution: MisuseResolution | None = None
    within_warranty: bool | None = None
    model: str | None = None
    quantity: int | None = None
    parts: tuple[tuple[str, int], ...] | None = None
    labour_hours: Decimal | None = None


@dataclass(frozen=True)
class Incurred:
    cost_id: str
    item: LedgerItem  # return_transport, delivery_transport or other
    amount: Decimal
    source_document: str | None = None


@dataclass(frozen=True)
class CaseFacts:
    on_site: Determined | None = None
    adjudication: Determined | None = None
    ruling: Determined | None = None
    costs: tuple[Incurred, ...] = ()
    penalty_percent: Decimal | None = None
    compensations: tuple[tuple[str, Decimal], ...] = ()  # approved (compensation id, amount)

    def transit_transport(self) -> Decimal:
        """The transit transport actually incurred (return and delivery), whoever pays it."""
        return sum((c.amount for c in self.costs if c.item in TRANSPORT), ZERO)


@dataclass(frozen=True)
class Line:
    """One line the ledger should hold: (item, key) names it, payer and amount are what it holds."""

    item: LedgerItem
    key: str
    payer: Payer
    amount: Decimal
    rule_id: str
    price_list_version: str | None
    source_document: str | None = None
    basis: str | None = None


@dataclass(frozen=True)
class Target:
    rule_id: str
    rule: str
    rules_version: str
    price_list_version: str
    determination: Determination | None
    lines: tuple[Line, ...]
    unpriced: tuple[str, ...] = ()
    #: Cannot be determined and the quality department has not decided: some payers are to be decided.
    pending: bool = False

    def by_payer(self) -> dict[Payer, Decimal]:
        out: dict[Payer, Decimal] = {}
        for line in self.lines:
            out[line.payer] = out.get(line.payer, ZERO) + line.amount
        return out


@dataclass(frozen=True)
class OpenEntry:
    """A booked entry not reversed: what the ledger holds now."""

    entry_id: str
    item: LedgerItem
    key: str
    payer: Payer
    amount: Decimal
    price_list_version: str | None = None
    source_document: str | None = None


@dataclass(frozen=True)
class Booking:
    """An entry to book: a reversal of `reverses`, or a line booked anew."""

    line: Line
    reverses: str | None = None

    @property
    def amount(self) -> Decimal:
        return cny(-self.line.amount) + ZERO if self.reverses else self.line.amount


# --- which determination is priced ----------------------------------------------------------------

def _misuse_of(*determinations: Determined | None) -> MisuseResolution:
    for d in determinations:
        if d is not None and d.determination is Determination.OBVIOUS_MISUSE and d.misuse_resolution:
            return d.misuse_resolution
    return MisuseResolution.COMPLEX_NEEDS_PARTS  # the product went back: not fixed or swapped on site


def priced_case(facts: CaseFacts) -> tuple[Determination, MisuseResolution | None, Determination | None] | None:
    """(determination, misuse resolution, quality outcome) to price, or None before any determination."""
    base, adjudicated, ruled = facts.on_site, facts.adjudication, facts.ruling
    final = ruled if ruled is not None and ruled.determination is not Determination.CANNOT_BE_DETERMINED \
        else adjudicated
    if base is None and final is None:
        return None
    undetermined = (base is not None and base.determination is Determination.CANNOT_BE_DETERMINED) or (
        ruled is not None and ruled.determination is Determination.CANNOT_BE_DETERMINED)
    if undetermined:
        outcome = final.determination if final is not None else None
        if outcome is Determination.CANNOT_BE_DETERMINED:
            outcome = None
        return Determination.CANNOT_BE_DETERMINED, None, outcome
    decided = final if final is not None else base
    assert decided is not None
    if decided.determination is Determination.OBVIOUS_MISUSE:
        return decided.determination, _misuse_of(decided, adjudicated, base), None
    return decided.determination, None, None


def _detail(facts: CaseFacts, name: str) -> object:
    for source in (facts.adjudication, facts.on_site, facts.ruling):
        value = getattr(source, name, None) if source is not None else None
        if value is not None:
            return value
    return None


# --- the lines the ledger should hold ---------------------------------------------------------------

def _merged(parts: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    out: dict[str, int] = {}
    for part_no, qty in parts:
        out[part_no] = out.get(part_no, 0) + qty
    return list(out.items())


def targets(facts: CaseFacts, prices: PriceList | None = None, rules: CostRules | None = None) -> Target:
    """Every cost of the case as the ledger should hold it, each line with exactly one payer."""
    prices = prices or default_prices()
    rules = rules or default_rules()
    lines: list[Line] = []
    unpriced: list[str] = []
    transport = [c for c in facts.costs if c.item in TRANSPORT]
    case = priced_case(facts)
    rule_id, rule_text, determination, pending = AWAITING_DETERMINATION, "no determination yet", None, True
    if case is None:
        lines += [Line(c.item, c.cost_id, Payer.TO_BE_DECIDED, c.amount, AWAITING_DETERMINATION, prices.version,
                       c.source_document, "as incurred; payer follows the determination") for c in transport]
    else:
        determination, misuse, outcome = case
        pending = determination is Determination.CANNOT_BE_DETERMINED and outcome is None
        within = _detail(facts, "within_warranty")
        within = True if within is None else bool(within)
        model = _detail(facts, "model")
        quantity = _detail(facts, "quantity") or 1
        parts = _merged(_detail(facts, "parts") or ())
        hours = _detail(facts, "labour_hours") or ZERO
        key = (determination, misuse, None if determination is not Determination.CANNOT_BE_DETERMINED
               else (outcome.value if outcome is not None else PENDING))
        row = next(r for r in rules.rows if r.applies(key, within))  # exactly one (checked on load)
        covered = {spec.item for spec in row.lines}
        rule_id, rule_text = row.id, row.rule
        known_parts = [(p, q) for p, q in parts if p in prices.parts]
        unpriced += [f"parts {p}: not in price list {prices.version}" for p, q in parts if p not in prices.parts]
        use_prices = prices
        replaces = CostItem.REPLACEMENT in covered
        if replaces and model not in prices.products:
            unpriced.append(f"replacement {model or '(no model)'}: not in price list {prices.version}")
            use_prices = dataclasses.replace(prices, products={**prices.products, str(model or ""): ZERO})
        priced: Priced = price(
            determination, misuse, within, model=str(model or ""), quantity=quantity,
            parts=known_parts if CostItem.PARTS in covered else (),
            labour_hours=hours if CostItem.REPAIR_LABOUR in covered else 0,
            transport_incurred=[(c.item.value, c.amount, c.source_document or c.cost_id) for c in transport
                                if CostItem(c.item.value) in covered],
            quality_outcome=outcome, prices=use_prices, rules=rules)
        by_kind = {kind: [c for c in transport if c.item is kind] for kind in TRANSPORT}
        part_order = iter(p for p, _ in known_parts)  # price() prices the parts in the order given
        for pl in priced.lines:
            item = LedgerItem(pl.item.value)
            if item in TRANSPORT:
                if not by_kind[item]:
                    continue  # "none incurred yet": nothing to book
                cost = by_kind[item].pop(0)
                lines.append(Line(item, cost.cost_id, pl.payer, pl.amount, pl.rule_id, prices.version,
                                  cost.source_document, pl.basis))
            elif item is LedgerItem.PARTS:
                if not known_parts:
                    continue  # "no parts"
                part_no = next(part_order)
                lines.append(Line(item, part_no, pl.payer, pl.amount, pl.rule_id, prices.version, None, pl.basis))
            elif item is LedgerItem.REPLACEMENT:
                if model not in prices.products:
                    continue
                lines.append(Line(item, str(model), pl.payer, pl.amount, pl.rule_id, prices.version, None, pl.basis))
            else:
                lines.append(Line(item, item.value, pl.payer, pl.amount, pl.rule_id, prices.version, None, pl.basis))
        # what the row does not assign is the company's
        for c in transport:
            if CostItem(c.item.value) not in covered:
                lines.append(Line(c.item, c.cost_id, Payer.COMPANY, c.amount, COMPANY_BEARS_UNCOVERED,
                                  prices.version, c.source_document, f"as incurred; row {row.id} does not assign it"))
        if CostItem.PARTS not in covered:
            for part_no, qty in known_parts:
                amount = cny(prices.parts[part_no] * qty)
                lines.append(Line(LedgerItem.PARTS, part_no, Payer.COMPANY, amount, COMPANY_BEARS_UNCOVERED,
                                  prices.version, None, f"{qty} x {part_no} at cost {prices.parts[part_no]}; "
                                                        f"row {row.id} does not assign it"))
        if CostItem.REPAIR_LABOUR not in covered and hours:
            rate = prices.labour["repair"]
            lines.append(Line(LedgerItem.REPAIR_LABOUR, "repair_labour", Payer.COMPANY, cny(hours * rate),
                              COMPANY_BEARS_UNCOVERED, prices.version, None,
                              f"{hours} h at {rate}/h; row {row.id} does not assign it"))
    for c in facts.costs:
        if c.item is LedgerItem.OTHER:
            lines.append(Line(c.item, c.cost_id, Payer.COMPANY, c.amount, OTHER_COST_COMPANY, None,
                              c.source_document, "as incurred"))
    if facts.penalty_percent is not None:
        transit = facts.transit_transport()
        lines.append(Line(LedgerItem.SALESPERSON_PENALTY, "salesperson_penalty", Payer.SALESPERSON,
                          salesperson_penalty(transit, facts.penalty_percent), SALESPERSON_PENALTY, None, None,
                          f"{facts.penalty_percent} % of transit transport {transit}"))
    for compensation_id, amount in facts.compensations:
        lines.append(Line(LedgerItem.COMPENSATION, compensation_id, Payer.COMPANY, amount, GOODWILL_APPROVED,
                          None, None, "approved goodwill or compensation payment"))
    return Target(rule_id, rule_text, rules.version, prices.version, determination, tuple(lines), tuple(unpriced),
                  pending)


# --- from what the ledger holds to what it should hold ---------------------------------------------

def compensate(open_entries: Sequence[OpenEntry], target: Target) -> list[Booking]:
    """The entries that take the ledger from `open_entries` to `target`: nothing for a line that is
    the same, else a reversal of each open entry of the line and the line booked anew."""
    held: dict[tuple[LedgerItem, str], list[OpenEntry]] = {}
    for entry in open_entries:
        held.setdefault((entry.item, entry.key), []).append(entry)
    wanted: dict[tuple[LedgerItem, str], Line] = {}
    for line in target.lines:
        if (line.item, line.key) in wanted:
            raise PricingError("lines", f"two lines for {line.item} {line.key}")
        wanted[(line.item, line.key)] = line
    out: list[Booking] = []
    for key in [*wanted, *(k for k in held if k not in wanted)]:
        now, want = held.get(key, []), wanted.get(key)
        if want is not None and len(now) == 1 and now[0].payer is want.payer and now[0].amount == want.amount:
            continue
        for entry in now:
            out.append(Booking(Line(entry.item, entry.key, entry.payer, entry.amount,
                                    want.rule_id if want else target.rule_id, entry.price_list_version,
                                    entry.source_document, f"reverses the {entry.payer} entry"),
                               reverses=entry.entry_id))
        if want is not None:
            out.append(Booking(want))
    return out


@dataclass
class Position:
    """The ledger's figures from its entries alone (amount signed; reversals included)."""

    total: Decimal = ZERO
    by_payer: dict[Payer, Decimal] = field(default_factory=dict)
    by_item: dict[LedgerItem, Decimal] = field(default_factory=dict)


def position(entries: Iterable[tuple[LedgerItem, Payer, Decimal]]) -> Position:
    out = Position()
    for item, payer, amount in entries:
        out.total += amount
        out.by_payer[payer] = out.by_payer.get(payer, ZERO) + amount
        out.by_item[item] = out.by_item.get(item, ZERO) + amount
    return out
