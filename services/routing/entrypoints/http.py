"""Routing's HTTP edge: the deadlines of a complaint with their explanation, the explicit re-plan, and
the case at headquarters: one endpoint per human step of §5.3 to §5.8 (`POST /complaints/{id}/<step>`,
each with the client's `command_id`: a repeat answers 200 and writes nothing) and the case as HQ sees
it (`GET /complaints/{id}/case`). A case outside the caller's scope, or a staff complaint read or acted
on by the person it is about (§5.3.2⑴), is a 404 exactly like one that does not exist; a step the case
is not ready for is a 409 naming its state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from contracts import routing as r
from contracts.envelope import ComplaintCommand, Role, ShortStr
from contracts.registration import RequestKind, Severity, Subject
from contracts.routing import AwaitedAction, CaseState, HandlingTrack, TrailEntry
from services.common.access import Forbidden, authorize, may, rules
from services.common.auth import CurrentPrincipal, Principal
from services.common.domain import NotFound
from services.common.http import error_responses, runtime_of

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


# --- the case at headquarters: one endpoint per human step, and the case as HQ sees it ---------------

class StepReceipt(BaseModel):
    complaint_id: UUID
    form_number: str
    state: CaseState = Field(description="Where the case stands after the step: whose move it is now")
    version: int
    created: bool = Field(description="False when this command id had done the step before (nothing written)")


def _anyof(*branches: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A cross-field rule stated in the body's schema (so a client, or a fuzzer, knows it)."""
    def state(schema: dict[str, Any]) -> None:
        schema.setdefault("allOf", []).append({"anyOf": list(branches)})
    return state


def _given(field: str, kind: str = "string") -> dict[str, Any]:
    return {"required": [field], "properties": {field: {"type": kind}}}


def _when(field: str, value: Any, *also: dict[str, Any]) -> dict[str, Any]:
    branch: dict[str, Any] = {"required": [field], "properties": {field: {"const": value}}}
    for part in also:
        branch["required"] = sorted(set(branch["required"]) | set(part.get("required", ())))
        branch["properties"] = branch["properties"] | part["properties"]
    return branch


def _roles(field: str, eligible: Callable[[Any], bool]) -> Callable[[dict[str, Any]], None]:
    """The schema names the roles of access.yaml that may fill `field` (staff, not the customer or
    the system: a role whose grants `eligible` accepts)."""
    def state(schema: dict[str, Any]) -> None:
        names = sorted(name for name, role in rules().roles.items() if eligible(role) and name in Role.__members__.values())
        schema.setdefault("allOf", []).append({"properties": {field: {"enum": names}}})
    return state


def _signed_by_the_department_head(schema: dict[str, Any]) -> None:
    schema.setdefault("allOf", []).append({"properties": {"signed_by": {"properties": {
        "role": {"const": Role.RESPONSIBLE_DEPARTMENT.value}}}}})


def step_body(step: type[BaseModel], rule: Callable[[dict[str, Any]], None] | None = None) -> type[BaseModel]:
    """The HTTP body of a step: the step's own fields and the client's `command_id` (no actor: the
    bearer token's user acts), unknown fields refused; `rule` states its cross-field rules."""
    name = step.__name__.removesuffix("Step") + "Body"
    stated = step.model_config.get("json_schema_extra")  # the rules the step's contract states itself

    def schema_rules(schema: dict[str, Any]) -> None:
        if isinstance(stated, dict):
            schema.update(stated)
        elif callable(stated):
            stated(schema)
        if rule is not None:
            rule(schema)

    config = ConfigDict(extra="forbid", frozen=True, title=name, json_schema_extra=schema_rules)
    namespace = {
        "__module__": __name__, "__qualname__": name, "__doc__": step.__doc__,
        "__annotations__": {"command_id": UUID},
        "command_id": Field(description="Client-chosen id; the same id again returns the first result (200) "
                                        "and writes nothing"),
        "model_config": config,
    }
    return type(name, (step,), namespace)


