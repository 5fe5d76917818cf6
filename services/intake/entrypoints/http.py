"""Intake's HTTP edge: `POST /complaints` registers a complaint."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from contracts.registration import RegisterComplaint
from services.common.http import runtime_of

router = APIRouter()


class RegistrationReceipt(BaseModel):
    complaint_id: str
    form_number: str
    created: bool


@router.post("/complaints", status_code=status.HTTP_201_CREATED, response_model=RegistrationReceipt)
async def register_complaint(command: RegisterComplaint, request: Request, response: Response) -> RegistrationReceipt:
    """Register a complaint from the branch's registration form.

    A repeated `command_id` returns the complaint it registered the first time (200).
    """
    runtime = runtime_of(request)
    result = await runtime.execute(runtime.app.register_complaint, command)
    if not result.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/complaints/{result.complaint_id}/history"
    return RegistrationReceipt(complaint_id=str(result.complaint_id), form_number=result.form_number,
                               created=result.created)
