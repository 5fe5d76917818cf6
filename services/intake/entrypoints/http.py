"""Intake's HTTP edge: `POST /complaints` registers a complaint (or takes the record, its read-back
pending); one endpoint per later intake step: corrections, read-back, withdrawal, the answer to an
inquiry, a suggestion's promised reply date and answer. Each step takes a `command_id` (a repeat
answers 200 with the same state), is authorised for the complaint's branch (out of scope is a 404,
like a complaint that does not exist), and answers 409 naming the state when the complaint is not
in one that allows the step."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from contracts.envelope import BranchCode, NonEmptyStr, ShortStr, TrueBool
from contracts.registration import (
    Channel, IntakeState, ReadBackImpossibleReason, RegisterComplaint, RegistrationForm, Severity, Subject,
)
from services.common.access import authorize, may, rules
from services.common.auth import CurrentPrincipal
from services.common.domain import InvalidCommand
from services.common.http import error_responses, runtime_of
from services.intake.entrypoints.commands import admit_registration

router = APIRouter()

REGISTER = "complaint.register"
BACKDATE = "complaint.register.backdate"
CORRECT = "complaint.registration.correct"
READ_BACK = "complaint.read_back.record"
WITHDRAW = "complaint.withdrawal.record"
ANSWER_INQUIRY = "inquiry.answer"
ANSWER_SUGGESTION = "suggestion.answer"


class RegistrationReceipt(BaseModel):
    complaint_id: UUID
    form_number: str = Field(description="{branch}-{yyyymmdd}-{seq}, unique per branch and business day")
    created: bool = Field(description="False when this command id had registered the complaint before")
    state: IntakeState = Field(description="registered; closed_at_intake (minor, resolved on the spot); "
                                           "awaiting_read_back (sent without read_back_confirmed)")


def _form_rules(schema: dict[str, Any]) -> None:
    """The form's cross-field rules that JSON Schema can state, stated in the schema (so a client,
    or a fuzzer, knows them): a product-quality complaint carries its product, and only a minor
    complaint is closed at intake (`resolved_on_the_spot`)."""
    others = [s.value for s in Subject if s is not Subject.PRODUCT_QUALITY]
    schema["allOf"] = [
        {"anyOf": [{"properties": {"subject": {"enum": others}}},
                   {"required": ["product"], "properties": {"product": {"type": "object"}}}]},
        {"anyOf": [{"properties": {"severity": {"const": Severity.MINOR.value}}},
                   {"properties": {"resolved_on_the_spot": {"type": "null"}}}]},
    ]


class RegistrationRequest(RegistrationForm):
    """The registration form and the client's command id. The acting user is the bearer token's;
    a body naming an `actor` is refused.

    Rules JSON Schema cannot state, checked here (422 naming the field): `received_at` no further
    ahead than the clock skew (default 5 minutes) and no further back than the window (default 7
    days; a role with `complaint.register.backdate` may go further back); `product.order_date` <=
    `product.shipping_date` <= `product.arrival_date`; a `command_id` in the body or the
    `Idempotency-Key` header (equal when both are given). The branch must be within the caller's
    scope (403 otherwise)."""

    model_config = ConfigDict(json_schema_extra=_form_rules)

    branch: BranchCode = Field(json_schema_extra={"enum": sorted(rules().branch_region)},
                               description="A branch of the organisation (organisation.yaml), within the "
                                           "caller's scope")
    command_id: UUID | None = Field(
        default=None,
        description="Client-chosen id, required here or as the Idempotency-Key header (they must agree). "
                    "The same id with the same form returns the first result (200); with another form, 409.")
    correlation_id: UUID | None = None
    read_back_confirmed: TrueBool = Field(  # type: ignore[assignment]
        default=None,
        description="true: the customer confirmed the record read back to them, registered at once. Left "
                    "out: the record is taken (state awaiting_read_back) and not routed until "
                    "`POST /complaints/{id}/read-back` confirms it or records why it cannot be. Never false.")


@router.post(
    "/complaints", status_code=status.HTTP_201_CREATED, response_model=RegistrationReceipt,
    response_description="Registered; `Location` is the complaint's history here",
    responses={
        200: {"model": RegistrationReceipt, "description": "This command id registered the complaint before: "
                                                           "the first result"},
        **error_responses(
            403, 409, 422,
            _403="The role may not register, or the branch is outside the caller's scope",
            _409="The command id was used for another form, or a concurrent update",
            _422="Invalid form (`loc` names the field), received_at outside the window, dates out of order, "
                 "or no command id"),
    },
)
async def register_complaint(
    body: RegistrationRequest, request: Request, response: Response, principal: CurrentPrincipal,
    # `UUID`, not `UUID | None`: a header is never JSON null, so the schema must not offer "null".
    idempotency_key: Annotated[UUID, Header(
        alias="Idempotency-Key",
        description="The command id, instead of `command_id` in the body (equal when both are given); "
                    "a repeated key with the same form returns the first result")] = None,  # type: ignore[assignment]
) -> RegistrationReceipt:
    """Register a complaint from the branch's registration form.

    The caller must be allowed `complaint.register` for the form's branch. `received_at` lies
    no further ahead than the clock skew and no further back than the window (default 7 days)
    unless the role may backdate (`complaint.register.backdate`).
    """
    admit_registration(body.branch, lambda branch: authorize(principal, REGISTER, branch))
    if body.command_id is not None and idempotency_key is not None and body.command_id != idempotency_key:
        raise InvalidCommand("command_id and the Idempotency-Key header differ", field="command_id")
    command_id = body.command_id or idempotency_key
    if command_id is None:
        raise InvalidCommand("command_id is required (in the body, or as the Idempotency-Key header)",
                             field="command_id")
    form = {name: getattr(body, name) for name in RegistrationForm.model_fields
            if name != "read_back_confirmed" or body.read_back_confirmed is not None}
    command = RegisterComplaint(command_id=command_id, correlation_id=body.correlation_id,
                                issued_at=request.app.state.clock(), actor=principal.actor(), **form)
    runtime = runtime_of(request)
    result = await runtime.execute(runtime.app.register_complaint, command, may(principal, BACKDATE))
    if not result.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/complaints/{result.complaint_id}/history"
    return RegistrationReceipt(complaint_id=result.complaint_id, form_number=result.form_number,
                               created=result.created, state=result.state)


# --- the steps after registration -------------------------------------------------------------------

class StepCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    command_id: UUID = Field(description="Client-chosen id; the same id again returns the first result (200)")


class StepReceipt(BaseModel):
    complaint_id: UUID
    form_number: str
    state: IntakeState = Field(description="Where the complaint stands at intake after the step")
    version: int
    created: bool = Field(description="False when this command id had done the step before")


class CorrectionBody(StepCommand, RegistrationForm):
    """The whole corrected record (every field of the form, not only the changed ones) and why. Only
    before the read-back is confirmed; the branch cannot change. `read_back_confirmed` is left out."""

    model_config = ConfigDict(json_schema_extra=_form_rules)

    branch: BranchCode = Field(json_schema_extra={"enum": sorted(rules().branch_region)})
    read_back_confirmed: TrueBool = Field(default=None, description="Leave out")  # type: ignore[assignment]
    reason: NonEmptyStr


class ReadBackBody(StepCommand):
    """Either the customer confirmed the record (`confirmed_by`), or the clerk says why confirmation is
    impossible (`not_possible` and `explanation`). `record_revision` is the revision read back (1 = as
    taken, n = after the (n-1)th correction); the clerk is the bearer token's user."""

    model_config = ConfigDict(json_schema_extra=lambda schema: schema.update(anyOf=[
        {"required": ["confirmed_by"], "properties": {"confirmed_by": {"type": "string"},
                                                      "not_possible": {"type": "null"},
                                                      "explanation": {"type": "null"}}},
        {"required": ["not_possible", "explanation"],
         "properties": {"not_possible": {"type": "string"}, "explanation": {"type": "string"},
                        "confirmed_by": {"type": "null"}}},
    ]))

    record_revision: int = Field(ge=1, le=1000)
    confirmed_by: ShortStr | None = Field(default=None, description="The customer's person who confirmed")
    attempts: int = Field(default=1, ge=1, le=100)
    not_possible: ReadBackImpossibleReason | None = None
    explanation: NonEmptyStr | None = None


