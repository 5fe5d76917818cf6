"""Billing's HTTP edge: costs actually incurred, the salesperson's penalty, goodwill payments and
their approval, and the complaint's cost ledger.

Every command is idempotent by `command_id`: a repeat returns the first result and writes nothing;
the same id for another command is a 409 naming `command_id`. A refused command writes nothing.
"""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4, uuid5

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.billing import (
    ApproveCompensation, ChargeSalespersonPenalty, CustomerChargeLine, IncurredItem, LedgerEntry, LedgerItem,
    Payer, PenaltyPercent, PositiveMoney, ProposeCompensation, RecordCost,
)
from contracts.envelope import COMPLAINTS_NAMESPACE, Frozen, NonEmptyStr, Role, Rules, ShortStr
from services.billing.application import Done, ledger_view
from services.common.access import authorize, rules
from services.common.auth import CurrentPrincipal, Principal
from services.common.http import error_responses, runtime_of

router = APIRouter(tags=["billing"])

RECORD_COST = "billing.cost.record"
SET_PENALTY = "billing.penalty.set"
PROPOSE = "billing.compensation.propose"
APPROVE = "billing.compensation.approve"
READ = "billing.ledger.read"

_TRANSPORT = [IncurredItem.RETURN_TRANSPORT.value, IncurredItem.DELIVERY_TRANSPORT.value]
_COMMAND_ID = Field(default_factory=uuid4, description="Client-chosen id; a repeated id returns the first result")


def _text_only(value: Any) -> Any:
    """Money and rates come as decimal strings ("12.50"): a JSON number would pass through binary
    floating point, so it is refused (the schema offers only the string form)."""
    if not isinstance(value, str):
        raise ValueError('send the amount as a decimal string, e.g. "1280.50", never a JSON number')
    return value


def _cost_rules(schema: dict[str, Any]) -> None:
    """Transport is recorded with its invoice or waybill number (`source_document`)."""
    schema["anyOf"] = [
        {"required": ["source_document"],
         "properties": {"item": {"enum": _TRANSPORT}, "source_document": {"type": "string"}}},
        {"properties": {"item": {"const": IncurredItem.OTHER.value}}},
    ]


class CostBody(Frozen):
    """A cost actually incurred. Transport (`return_transport`, `delivery_transport`) needs its
    invoice or waybill number in `source_document`; who pays it follows from the case (§5.5)."""

    model_config = ConfigDict(json_schema_extra=_cost_rules)

    command_id: UUID = _COMMAND_ID
    cost_id: UUID | None = Field(default=None, description="Defaults to an id derived from command_id")
    item: IncurredItem
    amount: PositiveMoney
    incurred_on: date
    source_document: ShortStr | None = Field(default=None, description="Invoice or waybill number")
    description: NonEmptyStr | None = None

    _amount_text = field_validator("amount", mode="before")(_text_only)

    @model_validator(mode="after")
    def _document(self) -> CostBody:
        Rules(self).require(
            self.item is IncurredItem.OTHER or self.source_document is not None, "source_document",
            "transport is recorded with its invoice or waybill number").check()
        return self


class PenaltyBody(Frozen):
    """The approver's rate: the salesperson bears 30-60 % of the transit transport incurred (§5.5.3⑶)."""

    command_id: UUID = _COMMAND_ID
    penalty_percent: PenaltyPercent
    reason: NonEmptyStr | None = Field(default=None, description="Defaults to the quality department's finding")

    _percent_text = field_validator("penalty_percent", mode="before")(_text_only)


class CompensationBody(Frozen):
    """A goodwill or compensation payment proposed to the customer; booked once approved."""

    command_id: UUID = _COMMAND_ID
    compensation_id: UUID | None = Field(default=None, description="Defaults to an id derived from command_id")
    amount: PositiveMoney
    reason: NonEmptyStr

    _amount_text = field_validator("amount", mode="before")(_text_only)


class ApprovalBody(Frozen):
    command_id: UUID = _COMMAND_ID
    comments: NonEmptyStr | None = None


