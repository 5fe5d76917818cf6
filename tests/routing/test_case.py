"""The complaint case from routing to closure (§5.3 to §5.8), through `RoutingApplication.handle` on an
in-memory store with the deadline policy: every path of each subject and kind to closure, with the
published events in the order that matters, and every refusal - wrong role (403), wrong state (409
naming it), beyond authority (403 naming the limit and the matrix version, then escalated), a missing or
contradictory field (422 naming it), the person complained about acting (403) or named (422) - each
writing nothing."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import AggregateNotFoundError
from pydantic import ValidationError

from contracts import routing as c
from contracts.envelope import Actor, Envelope, Role, ServiceName, Signature, utc_now
from contracts.quality import OnSiteDeterminationCorrected, QualityDecisionApproved, QualityRemedyDelivered
from contracts.registration import (
    Channel, ComplaintRegistered, ComplaintWithdrawn, InquiryAnswered, SuggestionAnswered,
)
from contracts.routing import (
    ArbitrationBody, AuthorityLevel, CaseState, DeadlineKind, HandlingTrack, Satisfaction,
)
from services.common.access import Forbidden, rules as access_rules
from services.common.domain import DomainError
from services.routing.application import RoutingApplication, StepDone
from services.common.authority import BeyondAuthority, load_authority
from services.routing.domain.case import ComplaintCase
from services.routing.domain.deadline import DeadlineClock, deadline_id
from services.routing.policies import default_policy
from tests.common.builders import (
    POPO, complaint_registered, customer, determination_recorded, envelope, product, published, react,
)

S = CaseState
L = AuthorityLevel
MATRIX = load_authority()

# --- the people ------------------------------------------------------------------------------------

CLERK = Actor(user_id="clerk-li", role=Role.BRANCH_CLERK, branch="SH01")
HQ = Actor(user_id="hq-zhao", role=Role.HQ_CLERK)
RM = Actor(user_id="rm-wang", role=Role.REGIONAL_MANAGER, branch="SH01")
SUP = Actor(user_id="sup-chen", role=Role.SUPERVISOR)
MD = Actor(user_id="md-sun", role=Role.MARKETING_DIRECTOR)
GM = Actor(user_id="gm-qian", role=Role.GENERAL_MANAGER)
DEPT = Actor(user_id="dept-liu", role=Role.RESPONSIBLE_DEPARTMENT)
QD = Actor(user_id="q-li", role=Role.QUALITY_DEPARTMENT)
ACCUSED = "sales-ma"  # the salesperson a staff complaint is about (§5.3.2⑴)
APPROVER = {L.REGIONAL: RM, L.SUPERVISOR: SUP, L.MARKETING_DIRECTOR: MD, L.GENERAL_MANAGER: GM}

_numbers = itertools.count(1)


def new_app(follow_up_attempts: int = 3) -> RoutingApplication:
    app = RoutingApplication(env=dict(POPO), follow_up_attempts=follow_up_attempts)
    app.policy = default_policy()
    return app


def log_size(app: RoutingApplication) -> int:
    return app.recorder.max_notification_id() or 0


class Journey:
    """One complaint registered at intake and routed here, and the steps people take on it."""

    def __init__(self, app: RoutingApplication | None = None, follow_up_attempts: int = 3, **registration: Any):
        self.app = app or new_app(follow_up_attempts)
        self.registered = register(self.app, **registration)
        self.cid = self.registered.complaint_id
        self.memo_id: UUID | None = None
        self.dispute_id: UUID | None = None

    # --- doing and refusing ---------------------------------------------------------------------

    def act(self, actor: Actor, command: type[c.ComplaintCommand], **fields: Any) -> StepDone:
        return self.app.handle(command(complaint_id=self.cid, actor=actor, **fields))

    def refused(self, actor: Actor, command: type[c.ComplaintCommand], error: type[DomainError] = DomainError,
                **fields: Any) -> DomainError:
        """The step is refused with `error` and nothing is written: same version, no new event."""
        return self.refused_command(command(complaint_id=self.cid, actor=actor, **fields), error)

    def refused_command(self, command: c.ComplaintCommand, error: type[DomainError] = DomainError) -> DomainError:
        version, size, state = self.case.version, log_size(self.app), self.state
        with pytest.raises(error) as refused:
            self.app.handle(command)
        assert self.case.version == version and log_size(self.app) == size, "a refused step wrote something"
        assert self.state is state
        return refused.value

    def unchecked(self, actor: Actor, command: type[c.ComplaintCommand], **fields: Any) -> c.ComplaintCommand:
        """The command as a caller that skipped its contract's rules would send it (the case checks again)."""
        return command.model_construct(complaint_id=self.cid, actor=actor, command_id=uuid4(), **fields)

    def upstream(self, event_type: type[Envelope], producer: ServiceName, **fields: Any) -> Envelope:
        event = event_type(**envelope(producer, complaint_id=self.cid, form_number=self.registered.form_number,
                                      correlation_id=self.registered.correlation_id), **fields)
        react(self.app, self.app.policy, event)
        return event

    # --- reading --------------------------------------------------------------------------------

    @property
    def case(self) -> ComplaintCase:
        return self.app.find_case(self.cid)

    @property
    def state(self) -> CaseState:
        return self.case.case_state

    def events(self, since: int = 0) -> list[Envelope]:
        """Routing's published events about this complaint (deadline events aside), from `since`."""
        mine = [e for e in published(self.app)
                if e.complaint_id == self.cid and not e.event_type.startswith("Deadline")]
        return mine[since:]

    def mark(self) -> int:
        return len(self.events())

    def of(self, event_type: type[Envelope], since: int = 0) -> list[Any]:
        return [e for e in self.events(since) if isinstance(e, event_type)]

    def awaited(self) -> c.ActionsAwaited:
        return self.of(c.ActionsAwaited)[-1]

    def steps(self) -> list[tuple[str, Role]]:
        return [(a.step, a.role) for a in self.awaited().actions]

    def deadline(self, kind: DeadlineKind, key: Any = None) -> DeadlineClock | None:
        try:
            return self.app.repository.get(deadline_id(self.cid, kind, None if key is None else str(key)))
        except AggregateNotFoundError:
            return None

    # --- the steps, with plausible defaults ----------------------------------------------------

    def handler(self, handler: Actor = RM, by: Actor = HQ) -> StepDone:
        return self.act(by, c.AssignHandler, handler=handler.user_id, handler_role=handler.role)

    def propose(self, by: Actor = RM, compensation: str | None = "500.00", valid: bool = True,
                company_cost: str | None = None) -> StepDone:
        return self.act(by, c.ProposeCauseAndSolution, cause="Delivery two weeks late",
                        cause_category="transport" if valid else "misunderstanding", valid=valid,
                        proposed_solution="Refund the shipping fee", compensation=compensation,
                        company_cost=company_cost)

    def memo(self, by: Actor = RM, addressed_to: str = "hq_clerk", crosses: bool = False) -> StepDone:
        self.memo_id = uuid4()
        return self.act(by, c.FileInternalMemo, memo_id=self.memo_id, addressed_to=addressed_to,
                        description="Customer's order arrived late and damaged; details attached.",
                        requested_reply_by=utc_now() + timedelta(days=3), crosses_departments=crosses,
                        attachments=[])

    def dispatch(self, destination: str = "responsible_department", department: str = "Logistics") -> StepDone:
        return self.act(HQ, c.DispatchInternalMemo, memo_id=self.memo_id, destination=destination,
                        department=department)

    def department_reply(self, compensation: str | None = "800.00", remedy: str | None = "Refund") -> StepDone:
        return self.act(DEPT, c.RecordDepartmentReply, memo_id=self.memo_id, department="Logistics",
                        reply="The carrier was late; we refund the shipping.", cause="Carrier delay",
                        proposed_remedy=remedy, compensation=compensation,
                        signed_by=Signature(name="Head Liu", role=Role.RESPONSIBLE_DEPARTMENT, signed_at=utc_now()))

    def investigate(self, exceeds: bool = False, compensation: str | None = None) -> StepDone:
        return self.act(SUP, c.RecordStaffInvestigation, memo_id=self.memo_id, staff_member=ACCUSED,
                        substantiated=True, findings="Raised his voice at the customer",
                        opinion="Apologise in writing", compensation=compensation,
                        exceeds_supervisor_authority=exceeds, direct_superior="rm-wang" if exceeds else None)

    def approve(self, by: Actor, compensation: str | None = None, remedy: str | None = "Refund",
                company_cost: str | None = None) -> StepDone:
        return self.act(by, c.ApproveReply, approved_reply="We refund the shipping fee.", remedy=remedy,
                        compensation=compensation, company_cost=company_cost)

    def reply(self, by: Actor = CLERK) -> StepDone:
        return self.act(by, c.ReplyToCustomer, channel="phone", reply="We refund the shipping fee.")

    def remedy(self, by: Actor = RM) -> StepDone:
        return self.act(by, c.RecordRemedy, remedy="Shipping fee refunded", delivered_at=utc_now(),
                        reference="TRX-1")

    def follow_up(self, satisfaction: str | None = "satisfied") -> StepDone:
        return self.act(CLERK, c.RecordSatisfactionFollowUp, channel="phone",
                        reached_customer=satisfaction is not None, satisfaction=satisfaction)

    def close(self) -> StepDone:
        return self.act(HQ, c.CloseComplaint, resolution_summary="Refunded; customer satisfied")

    def dispute(self, forum: str = "headquarters", authority_name: str | None = None) -> StepDone:
        self.dispute_id = uuid4()
        return self.act(CLERK, c.RaiseDispute, dispute_id=self.dispute_id, forum=forum,
                        authority_name=authority_name, disputed_decision="The refund only",
                        grounds="The customer wants the freight too")

    def rule(self, by: Actor, ruled_by: str | None = None, outcome: str = "partially_upheld",
             remedy: str | None = "Freight refunded too", **fields: Any) -> StepDone:
        return self.act(by, c.RuleDispute, dispute_id=self.dispute_id, ruled_by=ruled_by or by.user_id,
                        outcome=outcome, ruling="The freight is refunded as well", remedy=remedy, **fields)

    def dispatch_on_site(self) -> StepDone:
        return self.act(HQ, c.DispatchOnSiteVisit, regional_manager=RM.user_id, note="Take samples of the housing")

    def quality_decision(self, decision: str = "Replace the gearbox; the company pays transport") -> None:
        self.upstream(QualityDecisionApproved, ServiceName.QUALITY, adjudication_id=uuid4(), approver="hqrm-zhou",
                      approver_role=Role.HQ_REGIONAL_MANAGER, determination="obvious_quality_defect",
                      responsible_party="company", decision=decision)

    def quality_remedy(self) -> None:
        self.upstream(QualityRemedyDelivered, ServiceName.QUALITY, remedy_kind="replacement_shipped",
                      description="Replacement gearbox shipped", delivered_by="q-li", delivered_at=utc_now(),
                      reference="WB-778")

    def on_site(self, **findings: Any) -> None:
        react(self.app, self.app.policy, determination_recorded(
            complaint_id=self.cid, form_number=self.registered.form_number, **findings))


