"""Quality's HTTP edge for corrective actions (CAPA, §4.4, §4.5, §5.7.1⑸) and exception reports (异常处理单).

- `POST /corrective-actions`: the quality department raises an action from a batch-defect alert
  (an adjudication that finds a defect raises one by itself).
- `POST /corrective-actions/{action_id}/proposal | approval | implementation | verification`: the
  steps, each by its roles (quality department proposes and verifies; the management representative
  and the general manager approve, each once; the responsible department or the quality department
  records the implementation).
- `GET /corrective-actions/{action_id}` and `GET /corrective-actions?state=open`: with `due_at` and
  `overdue`, overdue first.
- `POST /complaints/{complaint_id}/exception-report` and `.../exception-report/{report_id}/answer`.

Every command carries the client's `command_id`: a repeat answers 200 with the state now and writes
nothing; the same id for another command is a 409 naming `command_id`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, model_validator

from contracts.corrective import (
    ActionItems, AnswerExceptionReport, ApproveCorrectiveAction, BatchAlert, CorrectiveActionSource,
    CorrectiveActionState, DueWorkingDays, EvidenceHashes, IssueExceptionReport, ProposeCorrectiveAction,
    RaiseCorrectiveActionFromAlert, RecordCorrectiveActionImplemented, VerifyCorrectiveAction, _reopen_rules,
    verify_rules,
)
from contracts.envelope import Frozen, NonEmptyStr, Role, Rules, ShortStr, TrueBool
from services.common.access import authorize, rules
from services.common.auth import CurrentPrincipal
from services.common.domain import NotFound
from services.common.http import error_responses, runtime_of
from services.quality.domain.corrective import CorrectiveAction, ExceptionReport

router = APIRouter(tags=["corrective actions"])

RAISE = "quality.corrective_action.raise"
PROPOSE = "quality.corrective_action.propose"
APPROVE = "quality.corrective_action.approve"
IMPLEMENT = "quality.corrective_action.implement"
VERIFY = "quality.corrective_action.verify"
READ = "quality.corrective_action.read"
REPORT_ISSUE = "quality.exception_report.issue"
REPORT_ANSWER = "quality.exception_report.answer"

#: Most actions one list answer holds.
LIST_MAX = 500

COMMAND_ID = Field(description="Client-chosen id; the same id again returns the first result (200) and writes nothing")


# --- bodies -------------------------------------------------------------------------------------


class RaiseFromAlertBody(Frozen):
    """Raise the corrective action of a batch-defect alert; `complaint_id` is the complaint that raised
    the alert (quality must investigate it). Once per alert."""

    command_id: UUID = COMMAND_ID
    complaint_id: UUID
    alert: BatchAlert


class ProposalBody(Frozen):
    """The actions, who owns them, the responsible department and the due time. `due_at` is computed by
    the caller on the company's working-time calendar (from `due_in_working_days` when given so) and
    must be in the future."""

    command_id: UUID = COMMAND_ID
    root_cause: NonEmptyStr
    actions: ActionItems
    preventive: StrictBool = False
    owner: ShortStr | None = Field(default=None, description="Default: the proposer")
    responsible_department: ShortStr
    due_at: AwareDatetime
    due_in_working_days: DueWorkingDays | None = None


class ApprovalBody(Frozen):
    """The approver is the bearer token's user (management representative or general manager)."""

    command_id: UUID = COMMAND_ID


class ImplementationBody(Frozen):
    """What was done, and the SHA-256 of each evidence file, stored beforehand (`POST /evidence`)."""

    command_id: UUID = COMMAND_ID
    summary: NonEmptyStr
    evidence: EvidenceHashes = Field(default_factory=list)


class VerificationBody(Frozen):
    """Effective closes the action. Not effective reopens it: `actions` and `due_at` (in the future)
    are required then, `responsible_department` defaults to the same; an effective verification takes
    none of them."""

    model_config = ConfigDict(json_schema_extra=_reopen_rules)

    command_id: UUID = COMMAND_ID
    effective: StrictBool
    findings: NonEmptyStr
    actions: ActionItems | None = None
    responsible_department: ShortStr | None = None
    due_at: AwareDatetime | None = None
    due_in_working_days: DueWorkingDays | None = None

    @model_validator(mode="after")
    def _reopen(self) -> VerificationBody:
        verify_rules(Rules(self), self.effective, self.actions, self.due_at, self.due_in_working_days,
                     self.responsible_department).check()
        return self


class ExceptionReportBody(Frozen):
    """The exception report (异常处理单) for a defect that caused no loss: to the unit concerned."""

    command_id: UUID = COMMAND_ID
    report_id: UUID = Field(description="Client-chosen id of the report")
    no_loss: TrueBool = Field(description="The defect caused no loss (else raise a corrective action)")
    unit: ShortStr
    description: NonEmptyStr
    requested_response: NonEmptyStr
    respond_by: AwareDatetime | None = Field(default=None, description="If given, in the future")
    adjudication_id: UUID | None = None


