"""HQ's HTTP edge: the complaint list and search, one complaint by id or form number, the unified
inbox, and a complaint's merged history across the services. Read only; scoped to the caller."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field

from contracts.billing import SignedMoney
from contracts.envelope import FORM_NUMBER_PATTERN
from services.common.access import authorize
from services.common.auth import CurrentPrincipal
from services.common.http import error_responses
from services.hq.application import MAX_PAGE, SORTS, HqQueries, ListQuery

router = APIRouter(tags=["hq"])

READ = "hq.complaint.read"
INBOX = "hq.inbox.read"

#: An exact-match filter (a code, a user id, a model or batch number): any text, compared as it is.
Filter = Annotated[str | None, Query(max_length=64)]
_ISO_START = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")


def _iso_only(value: object) -> object:
    """A time in a query is ISO 8601 text with its offset, never a number of seconds (which pydantic's lax
    mode would take as a Unix time)."""
    if not isinstance(value, str) or not _ISO_START.match(value):
        raise ValueError("give an ISO 8601 date and time with its offset, e.g. 2026-11-25T09:00:00+08:00")
    return value


Moment = Annotated[AwareDatetime | None, BeforeValidator(_iso_only)]


def _queries(request: Request) -> HqQueries:
    return request.app.state.queries


class Costs(BaseModel):
    """What the complaint costs so far, by who pays (billing's ledger), CNY."""

    company: SignedMoney | None = None
    customer: SignedMoney | None = None
    salesperson: SignedMoney | None = None
    to_be_decided: SignedMoney | None = None


class ComplaintSummary(BaseModel):
    complaint_id: str
    form_number: str
    branch: str
    region: str | None = None
    kind: str | None = None
    subject: str | None = None
    severity: str | None = None
    channel: str | None = None
    customer_name: str | None = None
    product_model: str | None = None
    batch_number: str | None = None
    stage: str = Field(description="Where the complaint stands: intake's state, routing's case state, or closed")
    quality_stage: str | None = None
    handler: str | None = None
    received_at: datetime | None = None
    next_due_at: datetime | None = Field(default=None, description="The earliest open deadline")
    next_due_kind: str | None = None
    next_due_role: str | None = None
    overdue: bool = Field(description="A deadline was missed and not yet met, or the next one has passed")
    costs: Costs
    amount_owed: SignedMoney | None = Field(default=None, description="What the customer owes (CNY)")
    satisfaction: str | None = None
    closed_at: datetime | None = None
    closure_outcome: str | None = None
    serious: bool = False
    disputed: bool = False
    last_event_at: datetime | None = None


class ComplaintPage(BaseModel):
    items: list[ComplaintSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
    sort: str


class AwaitedStep(BaseModel):
    step: str
    role: str | None = None
    assignee: str | None = None
    due_at: datetime | None = None
    deadline_kind: str | None = None
    source: str
    detail: str | None = None


class ComplaintDetail(ComplaintSummary):
    customer_phone: str | None = None
    customer_contact: str | None = None
    description: str | None = None
    demand: str | None = None
    order_number: str | None = None
    registered_at: datetime | None = None
    intake_state: str | None = None
    case_state: str | None = None
    destination: str | None = None
    track: str | None = None
    handler_role: str | None = None
    valid: bool | None = None
    cause_category: str | None = None
    determination: str | None = None
    responsible_party: str | None = None
    missed_open: int = 0
    deadlines_missed: int = 0
    ledger_total: SignedMoney | None = None
    follow_up_outcome: str | None = None
    replied_at: datetime | None = None
    archived: bool = False
    notices: int = 0
    events: int = 0
    first_event_at: datetime | None = None
    open_deadlines: list[dict[str, Any]]
    corrective_actions: list[dict[str, Any]]
    repeats: list[dict[str, Any]]
    awaited_actions: list[AwaitedStep]


class InboxItem(BaseModel):
    complaint_id: str
    form_number: str
    branch: str
    step: str = Field(description="The step, as the HTTP path segment of the service that takes it")
    role: str | None = None
    assignee: str | None = None
    due_at: datetime | None = None
    deadline_kind: str | None = None
    overdue: bool
    source: str = Field(description="routing (the case), or notify:<notice id> (a notice to acknowledge, a "
                                    "customer to phone)")
    since: datetime | None = None
    detail: str | None = None
    subject: str | None = None
    severity: str | None = None
    kind: str | None = None
    customer_name: str | None = None
    stage: str | None = None


class Inbox(BaseModel):
    user: str
    role: str
    count: int
    overdue: int
    items: list[InboxItem] = Field(description="Oldest deadline first; steps without a deadline last")


class TimelineEvent(BaseModel):
    event_id: str
    service: str
    notification_id: int
    event_type: str
    schema_version: int
    occurred_at: datetime
    actor_user: str
    actor_role: str
    causation_id: str | None = None
    correlation_id: str
    summary: str
    changes: dict[str, Any] = Field(description="The event's own fields (long texts and lists cut)")


class MergedHistory(BaseModel):
    complaint_id: str
    form_number: str
    events: list[TimelineEvent] = Field(description="Every published event of every service, once, in causal order")


READ_RESPONSES = error_responses(404, 422)
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#: A complaint's id (a UUID) or its form number: the number the customer is given finds it as directly.
Ref = Annotated[str, Path(pattern=f"^({UUID_PATTERN}|{FORM_NUMBER_PATTERN[1:-1]})$", max_length=40,
                          description="The complaint's id (UUID) or its form number",
                          examples=["SH01-20261125-0001"])]


@router.get("/complaints", response_model=ComplaintPage, responses=error_responses(422))
async def list_complaints(
    request: Request, principal: CurrentPrincipal,
    q: Annotated[str | None, Query(max_length=200, description="Full-text search over the description, the "
                                   "customer, the product and the form number (Chinese by character bigrams)")] = None,
    branch: Filter = None, region: Filter = None, kind: Filter = None, subject: Filter = None, severity: Filter = None,
    channel: Filter = None, stage: Filter = None, quality_stage: Filter = None, handler: Filter = None,
    product_model: Filter = None, batch_number: Filter = None, determination: Filter = None,
    overdue: bool | None = None, serious: bool | None = None,
    received_from: Annotated[Moment, Query(description="Received at or after")] = None,
    received_to: Annotated[Moment, Query(description="Received before")] = None,
    sort: Annotated[Literal[tuple(f"{d}{s}" for s in SORTS for d in ("", "-"))],  # type: ignore[valid-type]
                    Query(description="The order; - in front for descending")] = "-received_at",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=400, description="From the previous page's next_cursor")] = None,
) -> dict[str, Any]:
    """Complaints within the caller's scope, filtered, searched and sorted, a page at a time."""
    authorize(principal, READ)
    given = {"branch": branch, "region": region, "kind": kind, "subject": subject, "severity": severity,
             "channel": channel, "stage": stage, "quality_stage": quality_stage, "handler": handler,
             "product_model": product_model, "batch_number": batch_number, "determination": determination}
    filters = {name: value for name, value in given.items() if value is not None}
    query = ListQuery(filters=filters, q=q, overdue=overdue, serious=serious, received_from=received_from,
                      received_to=received_to, sort=sort, limit=limit, cursor=cursor)
    return await asyncio.to_thread(_queries(request).list, query, principal)


@router.get("/complaints/{ref}", response_model=ComplaintDetail, responses=READ_RESPONSES)
async def complaint(ref: Ref, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """One complaint, by its id or its form number: where it stands, who must act by when, its
    deadlines, costs and corrective actions."""
    authorize(principal, READ)
    return await asyncio.to_thread(_queries(request).complaint, ref[:64], principal)


@router.get("/complaints/{ref}/history", response_model=MergedHistory, responses=READ_RESPONSES)
async def history(ref: Ref, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """The merged history of one complaint across every service: each event with its time, actor,
    service and what changed, in causal order (each after the event that caused it)."""
    authorize(principal, READ)
    return await asyncio.to_thread(_queries(request).history, ref[:64], principal)


@router.get("/inbox", response_model=Inbox, responses=error_responses(422))
async def inbox(request: Request, principal: CurrentPrincipal,
                limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    """What the caller must do, by when: steps named to them, and their role's steps on complaints
    within their scope; oldest deadline first, overdue ones marked."""
    authorize(principal, INBOX)
    return await asyncio.to_thread(_queries(request).inbox, principal, limit)

