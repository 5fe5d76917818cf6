"""Cost allocation by the fixed rules of §5.5: billing's messages."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import Field, model_validator

from contracts.envelope import (
    COST_LINES_MAX, ComplaintCommand, DecimalText, Envelope, Frozen, Money, NonEmptyStr, Rules, ServiceName,
    ShortStr,
)
from contracts.quality import Determination, MisuseResolution, ResponsibilityDegree, ResponsibleParty


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
PenaltyPercent = Annotated[
    Decimal,
    Field(ge=PENALTY_PERCENT_MIN, le=PENALTY_PERCENT_MAX, max_digits=5, decimal_places=2,
          description="Share of the transit transport cost the salesperson bears, 30-60 % (§5.5.3⑶)"),
    DecimalText(r"^[0-9]{1,3}(\.[0-9]{1,2})?$", 6),
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
    """A cost of the complaint was booked in the cost ledger."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.BILLING
    event_type: Literal["CostRecorded"] = "CostRecorded"
    schema_version: Literal[1] = 1
    ledger_entry_id: UUID
    item: CostItem
    payer: Payer
    amount: Money
    currency: Literal["CNY"] = "CNY"
    incurred_on: date
    description: NonEmptyStr
    source_document: ShortStr | None = Field(default=None, description="Invoice, waybill or receipt number")


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
    """Command: book a cost (an invoice, a waybill) against the complaint."""

    command_type: Literal["RecordCost"] = "RecordCost"
    schema_version: Literal[1] = 1
    ledger_entry_id: UUID
    item: CostItem
    payer: Payer
    amount: Money
    incurred_on: date
    description: NonEmptyStr
    source_document: ShortStr | None = None


class ChargeSalespersonPenalty(ComplaintCommand):
    """Command: charge a negligent salesperson 30-60 % of the transit transport cost (§5.5.3⑶)."""

    command_type: Literal["ChargeSalespersonPenalty"] = "ChargeSalespersonPenalty"
    schema_version: Literal[1] = 1
    penalty_id: UUID
    adjudication_id: UUID
    salesperson: ShortStr
    degree: ResponsibilityDegree
    transit_transport_cost: Money
    penalty_percent: PenaltyPercent
    reason: NonEmptyStr