@dataclass(frozen=True)
class CaseStep:
    """One human step's endpoint: `POST /complaints/{id}/{segment}` carries out `command`."""

    segment: str
    command: type[ComplaintCommand]
    step: type[BaseModel]
    actions: tuple[str, ...]  # the caller needs one of them (the case checks the one that applies)
    summary: str
    description: str
    states: str               # the states the step needs, for the 409's description
    refused: str = ""         # the step's own 422 rules beyond the schema
    forbidden: str = ""       # the step's own 403 beyond the role
    rule: Callable[[dict[str, Any]], None] | None = None

    @property
    def body(self) -> type[BaseModel]:
        return _BODIES[self.segment]


_OPEN = "open (not closed)"

CASE_STEPS: tuple[CaseStep, ...] = (
    CaseStep("direct-answer", r.AnswerQualityQuestion, r.AnswerQualityQuestionStep, ("case.triage",),
             "Answer a quality question directly (§5.3.3⑵)",
             "The HQ clerk answers a simple or spurious product-quality question (correct use, common "
             "problems) directly: the case is triaged (`QualityCaseTriaged`), the customer is replied to "
             "(`CustomerReplied`) and the case awaits the satisfaction follow-up.",
             "awaiting triage"),
    CaseStep("on-site-dispatch", r.DispatchOnSiteVisit, r.DispatchOnSiteVisitStep, ("case.triage",),
             "Dispatch the regional manager on site (§5.3.3⑷)",
             "The HQ clerk sends the responsible regional manager on site to take samples, in principle "
             "within 2–3 working hours of the dispatch: the case goes to quality (`ComplaintRouted`) and the "
             "customer is told of the visit.",
             "awaiting triage"),
    CaseStep("handler", r.AssignHandler, r.AssignHandlerStep, ("case.handler.assign",),
             "Name the person responsible for handling (顾客投诉的分类)",
             "Names the handler (`HandlerAssigned`), who gives the cause, the person responsible and a "
             "proposed solution within 1 working day. Never the person complained about (§5.3.2⑴).",
             f"{_OPEN}, or the user is already its handler",
             refused="the handler is the person complained about, or holds a role that cannot give the cause",
             rule=_roles("handler_role", lambda role: role.actions >= {"case.cause.propose"})),
    CaseStep("cause-and-solution", r.ProposeCauseAndSolution, r.ProposeCauseAndSolutionStep,
             ("case.cause.propose",),
             "Give the cause, the person responsible and a solution (the handler)",
             "The named handler's findings (`CauseAndSolutionProposed`). Within regional authority "
             "(§5.3.1⑴) the regional manager's solution then goes to approval at once (`ApprovalRequested`).",
             "open and before the customer's reply, with a handler named",
             forbidden="the caller is not the case's named handler"),
    CaseStep("memo", r.FileInternalMemo, r.FileInternalMemoStep, ("case.memo.file",),
             "File the internal memo 《内联单》 (§5.3.1⑶)",
             "The regional manager or clerk files the memo (`InternalMemoFiled`): to the HQ clerk for "
             "dispatch, to the supervisor for a staff complaint (§5.3.2), or to the marketing director when "
             "it crosses departments or exceeds regional authority (§5.3.1⑵; the case moves to the "
             "headquarters track).",
             "awaiting its memo",
             refused="`requested_reply_by` not in the future, or a staff complaint's memo addressed to the "
                     "marketing director"),
    CaseStep("memo-dispatch", r.DispatchInternalMemo, r.DispatchInternalMemoStep, ("case.memo.dispatch",),
             "Check the memo and dispatch it (§5.3.1⑷)",
             "The HQ clerk checks the memo and dispatches it within 2 working hours "
             "(`InternalMemoDispatched`): to the responsible department, or for a staff complaint to the "
             "supervisor of the person complained about (§5.3.2). The customer is told it is being "
             "investigated.",
             "a filed memo awaiting its check",
             refused="`memo_id` is not the case's current memo, the destination does not fit the subject, "
                     "or the department is the person complained about"),
    CaseStep("memo-return", r.ReturnInternalMemo, r.ReturnInternalMemoStep, ("case.memo.dispatch",),
             "Return an incomplete memo (§5.3.1⑷)",
             "The HQ clerk returns the memo to whoever filed it, naming what is missing "
             "(`InternalMemoReturned`); the case awaits a new memo.",
             "a filed memo awaiting its check", refused="`memo_id` is not the case's current memo"),
    CaseStep("department-reply", r.RecordDepartmentReply, r.RecordDepartmentReplyStep, ("case.department.reply",),
             "Record the department's signed reply (§5.3.1⑸)",
             "The responsible department's reply by the memo's requested time, signed by its head "
             "(`DepartmentReplyReceived`); the approvals then follow in order (`ApprovalRequested`).",
             "with the department",
             refused="`memo_id` is not the case's current memo, or the case is a staff complaint (the "
                     "supervisor's investigation answers it)",
             rule=_signed_by_the_department_head),
    CaseStep("staff-investigation", r.RecordStaffInvestigation, r.RecordStaffInvestigationStep,
             ("case.staff.investigate",),
             "Record the supervisor's investigation of a staff complaint (§5.3.2)",
             "The supervisor of the person complained about investigates the complaint's truth and gives an "
             "opinion (`StaffComplaintInvestigated`); when the remedy exceeds the supervisor's authority it "
             "goes to the marketing director and the person's direct superior is informed. The approvals "
             "then follow (`ApprovalRequested`).",
             "with the supervisor", refused="the case is not a staff complaint",
             rule=_anyof(_when("exceeds_supervisor_authority", False),
                         _when("exceeds_supervisor_authority", True, _given("direct_superior")))),
    CaseStep("approval", r.ApproveReply, r.ApproveReplyStep, ("case.reply.approve",),
             "Approve the reply at the next authority level (§5.3.1⑸, §5.3.2)",
             "Approves under the level next in the chain (`ReplyApproved`): the caller's role must give that "
             "level, and the compensation and company cost must lie within its limits in the authority "
             "matrix. After the last level the branch clerk answers the customer within 1 working hour "
             "(§5.3.1⑹).",
             "awaiting approval",
             forbidden="the next level is not the caller's, or the amounts are beyond the approver's "
                       "authority (the answer names the limit)"),
    CaseStep("rejection", r.RejectReply, r.RejectReplyStep, ("case.reply.approve",),
             "Send the reply back with the reason",
             "The approver at the next level rejects the reply (`ReplyRejected`): it goes back to the "
             "department or supervisor that answered the memo, or to the regional manager.",
             "awaiting approval", forbidden="the next level is not the caller's (the answer names it)"),
    CaseStep("escalation", r.EscalateApproval, r.EscalateApprovalStep, ("case.reply.approve",),
             "Take the approval one level up",
             "The approver at the next level passes it to the level above (`ApprovalEscalated`), e.g. "
             "beyond regional authority to the marketing director (§5.3.1⑵).",
             "awaiting approval below the highest level",
             forbidden="the next level is not the caller's (the answer names it)"),
    CaseStep("customer-reply", r.ReplyToCustomer, r.ReplyToCustomerStep, ("case.customer.reply",),
             "Give the customer the approved reply (§5.3.1⑹)",
             "The branch clerk answers the customer within 1 working hour of the approved reply "
             "(`CustomerReplied`); the case then awaits the remedy, if one is pending, or the follow-up.",
             "awaiting the customer's reply"),
    CaseStep("remedy", r.RecordRemedy, r.RecordRemedyStep, ("case.remedy.record",),
             "Record the remedy delivered (§4.4, §5.5)",
             "The replacement shipped, the repair done or the compensation paid (`RemedyDelivered`), before "
             "the case can close; a quality case's remedy is recorded at quality.",
             "awaiting its remedy",
             refused="`delivered_at` in the future, or a quality case's remedy (recorded at quality)"),
    CaseStep("follow-up", r.RecordSatisfactionFollowUp, r.RecordFollowUpStep, ("case.follow_up.record",),
             "Record a satisfaction follow-up try (§5.8)",
             "One try to reach the customer (`SatisfactionFollowUpRecorded`): `satisfaction` when reached, "
             "only then. Not reached, another try follows until the last allowed one, after which the case "
             "may close; a dissatisfied customer is offered reopening.",
             "awaiting the follow-up"),
    CaseStep("dispute", r.RaiseDispute, r.RaiseDisputeStep, ("case.dispute.raise",),
             "Record the customer's dispute of the outcome (§5.6)",
             "A policy or staff dispute goes to headquarters, which rules finally; a quality dispute to a "
             "national authority or an independent determination, named (`DisputeRaised`). It may reopen a "
             "closed case.",
             "replied to: awaiting its remedy or follow-up, ready to close, or closed",
             refused="the forum does not hear a dispute of the case's subject",
             rule=_anyof(_when("forum", "headquarters"), _given("authority_name"))),
    CaseStep("ruling", r.RuleDispute, r.RuleDisputeStep, ("case.dispute.rule", "case.dispute.record_result"),
             "Record the ruling on the dispute (§5.6)",
             "Headquarters' final ruling on a policy or staff dispute (`case.dispute.rule`), or the external "
             "body's result on a quality dispute (`case.dispute.record_result`) (`DisputeRuled`); the "
             "customer is then given the outcome.",
             "disputed",
             refused="`dispute_id` is not the open dispute, or a determination for a dispute that is not "
                     "about quality",
             forbidden="the role may not decide the open dispute's forum (headquarters or external)"),
    CaseStep("closure", r.CloseComplaint, r.CloseComplaintStep, ("case.close",),
             "Close and archive the case (§5.8)",
             "The HQ clerk closes the case once the reply, the remedy and the follow-up are done "
             "(`ComplaintClosed`), and archives it by category with its decision trail (`ComplaintArchived`).",
             "ready to close, with its handler named, the cause given and no repeat link undecided"),
    CaseStep("unreasonable-demand", r.RecordUnreasonableDemand, r.RecordUnreasonableDemandStep,
             ("case.unreasonable_demand.record",),
             "Record an unreasonable demand on record (客诉处理实务)",
             "The call recorded, the company's position stated, and arbitration through the consumer "
             "association or the quality supervision bureau proposed when the customer refuses it "
             "(`UnreasonableDemandRecorded`).",
             _OPEN),
    CaseStep("urgent-meeting", r.RecordUrgentMeeting, r.RecordUrgentMeetingStep, ("case.serious.manage",),
             "Record the urgent meeting on a serious complaint",
             "Senior management's urgent meeting on a serious complaint (`UrgentMeetingHeld`).",
             f"{_OPEN} and serious", refused="`held_at` in the future"),
    CaseStep("negotiator", r.NameNegotiator, r.NameNegotiatorStep, ("case.serious.manage",),
             "Name the negotiator of a serious complaint",
             "The one person who speaks to the customer on a serious complaint (`NegotiatorNamed`).",
             f"{_OPEN} and serious",
             rule=_roles("negotiator_role", lambda role: role.scope != "none")),
    CaseStep("repeat-link", r.DecideRepeatLink, r.DecideRepeatLinkStep, ("case.repeat_link.decide",),
             "Confirm or reject the repeat-complaint link",
             "The HQ clerk confirms that the complaint repeats the open one it was linked to "
             "(`RepeatLinkConfirmed`: handled together), or rejects the link with the reason "
             "(`RepeatLinkRejected`).",
             f"{_OPEN} with a repeat link awaiting the decision"),
)