def register(app: RoutingApplication, subject: str = "policy_service", **overrides: Any) -> ComplaintRegistered:
    """A complaint registered at intake (a fresh form number) and routed by the policy."""
    overrides.setdefault("product", product() if subject == "product_quality" else None)
    branch = overrides.get("branch", "SH01")
    overrides.setdefault("form_number", f"{branch}-20261125-{next(_numbers):04d}")
    event = complaint_registered(subject=subject, **overrides)
    react(app, app.policy, event)
    return event


def names(events: Iterable[Envelope]) -> list[str]:
    return [e.event_type for e in events]


def in_order(events: list[Envelope], *expected: str | tuple[str, Callable[[Any], bool]]) -> None:
    """`expected` appear in `events` in this order (others may come between)."""
    it = iter(events)
    for want in expected:
        name, test = (want, lambda _: True) if isinstance(want, str) else want
        for event in it:
            if event.event_type == name and test(event):
                break
        else:
            raise AssertionError(f"{want} not found in order in {names(events)}")


def assert_closed(j: Journey, outcome: str, agrees: bool | None) -> None:
    """Closed and archived with the whole trail, the customer told, and nobody left to act."""
    tail = j.events()[-4:]
    assert names(tail) == ["ComplaintClosed", "ComplaintArchived", "ProgressMilestoneReached", "ActionsAwaited"]
    closed, archived, told, awaited = tail
    assert (closed.outcome.value, closed.customer_agrees) == (outcome, agrees)
    assert closed.received_at == j.registered.received_at and closed.kind.value == "complaint"
    assert archived.category == j.registered.subject and archived.archive_ref.startswith("ARCH-")
    trail = [entry.step for entry in archived.decision_trail]
    assert {"CustomerReplied", "SatisfactionFollowUpRecorded"} <= set(trail)
    assert not {"ActionsAwaited", "ProgressMilestoneReached"} & set(trail), "decisions, not notices"
    assert [e.at for e in archived.decision_trail] == sorted(e.at for e in archived.decision_trail)
    assert told.milestone.value == "closed"
    assert (awaited.state, awaited.actions) == (S.CLOSED, [])
    assert j.state is S.CLOSED and j.case.closed


# === paths to closure ===============================================================================


def test_a_policy_complaint_within_regional_authority_runs_to_closure() -> None:
    """§5.3.1⑴: the regional manager, named handler, gives cause and solution, approves it within
    regional authority, the clerk replies, the remedy is delivered, the customer is satisfied."""
    j = Journey(subject="policy_service")
    assert names(j.events()) == ["ComplaintRouted", "ComplaintClassified", "ActionsAwaited"]
    routed, classified, awaited = j.events()
    assert routed.destination.value == "regional_manager" and classified.track is HandlingTrack.REGIONAL
    assert [(a.step, a.role, a.region) for a in awaited.actions] == [
        ("memo", Role.REGIONAL_MANAGER, "EAST"), ("handler", Role.HQ_CLERK, None)]

    j.handler()
    [action] = j.awaited().actions
    assert (action.step, action.role, action.assignee) == ("cause-and-solution", Role.REGIONAL_MANAGER, "rm-wang")
    assert action.deadline_kind is DeadlineKind.CAUSE_AND_SOLUTION and action.due_at is not None, "1 working day"

    mark = j.mark()
    assert j.propose(compensation="500.00").state is S.AWAITING_APPROVAL
    proposed, requested, awaited = j.events(mark)
    assert (proposed.event_type, proposed.valid, proposed.compensation) == (
        "CauseAndSolutionProposed", True, Decimal("500.00"))
    assert (requested.chain, requested.next_level) == ([L.REGIONAL], L.REGIONAL)
    assert [(a.step, a.role) for a in awaited.actions] == [("approval", Role.REGIONAL_MANAGER)]

    mark = j.mark()
    assert j.approve(RM, compensation="500.00").state is S.AWAITING_CUSTOMER_REPLY
    approved, awaited = j.events(mark)
    assert (approved.authority_level, approved.final, approved.approver, approved.approver_role) == (
        L.REGIONAL, True, "rm-wang", Role.REGIONAL_MANAGER)
    assert approved.authority_version == MATRIX.version
    [action] = awaited.actions
    assert (action.step, action.role, action.branch) == ("customer-reply", Role.BRANCH_CLERK, "SH01")
    assert action.deadline_kind is DeadlineKind.CUSTOMER_REPLY and action.due_at is not None, "1 working hour"

    mark = j.mark()
    assert j.reply().state is S.AWAITING_REMEDY
    replied, awaited = j.events(mark)
    assert (replied.remedy_pending, replied.remedy, replied.compensation, replied.approved_by) == (
        True, "Refund", Decimal("500.00"), "rm-wang")
    assert [(a.step, a.role) for a in awaited.actions] == [("remedy", Role.REGIONAL_MANAGER)]

    mark = j.mark()
    assert j.remedy().state is S.AWAITING_FOLLOW_UP
    assert names(j.events(mark)) == ["RemedyDelivered", "ProgressMilestoneReached", "ActionsAwaited"]
    assert j.steps() == [("follow-up", Role.BRANCH_CLERK)]

    mark = j.mark()
    assert j.follow_up("satisfied").state is S.READY_TO_CLOSE
    [followed] = j.of(c.SatisfactionFollowUpRecorded, mark)
    assert (followed.attempt, followed.outcome.value, followed.reopen_offered) == (1, "satisfied", False)
    assert j.steps() == [("closure", Role.HQ_CLERK)]

    j.close()
    assert_closed(j, "resolved", True)
    assert names(j.events()) == [
        "ComplaintRouted", "ComplaintClassified", "ActionsAwaited", "HandlerAssigned", "ActionsAwaited",
        "CauseAndSolutionProposed", "ApprovalRequested", "ActionsAwaited", "ReplyApproved", "ActionsAwaited",
        "CustomerReplied", "ActionsAwaited", "RemedyDelivered", "ProgressMilestoneReached", "ActionsAwaited",
        "SatisfactionFollowUpRecorded", "ActionsAwaited", "ComplaintClosed", "ComplaintArchived",
        "ProgressMilestoneReached", "ActionsAwaited"]


DEPARTMENT_PATHS = [
    pytest.param("policy_service", "marketing_director", True, HandlingTrack.HEADQUARTERS,
                 [L.SUPERVISOR, L.MARKETING_DIRECTOR], id="policy-over-regional-authority"),
    pytest.param("transport_packaging", "hq_clerk", False, HandlingTrack.REGIONAL, [L.REGIONAL], id="transport"),
    pytest.param("other", "hq_clerk", False, HandlingTrack.REGIONAL, [L.REGIONAL], id="other"),
    pytest.param("policy_service", "hq_clerk", True, HandlingTrack.REGIONAL, [L.REGIONAL],
                 id="policy-to-a-department-within-authority"),
]


@pytest.mark.parametrize(("subject", "addressed_to", "crosses", "track", "chain"), DEPARTMENT_PATHS)
def test_a_memo_goes_to_the_responsible_department_and_its_reply_up_the_chain_to_closure(
        subject: str, addressed_to: str, crosses: bool, track: HandlingTrack, chain: list[AuthorityLevel]) -> None:
    """§5.3.1⑵-⑹: memo, HQ clerk's dispatch (2 working hours), the department's signed reply by the
    requested time, the approvals in order, the clerk's reply, remedy, follow-up, closure."""
    j = Journey(subject=subject)
    j.handler()
    mark = j.mark()
    assert j.memo(addressed_to=addressed_to, crosses=crosses).state is S.MEMO_FILED
    filed = j.events(mark)
    if track is HandlingTrack.HEADQUARTERS:  # submitted to the marketing director: reclassified first
        in_order(filed, ("ComplaintClassified", lambda e: e.track is track and e.crosses_departments),
                 "InternalMemoFiled")
    else:
        assert not j.of(c.ComplaintClassified, mark)
    assert j.of(c.ComplaintClassified)[-1].track is track
    [action] = j.awaited().actions
    assert (action.step, action.role, action.deadline_kind) == ("memo-dispatch", Role.HQ_CLERK,
                                                                DeadlineKind.MEMO_DISPATCH)
    assert action.due_at is not None

    mark = j.mark()
    assert j.dispatch().state is S.WITH_DEPARTMENT
    dispatched, told, awaited = j.events(mark)
    assert (dispatched.destination.value, dispatched.department, dispatched.memo_id) == (
        "responsible_department", "Logistics", j.memo_id)
    assert told.milestone.value == "under_investigation"
    [action] = awaited.actions
    assert (action.step, action.role, action.assignee) == ("department-reply", Role.RESPONSIBLE_DEPARTMENT,
                                                           "Logistics")
    assert action.due_at == dispatched.requested_reply_by, "due at the memo's requested reply time"

    mark = j.mark()
    assert j.department_reply(compensation="800.00").state is S.AWAITING_APPROVAL
    received, requested = j.events(mark)[:2]
    assert received.event_type == "DepartmentReplyReceived" and received.signed_by.role is Role.RESPONSIBLE_DEPARTMENT
    assert (requested.chain, requested.next_level) == (chain, chain[0])

    for i, level in enumerate(chain):
        assert j.steps() == [("approval", sorted(c.APPROVER_ROLES[level])[0])]
        mark = j.mark()
        j.approve(APPROVER[level], compensation="800.00")
        [approved] = j.of(c.ReplyApproved, mark)
        assert (approved.authority_level, approved.final) == (level, i == len(chain) - 1)
    assert j.state is S.AWAITING_CUSTOMER_REPLY
    assert [a.authority_level for a in j.of(c.ReplyApproved)] == chain

    assert j.reply().state is S.AWAITING_REMEDY
    j.remedy()
    j.follow_up("very_satisfied")
    j.close()
    assert_closed(j, "resolved", True)
    in_order(j.events(), "InternalMemoFiled", "InternalMemoDispatched", "DepartmentReplyReceived",
             "ApprovalRequested", *["ReplyApproved"] * len(chain), "CustomerReplied", "RemedyDelivered",
             "SatisfactionFollowUpRecorded", "ComplaintClosed", "ComplaintArchived")


