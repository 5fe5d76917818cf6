"""Billing's messages: the costs of a complaint in money (§5.5, §5.4.5), booked in a ledger.

Billing keeps one cost ledger per complaint. Every fact that changes what a complaint costs (the
on-site determination or its correction, the quality adjudication, a dispute ruling, a cost actually
incurred, the salesperson penalty, an approved goodwill payment) is a *decision*; billing prices the
whole case again and books only the difference as entries that reference the decision
(`CostEntriesBooked`). Nothing booked is edited or deleted: a changed line is reversed by an entry of
the opposite amount (`reverses` names it) and booked anew. What the customer owes is stated
whenever it changes (`CustomerChargesStated`). `CostAllocated` (v1) is still published once, on the
on-site determination, now with amounts; `CostAllocationRevised` is not published.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import Field, model_validator

from contracts.envelope import (
    COST_LINES_MAX, ComplaintCommand, DecimalText, Envelope, Frozen, Money, NonEmptyStr, Role, Rules,
    ServiceName, ShortStr,
)
from contracts.quality import Determination, MisuseResolution, ResponsibilityDegree, ResponsibleParty
from contracts.routing import AuthorityLevel


class CostItem(StrEnum):
    REPLACEMENT = "replacement"
    RETURN_TRANSPORT = "return_transport"
    DELIVERY_TRANSPORT = "delivery_transport"
    REPAIR_LABOUR = "repair_labour"
    PARTS = "parts"
    ON_SITE_SERVICE = "on_site_service"


class Payer(StrEnum):
    COMPANY = "company"
    CUSTOMER = "customer"
    SALESPERSON = "salesperson"
    TO_BE_DECIDED = "to_be_decided"


class CostLine(Frozen):
    item: CostItem
    payer: Payer
    amount: Money | None = Field(default=None, description="CNY; None until the cost is known")
    note: NonEmptyStr | None = None


class IncurredItem(StrEnum):
    """A cost actually incurred and recorded with its document: transit transport, or another cost."""

    RETURN_TRANSPORT = "return_transport"
    DELIVERY_TRANSPORT = "delivery_transport"
    OTHER = "other"


class LedgerItem(StrEnum):
    """What a ledger entry is for: the §5.5 cost items, other costs incurred, the salesperson's
    penalty (§5.5.3⑶) and goodwill or compensation paid to the customer."""

    REPLACEMENT = "replacement"
    RETURN_TRANSPORT = "return_transport"
    DELIVERY_TRANSPORT = "delivery_transport"
    REPAIR_LABOUR = "repair_labour"
    PARTS = "parts"
    ON_SITE_SERVICE = "on_site_service"
    OTHER = "other"
    SALESPERSON_PENALTY = "salesperson_penalty"
    COMPENSATION = "compensation"


class DecisionKind(StrEnum):
    """The fact a ledger booking follows from."""

    ON_SITE_DETERMINATION = "on_site_determination"        # quality's OnSiteDeterminationRecorded
    ON_SITE_CORRECTION = "on_site_correction"              # quality's OnSiteDeterminationCorrected
    QUALITY_ADJUDICATION = "quality_adjudication"          # quality's QualityAdjudicationRecorded
    DISPUTE_RULING = "dispute_ruling"                      # routing's DisputeRuled with a determination
    COST_INCURRED = "cost_incurred"                        # billing's RecordCost
    SALESPERSON_PENALTY = "salesperson_penalty"            # billing's ChargeSalespersonPenalty
    COMPENSATION_APPROVED = "compensation_approved"        # billing's ApproveCompensation
    LEGACY_ALLOCATION = "legacy_allocation"                # a CostAllocation stored before the ledger


_TRANSPORT_ITEMS = {IncurredItem.RETURN_TRANSPORT, IncurredItem.DELIVERY_TRANSPORT}


def _document_rules(rules: Rules, item: IncurredItem, source_document: str | None) -> Rules:
    return rules.require(
        item not in _TRANSPORT_ITEMS or source_document is not None, "source_document",
        "transport is recorded with its invoice or waybill number",
    )


#: A signed amount of CNY: a reversal is negative. JSON carries it as a string, like Money.
SIGNED_MONEY_PATTERN = r"^-?[0-9]{1,12}(\.[0-9]{1,2})?$"
SignedMoney = Annotated[Decimal, Field(max_digits=14, decimal_places=2), DecimalText(SIGNED_MONEY_PATTERN, 16)]
#: Money of at least one fen.
#: One cost or payment: at least one fen and under 100 million CNY, as text without leading zeros (the
#: bounds in the schema's pattern), so that a ledger's totals always fit Money.
POSITIVE_MONEY_PATTERN = r"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,7}(\.[0-9]{1,2})?)$"
PositiveMoney = Annotated[Decimal, Field(max_digits=10, decimal_places=2, ge=Decimal("0.01")),
                          DecimalText(POSITIVE_MONEY_PATTERN, 11)]
#: Entries one decision may book.
ENTRIES_MAX = 100


class LedgerEntry(Frozen):
    """One entry of a complaint's cost ledger. An entry is never changed: a reversal (`reverses`
    names the entry it cancels, amount its negation) and a new entry replace it."""

    entry_id: UUID
    item: LedgerItem
    key: ShortStr = Field(description="Which line of the item: the model, part number, cost or payment id")
    payer: Payer
    amount: SignedMoney
    reverses: UUID | None = Field(default=None, description="The entry this one cancels")
    rule_id: ShortStr = Field(description="The cost_rules.yaml row (or billing rule) applied")
    rules_version: ShortStr
    price_list_version: ShortStr | None = None
    source_document: ShortStr | None = Field(default=None, description="Invoice or waybill number")
    basis: NonEmptyStr | None = Field(default=None, description="How the amount was reached")
    decision_event_id: UUID = Field(description="The upstream event (or billing command) this books for")
    decision_kind: DecisionKind

    @model_validator(mode="after")
    def _sign(self) -> LedgerEntry:
        Rules(self).require(
            (self.amount <= 0) if self.reverses is not None else (self.amount >= 0), "amount",
            "a reversal is zero or negative, any other entry zero or positive",
        ).check()
        return self


class PayerTotal(Frozen):
    payer: Payer
    amount: SignedMoney


class CostEntriesBooked(Envelope):
    """A decision changed what the complaint costs or who pays it: the compensating entries booked
    for it (only the difference; a decision that changes nothing books nothing and is not published),
    with the ledger's totals after them."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.BILLING
    event_type: Literal["CostEntriesBooked"] = "CostEntriesBooked"
    schema_version: Literal[1] = 1
    decision_event_id: UUID
    decision_kind: DecisionKind
    determination: Determination | None = Field(default=None, description="The determination priced")
    rule_id: ShortStr = Field(description="The cost_rules.yaml row of the case now")
    rules_version: ShortStr
    price_list_version: ShortStr
    entries: list[LedgerEntry] = Field(min_length=1, max_length=ENTRIES_MAX)
    ledger_total: SignedMoney
    by_payer: list[PayerTotal] = Field(max_length=len(Payer))
    currency: Literal["CNY"] = "CNY"


