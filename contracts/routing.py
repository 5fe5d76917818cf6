"""Routing and approval at headquarters (domain.md §5.3): routing's messages."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, StrictBool, model_validator

from contracts.envelope import (
    ARCHIVE_DOCUMENTS_MAX, DEPARTMENTS_MAX, Attachment, Attachments, ComplaintCommand, Envelope, Frozen,
    Money, NonEmptyStr, Role, Rules, ServiceName, ShortStr, Signature, describe,
)
from contracts.quality import Determination, ResponsibleParty
from contracts.registration import (
    Channel, Customer, ProductDetails, RequestKind, SeriousReason, Severity, Subject,
)


class Destination(StrEnum):
    """Who a complaint case is routed to."""

    QUALITY_DEPARTMENT = "quality_department"
    REGIONAL_MANAGER = "regional_manager"
    SUPERVISOR = "supervisor"
    RESPONSIBLE_DEPARTMENT = "responsible_department"
    MARKETING_DIRECTOR = "marketing_director"
    HQ_CLERK = "hq_clerk"
    SENIOR_MANAGEMENT = "senior_management"


class ComplaintRouted(Envelope):
    """A case was classified and routed to the party that handles it next."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["ComplaintRouted"] = "ComplaintRouted"
    schema_version: Literal[1] = 1
    destination: Destination
    reason: NonEmptyStr
    subject: Subject
    severity: Severity
    description: NonEmptyStr
    product: ProductDetails | None = None
    respond_by: AwareDatetime | None = None


# --- value types ------------------------------------------------------------------------------


class HandlingTrack(StrEnum):
    """Which path of §5.3 a classified complaint takes."""

    REGIONAL = "regional"                  # within regional authority; summarised monthly (§5.3.1⑴)
    HEADQUARTERS = "headquarters"          # crosses departments or exceeds regional authority (§5.3.1⑵)
    STAFF_SUPERVISOR = "staff_supervisor"  # about a salesperson's work or attitude (§5.3.2)
    QUALITY = "quality"                    # product quality (§5.3.3)
    HQ_DIRECT_ANSWER = "hq_direct_answer"  # simple or spurious question answered by the HQ clerk (§5.3.3⑵)
    SENIOR_MANAGEMENT = "senior_management"  # serious, or raised through an external body


class AuthorityLevel(StrEnum):
    """Whose authority an approval is given under (§4, §5.3)."""

    REGIONAL = "regional"                      # the regional manager, within regional authority
    SUPERVISOR = "supervisor"                  # the competent supervisor (权责主管)
    MARKETING_DIRECTOR = "marketing_director"  # beyond regional/supervisor authority or cross-department
    GENERAL_MANAGER = "general_manager"        # serious complaints


#: Who may approve under each authority level.
APPROVER_ROLES: dict[AuthorityLevel, frozenset[Role]] = {
    AuthorityLevel.REGIONAL: frozenset({Role.REGIONAL_MANAGER}),
    AuthorityLevel.SUPERVISOR: frozenset({Role.SUPERVISOR}),
    AuthorityLevel.MARKETING_DIRECTOR: frozenset({Role.MARKETING_DIRECTOR}),
    AuthorityLevel.GENERAL_MANAGER: frozenset({Role.GENERAL_MANAGER}),
}