class ExceptionAnswerBody(Frozen):
    """The unit's acknowledgement and answer."""

    command_id: UUID = COMMAND_ID
    response: NonEmptyStr


# --- views --------------------------------------------------------------------------------------


class Implementation(BaseModel):
    implemented_by: str
    summary: str
    evidence: list[str]
    on_time: bool
    at: datetime


class Verification(BaseModel):
    round: int
    verified_by: str
    effective: bool
    findings: str


class CorrectiveActionView(BaseModel):
    """One corrective action as it stands; `overdue`: past `due_at` and not closed."""

    action_id: UUID
    complaint_id: UUID
    form_number: str
    state: CorrectiveActionState
    source: CorrectiveActionSource
    adjudication_id: UUID | None
    alert: BatchAlert | None
    root_cause: str | None
    owner: str
    round: int = Field(description="0 until proposed; grows each time a not-effective action is reopened")
    actions: list[str]
    preventive: bool
    responsible_department: str | None
    due_at: datetime | None
    due_in_working_days: int | None
    overdue: bool
    approvals: dict[str, str] = Field(description="Approvals of this round: role → approver")
    outstanding_approvals: list[Role]
    implementation: Implementation | None
    verifications: list[Verification]
    superseded_by_report: UUID | None = Field(description="The exception report sent instead (no loss)")
    version: int
    created: bool = Field(default=False, description="True when this request wrote the step")

    @classmethod
    def of(cls, action: CorrectiveAction, now: datetime, created: bool = False) -> CorrectiveActionView:
        return cls(
            action_id=action.id, complaint_id=action.meta.complaint_id, form_number=action.meta.form_number,
            state=action.state, source=action.source, adjudication_id=action.adjudication_id, alert=action.alert,
            root_cause=action.root_cause, owner=action.owner, round=action.round, actions=action.actions,
            preventive=action.preventive, responsible_department=action.responsible_department,
            due_at=action.due_at, due_in_working_days=action.due_in_working_days, overdue=action.overdue(now),
            approvals=action.approvals,
            outstanding_approvals=action.outstanding_approvers() if action.state is CorrectiveActionState.PROPOSED
            else [],
            implementation=action.implementation, verifications=action.verifications,
            superseded_by_report=getattr(action, "superseded_by_report", None), version=action.version,
            created=created)


class CorrectiveActionList(BaseModel):
    """Corrective actions, overdue first, then by due time (none last), then as raised; at most `limit`."""

    actions: list[CorrectiveActionView]
    total: int = Field(description="How many match the state filter (beyond `limit` too)")
    overdue: int = Field(description="How many of those are overdue")


class ExceptionReportView(BaseModel):
    report_id: UUID
    complaint_id: UUID
    form_number: str
    issued_by: str
    unit: str
    description: str
    requested_response: str
    respond_by: datetime | None
    adjudication_id: UUID | None
    answered: bool
    answered_by: str | None
    response: str | None
    version: int
    created: bool = False

    @classmethod
    def of(cls, report: ExceptionReport, created: bool = False) -> ExceptionReportView:
        answer = report.answer or {}
        return cls(report_id=report.id, complaint_id=report.meta.complaint_id, form_number=report.meta.form_number,
                   issued_by=report.issued_by, unit=report.unit, description=report.description,
                   requested_response=report.requested_response, respond_by=report.respond_by,
                   adjudication_id=report.adjudication_id, answered=report.answer is not None,
                   answered_by=answer.get("answered_by"), response=answer.get("response"), version=report.version,
                   created=created)


class ListedState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    ALL = "all"


# --- helpers ------------------------------------------------------------------------------------

REPEAT = "This command id did the step before: the state now, nothing written"


def _sees(principal: Any) -> Any:
    access = rules()
    return lambda branch: access.sees(principal, branch)


def _now(request: Request) -> datetime:
    return runtime_of(request).app.corrective_now()


def _responses(roles: str, states: str, extra_422: str = "", model: type[BaseModel] = CorrectiveActionView,
               not_found: str = "No such corrective action, or it is outside the caller's scope") -> dict[Any, Any]:
    return {200: {"model": model, "description": REPEAT},
            **error_responses(403, 404, 409, 422, _403=f"Only {roles} take this step",
                              _404=not_found,
                              _409=f"{states}, the command_id was used for another command, or a concurrent update",
                              _422="Invalid body (`loc` names the field)" + extra_422)}


