"""Analytics' HTTP edge: the monthly figures, the complaint register and the batch-defect alerts,
over the caller's scope (a branch sees its branch's figures, a region its branches', HQ all)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from services.analytics.figures import MONTH, Figures
from services.common.access import authorize
from services.common.access import rules as access_rules
from services.common.auth import CurrentPrincipal, Principal
from services.common.http import error_responses

router = APIRouter(tags=["analytics"])

READ = "analytics.report.read"
Month = Annotated[str, Path(pattern=MONTH.pattern, description="The month, YYYY-MM (company time)",
                            examples=["2026-11"])]


def scope_branches(principal: Principal) -> list[str] | None:
    """The branches whose figures the caller sees; None: every branch."""
    access = access_rules()
    scope = access.scope_of(principal)
    if scope == "all":
        return None
    if scope == "branch":
        return [principal.branch] if principal.branch else []
    if scope == "region":
        return list(access.regions.get(access.region_of_principal(principal) or "", ()))
    return []


def _figures(request: Request) -> Figures:
    return request.app.state.figures


class MonthlyFigures(BaseModel):
    """The month's figures; money as decimal strings in CNY, times in hours of working time."""

    month: str
    time_zone: str
    scope: Any = Field(description="The branches counted, or 'all branches'")
    summary: dict[str, Any] = Field(description="Complaints received: total, by branch, subject, severity, "
                                                "channel, kind and validity")
    deadlines: dict[str, Any] = Field(description="Deadlines due in the month per step and per role: on time, "
                                                  "late, open, cancelled, compliance")
    handling: dict[str, Any] = Field(description="Complaints closed: median and p90 handling time, working hours")
    costs: dict[str, Any] = Field(description="Booked in the month: by payer, by item, transport on its own")
    satisfaction: dict[str, Any]
    corrective_actions: dict[str, Any] = Field(description="Raised and closed in the month; open and overdue at its end")
    repeats: dict[str, Any] = Field(description="Customers (and products) complaining again within 12 months")
    alerts: list[dict[str, Any]]
    complaint_register: list[dict[str, Any]] = Field(description="Every complaint received in the month")


class AlertList(BaseModel):
    month: str
    alerts: list[dict[str, Any]]


@router.get("/reports/monthly/{month}", response_model=MonthlyFigures, responses=error_responses(422))
async def monthly(month: Month, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """The monthly summary and register (§5.3.1⑴) with deadline compliance, handling time, costs,
    satisfaction, corrective actions, repeats and alerts."""
    authorize(principal, READ)
    return await asyncio.to_thread(_figures(request).monthly, month, scope_branches(principal))


@router.get("/alerts", response_model=AlertList, responses=error_responses(422))
async def alerts(request: Request, principal: CurrentPrincipal,
                 month: Annotated[str, Query(pattern=MONTH.pattern, description="YYYY-MM")]) -> dict[str, Any]:
    """The batch-defect alerts raised in the month."""
    authorize(principal, READ)
    figures = _figures(request)
    return {"month": month, "alerts": await asyncio.to_thread(figures.alerts, month, scope_branches(principal))}