class CustomerChargeLine(Frozen):
    item: LedgerItem
    key: ShortStr
    amount: Money
    source_document: ShortStr | None = None
    basis: NonEmptyStr | None = None


class CustomerChargesStated(Envelope):
    """What the customer owes now (for the reply and the customer's statement): published whenever
    the customer's total changes, and when the case is first priced."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.BILLING
    event_type: Literal["CustomerChargesStated"] = "CustomerChargesStated"
    schema_version: Literal[1] = 1
    amount_owed: Money
    lines: list[CustomerChargeLine] = Field(max_length=ENTRIES_MAX)
    rules_version: ShortStr
    price_list_version: ShortStr
    decision_event_id: UUID
    decision_kind: DecisionKind
    currency: Literal["CNY"] = "CNY"

    @model_validator(mode="after")
    def _sum(self) -> CustomerChargesStated:
        Rules(self).require(
            self.amount_owed == sum((line.amount for line in self.lines), Decimal("0.00")), "amount_owed",
            "is the sum of the lines",
        ).check()
        return self


class CompensationProposed(Envelope):
    """A goodwill or compensation payment to the customer was proposed; booked once approved."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.BILLING
    event_type: Literal["CompensationProposed"] = "CompensationProposed"
    schema_version: Literal[1] = 1
    compensation_id: UUID
    amount: PositiveMoney
    currency: Literal["CNY"] = "CNY"
    reason: NonEmptyStr
    proposed_by: ShortStr