async def _step(request: Request, response: Response, principal: Any, action_id: UUID, command_type: type,
                **fields: Any) -> CorrectiveActionView:
    runtime = runtime_of(request)
    app = runtime.app
    sees = _sees(principal)
    action = await runtime.execute(app.corrective_action, action_id, sees)
    command = command_type(complaint_id=action.meta.complaint_id, action_id=action_id, actor=principal.actor(),
                           **fields)
    done, created = await runtime.execute(app.corrective_action_step, command, sees)
    if not created:
        response.status_code = status.HTTP_200_OK
    return CorrectiveActionView.of(done, _now(request), created)


# --- corrective actions -------------------------------------------------------------------------


@router.post("/corrective-actions", status_code=status.HTTP_201_CREATED, response_model=CorrectiveActionView,
             responses=_responses(
                 "the quality department", "The alert already raised a corrective action",
                 model=CorrectiveActionView,
                 not_found="Quality has no investigation for the complaint, or it is outside the caller's scope"))
async def raise_corrective_action(body: RaiseFromAlertBody, request: Request, response: Response,
                                  principal: CurrentPrincipal) -> CorrectiveActionView:
    """Raise the corrective action of a batch-defect alert (state `raised`, owned by the quality
    department); once per `alert.alert_id`."""
    authorize(principal, RAISE)
    runtime = runtime_of(request)
    command = RaiseCorrectiveActionFromAlert(command_id=body.command_id, complaint_id=body.complaint_id,
                                             alert=body.alert, actor=principal.actor())
    action, created = await runtime.execute(runtime.app.raise_corrective_action_from_alert, command,
                                            _sees(principal))
    if not created:
        response.status_code = status.HTTP_200_OK
    return CorrectiveActionView.of(action, _now(request), created)


@router.post("/corrective-actions/{action_id}/proposal", status_code=status.HTTP_201_CREATED,
             response_model=CorrectiveActionView,
             responses=_responses("the quality department", "The action is not `raised` (the answer names its state)",
                                  "; or `due_at` is not in the future"))
async def propose_corrective_action(action_id: UUID, body: ProposalBody, request: Request, response: Response,
                                    principal: CurrentPrincipal) -> CorrectiveActionView:
    """Propose the actions, owner, responsible department and due time of a raised action; it then
    awaits the approvals of the management representative and the general manager."""
    authorize(principal, PROPOSE)
    return await _step(request, response, principal, action_id, ProposeCorrectiveAction,
                       **body.model_dump(exclude={"command_id"}), command_id=body.command_id)


@router.post("/corrective-actions/{action_id}/approval", status_code=status.HTTP_201_CREATED,
             response_model=CorrectiveActionView,
             responses=_responses("the management representative and the general manager",
                                  "The action is not `proposed` (the answer names its state), or the caller's "
                                  "role already approved this round"))
async def approve_corrective_action(action_id: UUID, body: ApprovalBody, request: Request, response: Response,
                                    principal: CurrentPrincipal) -> CorrectiveActionView:
    """One approval; the action starts (state `approved`) when both the management representative and the
    general manager have approved."""
    authorize(principal, APPROVE)
    return await _step(request, response, principal, action_id, ApproveCorrectiveAction,
                       command_id=body.command_id)


@router.post("/corrective-actions/{action_id}/implementation", status_code=status.HTTP_201_CREATED,
             response_model=CorrectiveActionView,
             responses=_responses("the responsible department and the quality department",
                                  "The action is not `approved` by both (the answer names its state)",
                                  "; or an evidence hash names no stored file (upload it first: `POST /evidence`)"))
async def record_corrective_action_implemented(action_id: UUID, body: ImplementationBody, request: Request,
                                               response: Response, principal: CurrentPrincipal) -> CorrectiveActionView:
    """Record the action implemented, with the evidence files' hashes."""
    authorize(principal, IMPLEMENT)
    return await _step(request, response, principal, action_id, RecordCorrectiveActionImplemented,
                       command_id=body.command_id, summary=body.summary, evidence=body.evidence)


@router.post("/corrective-actions/{action_id}/verification", status_code=status.HTTP_201_CREATED,
             response_model=CorrectiveActionView,
             responses=_responses("the quality department", "The action is not `implemented` (the answer names "
                                  "its state)", "; or the new `due_at` is not in the future"))
async def verify_corrective_action(action_id: UUID, body: VerificationBody, request: Request, response: Response,
                                   principal: CurrentPrincipal) -> CorrectiveActionView:
    """Effective: the action is closed. Not effective: it is reopened with the new actions and due time
    (proposed again, round + 1) and needs both approvals again."""
    authorize(principal, VERIFY)
    return await _step(request, response, principal, action_id, VerifyCorrectiveAction,
                       **body.model_dump(exclude={"command_id"}), command_id=body.command_id)


@router.get("/corrective-actions/{action_id}", response_model=CorrectiveActionView,
            responses=error_responses(403, 404, 422, _404="No such corrective action, or it is outside the "
                                                          "caller's scope"))