class WithdrawalBody(StepCommand):
    reason: NonEmptyStr
    requested_by: ShortStr | None = Field(default=None, description="The customer's person who withdrew it")


class InquiryAnswerBody(StepCommand):
    answer: NonEmptyStr
    channel: Channel = Field(description="How the answer reached the customer")


class SuggestionPromiseBody(StepCommand):
    reply_by: date = Field(description="The date the customer is promised a reply by (not in the past)")


class SuggestionAnswerBody(StepCommand):
    adopted: StrictBool
    answer: NonEmptyStr
    channel: Channel


def _step_responses(what: str, states: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"model": StepReceipt, "description": "This command id did the step before: the state now"},
        **error_responses(
            403, 404, 409, 422,
            _403=f"The role may not {what}",
            _404="Intake has no such complaint, or it is outside the caller's scope",
            _409=f"The complaint is not {states} (the answer names its state), or a concurrent update",
            _422="Invalid body (`loc` names the field)"),
    }


async def _run_step(request: Request, response: Response, principal: CurrentPrincipal, complaint_id: UUID,
                    action: str, step: Callable[..., Any], *args: Any) -> StepReceipt:
    runtime = runtime_of(request)
    authorize(principal, action)
    registration = await asyncio.to_thread(runtime.app.find_registration, complaint_id)
    authorize(principal, action, registration.branch, not_found=f"intake has no complaint {complaint_id}")
    done = await runtime.execute(step, complaint_id, *args)
    if not done.created:
        response.status_code = status.HTTP_200_OK
    return StepReceipt(complaint_id=done.complaint_id, form_number=done.form_number, state=done.state,
                       version=done.version, created=done.created)


@router.post("/complaints/{complaint_id}/corrections", status_code=status.HTTP_201_CREATED,
             response_model=StepReceipt,
             responses=_step_responses("correct a registration", "awaiting its read-back"))