@pytest.mark.parametrize(("exceeds", "chain"), [
    pytest.param(False, [L.SUPERVISOR], id="within-the-supervisor's-authority"),
    pytest.param(True, [L.SUPERVISOR, L.MARKETING_DIRECTOR], id="beyond-it-to-the-marketing-director"),
])
def test_a_staff_complaint_is_investigated_by_the_supervisor_and_hidden_from_the_person(
        exceeds: bool, chain: list[AuthorityLevel]) -> None:
    """§5.3.2: the memo goes to the supervisor of the person complained about, who investigates; a
    remedy beyond the supervisor's authority adds the marketing director (the direct superior is named)."""
    j = Journey(subject="staff", complained_about=ACCUSED)
    assert j.of(c.ComplaintRouted)[0].destination.value == "supervisor"
    assert j.of(c.ComplaintClassified)[0].track is HandlingTrack.STAFF_SUPERVISOR
    j.handler(SUP)
    j.memo(addressed_to="supervisor")
    j.dispatch(destination="supervisor", department="sup-chen")
    [action] = j.awaited().actions
    assert (action.step, action.role, action.assignee) == ("staff-investigation", Role.SUPERVISOR, "sup-chen")

    mark = j.mark()
    j.investigate(exceeds=exceeds, compensation="3000.00" if exceeds else None)
    investigated, requested = j.events(mark)[:2]
    assert (investigated.event_type, investigated.exceeds_supervisor_authority) == ("StaffComplaintInvestigated",
                                                                                    exceeds)
    assert investigated.direct_superior == ("rm-wang" if exceeds else None)
    assert requested.chain == chain
    for level in chain:
        j.approve(APPROVER[level], remedy="Written apology")
    assert [a.final for a in j.of(c.ReplyApproved)] == [False] * (len(chain) - 1) + [True]
    j.reply()
    j.remedy()
    j.follow_up("neutral")
    j.close()
    assert_closed(j, "resolved", True)
    hidden = {e.hidden_from for e in j.of(c.ActionsAwaited)}
    assert hidden == {ACCUSED}, "every inbox message says whom the case is hidden from (§5.3.2⑴)"


def test_an_unfounded_complaint_closes_as_unfounded() -> None:
    """A misunderstanding (not the company's fault) is a finding, recorded with the cause."""
    j = Journey(subject="policy_service")
    j.handler()
    j.propose(valid=False, compensation=None)
    j.approve(RM, remedy=None)
    assert j.reply().state is S.AWAITING_FOLLOW_UP, "no remedy to deliver"
    j.follow_up("satisfied")
    j.close()
    assert_closed(j, "unfounded", True)


# --- product quality ---------------------------------------------------------------------------------


def test_a_simple_quality_question_is_answered_directly_by_the_hq_clerk() -> None:
    """§5.3.3⑵: correct use or a common problem: the HQ clerk answers at once, no visit."""
    j = Journey(subject="product_quality")
    assert j.state is S.AWAITING_TRIAGE
    assert j.of(c.ComplaintRouted)[0].destination.value == "hq_clerk"
    assert ("triage", Role.HQ_CLERK) in j.steps()

    mark = j.mark()
    assert j.act(HQ, c.AnswerQualityQuestion, answer="Use grade 2 gear oil; the seal swells with grade 1",
                 channel="phone").state is S.AWAITING_FOLLOW_UP
    triaged = j.of(c.QualityCaseTriaged, mark)[0]
    replied = j.of(c.CustomerReplied, mark)[0]
    assert triaged.answered_directly and triaged.triaged_by == "hq-zhao"
    assert (replied.approved_by, replied.remedy_pending) == ("hq-zhao", False)
    in_order(j.events(mark), "QualityCaseTriaged", "CustomerReplied", "ActionsAwaited")
    assert not j.of(c.ApprovalRequested) and not j.of(c.ComplaintRouted, mark), "no visit, no approval"
    j.follow_up("satisfied")
    j.close()
    assert_closed(j, "answered_directly", True)


def _to_quality(j: Journey) -> None:
    j.handler()
    mark = j.mark()
    assert j.dispatch_on_site().state is S.WITH_QUALITY
    triaged, routed, told, awaited = j.events(mark)
    assert (triaged.answered_directly, triaged.regional_manager) == (False, "rm-wang")
    assert routed.destination.value == "quality_department"
    assert told.milestone.value == "on_site_visit_dispatched"
    [action] = awaited.actions
    assert (action.step, action.role, action.assignee, action.region) == (
        "on-site-determination", Role.REGIONAL_MANAGER, "rm-wang", "EAST")
    assert action.deadline_kind is DeadlineKind.ON_SITE_SAMPLING and action.due_at is not None


def test_a_quality_decision_is_replied_and_closure_waits_for_the_remedy_quality_delivers() -> None:
    """§5.3.3⑷, §5.7: on site, quality decides and approves; the clerk tells the customer; the
    replacement is shipped (quality records it) before the follow-up and closure."""
    j = Journey(subject="product_quality")
    _to_quality(j)
    j.quality_decision()
    assert j.state is S.AWAITING_CUSTOMER_REPLY
    assert j.steps() == [("customer-reply", Role.BRANCH_CLERK)]
    mark = j.mark()
    assert j.reply().state is S.AWAITING_REMEDY
    [replied] = j.of(c.CustomerReplied, mark)
    assert replied.remedy_pending and replied.remedy == "Replace the gearbox; the company pays transport"
    assert j.steps() == [("remedy", Role.QUALITY_DEPARTMENT)]
    assert j.refused(RM, c.RecordRemedy, remedy="Shipped", delivered_at=utc_now()).field == "remedy", \
        "a quality case's remedy is recorded at quality"
    mark = j.mark()
    j.quality_remedy()
    assert j.state is S.AWAITING_FOLLOW_UP
    assert [e.milestone.value for e in j.of(c.ProgressMilestoneReached, mark)] == ["remedy_delivered"]
    j.follow_up("satisfied")
    j.close()
    assert_closed(j, "resolved", True)
    assert not j.of(c.ReplyApproved), "quality's chain runs at quality (§5.7)"


def test_a_remedy_delivered_before_the_reply_lets_the_reply_go_straight_to_the_follow_up() -> None:
    j = Journey(subject="product_quality")
    _to_quality(j)
    j.quality_decision()
    j.quality_remedy()
    assert j.state is S.AWAITING_CUSTOMER_REPLY
    mark = j.mark()
    assert j.reply().state is S.AWAITING_FOLLOW_UP
    assert j.of(c.CustomerReplied, mark)[0].remedy_pending is False


def test_obvious_misuse_fixed_on_site_with_the_customer_agreeing_is_decided_and_remedied_there() -> None:
    """§5.5.2⑴: fixed simply on site; written feedback of the result and the customer's opinion."""
    j = Journey(subject="product_quality")
    _to_quality(j)
    j.on_site(determination="obvious_misuse", misuse_resolution="fixed_on_site", customer_agrees=True)
    assert j.state is S.AWAITING_CUSTOMER_REPLY
    assert j.reply().state is S.AWAITING_FOLLOW_UP
    j.follow_up("satisfied")
    j.close()
    assert_closed(j, "resolved", True)


@pytest.mark.parametrize("resolution", ["simple_part_swap", "complex_needs_parts"])
def test_obvious_misuse_needing_parts_with_the_customer_agreeing_is_replied_to_then_repaired(resolution: str) -> None:
    """§5.5: misuse the customer agrees to is decided on site (the customer pays the part, and for a
    complex repair the transport); the reply tells them, then quality records the part swapped or the
    repair done before the follow-up."""
    j = Journey(subject="product_quality")
    _to_quality(j)
    j.on_site(determination="obvious_misuse", misuse_resolution=resolution, customer_agrees=True,
              parts_used=[{"part_no": "GX-200-SEAL", "quantity": 1}])
    assert j.state is S.AWAITING_CUSTOMER_REPLY
    mark = j.mark()
    assert j.reply().state is S.AWAITING_REMEDY
    assert j.of(c.CustomerReplied, mark)[0].remedy_pending is True
    j.quality_remedy()
    assert j.state is S.AWAITING_FOLLOW_UP
    j.follow_up("satisfied")
    j.close()
    assert_closed(j, "resolved", True)


@pytest.mark.parametrize("agrees", [True, False])
def test_a_correction_into_misuse_the_customer_agrees_to_settles_the_case_on_site(agrees: bool) -> None:
    """The inspector corrects an undetermined case into misuse before any form: agreed, it is decided on
    site as if recorded so (quality then lets the remedy be recorded); not agreed, it stays with quality."""
    j = Journey(subject="product_quality")
    _to_quality(j)
    j.on_site(determination="cannot_be_determined")
    assert j.state is S.WITH_QUALITY
    j.upstream(OnSiteDeterminationCorrected, ServiceName.QUALITY, previous_determination="cannot_be_determined",
               determination="obvious_misuse", misuse_resolution="simple_part_swap", within_warranty=True,
               parts_used=[{"part_no": "GX-200-SEAL", "quantity": 1}], reason="The seal was fitted backwards",
               corrected_by="rm-wang", customer_agrees=agrees)
    assert j.state is (S.AWAITING_CUSTOMER_REPLY if agrees else S.WITH_QUALITY)


@pytest.mark.parametrize("findings", [
    dict(determination="obvious_quality_defect"),
    dict(determination="cannot_be_determined"),
    dict(determination="obvious_misuse", misuse_resolution="fixed_on_site", customer_agrees=False),
    dict(determination="obvious_misuse", misuse_resolution="complex_needs_parts", customer_agrees=False),
    dict(determination="obvious_misuse", misuse_resolution="simple_part_swap", customer_agrees=False),
], ids=lambda f: "-".join(str(v) for v in f.values()))
def test_any_other_on_site_determination_leaves_the_case_with_quality(findings: dict[str, Any]) -> None:
    j = Journey(subject="product_quality")
    _to_quality(j)
    mark = j.mark()
    j.on_site(**findings)
    assert j.state is S.WITH_QUALITY and not j.events(mark)


# --- serious complaints --------------------------------------------------------------------------------


SERIOUS = [
    pytest.param(dict(subject="policy_service", severity="serious", serious_reasons=["media"]), "marketing_director",
                 ["media"], id="policy-in-the-media"),
    pytest.param(dict(subject="transport_packaging", channel="external_body", external_body="Consumer association"),
                 "marketing_director", ["consumer_association"], id="transport-through-an-external-body"),
    pytest.param(dict(subject="staff", severity="serious", serious_reasons=["lawyer"], complained_about=ACCUSED),
                 "supervisor", ["lawyer"], id="staff-with-a-lawyer"),
]