_BODIES: dict[str, type[BaseModel]] = {spec.segment: step_body(spec.step, spec.rule) for spec in CASE_STEPS}


def _authorize(principal: Principal, actions: Sequence[str], branch: str | None = None,
               not_found: str | None = None) -> str:
    """The first of `actions` the caller may perform (403 naming them all when none), then the scope."""
    action = next((a for a in actions if may(principal, a)), None)
    if action is None:
        raise Forbidden(f"role {principal.role} may not perform {' or '.join(actions)}")
    authorize(principal, action, branch, not_found=not_found)
    return action


async def _visible_case(request: Request, principal: Principal, complaint_id: UUID, actions: Sequence[str]) -> Any:
    """The case, when the caller may act on or see it: out of scope, or the person a staff
    complaint is about (§5.3.2⑴), is a 404 exactly like a case that does not exist."""
    runtime = runtime_of(request)
    _authorize(principal, actions)
    case = await asyncio.to_thread(runtime.app.find_case, complaint_id)
    missing = f"routing has no case for complaint {complaint_id}"
    _authorize(principal, actions, case.branch, not_found=missing)
    hidden = case.hidden_from
    if hidden is not None and principal.user_id.casefold() == hidden.casefold():
        raise NotFound(missing)
    return case


def _now(request: Request) -> datetime:
    """The service's clock (the routing application's, injectable at bootstrap)."""
    return runtime_of(request).app.clock()


