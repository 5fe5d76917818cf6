"""Routing's commands over its event store: each human step on a case, in one unit of work with the
deadlines it starts or meets and the list of who must act next."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from contracts import routing as c
from contracts.envelope import ServiceName, utc_now
from contracts.registration import Customer, ProductDetails
from contracts.routing import CaseState, Deadline
from services.common.consumer import UnitOfWork
from services.common.domain import EventMeta, NotFound
from services.common.store import ServiceApplication
from services.common.authority import AuthorityMatrix, load_authority
from services.routing.domain.case import ComplaintCase


@dataclass(frozen=True)
class StepDone:
    """A step's answer: where the case stands after it; `created` false for a repeated command."""

    complaint_id: UUID
    form_number: str
    state: CaseState
    version: int
    created: bool


#: Each command and the case method that carries it out (matrix: the authority matrix; now: the clock).
Step = Callable[[ComplaintCase, EventMeta, Any, AuthorityMatrix, datetime, int], None]

STEPS: dict[type, Step] = {
    c.AnswerQualityQuestion: lambda case, meta, cmd, m, now, n: case.answer_quality_question(
        meta, cmd.answer, cmd.channel.value),
    c.DispatchOnSiteVisit: lambda case, meta, cmd, m, now, n: case.dispatch_on_site(
        meta, cmd.regional_manager, cmd.note),
    c.AssignHandler: lambda case, meta, cmd, m, now, n: case.assign_handler(
        meta, cmd.handler, cmd.handler_role.value),
    c.ProposeCauseAndSolution: lambda case, meta, cmd, m, now, n: case.propose_cause_and_solution(
        meta, m, cmd.cause, cmd.cause_category.value, cmd.valid, cmd.responsible_person, cmd.proposed_solution,
        cmd.compensation, cmd.company_cost),
    c.FileInternalMemo: lambda case, meta, cmd, m, now, n: case.file_memo(
        meta, cmd.memo_id, cmd.addressed_to.value, cmd.description, cmd.requested_reply_by, cmd.urgency.value,
        cmd.attachments, cmd.crosses_departments, now),
    c.DispatchInternalMemo: lambda case, meta, cmd, m, now, n: case.dispatch_memo(
        meta, cmd.memo_id, cmd.destination.value, cmd.department),
    c.ReturnInternalMemo: lambda case, meta, cmd, m, now, n: case.return_memo(
        meta, cmd.memo_id, list(cmd.missing), cmd.reason),
    c.RecordDepartmentReply: lambda case, meta, cmd, m, now, n: case.record_department_reply(
        meta, m, cmd.memo_id, cmd.department, cmd.reply, cmd.cause, cmd.responsible_person, cmd.proposed_remedy,
        cmd.compensation, cmd.signed_by, cmd.attachments),
    c.RecordStaffInvestigation: lambda case, meta, cmd, m, now, n: case.record_staff_investigation(
        meta, m, cmd.memo_id, cmd.staff_member, cmd.substantiated, cmd.findings, cmd.opinion, cmd.compensation,
        cmd.exceeds_supervisor_authority, cmd.direct_superior),
    c.ApproveReply: lambda case, meta, cmd, m, now, n: case.approve(
        meta, m, cmd.approved_reply, cmd.remedy, cmd.compensation, cmd.company_cost),
    c.RejectReply: lambda case, meta, cmd, m, now, n: case.reject(meta, m, cmd.reason),
    c.EscalateApproval: lambda case, meta, cmd, m, now, n: case.escalate(meta, m, cmd.reason),
    c.ReplyToCustomer: lambda case, meta, cmd, m, now, n: case.reply_to_customer(
        meta, cmd.channel.value, cmd.reply),
    c.RecordRemedy: lambda case, meta, cmd, m, now, n: case.record_remedy(
        meta, cmd.remedy, cmd.delivered_at, cmd.compensation_paid, cmd.reference, now),
    c.RecordSatisfactionFollowUp: lambda case, meta, cmd, m, now, n: case.record_follow_up(
        meta, n, cmd.channel.value, cmd.reached_customer, cmd.satisfaction.value if cmd.satisfaction else None,
        cmd.comments),
    c.RaiseDispute: lambda case, meta, cmd, m, now, n: case.raise_dispute(
        meta, cmd.dispute_id, cmd.forum.value, cmd.authority_name, cmd.disputed_decision, cmd.grounds),
    c.RuleDispute: lambda case, meta, cmd, m, now, n: case.rule_dispute(
        meta, cmd.dispute_id, cmd.ruled_by, cmd.outcome.value, cmd.ruling, cmd.remedy,
        cmd.determination.value if cmd.determination else None,
        cmd.responsible_party.value if cmd.responsible_party else None,
        cmd.misuse_resolution.value if cmd.misuse_resolution else None),
    c.CloseComplaint: lambda case, meta, cmd, m, now, n: case.close(meta, cmd.resolution_summary, now),
    c.RecordUnreasonableDemand: lambda case, meta, cmd, m, now, n: case.record_unreasonable_demand(
        meta, cmd.demand, cmd.call_recording_ref, cmd.company_position, cmd.customer_accepted_position,
        cmd.arbitration_proposed_to.value if cmd.arbitration_proposed_to else None),
    c.RecordUrgentMeeting: lambda case, meta, cmd, m, now, n: case.record_urgent_meeting(
        meta, cmd.held_at, cmd.chaired_by, list(cmd.attendees), cmd.decisions, now),
    c.NameNegotiator: lambda case, meta, cmd, m, now, n: case.name_negotiator(
        meta, cmd.negotiator, cmd.negotiator_role.value),
    c.DecideRepeatLink: lambda case, meta, cmd, m, now, n: case.decide_repeat_link(meta, cmd.confirmed, cmd.reason),
}