async def get_corrective_action(action_id: UUID, request: Request, principal: CurrentPrincipal) -> CorrectiveActionView:
    """The action as it stands, with its due time and whether it is overdue."""
    authorize(principal, READ)
    runtime = runtime_of(request)
    action = await runtime.execute(runtime.app.corrective_action, action_id, _sees(principal))
    return CorrectiveActionView.of(action, _now(request))


@router.get("/corrective-actions", response_model=CorrectiveActionList, responses=error_responses(403, 422))
async def list_corrective_actions(request: Request, principal: CurrentPrincipal,
                                  state: ListedState = Query(ListedState.OPEN, description=(
                                      "open: neither closed nor superseded (default); closed: either; all")),
                                  limit: int = Query(100, ge=1, le=LIST_MAX, description=(
                                      "At most this many, the most urgent first"))) -> CorrectiveActionList:
    """Corrective actions the caller sees, overdue first, then by due time."""
    authorize(principal, READ)
    runtime = runtime_of(request)
    actions = await runtime.execute(runtime.app.corrective_actions, _sees(principal))
    now = _now(request)
    if state is ListedState.OPEN:
        actions = [a for a in actions if not a.closed]
    elif state is ListedState.CLOSED:
        actions = [a for a in actions if a.closed]
    order = {a.id: i for i, a in enumerate(actions)}
    actions.sort(key=lambda a: (not a.overdue(now), a.due_at is None,
                                a.due_at.timestamp() if a.due_at else 0.0, order[a.id]))
    views = [CorrectiveActionView.of(a, now) for a in actions[:limit]]
    return CorrectiveActionList(actions=views, total=len(actions), overdue=sum(a.overdue(now) for a in actions))


# --- exception reports --------------------------------------------------------------------------


@router.post("/complaints/{complaint_id}/exception-report", status_code=status.HTTP_201_CREATED,
             response_model=ExceptionReportView,
             responses=_responses(
                 "the quality department", "The report_id is taken by another report, or the adjudication's "
                 "corrective action is past `raised` or another complaint's", "; or `respond_by` is not in the "
                 "future", model=ExceptionReportView,
                 not_found="Quality has no investigation for this complaint, or it is outside the caller's scope"))
async def issue_exception_report(complaint_id: UUID, body: ExceptionReportBody, request: Request, response: Response,
                                 principal: CurrentPrincipal) -> ExceptionReportView:
    """Send the exception report (异常处理单) of a defect that caused no loss to the unit concerned. With
    `adjudication_id`, it replaces that adjudication's corrective action (superseded; only while raised)."""
    authorize(principal, REPORT_ISSUE)
    runtime = runtime_of(request)
    command = IssueExceptionReport(complaint_id=complaint_id, actor=principal.actor(), **body.model_dump())
    report, created = await runtime.execute(runtime.app.issue_exception_report, command, _sees(principal))
    if not created:
        response.status_code = status.HTTP_200_OK
    return ExceptionReportView.of(report, created)


@router.post("/complaints/{complaint_id}/exception-report/{report_id}/answer", status_code=status.HTTP_201_CREATED,
             response_model=ExceptionReportView,
             responses=_responses("the unit concerned (responsible department) and the quality department",
                                  "The report was already answered", model=ExceptionReportView,
                                  not_found="No such exception report for this complaint, or it is outside the "
                                            "caller's scope"))
async def answer_exception_report(complaint_id: UUID, report_id: UUID, body: ExceptionAnswerBody, request: Request,
                                  response: Response, principal: CurrentPrincipal) -> ExceptionReportView:
    """The unit concerned acknowledges and answers the exception report."""
    authorize(principal, REPORT_ANSWER)
    runtime = runtime_of(request)
    command = AnswerExceptionReport(complaint_id=complaint_id, report_id=report_id, actor=principal.actor(),
                                    command_id=body.command_id, response=body.response)
    report, created = await runtime.execute(runtime.app.answer_exception_report, command, _sees(principal))
    if not created:
        response.status_code = status.HTTP_200_OK
    return ExceptionReportView.of(report, created)


@router.get("/complaints/{complaint_id}/exception-report/{report_id}", response_model=ExceptionReportView,
            responses=error_responses(403, 404, 422, _404="No such exception report for this complaint, or it is "
                                                          "outside the caller's scope"))
async def get_exception_report(complaint_id: UUID, report_id: UUID, request: Request,
                               principal: CurrentPrincipal) -> ExceptionReportView:
    """The exception report and the unit's answer, if any."""
    authorize(principal, READ)
    runtime = runtime_of(request)
    report = await runtime.execute(runtime.app.exception_report, report_id, _sees(principal))
    if report.meta.complaint_id != complaint_id:
        raise NotFound(f"no exception report {report_id} for complaint {complaint_id}")
    return ExceptionReportView.of(report)