class CompensationApproved(Envelope):
    """A proposed payment was approved within the approver's authority (authority matrix version
    named) and booked to the company."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.BILLING
    event_type: Literal["CompensationApproved"] = "CompensationApproved"
    schema_version: Literal[1] = 1
    compensation_id: UUID
    amount: PositiveMoney
    currency: Literal["CNY"] = "CNY"
    approver: ShortStr
    approver_role: Role
    authority_level: AuthorityLevel
    authority_version: ShortStr
    comments: NonEmptyStr | None = None


class CostAllocated(Envelope):
    """Who pays which cost of a complaint, by the §5.5 rule that applies."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.BILLING
    event_type: Literal["CostAllocated"] = "CostAllocated"
    schema_version: Literal[1] = 1
    determination: Determination
    misuse_resolution: MisuseResolution | None = None
    rule: NonEmptyStr = Field(description="The §5.5 rule applied, in words")
    lines: list[CostLine] = Field(min_length=1, max_length=COST_LINES_MAX)
    currency: Literal["CNY"] = "CNY"


#: §5.5.3⑶: a negligent salesperson bears 30-60 % of the transit transport cost.
PENALTY_PERCENT_MIN = Decimal(30)
PENALTY_PERCENT_MAX = Decimal(60)
#: 30 to 60 with at most two places, as text: the range in the schema, where a fuzzer sees it.
PENALTY_PERCENT_PATTERN = r"^([3-5][0-9](\.[0-9]{1,2})?|60(\.0{1,2})?)$"
PenaltyPercent = Annotated[
    Decimal,
    Field(ge=PENALTY_PERCENT_MIN, le=PENALTY_PERCENT_MAX, max_digits=5, decimal_places=2,
          description="Share of the transit transport cost the salesperson bears, 30-60 % (§5.5.3⑶)"),
    DecimalText(PENALTY_PERCENT_PATTERN, 5),
]
_CENT = Decimal("0.01")


def penalty_amount(transit_transport_cost: Decimal, percent: Decimal) -> Decimal:
    """The penalty in CNY, rounded half-up to the cent."""
    return (transit_transport_cost * percent / 100).quantize(_CENT, rounding=ROUND_HALF_UP)


def _return_transport_rules(rules: Rules, lines: list[CostLine]) -> Rules:
    return rules.require(
        all(line.payer is Payer.COMPANY for line in lines if line.item is CostItem.RETURN_TRANSPORT),
        "lines", "return_transport is always paid by the company (§5.5.3⑵)",
    )


def _penalty_rules(rules: Rules, cost: Decimal, percent: Decimal, amount: Decimal) -> Rules:
    expected = penalty_amount(cost, percent)
    return rules.require(
        amount == expected, "amount",
        f"must be transit_transport_cost x penalty_percent / 100 = {expected}",
    )