def _step_responses(spec: CaseStep) -> dict[int | str, dict[str, Any]]:
    actions = " or ".join(f"`{a}`" for a in spec.actions)
    return {
        200: {"model": StepReceipt, "description": "This command id did the step before: the case now, nothing "
                                                   "written"},
        **error_responses(
            403, 404, 409, 422,
            _403=f"The role may not perform {actions}" + (f", or {spec.forbidden}" if spec.forbidden else ""),
            _404="Routing has no case for this complaint, it is outside the caller's scope, or the caller is the "
                 "person the complaint is about (the same answer each way)",
            _409=f"The case is not {spec.states} (the answer names its state), or a concurrent update",
            _422="Invalid body (`loc` names the field)" + (f"; or {spec.refused}" if spec.refused else "")),
    }


def _register(spec: CaseStep) -> None:
    async def step_endpoint(complaint_id: UUID, body: Any, request: Request, response: Response,
                            principal: CurrentPrincipal) -> StepReceipt:
        await _visible_case(request, principal, complaint_id, spec.actions)
        runtime = runtime_of(request)
        fields = {name: getattr(body, name) for name in spec.step.model_fields}
        command = spec.command(command_id=body.command_id, complaint_id=complaint_id, actor=principal.actor(),
                               issued_at=_now(request), **fields)
        done = await runtime.execute(runtime.app.handle, command)
        if not done.created:
            response.status_code = status.HTTP_200_OK
        return StepReceipt(complaint_id=done.complaint_id, form_number=done.form_number, state=done.state,
                           version=done.version, created=done.created)

    step_endpoint.__annotations__["body"] = spec.body
    step_endpoint.__name__ = step_endpoint.__qualname__ = "case_" + spec.segment.replace("-", "_")
    step_endpoint.__doc__ = spec.description
    router.post(f"/complaints/{{complaint_id}}/{spec.segment}", status_code=status.HTTP_201_CREATED,
                response_model=StepReceipt, summary=spec.summary, description=spec.description,
                response_description="Done: where the case stands now", responses=_step_responses(spec))(step_endpoint)