@pytest.mark.parametrize(("registration", "addressed_to", "reasons"), SERIOUS)
def test_a_serious_complaint_calls_in_senior_management_and_needs_the_general_manager(
        registration: dict[str, Any], addressed_to: str, reasons: list[str]) -> None:
    """96233 §3.1.2: department heads and the general manager at once; an urgent meeting and a
    named negotiator; the reply is approved by the marketing director and then the general manager."""
    j = Journey(**registration)
    escalated = [e for e in published(j.app) if e.event_type == "SeriousComplaintEscalated"]
    assert len(escalated) == 1 and [r.value for r in escalated[0].reasons] == reasons
    assert Role.GENERAL_MANAGER in escalated[0].notified_roles and escalated[0].departments
    assert j.of(c.ComplaintClassified)[0].track is HandlingTrack.SENIOR_MANAGEMENT
    steps = j.steps()
    assert ("urgent-meeting", Role.GENERAL_MANAGER) in steps and ("negotiator", Role.GENERAL_MANAGER) in steps

    j.act(GM, c.RecordUrgentMeeting, held_at=utc_now() - timedelta(minutes=5), chaired_by="gm-qian",
          attendees=["md-sun", "Head of Sales"], decisions="One voice to the customer; apologise")
    assert ("urgent-meeting", Role.GENERAL_MANAGER) not in j.steps()
    j.act(MD, c.NameNegotiator, negotiator="md-sun", negotiator_role="marketing_director")
    assert ("negotiator", Role.GENERAL_MANAGER) not in j.steps()
    assert [e.negotiator for e in j.of(c.NegotiatorNamed)] == ["md-sun"]

    j.handler(MD)
    j.memo(addressed_to=addressed_to)
    if registration["subject"] == "staff":
        j.dispatch(destination="supervisor", department="sup-chen")
        j.investigate(compensation="60000.00")
    else:
        j.dispatch()
        j.department_reply(compensation="60000.00")
    assert j.of(c.ApprovalRequested)[-1].chain == [L.MARKETING_DIRECTOR, L.GENERAL_MANAGER]

    error = j.refused(MD, c.ApproveReply, BeyondAuthority, approved_reply="We compensate.",
                      compensation="60000.00")
    assert (error.status, error.field) == (403, "compensation")
    assert "50000.00 CNY" in str(error) and f"authority matrix {MATRIX.version}" in str(error)
    j.approve(MD, compensation="50000.00")
    j.approve(GM, compensation="60000.00")
    assert [(a.authority_level, a.final) for a in j.of(c.ReplyApproved)] == [
        (L.MARKETING_DIRECTOR, False), (L.GENERAL_MANAGER, True)]
    j.reply()
    j.remedy()
    j.follow_up("satisfied")
    j.close()
    assert_closed(j, "resolved", True)


def test_a_serious_quality_complaint_through_an_external_body_is_triaged_with_senior_management_called_in() -> None:
    j = Journey(subject="product_quality", channel="external_body", external_body="Market regulator")
    assert j.state is S.AWAITING_TRIAGE
    assert j.of(c.ComplaintClassified)[0].track is HandlingTrack.SENIOR_MANAGEMENT
    assert {("triage", Role.HQ_CLERK), ("urgent-meeting", Role.GENERAL_MANAGER)} <= set(j.steps())


@pytest.mark.parametrize("command", [c.RecordUrgentMeeting, c.NameNegotiator])
def test_the_urgent_meeting_and_the_negotiator_are_for_serious_complaints_only(command: type) -> None:
    j = Journey(subject="policy_service")
    fields = (dict(held_at=utc_now(), chaired_by="gm-qian", attendees=["md-sun"], decisions="None")
              if command is c.RecordUrgentMeeting else dict(negotiator="md-sun", negotiator_role="marketing_director"))
    error = j.refused(GM, command, **fields)
    assert (error.status, error.field) == (409, "severity") and "not serious" in str(error)


# --- disputes --------------------------------------------------------------------------------------


def _replied_regional(j: Journey) -> None:
    j.handler()
    j.propose()
    j.approve(RM, compensation="500.00")
    j.reply()


def _replied_staff(j: Journey) -> None:
    j.handler(SUP)
    j.memo(addressed_to="supervisor")
    j.dispatch(destination="supervisor", department="sup-chen")
    j.investigate()
    j.approve(SUP, remedy="Written apology")
    j.reply()


def _replied_quality(j: Journey) -> None:
    _to_quality(j)
    j.quality_decision()
    j.reply()


DISPUTES = [
    pytest.param("policy_service", _replied_regional, False, "headquarters", None, MD, {}, id="policy-after-reply"),
    pytest.param("staff", _replied_staff, True, "headquarters", None, GM, {}, id="staff-after-closure"),
    pytest.param("product_quality", _replied_quality, False, "national_authority", "SAMR", HQ,
                 dict(determination="obvious_quality_defect", responsible_party="company"),
                 id="quality-national-authority-after-reply"),
    pytest.param("product_quality", _replied_quality, True, "independent_determination", "SGS Shanghai", QD,
                 dict(determination="obvious_quality_defect", responsible_party="company"),
                 id="quality-independent-after-closure"),
]


@pytest.mark.parametrize(("subject", "to_reply", "after_closure", "forum", "authority", "ruler", "extra"), DISPUTES)
def test_a_dispute_is_ruled_in_its_forum_and_leads_back_to_the_customer(
        subject: str, to_reply: Callable[[Journey], None], after_closure: bool, forum: str, authority: str | None,
        ruler: Actor, extra: dict[str, Any]) -> None:
    """§5.6: a policy or staff dispute goes to HQ, which rules finally (marketing director or general
    manager); a quality dispute to a national authority or an independent body, whose result the HQ clerk
    or quality records; the ruling goes back to the customer, and the case closes after it."""
    j = Journey(subject=subject, **({"complained_about": ACCUSED} if subject == "staff" else {}))
    to_reply(j)
    if after_closure:
        if j.state is S.AWAITING_REMEDY:
            j.quality_remedy() if subject == "product_quality" else j.remedy()
        j.follow_up("dissatisfied")
        j.close()
    mark = j.mark()
    assert j.dispute(forum, authority).state is S.DISPUTED
    raised, told, awaited = j.events(mark)
    assert (raised.forum.value, raised.authority_name, raised.reopened) == (forum, authority, after_closure)
    assert raised.dispute_kind.value == {"policy_service": "policy_service", "staff": "staff"}.get(
        subject, "quality_determination")
    assert told.milestone.value == "dispute_received"
    assert awaited.state is S.DISPUTED
    assert [(a.step, a.role) for a in awaited.actions if a.step == "ruling"] == [
        ("ruling", Role.MARKETING_DIRECTOR if forum == "headquarters" else Role.HQ_CLERK)]

    mark = j.mark()
    ruled_by = authority or ruler.user_id
    assert j.rule(ruler, ruled_by=ruled_by, remedy="Replace the unit", **extra).state is S.AWAITING_CUSTOMER_REPLY
    [ruled] = j.of(c.DisputeRuled, mark)
    assert (ruled.final, ruled.ruled_by, ruled.recorded_by, ruled.forum.value) == (True, ruled_by, ruler.user_id,
                                                                                    forum)
    assert [e.milestone.value for e in j.of(c.ProgressMilestoneReached, mark)] == ["dispute_ruled"]
    assert j.reply().state is S.AWAITING_REMEDY, "the ruling's remedy is owed"
    assert j.steps()[0] == ("remedy", Role.REGIONAL_MANAGER)
    j.remedy(HQ)
    j.follow_up("satisfied")
    j.close()
    assert_closed(j, "resolved_after_dispute", True)
    assert len(j.of(c.ComplaintClosed)) == (2 if after_closure else 1)


@pytest.mark.parametrize(("subject", "to_reply", "forum", "authority", "field"), [
    pytest.param("policy_service", _replied_regional, "national_authority", "SAMR", "forum", id="policy-not-to-HQ"),
    pytest.param("product_quality", _replied_quality, "headquarters", None, "forum", id="quality-to-HQ"),
    pytest.param("product_quality", _replied_quality, "national_authority", None, "authority_name",
                 id="external-body-not-named"),
])
def test_a_dispute_in_the_wrong_forum_or_without_its_body_is_refused_naming_the_field(
        subject: str, to_reply: Callable[[Journey], None], forum: str, authority: str | None, field: str) -> None:
    j = Journey(subject=subject)
    to_reply(j)
    error = j.refused(CLERK, c.RaiseDispute, dispute_id=uuid4(), forum=forum, authority_name=authority,
                      disputed_decision="The decision", grounds="Unfair")
    assert (error.status, error.field) == (422, field)


def test_a_ruling_must_name_the_open_dispute_and_a_determination_is_for_quality_disputes_only() -> None:
    j = Journey(subject="policy_service")
    _replied_regional(j)
    j.dispute()
    other = j.refused(MD, c.RuleDispute, dispute_id=uuid4(), ruled_by="md-sun", outcome="rejected",
                      ruling="Stands")
    assert (other.status, other.field) == (422, "dispute_id") and str(j.dispute_id) in str(other)
    determination = j.refused(MD, c.RuleDispute, dispute_id=j.dispute_id, ruled_by="md-sun", outcome="upheld",
                              ruling="Defect", determination="obvious_quality_defect")
    assert (determination.status, determination.field) == (422, "determination")


@pytest.mark.parametrize(("subject", "to_reply", "forum", "authority", "wrong"), [
    pytest.param("policy_service", _replied_regional, "headquarters", None, HQ, id="HQ-ruling-by-the-clerk"),
    pytest.param("policy_service", _replied_regional, "headquarters", None, QD, id="HQ-ruling-by-quality"),
    pytest.param("product_quality", _replied_quality, "national_authority", "SAMR", MD,
                 id="external-result-by-the-director"),
])
def test_only_the_forum_s_people_rule_or_record_the_result(
        subject: str, to_reply: Callable[[Journey], None], forum: str, authority: str | None, wrong: Actor) -> None:
    j = Journey(subject=subject)
    to_reply(j)
    j.dispute(forum, authority)
    error = j.refused(wrong, c.RuleDispute, Forbidden, dispute_id=j.dispute_id, ruled_by="x", outcome="rejected",
                      ruling="Stands")
    assert (error.status, error.field) == (403, "actor") and wrong.role.value in str(error)


# --- the satisfaction follow-up -------------------------------------------------------------------


@pytest.mark.parametrize("attempts", [1, 3])
def test_a_customer_not_reached_is_tried_again_until_the_last_try_then_the_case_may_close(attempts: int) -> None:
    j = Journey(subject="policy_service", follow_up_attempts=attempts)
    _replied_regional(j)
    j.remedy()
    for attempt in range(1, attempts + 1):
        mark = j.mark()
        state = j.follow_up(None).state
        [tried] = j.of(c.SatisfactionFollowUpRecorded, mark)
        assert (tried.attempt, tried.max_attempts, tried.reached_customer) == (attempt, attempts, False)
        last = attempt == attempts
        assert tried.outcome.value == ("unreachable" if last else "not_reached")
        assert state is (S.READY_TO_CLOSE if last else S.AWAITING_FOLLOW_UP)
    assert j.refused(CLERK, c.RecordSatisfactionFollowUp, channel="phone", reached_customer=False).status == 409
    j.close()
    assert_closed(j, "resolved", None)


