"""Quality's HTTP edge: the regional manager records the on-site determination."""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import APIRouter, Request, status
from pydantic import Field

from contracts.quality import OnSiteFindings, RecordOnSiteDetermination
from services.common.access import authorize, rules
from services.common.auth import CurrentPrincipal
from services.common.domain import InvalidCommand
from services.common.http import runtime_of

router = APIRouter()

RECORD = "quality.on_site_determination.record"


class OnSiteDeterminationBody(OnSiteFindings):
    """The findings of the `RecordOnSiteDetermination` command. Its complaint is the one in the
    path; the inspector and the acting user are the bearer token's (a body naming `actor` or
    `inspector` is refused)."""

    command_id: UUID = Field(default_factory=uuid4,
                             description="Client-chosen id; a repeated id returns the first result")
    complaint_id: UUID | None = Field(default=None, description="If given, must be the complaint in the path")


@router.post(
    "/complaints/{complaint_id}/on-site-determination", status_code=status.HTTP_201_CREATED,
    responses={
        403: {"description": "Only a regional manager records the on-site determination"},
        404: {"description": "Quality has no investigation for this complaint, or it is outside the "
                            "caller's region"},
        409: {"description": "A determination was already recorded, or a concurrent update"},
        422: {"description": "Invalid findings, or the body names another complaint"},
    },
)
async def record_on_site_determination(complaint_id: UUID, body: OnSiteDeterminationBody,
                                       request: Request, principal: CurrentPrincipal) -> dict[str, object]:
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
    return {"complaint_id": str(complaint_id), "form_number": investigation.meta.form_number,
            "determination": command.determination.value, "version": investigation.version}