for _spec in CASE_STEPS:
    _register(_spec)


class RepeatLink(BaseModel):
    complaint_id: UUID = Field(description="The open complaint this one repeats")
    form_number: str
    confirmed: bool = Field(description="False until the HQ clerk confirms the link")


class Repeat(BaseModel):
    complaint_id: UUID = Field(description="A later complaint confirmed to repeat this one")
    form_number: str


class CaseView(BaseModel):
    """The case as headquarters sees it: whose move it is, and every decision so far."""

    complaint_id: UUID
    form_number: str
    branch: str
    region: str | None
    subject: Subject
    severity: Severity
    kind: RequestKind
    state: CaseState
    track: HandlingTrack | None = Field(description="The §5.3 path it follows; none for an inquiry or suggestion")
    handler: str | None = Field(description="The person responsible for handling it, once named")
    awaited: list[AwaitedAction] = Field(description="Who must act now, and by when (as last published)")
    repeat_of: RepeatLink | None = Field(description="The open complaint this one was linked to as a repeat")
    repeats: list[Repeat] = Field(description="Later complaints confirmed to repeat this one (handled together)")
    serious: bool = Field(description="Serious (or escalated as serious): senior management is called in")
    trail: list[TrailEntry] = Field(description="The decision trail, oldest first")


@router.get("/complaints/{complaint_id}/case", response_model=CaseView,
            summary="The case at headquarters: state, who must act, decision trail",
            responses=error_responses(
                404, 422, _404="Routing has no case for this complaint, it is outside the caller's scope, or the "
                               "caller is the person the complaint is about (the same answer each way)"))
async def complaint_case(complaint_id: UUID, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """Where the case stands (§5.3 to §5.8): its classification and track, its handler, who must act
    next (the list last published as `ActionsAwaited`), its repeat links, and its decision trail."""
    case = await _visible_case(request, principal, complaint_id, ("case.read",))
    return {"complaint_id": case.id, "form_number": case.meta.form_number, "branch": case.branch,
            "region": case.region or rules().region_of(case.branch), "subject": case.subject,
            "severity": case.severity, "kind": case.kind, "state": case.case_state, "track": case.track,
            "handler": case.handler, "awaited": list(case.awaited or ()), "repeat_of": case.repeat_of,
            "repeats": list(case.repeats), "serious": bool(case.serious or case.escalated),
            "trail": list(case.trail)}