@pytest.mark.parametrize(("satisfaction", "outcome"), [
    ("very_satisfied", "satisfied"), ("satisfied", "satisfied"), ("neutral", "satisfied"),
    ("dissatisfied", "not_satisfied"), ("very_dissatisfied", "not_satisfied"),
])
def test_a_customer_reached_says_how_satisfied_and_a_dissatisfied_one_is_offered_reopening(
        satisfaction: str, outcome: str) -> None:
    j = Journey(subject="policy_service")
    _replied_regional(j)
    j.remedy()
    mark = j.mark()
    assert j.follow_up(satisfaction).state is S.READY_TO_CLOSE
    [recorded] = j.of(c.SatisfactionFollowUpRecorded, mark)
    assert (recorded.outcome.value, recorded.reopen_offered) == (outcome, outcome == "not_satisfied")
    j.close()
    assert_closed(j, "resolved", outcome == "satisfied")


def contract_refuses(command: type[c.ComplaintCommand], field: str, **fields: Any) -> None:
    """A stateless rule of the step is its contract's: refused before reaching the case, naming the field."""
    with pytest.raises(ValidationError) as refused:
        command(complaint_id=uuid4(), actor=CLERK, **fields)
    assert [error["loc"] for error in refused.value.errors()] == [(field,)]


@pytest.mark.parametrize(("reached", "satisfaction"), [(True, None), (False, Satisfaction.SATISFIED)])
def test_satisfaction_is_given_exactly_when_the_customer_was_reached(
        reached: bool, satisfaction: Satisfaction | None) -> None:
    contract_refuses(c.RecordSatisfactionFollowUp, "satisfaction", channel="phone", reached_customer=reached,
                     satisfaction=satisfaction)
    j = Journey(subject="policy_service")
    _replied_regional(j)
    j.remedy()
    error = j.refused_command(j.unchecked(CLERK, c.RecordSatisfactionFollowUp, channel=Channel.PHONE,
                                          reached_customer=reached, satisfaction=satisfaction))
    assert (error.status, error.field) == (422, "satisfaction")


# --- unreasonable demands ---------------------------------------------------------------------------


@pytest.mark.parametrize(("by", "accepted", "arbitration"), [
    (CLERK, True, None), (RM, False, "consumer_association"), (MD, False, "quality_supervision_bureau"),
])
def test_an_unreasonable_demand_is_handled_on_record(by: Actor, accepted: bool, arbitration: str | None) -> None:
    j = Journey(subject="policy_service")
    mark = j.mark()
    assert j.act(by, c.RecordUnreasonableDemand, demand="Ten times the price or I call the press",
                 call_recording_ref="REC-2211", company_position="We refund the price, as the policy says",
                 customer_accepted_position=accepted, arbitration_proposed_to=arbitration).state is S.AWAITING_MEMO
    [recorded] = j.of(c.UnreasonableDemandRecorded, mark)
    assert (recorded.customer_accepted_position, recorded.recorded_by) == (accepted, by.user_id)
    assert (recorded.arbitration_proposed_to.value if recorded.arbitration_proposed_to else None) == arbitration


@pytest.mark.parametrize(("accepted", "arbitration"), [(True, ArbitrationBody.CONSUMER_ASSOCIATION), (False, None)])
def test_arbitration_is_proposed_exactly_when_the_customer_refuses(
        accepted: bool, arbitration: ArbitrationBody | None) -> None:
    fields = dict(demand="More", call_recording_ref="REC-1", company_position="No",
                  customer_accepted_position=accepted, arbitration_proposed_to=arbitration)
    contract_refuses(c.RecordUnreasonableDemand, "arbitration_proposed_to", **fields)
    j = Journey(subject="policy_service")
    error = j.refused_command(j.unchecked(CLERK, c.RecordUnreasonableDemand, **fields))
    assert (error.status, error.field) == (422, "arbitration_proposed_to")


# --- repeat complaints ------------------------------------------------------------------------------


def _repeat_pair(basis: str, **second: Any) -> tuple[Journey, ComplaintRegistered]:
    """An open first complaint, then the journey of a second one by the same customer and product, or
    about the same person."""
    app = new_app()
    if basis == "same_customer_and_product":
        first = register(app, "policy_service", product=product())
        j = Journey(app, subject="policy_service", product=product(model="gx 200"), **second)
    else:
        first = register(app, "staff", complained_about="Sales-Ma", customer=customer(phone="+86 10 1111 2222"))
        j = Journey(app, subject="staff", complained_about="sales ma", **second)
    return j, first


@pytest.mark.parametrize("basis", ["same_customer_and_product", "same_person_complained_about"])
@pytest.mark.parametrize("confirmed", [True, False])
def test_a_repeat_complaint_is_linked_and_closure_waits_for_the_hq_clerk_to_decide(
        basis: str, confirmed: bool) -> None:
    j, first = _repeat_pair(basis)
    [linked] = j.of(c.RepeatComplaintLinked)
    assert (linked.linked_to, linked.linked_form_number, linked.basis.value, linked.window_days) == (
        first.complaint_id, first.form_number, basis, 30)
    assert ("repeat-link", Role.HQ_CLERK) in j.steps()
    if basis == "same_customer_and_product":
        _replied_regional(j)
        j.remedy()
    else:
        _replied_staff(j)
        j.remedy()
    j.follow_up("satisfied")
    error = j.refused(HQ, c.CloseComplaint, resolution_summary="Done")
    assert (error.status, error.field) == (409, "repeat_link")
    assert ("repeat-link", Role.HQ_CLERK) in j.steps()

    mark = j.mark()
    j.act(HQ, c.DecideRepeatLink, confirmed=confirmed, reason=None if confirmed else "Different order")
    decided = j.events(mark)[0]
    assert decided.event_type == ("RepeatLinkConfirmed" if confirmed else "RepeatLinkRejected")
    assert decided.linked_to == first.complaint_id
    assert ("repeat-link", Role.HQ_CLERK) not in j.steps()
    j.close()
    assert_closed(j, "resolved", True)


def test_rejecting_a_link_needs_the_reason_and_there_must_be_a_link_to_decide() -> None:
    contract_refuses(c.DecideRepeatLink, "reason", confirmed=False)
    j, _ = _repeat_pair("same_customer_and_product")
    error = j.refused_command(j.unchecked(HQ, c.DecideRepeatLink, confirmed=False, reason=None))
    assert (error.status, error.field) == (422, "reason")
    assert j.refused(CLERK, c.DecideRepeatLink, Forbidden, confirmed=True).status == 403
    j.act(HQ, c.DecideRepeatLink, confirmed=True)
    again = j.refused(HQ, c.DecideRepeatLink, confirmed=True)
    assert (again.status, again.field) == (409, "repeat_link")


@pytest.mark.parametrize("why", ["outside-the-30-days", "first-closed", "another-customer"])
def test_a_complaint_is_not_linked_to_an_old_closed_or_unrelated_one(why: str) -> None:
    app = new_app()
    first = Journey(app, subject="policy_service", product=product())
    second: dict[str, Any] = {"product": product()}
    if why == "outside-the-30-days":
        second["received_at"] = first.registered.received_at + timedelta(days=31)
    elif why == "first-closed":
        first.upstream(ComplaintWithdrawn, ServiceName.INTAKE, reason="Sorted", recorded_by="clerk-li",
                       state_at_withdrawal="registered")
    else:
        second["customer"] = customer(phone="+86 21 5555 9999")
    j = Journey(app, subject="policy_service", **second)
    assert not j.of(c.RepeatComplaintLinked)
    assert ("repeat-link", Role.HQ_CLERK) not in j.steps()


# --- inquiries, suggestions, withdrawal --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["inquiry", "suggestion-adopted", "suggestion-not-adopted"])
def test_an_inquiry_or_suggestion_closes_when_intake_answers_it(kind: str) -> None:
    j = Journey(subject="product_quality", kind=kind.split("-")[0])
    assert j.state is S.AWAITING_ANSWER
    assert j.of(c.ComplaintRouted)[0].destination.value == "hq_clerk"
    assert not j.of(c.ComplaintClassified), "an inquiry or suggestion is not a complaint's track"
    mark = j.mark()
    if kind == "inquiry":
        received = j.registered.received_at
        j.upstream(InquiryAnswered, ServiceName.INTAKE, customer=j.registered.customer, question="Oil grade?",
                   answer="Grade 2", answered_by="hq-zhao", channel="phone", received_at=received,
                   due_at=received + timedelta(hours=24), answered_at=received + timedelta(hours=1))
    else:
        j.upstream(SuggestionAnswered, ServiceName.INTAKE, adopted=kind.endswith("-adopted"),
                   answer="Thank you", answered_by="hq-zhao", channel="letter", answered_at=utc_now())
    closed, archived = j.events(mark)[:2]
    assert (closed.event_type, closed.outcome.value, closed.kind.value) == (
        "ComplaintClosed", "answered_directly", kind.split("-")[0])
    assert archived.event_type == "ComplaintArchived" and archived.decision_trail
    assert j.state is S.CLOSED
    assert j.awaited().actions == []
    error = j.refused(CLERK, c.RaiseDispute, dispute_id=uuid4(), forum="headquarters",
                      disputed_decision="x", grounds="y")
    assert error.status == 409 and "closed" in str(error)


@pytest.mark.parametrize("subject", ["policy_service", "staff", "product_quality", "transport_packaging", "other"])
def test_a_withdrawn_complaint_closes_once_and_takes_no_more_steps(subject: str) -> None:
    j = Journey(subject=subject)
    for _ in range(2):
        j.upstream(ComplaintWithdrawn, ServiceName.INTAKE, reason="Settled with the branch", recorded_by="clerk-li",
                   state_at_withdrawal="registered")
    [closed] = j.of(c.ComplaintClosed)
    assert closed.outcome.value == "withdrawn" and "Settled with the branch" in closed.resolution_summary
    assert (j.awaited().state, j.awaited().actions) == (S.CLOSED, [])
    error = j.refused(RM, c.FileInternalMemo, memo_id=uuid4(), addressed_to="hq_clerk", description="x",
                      requested_reply_by=utc_now() + timedelta(days=1))
    assert error.status == 409 and "is closed" in str(error)
    dispute = j.refused(CLERK, c.RaiseDispute, dispute_id=uuid4(), forum="headquarters", disputed_decision="x",
                        grounds="y")
    assert dispute.status == 409 and "closed" in str(dispute), "nothing was replied: nothing to dispute"