class DeadlineKind(StrEnum):
    ON_SITE_VISIT = "on_site_visit"                      # 2 working days (§4.2)
    ON_SITE_SAMPLING = "on_site_sampling"                # 2-3 working hours after dispatch, or agreed (§5.3.3⑷)
    MARKETING_DIRECTOR_REVIEW = "marketing_director_review"  # 1 working day (§5.3.1⑵)
    HEADQUARTERS_REPLY = "headquarters_reply"            # 24 hours after review (§5.3.1⑵)
    MEMO_DISPATCH = "memo_dispatch"                      # 2 working hours (§5.3.1⑷)
    DEPARTMENT_REPLY = "department_reply"                # the reply time the memo requests (§5.3.1⑸)
    CUSTOMER_REPLY = "customer_reply"                    # 1 working hour after the approved reply (§5.3.1⑹)
    CORRECTIVE_ACTION = "corrective_action"              # the deadline set for fixing the cause (§4.5)
    SATISFACTION_FOLLOW_UP = "satisfaction_follow_up"    # after closure
    INQUIRY_ANSWER = "inquiry_answer"                    # at once, else 24 hours (95279)
    CAUSE_AND_SOLUTION = "cause_and_solution"            # 1 working day after assignment (car dealer, pharma)


class TimeBasis(StrEnum):
    """How a deadline's duration is counted."""

    WORKING_HOURS = "working_hours"    # working hours of the working calendar
    WORKING_DAYS = "working_days"      # working days (weekends and holidays skipped)
    CALENDAR_HOURS = "calendar_hours"  # wall-clock hours, e.g. "within 24 hours"
    AGREED_TIME = "agreed_time"        # a time agreed with the customer or requested in a memo


class Deadline(Frozen):
    """A deadline: what must happen by when, counted how. Deadlines are events, not sleeps."""

    deadline_id: UUID
    kind: DeadlineKind
    basis: TimeBasis
    amount: int | None = Field(default=None, ge=1,
                               description="Number of basis units (hours or days); None for agreed_time")
    started_at: AwareDatetime = Field(description="When the clock started")
    due_at: AwareDatetime
    responsible_role: Role
    responsible: ShortStr | None = Field(default=None, description="Person or department responsible")
    memo_id: UUID | None = None
    rule_version: ShortStr | None = Field(default=None, description="Version of the deadline rules table applied")
    calendar_version: ShortStr | None = Field(default=None, description="Version of the working calendar applied")
    provisional: StrictBool = Field(
        default=False, description="True: the due time crosses a year the calendar does not cover yet")
    escalation_level: int = Field(default=0, ge=0, le=10, description="0: the original deadline; n: the nth escalation")

    @model_validator(mode="after")
    def _consistent(self) -> Deadline:
        Rules(self).require(
            self.due_at > self.started_at, "due_at", "must be after started_at",
        ).require(
            (self.amount is None) == (self.basis is TimeBasis.AGREED_TIME), "amount",
            "required for a counted basis, and only then (not for agreed_time)",
        ).check()
        return self


class DisputeKind(StrEnum):
    POLICY_SERVICE = "policy_service"
    STAFF = "staff"
    QUALITY_DETERMINATION = "quality_determination"


class DisputeForum(StrEnum):
    """Where a dispute is decided (§5.6)."""

    HEADQUARTERS = "headquarters"                            # HQ rules finally (§5.6.1)
    NATIONAL_AUTHORITY = "national_authority"                # §5.6.2
    INDEPENDENT_DETERMINATION = "independent_determination"  # §5.6.2


#: Which forums hear which dispute (§5.6).
DISPUTE_FORUMS: dict[DisputeKind, frozenset[DisputeForum]] = {
    DisputeKind.POLICY_SERVICE: frozenset({DisputeForum.HEADQUARTERS}),
    DisputeKind.STAFF: frozenset({DisputeForum.HEADQUARTERS}),
    DisputeKind.QUALITY_DETERMINATION: frozenset(
        {DisputeForum.NATIONAL_AUTHORITY, DisputeForum.INDEPENDENT_DETERMINATION}
    ),
}


class DisputeOutcome(StrEnum):
    UPHELD = "upheld"                      # the customer was right; the decision changes
    PARTIALLY_UPHELD = "partially_upheld"
    REJECTED = "rejected"                  # the company's decision stands


class ClosureOutcome(StrEnum):
    RESOLVED = "resolved"
    RESOLVED_AFTER_DISPUTE = "resolved_after_dispute"
    ANSWERED_DIRECTLY = "answered_directly"  # simple or spurious question answered by HQ (§5.3.3⑵)
    WITHDRAWN = "withdrawn"
    UNFOUNDED = "unfounded"