async def correct_registration(complaint_id: UUID, body: CorrectionBody, request: Request, response: Response,
                               principal: CurrentPrincipal) -> StepReceipt:
    """Correct the record before the customer confirmed it: a `RegistrationCorrected`-style event with
    the whole corrected record (kept at intake: nothing downstream has seen the record yet)."""
    form = RegistrationForm.model_validate(
        {name: getattr(body, name) for name in RegistrationForm.model_fields if name != "read_back_confirmed"}
        | {"read_back_confirmed": True})
    app = runtime_of(request).app
    return await _run_step(request, response, principal, complaint_id, CORRECT, app.correct_registration,
                           body.command_id, principal.actor(), form, body.reason)


@router.post("/complaints/{complaint_id}/read-back", status_code=status.HTTP_201_CREATED,
             response_model=StepReceipt,
             responses=_step_responses("record a read-back", "awaiting its read-back"))
async def record_read_back(complaint_id: UUID, body: ReadBackBody, request: Request, response: Response,
                           principal: CurrentPrincipal) -> StepReceipt:
    """The customer confirmed the record read back (`ReadBackConfirmed`), or the clerk records why that is
    impossible (`ReadBackNotPossible`); either way the complaint is then registered (`ComplaintRegistered`)
    and routed."""
    app = runtime_of(request).app
    if body.confirmed_by is not None:
        if body.not_possible is not None or body.explanation is not None:
            raise InvalidCommand("give confirmed_by, or not_possible with explanation, not both",
                                 field="not_possible")
        return await _run_step(request, response, principal, complaint_id, READ_BACK, app.confirm_read_back,
                               body.command_id, principal.actor(), body.record_revision, body.confirmed_by,
                               body.attempts)
    if body.not_possible is None:
        raise InvalidCommand("give confirmed_by (the customer confirmed) or not_possible (why not)",
                             field="confirmed_by")
    if body.explanation is None:
        raise InvalidCommand("say what happened when confirmation is not possible", field="explanation")
    return await _run_step(request, response, principal, complaint_id, READ_BACK,
                           app.record_read_back_not_possible, body.command_id, principal.actor(),
                           body.record_revision, body.not_possible, body.explanation)


@router.post("/complaints/{complaint_id}/withdrawal", status_code=status.HTTP_201_CREATED,
             response_model=StepReceipt, responses=_step_responses("record a withdrawal", "open"))
async def withdraw_complaint(complaint_id: UUID, body: WithdrawalBody, request: Request, response: Response,
                             principal: CurrentPrincipal) -> StepReceipt:
    """The customer withdraws the complaint (`ComplaintWithdrawn`): the case closes with the reason,
    nothing is deleted. Refused (409) once it is closed."""
    app = runtime_of(request).app
    return await _run_step(request, response, principal, complaint_id, WITHDRAW, app.withdraw,
                           body.command_id, principal.actor(), body.reason, body.requested_by)


@router.post("/complaints/{complaint_id}/inquiry-answer", status_code=status.HTTP_201_CREATED,
             response_model=StepReceipt,
             responses=_step_responses("answer an inquiry", "a registered inquiry"))
async def answer_inquiry(complaint_id: UUID, body: InquiryAnswerBody, request: Request, response: Response,
                         principal: CurrentPrincipal) -> StepReceipt:
    """Answer a registered inquiry (`InquiryAnswered`): due within 24 hours of its receipt."""
    app = runtime_of(request).app
    return await _run_step(request, response, principal, complaint_id, ANSWER_INQUIRY, app.answer_inquiry,
                           body.command_id, principal.actor(), body.answer, body.channel)


@router.post("/complaints/{complaint_id}/suggestion-reply-promise", status_code=status.HTTP_201_CREATED,
             response_model=StepReceipt,
             responses=_step_responses("answer a suggestion", "a registered suggestion without a promised date"))
async def promise_suggestion_reply(complaint_id: UUID, body: SuggestionPromiseBody, request: Request,
                                   response: Response, principal: CurrentPrincipal) -> StepReceipt:
    """Promise the customer a reply to the suggestion by a date (`SuggestionReplyPromised`)."""
    app = runtime_of(request).app
    return await _run_step(request, response, principal, complaint_id, ANSWER_SUGGESTION,
                           app.promise_suggestion_reply, body.command_id, principal.actor(), body.reply_by)


@router.post("/complaints/{complaint_id}/suggestion-answer", status_code=status.HTTP_201_CREATED,
             response_model=StepReceipt,
             responses=_step_responses("answer a suggestion", "a registered suggestion"))
async def answer_suggestion(complaint_id: UUID, body: SuggestionAnswerBody, request: Request, response: Response,
                            principal: CurrentPrincipal) -> StepReceipt:
    """Tell the customer whether the suggestion was adopted (`SuggestionAnswered`); closes it at intake."""
    app = runtime_of(request).app
    return await _run_step(request, response, principal, complaint_id, ANSWER_SUGGESTION, app.answer_suggestion,
                           body.command_id, principal.actor(), body.adopted, body.answer, body.channel)