class CostRecorded(Envelope):
    """A cost actually incurred (transport, other) was recorded with its invoice or waybill; who pays
    it follows from the case and is booked in the same step (`CostEntriesBooked`)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.BILLING
    event_type: Literal["CostRecorded"] = "CostRecorded"
    schema_version: Literal[1] = 1
    cost_id: UUID
    item: IncurredItem
    amount: Money
    currency: Literal["CNY"] = "CNY"
    incurred_on: date
    description: NonEmptyStr | None = None
    source_document: ShortStr | None = Field(default=None, description="Invoice or waybill number")
    recorded_by: ShortStr

    @model_validator(mode="after")
    def _document(self) -> CostRecorded:
        _document_rules(Rules(self), self.item, self.source_document).check()
        return self


class SalespersonPenaltyCharged(Envelope):
    """A salesperson was charged part of the transit transport cost of a case they could have
    determined on site but sent back (§5.4.6, §5.5.3⑶)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.BILLING
    event_type: Literal["SalespersonPenaltyCharged"] = "SalespersonPenaltyCharged"
    schema_version: Literal[1] = 1
    penalty_id: UUID
    salesperson: ShortStr
    adjudication_id: UUID
    degree: ResponsibilityDegree
    transit_transport_cost: Money
    penalty_percent: PenaltyPercent
    amount: Money
    currency: Literal["CNY"] = "CNY"
    reason: NonEmptyStr
    approved_by: ShortStr | None = Field(default=None, description="Who set the rate")

    @model_validator(mode="after")
    def _amount(self) -> SalespersonPenaltyCharged:
        _penalty_rules(Rules(self), self.transit_transport_cost, self.penalty_percent, self.amount).check()
        return self


class CostAllocationRevised(Envelope):
    """After the quality department's adjudication, who pays what was decided anew (§5.5.3⑴⑵)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.BILLING
    event_type: Literal["CostAllocationRevised"] = "CostAllocationRevised"
    schema_version: Literal[1] = 1
    adjudication_id: UUID
    previous_determination: Determination
    determination: Determination
    misuse_resolution: MisuseResolution | None = None
    responsible_party: ResponsibleParty
    rule: NonEmptyStr = Field(description="The §5.5 rule applied, in words")
    lines: list[CostLine] = Field(min_length=1, max_length=COST_LINES_MAX)
    currency: Literal["CNY"] = "CNY"

    @model_validator(mode="after")
    def _rules(self) -> CostAllocationRevised:
        _return_transport_rules(Rules(self), self.lines).require(
            self.determination is not Determination.CANNOT_BE_DETERMINED, "determination",
            "a revision follows the quality department's decision",
        ).require(
            all(line.payer is not Payer.TO_BE_DECIDED for line in self.lines), "lines",
            "after adjudication every line has a payer",
        ).check()
        return self


class RecordCost(ComplaintCommand):
    """Command: record a cost actually incurred (transport with its invoice or waybill number, or
    another cost) against the complaint. Billing decides who pays it from the case (§5.5)."""

    command_type: Literal["RecordCost"] = "RecordCost"
    schema_version: Literal[1] = 1
    cost_id: UUID
    item: IncurredItem
    amount: Money
    incurred_on: date
    description: NonEmptyStr | None = None
    source_document: ShortStr | None = Field(default=None, description="Invoice or waybill number; required "
                                                                         "for transport")
    recorded_by: ShortStr

    @model_validator(mode="after")
    def _document(self) -> RecordCost:
        _document_rules(Rules(self), self.item, self.source_document).check()
        return self


class ChargeSalespersonPenalty(ComplaintCommand):
    """Command: the approver sets the rate (30-60 %) a negligent salesperson bears of the transit
    transport actually incurred (§5.5.3⑶). The salesperson, the degree and the adjudication are the
    quality department's negligence finding on this complaint."""

    command_type: Literal["ChargeSalespersonPenalty"] = "ChargeSalespersonPenalty"
    schema_version: Literal[1] = 1
    penalty_percent: PenaltyPercent
    reason: NonEmptyStr | None = None
    approved_by: ShortStr


class ProposeCompensation(ComplaintCommand):
    """Command: propose a goodwill or compensation payment to the customer; it is booked once approved."""

    command_type: Literal["ProposeCompensation"] = "ProposeCompensation"
    schema_version: Literal[1] = 1
    compensation_id: UUID
    amount: PositiveMoney
    reason: NonEmptyStr
    proposed_by: ShortStr


class ApproveCompensation(ComplaintCommand):
    """Command: approve a proposed payment within the approver's authority (the authority matrix)."""

    command_type: Literal["ApproveCompensation"] = "ApproveCompensation"
    schema_version: Literal[1] = 1
    compensation_id: UUID
    approver: ShortStr
    approver_role: Role
    comments: NonEmptyStr | None = None