class Satisfaction(StrEnum):
    VERY_SATISFIED = "very_satisfied"
    SATISFIED = "satisfied"
    NEUTRAL = "neutral"
    DISSATISFIED = "dissatisfied"
    VERY_DISSATISFIED = "very_dissatisfied"


def _dispute_rules(rules: Rules, kind: DisputeKind, forum: DisputeForum) -> Rules:
    return rules.require(
        forum in DISPUTE_FORUMS[kind], "forum",
        f"a {kind.value} dispute goes to {describe(DISPUTE_FORUMS[kind])} (§5.6)",
    )


def _approver_rules(rules: Rules, level: AuthorityLevel, role: Role, field: str) -> Rules:
    return rules.require(
        role in APPROVER_ROLES[level], field,
        f"{level.value} authority is given by {describe(APPROVER_ROLES[level])}, not {role.value}",
    )


# --- events -----------------------------------------------------------------------------------


class ComplaintClassified(Envelope):
    """HQ classified the case: subject, severity, kind, and the §5.3 track it follows."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["ComplaintClassified"] = "ComplaintClassified"
    schema_version: Literal[1] = 1
    subject: Subject
    severity: Severity
    kind: RequestKind
    channel: Channel
    track: HandlingTrack
    crosses_departments: StrictBool = False
    rationale: NonEmptyStr | None = None
    customer: Customer
    product: ProductDetails | None = None


class InternalMemoFiled(Envelope):
    """An internal memo 《内联单》 was filed for the complaint (§5.3.1⑶)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["InternalMemoFiled"] = "InternalMemoFiled"
    schema_version: Literal[1] = 1
    memo_id: UUID
    filed_by: ShortStr
    filed_by_role: Role
    addressed_to: Destination
    subject: Subject
    severity: Severity
    customer: Customer
    description: NonEmptyStr = Field(description="Detailed description of the complaint")
    requested_reply_by: AwareDatetime
    attachments: Attachments = Field(default_factory=list, description="Faxes, samples, photos")
    registration_form_attached: StrictBool = True

    @model_validator(mode="after")
    def _reply_time(self) -> InternalMemoFiled:
        Rules(self).require(
            self.requested_reply_by > self.occurred_at, "requested_reply_by", "must be after the memo is filed",
        ).check()
        return self


class InternalMemoDispatched(Envelope):
    """The HQ clerk checked the memo and dispatched it to the responsible department (§5.3.1⑷)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["InternalMemoDispatched"] = "InternalMemoDispatched"
    schema_version: Literal[1] = 1
    memo_id: UUID
    dispatched_by: ShortStr
    destination: Destination
    department: ShortStr = Field(description="The department or person the memo went to")
    description: NonEmptyStr
    attachments: Attachments = Field(default_factory=list)
    memo_received_at: AwareDatetime
    dispatch_due_at: AwareDatetime = Field(description="2 working hours after memo_received_at")
    requested_reply_by: AwareDatetime


class StaffComplaintInvestigated(Envelope):
    """The supervisor of the staff member complained about investigated and gave an opinion (§5.3.2)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["StaffComplaintInvestigated"] = "StaffComplaintInvestigated"
    schema_version: Literal[1] = 1
    memo_id: UUID | None = None
    staff_member: ShortStr
    supervisor: ShortStr
    substantiated: StrictBool = Field(description="Whether the complaint was found true")
    findings: NonEmptyStr
    opinion: NonEmptyStr = Field(description="The supervisor's proposed handling")
    exceeds_supervisor_authority: StrictBool = Field(
        description="True: the HQ clerk takes it to the marketing director (§5.3.2⑶)"
    )