def command_fingerprint(command: c.ComplaintCommand) -> str:
    """What a command asks, apart from when it was sent: the same id must ask the same again."""
    asked = command.model_dump(mode="json", exclude={"command_id", "issued_at", "correlation_id"})
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


class RoutingApplication(ServiceApplication):
    SERVICE = ServiceName.ROUTING
    VALUE_TYPES = (EventMeta, ProductDetails, Deadline, Customer)

    def __init__(self, *args: Any, clock: Callable[[], datetime] = utc_now, authority: AuthorityMatrix | None = None,
                 follow_up_attempts: int = 3, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.authority = authority or load_authority()
        self.follow_up_attempts = follow_up_attempts
        self.policy: Any = None  # the RoutingPolicy, set by bootstrap: deadlines and inbox after each step

    def find_case(self, complaint_id: UUID) -> ComplaintCase:
        """The case, or `NotFound` (the edge checks the caller's scope on its branch)."""
        try:
            case = self.repository.get(complaint_id)
        except AggregateNotFoundError:
            raise NotFound(f"routing has no case for complaint {complaint_id}") from None
        if not isinstance(case, ComplaintCase):
            raise NotFound(f"routing has no case for complaint {complaint_id}")
        return case

    def handle(self, command: c.ComplaintCommand) -> StepDone:
        """Carry out one step; a repeated command id answers the state now and writes nothing. A
        refused step raises before anything is saved."""
        uow = UnitOfWork(self)
        case = uow.add(self.find_case(command.complaint_id))
        fingerprint = command_fingerprint(command)
        if case.repeated_with(command.command_id, fingerprint):
            return StepDone(case.id, case.meta.form_number, case.case_state, case.version, created=False)
        before = {case.id: 0}
        meta = case.meta.caused_by(command.command_id, command.actor)
        case.take(meta, command.command_id, fingerprint)
        STEPS[type(command)](case, meta, command, self.authority, self.clock(), self.follow_up_attempts)
        if isinstance(command, c.DecideRepeatLink) and command.confirmed:
            other = uow.get(UUID(case.repeat_of["complaint_id"]))
            if isinstance(other, ComplaintCase):
                before.setdefault(other.id, len(other.pending_events))
                other.note_repeat(other.meta.caused_by(command.command_id, command.actor), case.id,
                                  case.meta.form_number, command.actor.user_id)
        if self.policy is not None:
            self.policy.follow_up(uow, before, meta)
        uow.check_new_events({})
        self.save(*uow.aggregates.values())
        return StepDone(case.id, case.meta.form_number, case.case_state, case.version, created=True)