class LedgerReceipt(BaseModel):
    complaint_id: UUID
    form_number: str
    version: int = Field(description="The ledger's version after the command")
    ledger_total: Decimal = Field(description="CNY: the sum of every entry")
    customer_owes: Decimal
    amount: Decimal | None = Field(default=None, description="The penalty or payment amount, CNY")
    id: UUID | None = Field(default=None, description="The cost or compensation id")


class TransportLine(BaseModel):
    item: LedgerItem
    key: str
    payer: Payer
    amount: Decimal


class TransportView(BaseModel):
    total: Decimal
    lines: list[TransportLine]


class CompensationView(BaseModel):
    compensation_id: UUID
    amount: Decimal
    reason: str
    proposed_by: str
    approved_by: str | None


class LedgerView(BaseModel):
    complaint_id: UUID
    form_number: str
    currency: str
    entries: list[LedgerEntry]
    total: Decimal = Field(description="The sum of every entry (reversals included)")
    by_payer: dict[str, Decimal]
    by_item: dict[str, Decimal]
    transport: TransportView = Field(description="Transit transport held now, on its own")
    customer_owes: Decimal
    customer_lines: list[CustomerChargeLine]
    pending: Decimal = Field(description="Held with payer to_be_decided, until the quality department decides")
    rule_id: str | None
    rules_version: str | None
    price_list_version: str | None
    unpriced: list[str]
    penalty: dict[str, Any] | None
    compensations: list[CompensationView]
    version: int


def _scope(principal: Principal) -> Any:
    access = rules()
    return lambda branch: access.sees(principal, branch)


def _receipt(done: Done, id_: UUID | None = None) -> LedgerReceipt:
    view = ledger_view(done.ledger)
    return LedgerReceipt(complaint_id=done.ledger.id, form_number=done.ledger.meta.form_number,
                         version=done.ledger.version, ledger_total=view["total"],
                         customer_owes=view["customer_owes"], amount=done.amount, id=id_)


@router.post(
    "/complaints/{complaint_id}/costs", status_code=status.HTTP_201_CREATED, response_model=LedgerReceipt,
    responses=error_responses(
        403, 404, 409, 422,
        _403="Only the HQ clerk, a regional manager or the quality department records costs",
        _404="Billing has no ledger for this complaint, or it is outside the caller's scope",
        _409="The command_id was used for another command, the cost_id is recorded already, or a concurrent update",
        _422="Invalid cost (`loc` names the field): transport without its `source_document`, an amount not in fen"),
)
async def record_cost(complaint_id: UUID, body: CostBody, request: Request,
                      principal: CurrentPrincipal) -> LedgerReceipt:
    """Record a transport or other cost actually incurred, with its invoice or waybill number; the
    ledger books it to the party the case makes pay (§5.5)."""
    authorize(principal, RECORD_COST)
    cost_id = body.cost_id or uuid5(COMPLAINTS_NAMESPACE, f"billing-cost/{body.command_id}")
    command = RecordCost(command_id=body.command_id, complaint_id=complaint_id, actor=principal.actor(),
                         cost_id=cost_id, item=body.item, amount=body.amount, incurred_on=body.incurred_on,
                         description=body.description, source_document=body.source_document,
                         recorded_by=principal.user_id)
    runtime = runtime_of(request)
    done = await runtime.execute(runtime.app.record_cost, command, _scope(principal))
    return _receipt(done, cost_id)


@router.post(
    "/complaints/{complaint_id}/salesperson-penalty", status_code=status.HTTP_201_CREATED,
    response_model=LedgerReceipt,
    responses=error_responses(
        403, 404, 409, 422,
        _403="Only the marketing director or the HQ regional manager sets the penalty rate",
        _404="Billing has no ledger for this complaint",
        _409="No negligence finding by the quality department on this complaint, the command_id was used "
             "for another command, or a concurrent update",
        _422="`penalty_percent` outside 30-60 % (nothing written), or another invalid field"),
)
async def set_salesperson_penalty(complaint_id: UUID, body: PenaltyBody, request: Request,
                                  principal: CurrentPrincipal) -> LedgerReceipt:
    """§5.5.3⑶: the approver sets the rate (30-60 %) a negligent salesperson bears of the transit
    transport actually incurred (return and delivery on the ledger), half-up to the fen. A later rate
    replaces it; more transport recorded later raises it by the same rate."""
    authorize(principal, SET_PENALTY)
    command = ChargeSalespersonPenalty(command_id=body.command_id, complaint_id=complaint_id,
                                       actor=principal.actor(), penalty_percent=body.penalty_percent,
                                       reason=body.reason, approved_by=principal.user_id)
    runtime = runtime_of(request)
    done = await runtime.execute(runtime.app.charge_penalty, command, _scope(principal))
    return _receipt(done)