class DepartmentReplyReceived(Envelope):
    """The responsible department answered the memo, signed by its head (§5.3.1⑸)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["DepartmentReplyReceived"] = "DepartmentReplyReceived"
    schema_version: Literal[1] = 1
    memo_id: UUID
    department: ShortStr
    reply: NonEmptyStr
    proposed_remedy: NonEmptyStr | None = None
    signed_by: Signature = Field(description="The department head's signature")
    requested_reply_by: AwareDatetime
    attachments: Attachments = Field(default_factory=list)

    @property
    def late(self) -> bool:
        return self.occurred_at > self.requested_reply_by


class ReplyApproved(Envelope):
    """A reply to the customer was approved under an authority level (§5.3.1⑹, §5.3.2⑶)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["ReplyApproved"] = "ReplyApproved"
    schema_version: Literal[1] = 1
    memo_id: UUID | None = None
    approver: ShortStr
    approver_role: Role
    authority_level: AuthorityLevel
    approved_reply: NonEmptyStr = Field(description="The reply as approved, to be given to the customer")
    remedy: NonEmptyStr | None = None
    compensation: Money | None = Field(default=None, description="CNY offered to the customer, if any")
    final: StrictBool = Field(description="True: the approval chain is complete and the customer can be answered")
    customer_reply_due_at: AwareDatetime | None = Field(
        default=None, description="1 working hour after the final approval (§5.3.1⑹); set when final"
    )

    @model_validator(mode="after")
    def _authority(self) -> ReplyApproved:
        rules = _approver_rules(Rules(self), self.authority_level, self.approver_role, "approver_role")
        rules.require(
            (self.customer_reply_due_at is not None) == self.final, "customer_reply_due_at",
            "set exactly when the approval is final",
        ).check()
        return self


class SeriousComplaintEscalated(Envelope):
    """A serious complaint: the department heads and the general manager were called in at once."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["SeriousComplaintEscalated"] = "SeriousComplaintEscalated"
    schema_version: Literal[1] = 1
    reasons: list[SeriousReason] = Field(min_length=1, max_length=len(SeriousReason))
    subject: Subject
    description: NonEmptyStr
    customer: Customer
    claim_amount: Money | None = Field(default=None, description="CNY claimed, if any")
    departments: list[ShortStr] = Field(min_length=1, max_length=DEPARTMENTS_MAX,
                                       description="Departments whose heads are called in")
    notified_roles: list[Role] = Field(min_length=1, max_length=len(Role))

    @model_validator(mode="after")
    def _general_manager(self) -> SeriousComplaintEscalated:
        Rules(self).require(
            Role.GENERAL_MANAGER in self.notified_roles, "notified_roles", "must include general_manager",
        ).check()
        return self


class DeadlineSet(Envelope):
    """A deadline started; a durable timer fires at `deadline.due_at`."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["DeadlineSet"] = "DeadlineSet"
    schema_version: Literal[1] = 1
    deadline: Deadline


class DeadlineMet(Envelope):
    """The step a deadline guarded was done; its timer is cleared."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["DeadlineMet"] = "DeadlineMet"
    schema_version: Literal[1] = 1
    deadline: Deadline
    completed_at: AwareDatetime

    @property
    def late(self) -> bool:
        return self.completed_at > self.deadline.due_at


class DeadlineMissed(Envelope):
    """A deadline passed with its step not done; names who was responsible for the step."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["DeadlineMissed"] = "DeadlineMissed"
    schema_version: Literal[1] = 1
    deadline: Deadline
    missed_at: AwareDatetime | None = None
    responsible_for_delay: ShortStr | None = Field(
        default=None, description="The person (or, unnamed, the role) responsible for the delayed step")


