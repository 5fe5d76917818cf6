"""Quality's HTTP edge: the regional manager records the on-site determination."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, status

from contracts.quality import RecordOnSiteDetermination
from services.common.domain import InvalidCommand
from services.common.http import runtime_of

router = APIRouter()


class OnSiteDeterminationBody(RecordOnSiteDetermination):
    """The `RecordOnSiteDetermination` command; its complaint is the one in the path."""

    complaint_id: UUID | None = None  # type: ignore[assignment]


@router.post("/complaints/{complaint_id}/on-site-determination", status_code=status.HTTP_201_CREATED)
async def record_on_site_determination(complaint_id: UUID, body: OnSiteDeterminationBody,
                                       request: Request) -> dict[str, object]:
    if body.complaint_id not in (None, complaint_id):
        raise InvalidCommand("complaint_id in the body is not the complaint in the path", field="complaint_id")
    command = RecordOnSiteDetermination(**body.model_dump(exclude={"complaint_id"}), complaint_id=complaint_id)
    runtime = runtime_of(request)
    investigation = await runtime.execute(runtime.app.record_on_site_determination, command)
    return {"complaint_id": str(complaint_id), "form_number": investigation.meta.form_number,
            "determination": command.determination.value, "version": investigation.version}