@router.post(
    "/complaints/{complaint_id}/compensation", status_code=status.HTTP_201_CREATED, response_model=LedgerReceipt,
    responses=error_responses(
        403, 404, 409, 422,
        _403="The caller's role may not propose payments",
        _404="Billing has no ledger for this complaint, or it is outside the caller's scope",
        _409="The compensation_id is proposed already, the command_id was used for another command, "
             "or a concurrent update",
        _422="Invalid proposal (`loc` names the field)"),
)
async def propose_compensation(complaint_id: UUID, body: CompensationBody, request: Request,
                               principal: CurrentPrincipal) -> LedgerReceipt:
    """Propose a goodwill or compensation payment to the customer. Nothing is booked until it is
    approved within the authority matrix."""
    authorize(principal, PROPOSE)
    compensation_id = body.compensation_id or uuid5(COMPLAINTS_NAMESPACE, f"billing-compensation/{body.command_id}")
    command = ProposeCompensation(command_id=body.command_id, complaint_id=complaint_id, actor=principal.actor(),
                                  compensation_id=compensation_id, amount=body.amount, reason=body.reason,
                                  proposed_by=principal.user_id)
    runtime = runtime_of(request)
    done = await runtime.execute(runtime.app.propose_compensation, command, _scope(principal))
    return _receipt(done, compensation_id)


@router.post(
    "/complaints/{complaint_id}/compensation/{compensation_id}/approval", status_code=status.HTTP_201_CREATED,
    response_model=LedgerReceipt,
    responses=error_responses(
        403, 404, 409, 422,
        _403="The caller's role may not approve payments, or the amount is beyond the approver's authority "
             "(the message names the limit, the matrix version and the level to escalate to; nothing written)",
        _404="Billing has no ledger for this complaint, or no such proposal",
        _409="Approved already, the complaint's subject and severity are not known yet, the command_id was "
             "used for another command, or a concurrent update",
        _422="Invalid body"),
)
async def approve_compensation(complaint_id: UUID, compensation_id: UUID, body: ApprovalBody, request: Request,
                               principal: CurrentPrincipal) -> LedgerReceipt:
    """Approve a proposed payment at the approver's authority level (the authority matrix, by the
    complaint's subject, severity and region); it is then booked to the company."""
    authorize(principal, APPROVE)
    command = ApproveCompensation(command_id=body.command_id, complaint_id=complaint_id, actor=principal.actor(),
                                  compensation_id=compensation_id, approver=principal.user_id,
                                  approver_role=Role(principal.role), comments=body.comments)
    runtime = runtime_of(request)
    done = await runtime.execute(runtime.app.approve_compensation, command, _scope(principal))
    return _receipt(done, compensation_id)


@router.get(
    "/complaints/{complaint_id}/ledger", response_model=LedgerView,
    responses=error_responses(
        403, 404,
        _403="The caller's role may not read ledgers",
        _404="Billing has no ledger for this complaint, or it is outside the caller's scope"),
)
async def read_ledger(complaint_id: UUID, request: Request, principal: CurrentPrincipal) -> LedgerView:
    """The complaint's cost ledger: every entry (reversals included), totals by payer and by item,
    transit transport on its own, what the customer owes, and the rule and versions priced by."""
    authorize(principal, READ)
    runtime = runtime_of(request)
    ledger = await asyncio.to_thread(runtime.app.ledger, complaint_id, _scope(principal))
    return LedgerView.model_validate(ledger_view(ledger))