class DeadlinePaused(Envelope):
    """The clock of a deadline stopped while the step waits on the customer."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["DeadlinePaused"] = "DeadlinePaused"
    schema_version: Literal[1] = 1
    deadline: Deadline
    paused_at: AwareDatetime
    remaining_seconds: int = Field(ge=0, description="Working (or clock) seconds left when paused")
    reason: ShortStr


class DeadlineResumed(Envelope):
    """The clock runs again with the time that remained; `deadline.due_at` is the new due time."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["DeadlineResumed"] = "DeadlineResumed"
    schema_version: Literal[1] = 1
    deadline: Deadline
    resumed_at: AwareDatetime
    reason: ShortStr


class DeadlineCancelled(Envelope):
    """The step a deadline guarded is no longer needed (the complaint was withdrawn or closed)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["DeadlineCancelled"] = "DeadlineCancelled"
    schema_version: Literal[1] = 1
    deadline: Deadline
    cancelled_at: AwareDatetime
    reason: ShortStr


class DeadlineReplanned(Envelope):
    """An open deadline was planned again under a new calendar or rules version (explicitly)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["DeadlineReplanned"] = "DeadlineReplanned"
    schema_version: Literal[1] = 1
    deadline: Deadline
    previous_due_at: AwareDatetime
    previous_calendar_version: ShortStr | None = None
    reason: ShortStr


class OverdueHandlingEscalated(Envelope):
    """Overdue handling was escalated to a higher level, with a new deadline."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["OverdueHandlingEscalated"] = "OverdueHandlingEscalated"
    schema_version: Literal[1] = 1
    missed: Deadline
    escalation_level: int = Field(ge=1, description="1 for the first escalation of this deadline, and so on")
    escalated_to_role: Role
    escalated_to: ShortStr | None = None
    reason: NonEmptyStr
    new_deadline: Deadline | None = None


class CustomerReplied(Envelope):
    """The branch clerk gave the customer the approved reply (§5.3.1⑹)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["CustomerReplied"] = "CustomerReplied"
    schema_version: Literal[1] = 1
    replied_by: ShortStr
    channel: Channel
    reply: NonEmptyStr
    remedy: NonEmptyStr | None = None
    compensation: Money | None = None
    approved_by: ShortStr
    due_at: AwareDatetime | None = None
    customer_accepts: StrictBool | None = Field(default=None, description="None when the customer has not said")


class DisputeRaised(Envelope):
    """The customer disputes the outcome (§5.6)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["DisputeRaised"] = "DisputeRaised"
    schema_version: Literal[1] = 1
    dispute_id: UUID
    dispute_kind: DisputeKind
    forum: DisputeForum
    authority_name: ShortStr | None = Field(default=None, description="The external body, if any")
    disputed_decision: NonEmptyStr
    grounds: NonEmptyStr

    @model_validator(mode="after")
    def _forum(self) -> DisputeRaised:
        _dispute_rules(Rules(self), self.dispute_kind, self.forum).check()
        return self


class DisputeRuled(Envelope):
    """A dispute was decided: finally by HQ, or by the external body for a quality dispute (§5.6)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["DisputeRuled"] = "DisputeRuled"
    schema_version: Literal[1] = 1
    dispute_id: UUID
    dispute_kind: DisputeKind
    forum: DisputeForum
    ruled_by: ShortStr
    outcome: DisputeOutcome
    ruling: NonEmptyStr
    final: StrictBool
    determination: Determination | None = Field(
        default=None, description="For a quality dispute: the determination the ruling reached"
    )
    responsible_party: ResponsibleParty | None = None

    @model_validator(mode="after")
    def _forum(self) -> DisputeRuled:
        rules = _dispute_rules(Rules(self), self.dispute_kind, self.forum)
        rules.require(
            self.forum is not DisputeForum.HEADQUARTERS or self.final, "final", "HQ rules finally (§5.6.1)",
        ).require(
            self.determination is None or self.dispute_kind is DisputeKind.QUALITY_DETERMINATION,
            "determination", "only for a quality dispute",
        ).check()
        return self


