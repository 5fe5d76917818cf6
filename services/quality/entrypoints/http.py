"""Quality's HTTP edge: the regional manager records the on-site determination."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Request, status
from pydantic import AwareDatetime, Field

from contracts.envelope import Actor, ShortStr
from contracts.quality import OnSiteFindings
from services.common.http import runtime_of

router = APIRouter()


class OnSiteDeterminationForm(OnSiteFindings):
    """Body of `POST /complaints/{id}/on-site-determination`."""

    command_id: UUID = Field(default_factory=uuid4)
    command_type: Literal["RecordOnSiteDetermination"] = "RecordOnSiteDetermination"
    inspector: ShortStr
    actor: Actor
    issued_at: AwareDatetime = Field(default_factory=lambda: datetime.now(timezone.utc))


@router.post("/complaints/{complaint_id}/on-site-determination", status_code=status.HTTP_201_CREATED)
async def record_on_site_determination(complaint_id: UUID, form: OnSiteDeterminationForm,
                                       request: Request) -> dict[str, object]:
    runtime = runtime_of(request)
    findings = OnSiteFindings(**form.model_dump(include=set(OnSiteFindings.model_fields)))
    investigation = await runtime.execute(
        runtime.app.record_on_site_determination, complaint_id, findings, form.inspector, form.actor,
        form.command_id)
    return {"complaint_id": str(complaint_id), "form_number": investigation.meta.form_number,
            "determination": findings.determination.value, "version": investigation.version}
