"""Routing's HTTP edge: the deadlines of a complaint with their explanation, and the explicit re-plan."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from contracts.envelope import ShortStr
from services.common.access import authorize
from services.common.auth import CurrentPrincipal
from services.common.domain import NotFound
from services.common.http import error_responses

router = APIRouter()


class DeadlineExplanation(BaseModel):
    deadline_id: str
    kind: str
    status: str = Field(description="open, paused, met or missed")
    key: str | None = Field(description="The memo or action the deadline belongs to, if any")
    due_at: str | None
    basis: str | None
    responsible_role: str | None
    escalation_level: int
    rule_version: str | None
    calendar_version: str | None
    provisional: bool = Field(description="True: the due time crosses a year without an official schedule")
    steps: list[str] = Field(description="How the due time came about: rule, calendar, start, skipped time, "
                                         "pauses, re-plans, result")


class ComplaintDeadlines(BaseModel):
    complaint_id: UUID
    deadlines: list[DeadlineExplanation]


class ReplanRequest(BaseModel):
    reason: ShortStr = Field(description="Why: e.g. the 2027 schedule was loaded into the company calendar")


class ReplanResult(BaseModel):
    replanned: int = Field(description="Open deadlines whose due time moved (each a DeadlineReplanned event)")
    calendar_version: str


@router.get("/complaints/{complaint_id}/deadlines", response_model=ComplaintDeadlines,
            responses=error_responses(404, 422, _404="No deadline for this complaint, or it is outside the "
                                                     "caller's scope"))
async def complaint_deadlines(complaint_id: UUID, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """Every deadline of the complaint and why it is due when it is."""
    authorize(principal, "deadline.read")
    timer = request.app.state.timer
    explained = await asyncio.to_thread(timer.explain, complaint_id)
    missing = f"routing has no deadline for complaint {complaint_id}"
    if not explained:
        raise NotFound(missing)
    clock = await asyncio.to_thread(timer.app.repository.get, UUID(explained[0]["deadline_id"]))
    authorize(principal, "deadline.read", clock.branch, not_found=missing)
    return {"complaint_id": complaint_id, "deadlines": explained}


@router.post("/deadlines/replan", response_model=ReplanResult, responses=error_responses(422))
async def replan(body: ReplanRequest, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """Plan every open deadline again on the calendar as it is now (after the holiday list or the
    hours changed, or a year's official schedule was loaded). Each moved deadline is a
    DeadlineReplanned event whose explanation shows both plans; nothing else moves them."""
    authorize(principal, "deadline.replan")
    timer = request.app.state.timer
    moved = await asyncio.to_thread(timer.replan, body.reason)
    if moved:
        request.app.state.runtime.saved()
    return {"replanned": moved, "calendar_version": timer.planner.calendars.default().version}