# --- sending back: rejected replies, returned memos --------------------------------------------------


def test_a_regional_reply_rejected_goes_back_to_the_handler_for_a_new_cause_and_solution() -> None:
    j = Journey(subject="policy_service")
    j.handler()
    j.propose()
    mark = j.mark()
    assert j.act(RM, c.RejectReply, reason="Check the carrier's log first").state is S.AWAITING_MEMO
    [rejected] = j.of(c.ReplyRejected, mark)
    assert (rejected.authority_level, rejected.returned_to_role) == (L.REGIONAL, Role.REGIONAL_MANAGER)
    assert j.steps() == [("cause-and-solution", Role.REGIONAL_MANAGER)]
    assert j.propose().state is S.AWAITING_APPROVAL
    assert len(j.of(c.ApprovalRequested)) == 2


@pytest.mark.parametrize(("subject", "back_to"), [("policy_service", Role.RESPONSIBLE_DEPARTMENT),
                                                   ("staff", Role.SUPERVISOR)])
def test_a_reply_rejected_after_the_dispatch_goes_back_to_the_department_or_supervisor(
        subject: str, back_to: Role) -> None:
    j = Journey(subject=subject, **({"complained_about": ACCUSED} if subject == "staff" else {}))
    j.handler()
    if subject == "staff":
        j.memo(addressed_to="supervisor")
        j.dispatch(destination="supervisor", department="sup-chen")
        j.investigate()
    else:
        j.memo(addressed_to="marketing_director")
        j.dispatch()
        j.department_reply()
    mark = j.mark()
    assert j.act(SUP, c.RejectReply, reason="Not signed off properly").state is S.WITH_DEPARTMENT
    assert j.of(c.ReplyRejected, mark)[0].returned_to_role is back_to
    j.investigate() if subject == "staff" else j.department_reply()
    assert j.state is S.AWAITING_APPROVAL


def test_a_reply_is_rejected_only_by_the_level_that_is_next() -> None:
    j = Journey(subject="policy_service")
    j.handler()
    j.memo(addressed_to="marketing_director")
    j.dispatch()
    j.department_reply()
    error = j.refused(MD, c.RejectReply, BeyondAuthority, reason="No")
    assert (error.status, error.field) == (403, "actor") and "supervisor" in str(error)
    error = j.refused(MD, c.EscalateApproval, BeyondAuthority, reason="Mine")
    assert (error.status, error.field) == (403, "actor")


def test_an_incomplete_memo_is_returned_to_whoever_filed_it_and_filed_again() -> None:
    j = Journey(subject="transport_packaging")
    j.memo(by=CLERK)
    old = j.memo_id
    mark = j.mark()
    assert j.act(HQ, c.ReturnInternalMemo, memo_id=old, missing=["photos of the box"],
                 reason="No photos").state is S.AWAITING_MEMO
    [returned] = j.of(c.InternalMemoReturned, mark)
    assert (returned.returned_to, returned.missing) == ("clerk-li", ["photos of the box"])
    assert j.refused(HQ, c.DispatchInternalMemo, memo_id=old, destination="responsible_department",
                     department="Logistics").status == 409
    j.memo(by=CLERK)
    stale = j.refused(HQ, c.DispatchInternalMemo, memo_id=old, destination="responsible_department",
                      department="Logistics")
    assert (stale.status, stale.field) == (422, "memo_id") and str(j.memo_id) in str(stale)
    assert j.dispatch().state is S.WITH_DEPARTMENT


def test_a_repeated_command_answers_the_state_now_and_writes_nothing() -> None:
    j = Journey(subject="policy_service")
    command = c.AssignHandler(complaint_id=j.cid, actor=HQ, handler="rm-wang", handler_role="regional_manager")
    first = j.app.handle(command)
    size = log_size(j.app)
    again = j.app.handle(command)
    assert first.created and not again.created
    assert (again.state, again.version) == (first.state, first.version) and log_size(j.app) == size


# === refusals ======================================================================================

# Each step, where it is accepted (a journey to that state), who may take it, and its fields.


def _awaiting_triage() -> Journey:
    return Journey(subject="product_quality")


def _fresh() -> Journey:
    return Journey(subject="policy_service")


def _with_handler() -> Journey:
    j = _fresh()
    j.handler()
    return j


def _memo_filed() -> Journey:
    j = Journey(subject="transport_packaging")
    j.memo()
    return j


def _with_department() -> Journey:
    j = _memo_filed()
    j.dispatch()
    return j


def _with_supervisor() -> Journey:
    j = Journey(subject="staff", complained_about=ACCUSED)
    j.memo(addressed_to="supervisor")
    j.dispatch(destination="supervisor", department="sup-chen")
    return j


def _awaiting_approval() -> Journey:
    j = _with_handler()
    j.propose()
    return j


def _awaiting_reply() -> Journey:
    j = _awaiting_approval()
    j.approve(RM, compensation="500.00")
    return j


def _awaiting_remedy() -> Journey:
    j = _awaiting_reply()
    j.reply()
    return j


def _awaiting_follow_up() -> Journey:
    j = _awaiting_remedy()
    j.remedy()
    return j


def _ready_to_close() -> Journey:
    j = _awaiting_follow_up()
    j.follow_up("satisfied")
    return j


def _disputed_at_hq() -> Journey:
    j = _awaiting_follow_up()
    j.dispute()
    return j


def _disputed_externally() -> Journey:
    j = Journey(subject="product_quality")
    _replied_quality(j)
    j.dispute("national_authority", "SAMR")
    return j


def _serious() -> Journey:
    return Journey(subject="policy_service", severity="serious", serious_reasons=["media"])


def _linked() -> Journey:
    return _repeat_pair("same_customer_and_product")[0]


def _sig() -> Signature:
    return Signature(name="Head Liu", role=Role.RESPONSIBLE_DEPARTMENT, signed_at=utc_now())


FieldsOf = Callable[[Journey], dict[str, Any]]

#: step -> (the journey to where it is accepted, an actor who may take it there, its fields, its action)
STEPS: dict[str, tuple[Callable[[], Journey], Actor, type, FieldsOf, str]] = {
    "answer-directly": (_awaiting_triage, HQ, c.AnswerQualityQuestion,
                        lambda j: dict(answer="Use grade 2 oil", channel="phone"), "case.triage"),
    "dispatch-on-site": (_awaiting_triage, HQ, c.DispatchOnSiteVisit,
                         lambda j: dict(regional_manager="rm-wang", note="Samples"), "case.triage"),
    "assign-handler": (_fresh, HQ, c.AssignHandler,
                       lambda j: dict(handler="rm-wang", handler_role="regional_manager"), "case.handler.assign"),
    "propose": (_with_handler, RM, c.ProposeCauseAndSolution,
                lambda j: dict(cause="Late", cause_category="transport", valid=True, proposed_solution="Refund"),
                "case.cause.propose"),
    "file-memo": (_fresh, RM, c.FileInternalMemo,
                  lambda j: dict(memo_id=uuid4(), addressed_to="hq_clerk", description="Details",
                                 requested_reply_by=utc_now() + timedelta(days=2)), "case.memo.file"),
    "dispatch-memo": (_memo_filed, HQ, c.DispatchInternalMemo,
                      lambda j: dict(memo_id=j.memo_id or uuid4(), destination="responsible_department",
                                     department="Logistics"), "case.memo.dispatch"),
    "return-memo": (_memo_filed, HQ, c.ReturnInternalMemo,
                    lambda j: dict(memo_id=j.memo_id or uuid4(), missing=["photos"], reason="No photos"),
                    "case.memo.dispatch"),
    "department-reply": (_with_department, DEPT, c.RecordDepartmentReply,
                         lambda j: dict(memo_id=j.memo_id or uuid4(), department="Logistics", reply="We refund",
                                        cause="Carrier", signed_by=_sig()), "case.department.reply"),
    "staff-investigation": (_with_supervisor, SUP, c.RecordStaffInvestigation,
                            lambda j: dict(memo_id=j.memo_id, staff_member=ACCUSED, substantiated=True,
                                           findings="Rude", opinion="Apologise",
                                           exceeds_supervisor_authority=False), "case.staff.investigate"),
    "approve": (_awaiting_approval, RM, c.ApproveReply, lambda j: dict(approved_reply="We refund"),
                "case.reply.approve"),
    "reject": (_awaiting_approval, RM, c.RejectReply, lambda j: dict(reason="Redo"), "case.reply.approve"),
    "escalate": (_awaiting_approval, RM, c.EscalateApproval, lambda j: dict(reason="Above me"),
                 "case.reply.approve"),
    "reply": (_awaiting_reply, CLERK, c.ReplyToCustomer, lambda j: dict(channel="phone", reply="We refund"),
              "case.customer.reply"),
    "remedy": (_awaiting_remedy, RM, c.RecordRemedy, lambda j: dict(remedy="Refunded", delivered_at=utc_now()),
               "case.remedy.record"),
    "follow-up": (_awaiting_follow_up, CLERK, c.RecordSatisfactionFollowUp,
                  lambda j: dict(channel="phone", reached_customer=True, satisfaction="satisfied"),
                  "case.follow_up.record"),
    "dispute": (_awaiting_follow_up, CLERK, c.RaiseDispute,
                lambda j: dict(dispute_id=uuid4(), forum="headquarters", disputed_decision="Refund",
                               grounds="Too little"), "case.dispute.raise"),
    "rule-at-hq": (_disputed_at_hq, MD, c.RuleDispute,
                   lambda j: dict(dispute_id=j.dispute_id or uuid4(), ruled_by="md-sun", outcome="rejected",
                                  ruling="Stands"), "case.dispute.rule"),
    "record-external-result": (_disputed_externally, QD, c.RuleDispute,
                               lambda j: dict(dispute_id=j.dispute_id or uuid4(), ruled_by="SAMR",
                                              outcome="rejected", ruling="Stands"), "case.dispute.record_result"),
    "close": (_ready_to_close, HQ, c.CloseComplaint, lambda j: dict(resolution_summary="Refunded"), "case.close"),
    "unreasonable-demand": (_fresh, CLERK, c.RecordUnreasonableDemand,
                            lambda j: dict(demand="More", call_recording_ref="REC-1", company_position="No",
                                           customer_accepted_position=True), "case.unreasonable_demand.record"),
    "urgent-meeting": (_serious, GM, c.RecordUrgentMeeting,
                       lambda j: dict(held_at=utc_now(), chaired_by="gm-qian", attendees=["md-sun"],
                                      decisions="Apologise"), "case.serious.manage"),
    "negotiator": (_serious, GM, c.NameNegotiator,
                   lambda j: dict(negotiator="md-sun", negotiator_role="marketing_director"), "case.serious.manage"),
    "decide-repeat-link": (_linked, HQ, c.DecideRepeatLink, lambda j: dict(confirmed=True), "case.repeat_link.decide"),
}