class ComplaintClosed(Envelope):
    """The complaint was closed; a satisfaction follow-up may follow."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["ComplaintClosed"] = "ComplaintClosed"
    schema_version: Literal[1] = 1
    outcome: ClosureOutcome
    resolution_summary: NonEmptyStr
    subject: Subject
    severity: Severity
    kind: RequestKind
    received_at: AwareDatetime = Field(description="When the complaint was received at intake")
    customer_agrees: StrictBool | None = None
    follow_up_due_at: AwareDatetime | None = None


class SatisfactionFollowUpRecorded(Envelope):
    """The customer-satisfaction follow-up after closure was made."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["SatisfactionFollowUpRecorded"] = "SatisfactionFollowUpRecorded"
    schema_version: Literal[1] = 1
    contacted_by: ShortStr
    channel: Channel
    reached_customer: StrictBool
    satisfaction: Satisfaction | None = None
    comments: NonEmptyStr | None = None

    @model_validator(mode="after")
    def _answer(self) -> SatisfactionFollowUpRecorded:
        Rules(self).require(
            (self.satisfaction is not None) == self.reached_customer, "satisfaction",
            "required when the customer was reached, and only then",
        ).check()
        return self


class ComplaintArchived(Envelope):
    """Everything produced while handling the complaint was archived by category (§5.8)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["ComplaintArchived"] = "ComplaintArchived"
    schema_version: Literal[1] = 1
    archived_by: ShortStr
    category: Subject
    archive_ref: ShortStr
    documents: list[Attachment] = Field(default_factory=list, max_length=ARCHIVE_DOCUMENTS_MAX)


# --- commands (HTTP users) --------------------------------------------------------------------


class ClassifyComplaint(ComplaintCommand):
    """Command: HQ classifies the case and picks its §5.3 track."""

    command_type: Literal["ClassifyComplaint"] = "ClassifyComplaint"
    schema_version: Literal[1] = 1
    subject: Subject
    severity: Severity
    kind: RequestKind
    track: HandlingTrack
    crosses_departments: StrictBool = False
    rationale: NonEmptyStr | None = None


class FileInternalMemo(ComplaintCommand):
    """Command: file an internal memo 《内联单》 (§5.3.1⑶)."""

    command_type: Literal["FileInternalMemo"] = "FileInternalMemo"
    schema_version: Literal[1] = 1
    memo_id: UUID
    addressed_to: Destination
    description: NonEmptyStr
    requested_reply_by: AwareDatetime
    attachments: Attachments = Field(default_factory=list)

    @model_validator(mode="after")
    def _reply_time(self) -> FileInternalMemo:
        Rules(self).require(
            self.requested_reply_by > self.issued_at, "requested_reply_by", "must be in the future",
        ).check()
        return self


class DispatchInternalMemo(ComplaintCommand):
    """Command: the HQ clerk dispatches a checked memo to the responsible department (§5.3.1⑷)."""

    command_type: Literal["DispatchInternalMemo"] = "DispatchInternalMemo"
    schema_version: Literal[1] = 1
    memo_id: UUID
    destination: Destination
    department: ShortStr


class RecordStaffInvestigation(ComplaintCommand):
    """Command: the supervisor records the investigation of a staff complaint (§5.3.2)."""

    command_type: Literal["RecordStaffInvestigation"] = "RecordStaffInvestigation"
    schema_version: Literal[1] = 1
    memo_id: UUID | None = None
    staff_member: ShortStr
    substantiated: StrictBool
    findings: NonEmptyStr
    opinion: NonEmptyStr
    exceeds_supervisor_authority: StrictBool


class RecordDepartmentReply(ComplaintCommand):
    """Command: record the responsible department's signed reply to a memo (§5.3.1⑸)."""

    command_type: Literal["RecordDepartmentReply"] = "RecordDepartmentReply"
    schema_version: Literal[1] = 1
    memo_id: UUID
    department: ShortStr
    reply: NonEmptyStr
    proposed_remedy: NonEmptyStr | None = None
    signed_by: Signature
    attachments: Attachments = Field(default_factory=list)


