"""Intake's HTTP edge: `POST /complaints` registers a complaint."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Request, Response, status
from pydantic import BaseModel, Field

from contracts.registration import RegisterComplaint, RegistrationForm
from services.common.access import authorize, known_branch, may
from services.common.auth import CurrentPrincipal
from services.common.domain import InvalidCommand
from services.common.http import runtime_of

router = APIRouter()

REGISTER = "complaint.register"
BACKDATE = "complaint.register.backdate"


class RegistrationReceipt(BaseModel):
    complaint_id: str
    form_number: str
    created: bool


class RegistrationRequest(RegistrationForm):
    """The registration form and the client's command id. The acting user is the bearer token's;
    a body naming an `actor` is refused."""

    command_id: UUID | None = Field(
        default=None,
        description="Client-chosen id, required here or as the Idempotency-Key header (they must agree). "
                    "The same id with the same form returns the first result (200); with another form, 409.")
    correlation_id: UUID | None = None


@router.post(
    "/complaints", status_code=status.HTTP_201_CREATED, response_model=RegistrationReceipt,
    responses={
        200: {"model": RegistrationReceipt, "description": "This command id registered the complaint before"},
        403: {"description": "The role may not register, or the branch is outside the caller's scope"},
        409: {"description": "The command id was used for another form, or a concurrent update"},
        422: {"description": "Invalid form, unknown branch, no command id, or received_at outside the window"},
    },
)
async def register_complaint(
    body: RegistrationRequest, request: Request, response: Response, principal: CurrentPrincipal,
    idempotency_key: Annotated[UUID | None, Header(alias="Idempotency-Key")] = None,
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
    return RegistrationReceipt(complaint_id=str(result.complaint_id), form_number=result.form_number,
                               created=result.created)