def test_every_command_of_the_case_has_a_step_here() -> None:
    from services.routing.application import STEPS as HANDLED
    assert {command for _, _, command, _, _ in STEPS.values()} == set(HANDLED)


@pytest.mark.parametrize("step", STEPS)
def test_each_step_is_accepted_in_its_state_by_its_role(step: str) -> None:
    reach, actor, command, fields, _ = STEPS[step]
    j = reach()
    size = log_size(j.app)
    done = j.act(actor, command, **fields(j))
    assert done.created and log_size(j.app) > size
    assert (done.state, done.version) == (j.state, j.case.version)


def _wrong_roles() -> list[Any]:
    granted = access_rules().roles
    out = []
    for step, (_, _, _, _, action) in STEPS.items():
        for role in Role:
            if role.value not in granted or action not in granted[role.value].actions:
                out.append(pytest.param(step, role, id=f"{step}-by-{role.value}"))
    return out


@pytest.mark.parametrize(("step", "role"), _wrong_roles())
def test_a_role_without_the_step_s_action_is_refused_and_nothing_is_written(step: str, role: Role) -> None:
    reach, _, command, fields, action = STEPS[step]
    j = reach()
    error = j.refused(Actor(user_id=f"someone-{role.value}", role=role), command, Forbidden, **fields(j))
    assert (error.status, error.field) == (403, "actor")
    assert f"role {role.value} may not" in str(error) and action in str(error)


# A state where each step is refused: a fresh policy case awaiting its memo, unless the step is
# accepted there (those are refused on a closed, withdrawn case instead; every step is refused there).
ACCEPTED_AWAITING_MEMO = {"assign-handler", "propose", "file-memo", "unreasonable-demand", "urgent-meeting",
                          "negotiator", "decide-repeat-link"}


def _withdrawn() -> Journey:
    j = Journey(subject="policy_service", severity="serious", serious_reasons=["media"])
    j.handler()
    j.upstream(ComplaintWithdrawn, ServiceName.INTAKE, reason="Sorted", recorded_by="clerk-li",
               state_at_withdrawal="registered")
    return j


@pytest.mark.parametrize(("step", "where"), [
    pytest.param(step, where, id=f"{step}-when-{where}") for where in ("awaiting_memo", "closed") for step in STEPS
    if not (where == "awaiting_memo" and step in ACCEPTED_AWAITING_MEMO)])
def test_a_step_in_the_wrong_state_is_refused_naming_the_state_and_nothing_is_written(step: str, where: str) -> None:
    _, actor, command, fields, _ = STEPS[step]
    j = _with_handler() if where == "awaiting_memo" else _withdrawn()
    error = j.refused(actor, command, **fields(j))
    assert (error.status, error.field) == (409, "state")
    assert f"is {where}" in str(error) and j.registered.form_number in str(error)


# --- beyond authority: refused naming the limit, escalated, approved above --------------------------


def _hq_chain() -> Journey:
    j = Journey(subject="policy_service")
    j.handler()
    j.memo(addressed_to="marketing_director")
    j.dispatch()
    j.department_reply()
    return j


def _west() -> Journey:
    j = Journey(subject="policy_service", branch="XA07")
    j.handler()
    j.propose()
    return j


def _senior() -> Journey:
    j = _serious()
    j.memo(addressed_to="marketing_director")
    j.dispatch()
    j.department_reply()
    return j


BEYOND = [
    pytest.param(_awaiting_approval, [], RM, "compensation", "2000.00", SUP, id="regional-compensation"),
    pytest.param(_awaiting_approval, [], RM, "company_cost", "5000.00", SUP, id="regional-company-cost"),
    pytest.param(_west, [], Actor(user_id="rm-xu", role=Role.REGIONAL_MANAGER, branch="XA07"), "compensation",
                 "1000.00", SUP, id="regional-in-the-west"),
    pytest.param(_hq_chain, [], SUP, "compensation", "5000.00", MD, id="supervisor"),
    pytest.param(_hq_chain, [SUP], MD, "compensation", "50000.00", GM, id="marketing-director"),
    pytest.param(_senior, [], MD, "company_cost", "100000.00", GM, id="serious-marketing-director"),
]


@pytest.mark.parametrize(("reach", "before", "approver", "field", "limit", "above"), BEYOND)
def test_an_approval_beyond_the_limit_is_refused_naming_it_then_escalated_and_approved_above(
        reach: Callable[[], Journey], before: list[Actor], approver: Actor, field: str, limit: str,
        above: Actor) -> None:
    j = reach()
    for earlier in before:
        j.approve(earlier)
    over = str(Decimal(limit) + Decimal("0.01"))
    level = L(j.case.next_level)
    error = j.refused(approver, c.ApproveReply, BeyondAuthority, approved_reply="We pay", **{field: over})
    assert (error.status, error.field) == (403, field)
    message = str(error)
    assert f"{over} CNY" in message and f"limit of {limit} CNY" in message
    assert f"authority matrix {MATRIX.version}" in message and approver.role.value in message

    mark = j.mark()
    assert j.act(approver, c.EscalateApproval, reason=f"{over} CNY is beyond my authority").state is S.AWAITING_APPROVAL
    escalated, awaited = j.events(mark)
    up = MATRIX.above(level)
    assert (escalated.event_type, escalated.from_level, escalated.to_level) == ("ApprovalEscalated", level, up)
    assert [(a.step, a.role) for a in awaited.actions][:1] == [("approval", above.role)]
    assert j.case.next_level == up.value and up.value in j.case.chain and level.value not in j.case.chain

    j.refused(approver, c.ApproveReply, BeyondAuthority, approved_reply="We pay", **{field: over})
    mark = j.mark()
    j.act(above, c.ApproveReply, approved_reply="We pay", **{field: over})
    [approved] = j.of(c.ReplyApproved, mark)
    assert (approved.authority_level, approved.approver_role, approved.final) == (up, above.role, True)
    assert getattr(approved, field) == Decimal(over)
    assert j.state is S.AWAITING_CUSTOMER_REPLY


@pytest.mark.parametrize(("reach", "approver", "field", "limit"), [
    pytest.param(_awaiting_approval, RM, "compensation", "2000.00", id="regional"),
    pytest.param(_west, Actor(user_id="rm-xu", role=Role.REGIONAL_MANAGER, branch="XA07"), "compensation", "1000.00",
                 id="regional-in-the-west"),
    pytest.param(_hq_chain, SUP, "company_cost", "10000.00", id="supervisor"),
])
def test_an_approval_at_the_limit_itself_is_accepted(reach: Callable[[], Journey], approver: Actor, field: str,
                                                     limit: str) -> None:
    j = reach()
    j.act(approver, c.ApproveReply, approved_reply="We pay", **{field: limit})
    assert getattr(j.of(c.ReplyApproved)[-1], field) == Decimal(limit)


def test_the_general_manager_is_the_top_and_cannot_escalate() -> None:
    j = _senior()
    j.approve(MD)
    error = j.refused(GM, c.EscalateApproval, reason="Up")
    assert (error.status, error.field) == (409, "state") and "highest" in str(error)


def test_an_approver_of_another_level_is_refused_naming_the_level() -> None:
    j = _awaiting_approval()
    error = j.refused(SUP, c.ApproveReply, BeyondAuthority, approved_reply="We pay")
    assert (error.status, error.field) == (403, "authority_level")
    assert "regional approval is given by regional_manager, not supervisor" in str(error)


# --- missing or contradictory fields: 422 naming the field -----------------------------------------


INVALID = [
    pytest.param(_fresh, RM, c.FileInternalMemo,
                 lambda j: dict(memo_id=uuid4(), addressed_to="hq_clerk", description="x",
                                requested_reply_by=utc_now() - timedelta(minutes=1)), "requested_reply_by",
                 id="memo-reply-time-past"),
    pytest.param(lambda: Journey(subject="staff", complained_about=ACCUSED), RM, c.FileInternalMemo,
                 lambda j: dict(memo_id=uuid4(), addressed_to="marketing_director", description="x",
                                requested_reply_by=utc_now() + timedelta(days=1)), "addressed_to",
                 id="staff-memo-to-the-director"),
    pytest.param(_memo_filed, HQ, c.DispatchInternalMemo,
                 lambda j: dict(memo_id=j.memo_id, destination="supervisor", department="sup-chen"), "destination",
                 id="department-memo-to-a-supervisor"),
    pytest.param(lambda: _with_supervisor_memo(), HQ, c.DispatchInternalMemo,
                 lambda j: dict(memo_id=j.memo_id, destination="responsible_department", department="Sales"),
                 "destination", id="staff-memo-to-a-department"),
    pytest.param(_memo_filed, HQ, c.DispatchInternalMemo,
                 lambda j: dict(memo_id=uuid4(), destination="responsible_department", department="Logistics"),
                 "memo_id", id="dispatch-another-memo"),
    pytest.param(_with_department, DEPT, c.RecordDepartmentReply,
                 lambda j: dict(memo_id=j.memo_id, department="Logistics", reply="x", cause="y",
                                signed_by=Signature(name="Clerk", role=Role.HQ_CLERK, signed_at=utc_now())),
                 "signed_by.role", id="reply-not-signed-by-the-head"),
    pytest.param(_with_department, DEPT, c.RecordDepartmentReply,
                 lambda j: dict(memo_id=uuid4(), department="Logistics", reply="x", cause="y", signed_by=_sig()),
                 "memo_id", id="reply-to-another-memo"),
    pytest.param(_with_supervisor, DEPT, c.RecordDepartmentReply,
                 lambda j: dict(memo_id=j.memo_id, department="Sales", reply="x", cause="y", signed_by=_sig()),
                 "memo_id", id="department-reply-to-a-staff-complaint"),
    pytest.param(_with_supervisor, SUP, c.RecordStaffInvestigation,
                 lambda j: dict(memo_id=j.memo_id, staff_member=ACCUSED, substantiated=True, findings="x",
                                opinion="y", exceeds_supervisor_authority=True), "direct_superior",
                 id="over-the-supervisor-without-the-direct-superior"),
    pytest.param(_with_department, SUP, c.RecordStaffInvestigation,
                 lambda j: dict(staff_member="x", substantiated=True, findings="x", opinion="y",
                                exceeds_supervisor_authority=False), "staff_member",
                 id="staff-investigation-of-a-department-case"),
    pytest.param(_awaiting_remedy, RM, c.RecordRemedy,
                 lambda j: dict(remedy="Refunded", delivered_at=utc_now() + timedelta(hours=1)), "delivered_at",
                 id="remedy-delivered-in-the-future"),
    pytest.param(_serious, GM, c.RecordUrgentMeeting,
                 lambda j: dict(held_at=utc_now() + timedelta(hours=1), chaired_by="gm-qian", attendees=["x"],
                                decisions="y"), "held_at", id="meeting-in-the-future"),
]