class ApproveReply(ComplaintCommand):
    """Command: the acting user approves a reply under their authority level."""

    command_type: Literal["ApproveReply"] = "ApproveReply"
    schema_version: Literal[1] = 1
    memo_id: UUID | None = None
    authority_level: AuthorityLevel
    approved_reply: NonEmptyStr
    remedy: NonEmptyStr | None = None
    compensation: Money | None = None
    final: StrictBool

    @model_validator(mode="after")
    def _authority(self) -> ApproveReply:
        _approver_rules(Rules(self), self.authority_level, self.actor.role, "actor").check()
        return self


class EscalateSeriousComplaint(ComplaintCommand):
    """Command: call in the department heads and the general manager for a serious complaint."""

    command_type: Literal["EscalateSeriousComplaint"] = "EscalateSeriousComplaint"
    schema_version: Literal[1] = 1
    reasons: list[SeriousReason] = Field(min_length=1, max_length=len(SeriousReason))
    departments: list[ShortStr] = Field(min_length=1, max_length=DEPARTMENTS_MAX)
    claim_amount: Money | None = None


class ReplyToCustomer(ComplaintCommand):
    """Command: the branch clerk records the approved reply given to the customer (§5.3.1⑹)."""

    command_type: Literal["ReplyToCustomer"] = "ReplyToCustomer"
    schema_version: Literal[1] = 1
    channel: Channel
    reply: NonEmptyStr
    customer_accepts: StrictBool | None = None


class RaiseDispute(ComplaintCommand):
    """Command: record the customer's dispute of the outcome (§5.6)."""

    command_type: Literal["RaiseDispute"] = "RaiseDispute"
    schema_version: Literal[1] = 1
    dispute_id: UUID
    dispute_kind: DisputeKind
    forum: DisputeForum
    authority_name: ShortStr | None = None
    disputed_decision: NonEmptyStr
    grounds: NonEmptyStr

    @model_validator(mode="after")
    def _forum(self) -> RaiseDispute:
        _dispute_rules(Rules(self), self.dispute_kind, self.forum).check()
        return self


class RuleDispute(ComplaintCommand):
    """Command: record the ruling on a dispute (§5.6)."""

    command_type: Literal["RuleDispute"] = "RuleDispute"
    schema_version: Literal[1] = 1
    dispute_id: UUID
    ruled_by: ShortStr
    outcome: DisputeOutcome
    ruling: NonEmptyStr
    determination: Determination | None = None
    responsible_party: ResponsibleParty | None = None


class CloseComplaint(ComplaintCommand):
    """Command: close the complaint."""

    command_type: Literal["CloseComplaint"] = "CloseComplaint"
    schema_version: Literal[1] = 1
    outcome: ClosureOutcome
    resolution_summary: NonEmptyStr
    customer_agrees: StrictBool | None = None


class RecordSatisfactionFollowUp(ComplaintCommand):
    """Command: record the satisfaction follow-up after closure."""

    command_type: Literal["RecordSatisfactionFollowUp"] = "RecordSatisfactionFollowUp"
    schema_version: Literal[1] = 1
    channel: Channel
    reached_customer: StrictBool
    satisfaction: Satisfaction | None = None
    comments: NonEmptyStr | None = None

    @model_validator(mode="after")
    def _answer(self) -> RecordSatisfactionFollowUp:
        Rules(self).require(
            (self.satisfaction is not None) == self.reached_customer, "satisfaction",
            "required when the customer was reached, and only then",
        ).check()
        return self


class ArchiveComplaint(ComplaintCommand):
    """Command: record that the complaint's documents were archived (§5.8)."""

    command_type: Literal["ArchiveComplaint"] = "ArchiveComplaint"
    schema_version: Literal[1] = 1
    archive_ref: ShortStr
    documents: list[Attachment] = Field(default_factory=list, max_length=ARCHIVE_DOCUMENTS_MAX)
