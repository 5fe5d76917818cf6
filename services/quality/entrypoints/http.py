"""Quality's HTTP edge: the regional manager records the on-site determination."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field

from contracts.quality import Determination, OnSiteFindings, RecordOnSiteDetermination
from services.common.access import authorize, rules
from services.common.auth import CurrentPrincipal
from services.common.domain import InvalidCommand
from services.common.http import error_responses, runtime_of

router = APIRouter()

RECORD = "quality.on_site_determination.record"


def _findings_rules(schema: dict[str, Any]) -> None:
    """§5.5: `misuse_resolution` is given exactly when the determination is obvious misuse."""
    others = [d.value for d in Determination if d is not Determination.OBVIOUS_MISUSE]
    schema["anyOf"] = [
        {"required": ["misuse_resolution"],
         "properties": {"determination": {"const": Determination.OBVIOUS_MISUSE.value},
                        "misuse_resolution": {"type": "string"}}},
        {"properties": {"determination": {"enum": others}, "misuse_resolution": {"type": "null"}}},
    ]


class OnSiteDeterminationBody(OnSiteFindings):
    """The findings of the `RecordOnSiteDetermination` command. Its complaint is the one in the
    path (a `complaint_id` in the body must be the same, else 422); the inspector and the acting
    user are the bearer token's (a body naming `actor` or `inspector` is refused).
    `misuse_resolution` is given exactly when the determination is `obvious_misuse`."""

    model_config = ConfigDict(json_schema_extra=_findings_rules)

    command_id: UUID = Field(default_factory=uuid4,
                             description="Client-chosen id; a repeated id returns the first result")
    complaint_id: UUID | None = Field(default=None, description="If given, must be the complaint in the path")


class DeterminationReceipt(BaseModel):
    complaint_id: UUID
    form_number: str
    determination: Determination
    version: int = Field(description="The investigation's version after this determination")


@router.post(
    "/complaints/{complaint_id}/on-site-determination", status_code=status.HTTP_201_CREATED,
    response_model=DeterminationReceipt,
    responses=error_responses(
        403, 404, 409, 422,
        _403="Only a regional manager records the on-site determination",
        _404="Quality has no investigation for this complaint, or it is outside the caller's region",
        _409="A determination was already recorded, or a concurrent update",
        _422="Invalid findings (`loc` names the field), or the body names another complaint"),
)
async def record_on_site_determination(complaint_id: UUID, body: OnSiteDeterminationBody,
                                       request: Request, principal: CurrentPrincipal) -> DeterminationReceipt:
    """Record the regional manager's on-site determination (§5.3.3⑸, §5.4) for a complaint of
    the manager's region; the manager is the inspector."""
    authorize(principal, RECORD)
    if body.complaint_id not in (None, complaint_id):
        raise InvalidCommand("complaint_id in the body is not the complaint in the path", field="complaint_id")
    command = RecordOnSiteDetermination(**body.model_dump(exclude={"complaint_id"}), complaint_id=complaint_id,
                                        actor=principal.actor(), inspector=principal.user_id)
    runtime = runtime_of(request)
    access = rules()
    investigation = await runtime.execute(runtime.app.record_on_site_determination, command,
                                          lambda branch: access.sees(principal, branch))
    return DeterminationReceipt(complaint_id=complaint_id, form_number=investigation.meta.form_number,
                                determination=command.determination, version=investigation.version)