def _with_supervisor_memo() -> Journey:
    j = Journey(subject="staff", complained_about=ACCUSED)
    j.memo(addressed_to="supervisor")
    return j


@pytest.mark.parametrize(("reach", "actor", "command", "fields", "field"), INVALID)
def test_a_missing_or_contradictory_field_is_refused_naming_it(
        reach: Callable[[], Journey], actor: Actor, command: type, fields: FieldsOf, field: str) -> None:
    j = reach()
    error = j.refused(actor, command, **fields(j))
    assert (error.status, error.field) == (422, field)


def test_only_the_named_handler_gives_the_cause_and_a_handler_is_named_first() -> None:
    j = _fresh()
    first = j.refused(RM, c.ProposeCauseAndSolution, cause="x", cause_category="transport", valid=True,
                      proposed_solution="y")
    assert (first.status, first.field) == (409, "handler")
    j.handler()
    other = j.refused(Actor(user_id="rm-zhou", role=Role.REGIONAL_MANAGER), c.ProposeCauseAndSolution, Forbidden,
                      cause="x", cause_category="transport", valid=True, proposed_solution="y")
    assert (other.status, other.field) == (403, "actor") and "rm-wang" in str(other)
    again = j.refused(HQ, c.AssignHandler, handler="rm-wang", handler_role="regional_manager")
    assert (again.status, again.field) == (409, "handler")


def test_a_case_without_a_handler_cannot_close() -> None:
    j = Journey(subject="product_quality")
    j.dispatch_on_site()
    j.quality_decision()
    j.quality_remedy()
    j.reply()
    j.follow_up("satisfied")
    assert ("handler", Role.HQ_CLERK) in j.steps()
    error = j.refused(HQ, c.CloseComplaint, resolution_summary="Done")
    assert (error.status, error.field) == (409, "handler")


# --- the person complained about (§5.3.2⑴) ----------------------------------------------------------


@pytest.mark.parametrize(("reach", "role", "command", "fields"), [
    pytest.param(lambda: Journey(subject="staff", complained_about=ACCUSED), Role.REGIONAL_MANAGER,
                 c.FileInternalMemo, lambda j: dict(memo_id=uuid4(), addressed_to="supervisor", description="x",
                                                    requested_reply_by=utc_now() + timedelta(days=1)), id="memo"),
    pytest.param(lambda: Journey(subject="staff", complained_about=ACCUSED), Role.HQ_CLERK, c.AssignHandler,
                 lambda j: dict(handler="sup-chen", handler_role="supervisor"), id="assign-handler"),
    pytest.param(_with_supervisor, Role.SUPERVISOR, c.RecordStaffInvestigation,
                 lambda j: dict(memo_id=j.memo_id, staff_member=ACCUSED, substantiated=False, findings="x",
                                opinion="y", exceeds_supervisor_authority=False), id="investigate-themselves"),
    pytest.param(lambda: Journey(subject="staff", complained_about=ACCUSED), Role.BRANCH_CLERK,
                 c.RecordUnreasonableDemand, lambda j: dict(demand="x", call_recording_ref="R", company_position="y",
                                                            customer_accepted_position=True), id="unreasonable"),
])
@pytest.mark.parametrize("user", [ACCUSED, ACCUSED.upper()])
def test_the_person_complained_about_may_not_act_on_the_complaint(
        reach: Callable[[], Journey], role: Role, command: type, fields: FieldsOf, user: str) -> None:
    j = reach()
    error = j.refused(Actor(user_id=user, role=role), command, Forbidden, **fields(j))
    assert (error.status, error.field) == (403, "actor") and "person complained about" in str(error)


def test_the_person_complained_about_is_never_named_handler_nor_sent_the_memo() -> None:
    j = Journey(subject="staff", complained_about=ACCUSED)
    error = j.refused(HQ, c.AssignHandler, handler="Sales-Ma", handler_role="salesperson")
    assert (error.status, error.field) == (422, "handler")
    j.memo(addressed_to="supervisor")
    error = j.refused(HQ, c.DispatchInternalMemo, memo_id=j.memo_id, destination="supervisor", department=ACCUSED)
    assert (error.status, error.field) == (422, "department")


# === bugs found while writing these tests (strict: they pass once fixed) ===========================


def test_a_rejected_dispute_keeps_the_remedy_that_is_still_owed() -> None:
    j = _awaiting_remedy()  # replied: "Refund", 500.00 CNY, not yet delivered
    j.dispute()
    j.rule(MD, outcome="rejected", remedy=None)
    mark = j.mark()
    assert j.reply().state is S.AWAITING_REMEDY
    assert j.of(c.CustomerReplied, mark)[0].remedy_pending


def test_a_quality_remedy_delivered_before_the_decision_arrives_is_not_lost() -> None:
    j = Journey(subject="product_quality")
    _to_quality(j)
    j.quality_remedy()
    j.quality_decision()
    assert j.reply().state is S.AWAITING_FOLLOW_UP


def test_a_direct_answer_ends_the_on_site_visit_deadline() -> None:
    j = _awaiting_triage()
    assert j.deadline(DeadlineKind.ON_SITE_VISIT).status == "open"
    j.act(HQ, c.AnswerQualityQuestion, answer="Use grade 2 oil", channel="phone")
    assert j.deadline(DeadlineKind.ON_SITE_VISIT).status != "open"


def test_a_direct_answer_overturned_by_a_dispute_closes_as_resolved_after_dispute() -> None:
    j = _awaiting_triage()
    j.act(HQ, c.AnswerQualityQuestion, answer="Use grade 2 oil", channel="phone")
    j.dispute("national_authority", "SAMR")
    j.rule(HQ, ruled_by="SAMR", outcome="upheld", remedy="Replace the unit", determination="obvious_quality_defect",
           responsible_party="company")
    j.reply()
    j.remedy(HQ)
    j.follow_up("satisfied")
    j.close()
    assert j.of(c.ComplaintClosed)[-1].outcome.value == "resolved_after_dispute"


def test_the_person_complained_about_cannot_be_named_negotiator() -> None:
    j = Journey(subject="staff", severity="serious", serious_reasons=["lawyer"], complained_about=ACCUSED)
    error = j.refused(GM, c.NameNegotiator, negotiator=ACCUSED, negotiator_role="salesperson")
    assert (error.status, error.field) == (422, "negotiator")


def _quality_decided() -> Journey:
    j = Journey(subject="product_quality")
    _to_quality(j)
    j.quality_decision()
    return j


def _ruled() -> Journey:
    j = _disputed_at_hq()
    j.rule(MD)
    return j


def _regional_redo() -> Journey:
    j = _awaiting_approval()
    j.act(RM, c.RejectReply, reason="Check the carrier's log first")
    return j


def _department_redo() -> Journey:
    j = _hq_chain()
    j.act(SUP, c.RejectReply, reason="Not signed off properly")
    return j


def _serious_memo_returned() -> Journey:
    j = _serious()
    j.memo(addressed_to="marketing_director")
    j.act(HQ, c.ReturnInternalMemo, memo_id=j.memo_id, missing=["photos"], reason="No photos")
    return j


def _one_clock(what: str) -> Any:
    return pytest.mark.xfail(strict=True, reason=(
        f"KNOWN GAP: one {what}; the first round met it, and a clock is started once (a "
        "repeated start changes nothing), so the step done again is named with its deadline kind but no due time"))


def _other_with_handler() -> Journey:
    j = Journey(subject="other")
    j.handler()
    return j


@pytest.mark.parametrize(("reach", "step", "kind"), [
    pytest.param(_quality_decided, "customer-reply", DeadlineKind.CUSTOMER_REPLY, id="after-a-quality-decision"),
    pytest.param(_other_with_handler, "cause-and-solution", DeadlineKind.CAUSE_AND_SOLUTION,
                 id="cause-and-solution-of-an-other-complaint"),
    pytest.param(_ruled, "customer-reply", DeadlineKind.CUSTOMER_REPLY, id="after-a-ruling",
                 marks=_one_clock("customer_reply clock per complaint")),
    pytest.param(_regional_redo, "cause-and-solution", DeadlineKind.CAUSE_AND_SOLUTION,
                 id="cause-and-solution-after-a-rejection",
                 marks=_one_clock("cause_and_solution clock per complaint")),
    pytest.param(_department_redo, "department-reply", DeadlineKind.DEPARTMENT_REPLY,
                 id="department-reply-after-a-rejection", marks=_one_clock("department_reply clock per memo")),
    pytest.param(_serious_memo_returned, "memo", DeadlineKind.MARKETING_DIRECTOR_REVIEW,
                 id="serious-memo-after-a-return",
                 marks=_one_clock("marketing_director_review clock per complaint")),
])
def test_an_awaited_step_that_names_its_deadline_has_a_due_time(
        reach: Callable[[], Journey], step: str, kind: DeadlineKind) -> None:
    j = reach()
    [action] = [a for a in j.awaited().actions if a.step == step]
    assert action.deadline_kind is kind
    assert action.due_at is not None


@pytest.mark.parametrize("kind", ["inquiry", "suggestion"])
def test_the_inbox_of_an_answered_inquiry_or_suggestion_says_it_is_closed(kind: str) -> None:
    j = Journey(subject="other", kind=kind)
    if kind == "inquiry":
        received = j.registered.received_at
        j.upstream(InquiryAnswered, ServiceName.INTAKE, customer=j.registered.customer, question="Hours?",
                   answer="9 to 5", answered_by="hq-zhao", channel="phone", received_at=received,
                   due_at=received + timedelta(hours=24), answered_at=received + timedelta(hours=1))
    else:
        j.upstream(SuggestionAnswered, ServiceName.INTAKE, adopted=True, answer="Thank you", answered_by="hq-zhao",
                   channel="letter", answered_at=utc_now())
    assert j.state is S.CLOSED
    assert (j.awaited().state, j.awaited().actions) == (S.CLOSED, [])


@pytest.mark.parametrize("subject", ["policy_service", "transport_packaging", "other"])
def test_the_cause_and_solution_clock_starts_when_the_handler_is_named(subject: str) -> None:
    j = Journey(subject=subject)
    j.handler()
    started = [e for e in published(j.app) if e.complaint_id == j.cid and isinstance(e, c.DeadlineSet)
               and e.deadline.kind is DeadlineKind.CAUSE_AND_SOLUTION]
    [assigned] = j.of(c.HandlerAssigned)
    assert len(started) == 1 and started[0].notification_id > assigned.notification_id
