"""Intake's HTTP edge: `POST /complaints` registers a complaint."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import BranchCode
from contracts.registration import RegisterComplaint, RegistrationForm, Severity, Subject
from services.common.access import authorize, known_branch, may, rules
from services.common.auth import CurrentPrincipal
from services.common.domain import InvalidCommand
from services.common.http import error_responses, runtime_of

router = APIRouter()

REGISTER = "complaint.register"
BACKDATE = "complaint.register.backdate"


class RegistrationReceipt(BaseModel):
    complaint_id: UUID
    form_number: str = Field(description="{branch}-{yyyymmdd}-{seq}, unique per branch and business day")
    created: bool = Field(description="False when this command id had registered the complaint before")


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
    authorize(principal, REGISTER, body.branch)
    if not known_branch(body.branch):
        raise InvalidCommand(f"branch {body.branch} is not a branch of the organisation", field="branch")
    if body.command_id is not None and idempotency_key is not None and body.command_id != idempotency_key:
        raise InvalidCommand("command_id and the Idempotency-Key header differ", field="command_id")
    command_id = body.command_id or idempotency_key
    if command_id is None:
        raise InvalidCommand("command_id is required (in the body, or as the Idempotency-Key header)",
                             field="command_id")
    form = {name: getattr(body, name) for name in RegistrationForm.model_fields}
    command = RegisterComplaint(command_id=command_id, correlation_id=body.correlation_id,
                                issued_at=request.app.state.clock(), actor=principal.actor(), **form)
    runtime = runtime_of(request)
    result = await runtime.execute(runtime.app.register_complaint, command, may(principal, BACKDATE))
    if not result.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/complaints/{result.complaint_id}/history"
    return RegistrationReceipt(complaint_id=result.complaint_id, form_number=result.form_number,
                               created=result.created)
