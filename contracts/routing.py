"""Routing and approval at headquarters (domain.md §5.3): routing's messages."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, ConfigDict, Field, StrictBool, model_validator

from contracts.envelope import (
    ARCHIVE_DOCUMENTS_MAX, DEPARTMENTS_MAX, Attachment, Attachments, ComplaintCommand, Envelope, FormNumber,
    Frozen, Money, NonEmptyStr, Role, Rules, ServiceName, ShortStr, Signature, describe,
)
from contracts.quality import Determination, MisuseResolution, ResponsibleParty
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
    HQ_REGIONAL = "hq_regional"                # the HQ regional manager's quality approvals (§5.7.1⑶, §5.7.2⑷)


#: Who may approve under each authority level.
APPROVER_ROLES: dict[AuthorityLevel, frozenset[Role]] = {
    AuthorityLevel.REGIONAL: frozenset({Role.REGIONAL_MANAGER}),
    AuthorityLevel.SUPERVISOR: frozenset({Role.SUPERVISOR}),
    AuthorityLevel.MARKETING_DIRECTOR: frozenset({Role.MARKETING_DIRECTOR}),
    AuthorityLevel.GENERAL_MANAGER: frozenset({Role.GENERAL_MANAGER}),
    AuthorityLevel.HQ_REGIONAL: frozenset({Role.HQ_REGIONAL_MANAGER}),
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




class CaseState(StrEnum):
    """Where a complaint case stands at headquarters: whose move it is (§5.3 to §5.8)."""

    AWAITING_TRIAGE = "awaiting_triage"                  # quality: HQ clerk answers directly or dispatches on site
    WITH_QUALITY = "with_quality"                        # quality owns the steps until its approved decision
    AWAITING_MEMO = "awaiting_memo"                      # regional manager or clerk files the internal memo
    MEMO_FILED = "memo_filed"                            # HQ clerk checks it, dispatches or returns it
    WITH_DEPARTMENT = "with_department"                  # the department (or supervisor) investigates and replies
    AWAITING_APPROVAL = "awaiting_approval"              # the approvals, in order
    AWAITING_CUSTOMER_REPLY = "awaiting_customer_reply"  # the branch clerk gives the approved reply
    AWAITING_REMEDY = "awaiting_remedy"                  # the remedy is delivered and recorded
    AWAITING_FOLLOW_UP = "awaiting_follow_up"            # the satisfaction follow-up
    READY_TO_CLOSE = "ready_to_close"                    # reply, remedy and follow-up done
    DISPUTED = "disputed"                                # a dispute awaits its ruling (§5.6)
    AWAITING_ANSWER = "awaiting_answer"                  # an inquiry or suggestion, answered at intake
    CLOSED = "closed"                                    # closed and archived (§5.8)


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    VERY_URGENT = "very_urgent"


class CauseCategory(StrEnum):
    """A finding of the investigation: whose fault, if the company's (domain.md, Classification)."""

    PEOPLE = "people"              # valid: staff behaviour or work
    PRODUCT = "product"            # valid: the product
    POLICY = "policy"              # valid: a policy or process of the company
    TRANSPORT = "transport"        # valid: transport or packaging
    MISUNDERSTANDING = "misunderstanding"  # invalid: not the company's fault


class FollowUpOutcome(StrEnum):
    SATISFIED = "satisfied"
    NOT_SATISFIED = "not_satisfied"    # reopening is offered
    NOT_REACHED = "not_reached"        # another try follows
    UNREACHABLE = "unreachable"        # the last allowed try failed: the case may close


class ArbitrationBody(StrEnum):
    """Where an unreasonable demand is referred when the customer refuses the company's position."""

    CONSUMER_ASSOCIATION = "consumer_association"
    QUALITY_SUPERVISION_BUREAU = "quality_supervision_bureau"


class Milestone(StrEnum):
    """Progress the customer is told of, not only the result (§5.2)."""

    UNDER_INVESTIGATION = "under_investigation"
    ON_SITE_VISIT_DISPATCHED = "on_site_visit_dispatched"
    REPLY_APPROVED = "reply_approved"
    REMEDY_DELIVERED = "remedy_delivered"
    DISPUTE_RECEIVED = "dispute_received"
    DISPUTE_RULED = "dispute_ruled"
    CLOSED = "closed"


class RepeatBasis(StrEnum):
    SAME_CUSTOMER_AND_PRODUCT = "same_customer_and_product"
    SAME_PERSON_COMPLAINED_ABOUT = "same_person_complained_about"


class AwaitedAction(Frozen):
    """One step a person must take on the case, and by when (for inboxes)."""

    step: ShortStr = Field(description="The step, as its HTTP path segment: memo, memo-dispatch, approval, ...")
    role: Role
    branch: ShortStr | None = Field(default=None, description="For a branch role: the complaint's branch")
    region: ShortStr | None = Field(default=None, description="For a regional role: the branch's region")
    assignee: ShortStr | None = Field(default=None, description="The user, when one is named")
    due_at: AwareDatetime | None = Field(default=None, description="From the step's deadline, when it has one")
    deadline_kind: DeadlineKind | None = None


TRAIL_MAX = 100
#: Characters of one trail entry's summary (the archive of a long case still fits one message).
TRAIL_SUMMARY_MAX = 300


class TrailEntry(Frozen):
    """One decision or step in the archived decision trail."""

    at: AwareDatetime
    step: ShortStr
    by: ShortStr
    role: Role
    summary: NonEmptyStr = Field(max_length=TRAIL_SUMMARY_MAX)



# --- events -----------------------------------------------------------------------------------


class ComplaintClassified(Envelope):
    """HQ classified the case: subject, severity, kind, and the §5.3 track it follows. Classified
    again when the track changes (e.g. the regional manager submits it to the marketing director)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["ComplaintClassified"] = "ComplaintClassified"
    schema_version: Literal[2] = 2
    subject: Subject
    severity: Severity
    kind: RequestKind
    channel: Channel
    track: HandlingTrack
    crosses_departments: StrictBool = False
    rationale: NonEmptyStr | None = None
    customer: Customer
    product: ProductDetails | None = None
    branch: ShortStr
    region: ShortStr | None = None


class HandlerAssigned(Envelope):
    """A person responsible for handling the case was named (顾客投诉的分类)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["HandlerAssigned"] = "HandlerAssigned"
    schema_version: Literal[1] = 1
    handler: ShortStr
    handler_role: Role
    assigned_by: ShortStr


class CauseAndSolutionProposed(Envelope):
    """The handler gave the cause, the person responsible and a proposed solution."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["CauseAndSolutionProposed"] = "CauseAndSolutionProposed"
    schema_version: Literal[1] = 1
    handler: ShortStr
    cause: NonEmptyStr
    cause_category: CauseCategory
    valid: StrictBool = Field(description="True: the company's fault; false: a misunderstanding")
    responsible_person: ShortStr | None = None
    proposed_solution: NonEmptyStr
    compensation: Money | None = Field(default=None, description="CNY proposed to the customer")
    company_cost: Money | None = Field(default=None, description="CNY the company bears")


class InternalMemoFiled(Envelope):
    """An internal memo 《内联单》 was filed for the complaint (§5.3.1⑶)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["InternalMemoFiled"] = "InternalMemoFiled"
    schema_version: Literal[2] = 2
    memo_id: UUID
    filed_by: ShortStr
    filed_by_role: Role
    addressed_to: Destination
    subject: Subject
    severity: Severity
    customer: Customer
    description: NonEmptyStr = Field(description="Detailed description of the complaint")
    requested_reply_by: AwareDatetime
    urgency: Urgency = Urgency.NORMAL
    attachments: Attachments = Field(default_factory=list, description="Faxes, samples, photos")
    crosses_departments: StrictBool = False

    @model_validator(mode="after")
    def _reply_time(self) -> InternalMemoFiled:
        Rules(self).require(
            self.requested_reply_by > self.occurred_at, "requested_reply_by", "must be after the memo is filed",
        ).check()
        return self


class InternalMemoReturned(Envelope):
    """The HQ clerk returned an incomplete memo to whoever filed it (§5.3.1⑷)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["InternalMemoReturned"] = "InternalMemoReturned"
    schema_version: Literal[1] = 1
    memo_id: UUID
    returned_by: ShortStr
    returned_to: ShortStr
    missing: list[ShortStr] = Field(min_length=1, max_length=20, description="What the memo lacks")
    reason: NonEmptyStr


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
    urgency: Urgency = Urgency.NORMAL
    attachments: Attachments = Field(default_factory=list)
    memo_received_at: AwareDatetime
    requested_reply_by: AwareDatetime


class StaffComplaintInvestigated(Envelope):
    """The supervisor of the staff member complained about investigated and gave an opinion (§5.3.2).
    The person complained about is never shown the complaint (§5.3.2⑴)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["StaffComplaintInvestigated"] = "StaffComplaintInvestigated"
    schema_version: Literal[1] = 1
    memo_id: UUID | None = None
    staff_member: ShortStr
    supervisor: ShortStr
    substantiated: StrictBool = Field(description="Whether the complaint was found true")
    findings: NonEmptyStr
    opinion: NonEmptyStr = Field(description="The supervisor's proposed handling")
    compensation: Money | None = None
    exceeds_supervisor_authority: StrictBool = Field(
        description="True: the HQ clerk takes it to the marketing director (§5.3.2⑶)")
    direct_superior: ShortStr | None = Field(
        default=None, description="The staff member's direct superior, informed when it goes to the director")

    @model_validator(mode="after")
    def _superior(self) -> StaffComplaintInvestigated:
        Rules(self).require(
            self.direct_superior is not None or not self.exceeds_supervisor_authority, "direct_superior",
            "required when the remedy exceeds the supervisor's authority (§5.3.2⑶: the superior is informed)",
        ).check()
        return self


class DepartmentReplyReceived(Envelope):
    """The responsible department answered the memo, signed by its head (§5.3.1⑸)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["DepartmentReplyReceived"] = "DepartmentReplyReceived"
    schema_version: Literal[1] = 1
    memo_id: UUID
    department: ShortStr
    reply: NonEmptyStr
    cause: NonEmptyStr
    responsible_person: ShortStr | None = None
    proposed_remedy: NonEmptyStr | None = None
    compensation: Money | None = None
    signed_by: Signature = Field(description="The department head's signature")
    requested_reply_by: AwareDatetime
    attachments: Attachments = Field(default_factory=list)

    @property
    def late(self) -> bool:
        return self.occurred_at > self.requested_reply_by


class ApprovalRequested(Envelope):
    """The reply waits for the approvals in `chain`, in order; `next_level` is next."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["ApprovalRequested"] = "ApprovalRequested"
    schema_version: Literal[1] = 1
    chain: list[AuthorityLevel] = Field(min_length=1, max_length=len(AuthorityLevel))
    next_level: AuthorityLevel
    proposed_reply: NonEmptyStr
    remedy: NonEmptyStr | None = None
    compensation: Money | None = None


class ReplyApproved(Envelope):
    """A reply to the customer was approved under an authority level (§5.3.1⑹, §5.3.2⑶), within the
    approver's limits of the authority matrix (`authority_version`)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["ReplyApproved"] = "ReplyApproved"
    schema_version: Literal[1] = 1
    memo_id: UUID | None = None
    approver: ShortStr
    approver_role: Role
    authority_level: AuthorityLevel
    authority_version: ShortStr
    approved_reply: NonEmptyStr = Field(description="The reply as approved, to be given to the customer")
    remedy: NonEmptyStr | None = None
    compensation: Money | None = Field(default=None, description="CNY offered to the customer, if any")
    company_cost: Money | None = Field(default=None, description="CNY the company bears, if any")
    final: StrictBool = Field(description="True: the approval chain is complete and the customer can be answered")

    @model_validator(mode="after")
    def _authority(self) -> ReplyApproved:
        _approver_rules(Rules(self), self.authority_level, self.approver_role, "approver_role").check()
        return self


class ReplyRejected(Envelope):
    """An approver sent the reply back, with the reason, to whoever must redo it."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["ReplyRejected"] = "ReplyRejected"
    schema_version: Literal[1] = 1
    rejected_by: ShortStr
    rejected_by_role: Role
    authority_level: AuthorityLevel
    reason: NonEmptyStr
    returned_to_role: Role


class ApprovalEscalated(Envelope):
    """The decision exceeds the approver's authority: it goes one level up."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["ApprovalEscalated"] = "ApprovalEscalated"
    schema_version: Literal[1] = 1
    escalated_by: ShortStr
    from_level: AuthorityLevel
    to_level: AuthorityLevel
    reason: NonEmptyStr


class SeriousComplaintEscalated(Envelope):
    """A serious complaint: the department heads and the general manager were called in at once."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["SeriousComplaintEscalated"] = "SeriousComplaintEscalated"
    schema_version: Literal[2] = 2
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


class QualityCaseTriaged(Envelope):
    """The HQ clerk answered a simple or spurious quality question directly, or dispatched the
    regional manager on site (§5.3.3⑵⑷); the dispatch is also published as `ComplaintRouted` to quality."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["QualityCaseTriaged"] = "QualityCaseTriaged"
    schema_version: Literal[1] = 1
    triaged_by: ShortStr
    answered_directly: StrictBool
    regional_manager: ShortStr | None = Field(default=None, description="Dispatched on site, when named")
    note: NonEmptyStr


class CustomerReplied(Envelope):
    """The branch clerk gave the customer the approved reply (§5.3.1⑹), or the HQ clerk answered a
    simple question directly (§5.3.3⑵)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["CustomerReplied"] = "CustomerReplied"
    schema_version: Literal[2] = 2
    replied_by: ShortStr
    channel: Channel
    reply: NonEmptyStr
    remedy: NonEmptyStr | None = None
    compensation: Money | None = None
    approved_by: ShortStr
    customer: Customer
    remedy_pending: StrictBool = Field(description="True: the remedy is still to be delivered")


class RemedyDelivered(Envelope):
    """The remedy of a policy, service or staff case was delivered (apology, refund, compensation paid);
    quality cases record theirs at quality."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["RemedyDelivered"] = "RemedyDelivered"
    schema_version: Literal[1] = 1
    delivered_by: ShortStr
    remedy: NonEmptyStr
    delivered_at: AwareDatetime
    compensation_paid: Money | None = None
    reference: ShortStr | None = Field(default=None, description="Receipt, transfer or signed note")


class SatisfactionFollowUpRecorded(Envelope):
    """One try of the customer-satisfaction follow-up; closure waits for an answer or the last try."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["SatisfactionFollowUpRecorded"] = "SatisfactionFollowUpRecorded"
    schema_version: Literal[1] = 1
    contacted_by: ShortStr
    channel: Channel
    attempt: int = Field(ge=1, le=100)
    max_attempts: int = Field(ge=1, le=100)
    reached_customer: StrictBool
    satisfaction: Satisfaction | None = None
    outcome: FollowUpOutcome
    reopen_offered: StrictBool = Field(description="True: not satisfied, the customer was offered reopening")
    comments: NonEmptyStr | None = None

    @model_validator(mode="after")
    def _answer(self) -> SatisfactionFollowUpRecorded:
        Rules(self).require(
            (self.satisfaction is not None) == self.reached_customer, "satisfaction",
            "required when the customer was reached, and only then",
        ).check()
        return self


class DisputeRaised(Envelope):
    """The customer disputes the outcome (§5.6); a closed case is reopened by it."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["DisputeRaised"] = "DisputeRaised"
    schema_version: Literal[1] = 1
    dispute_id: UUID
    dispute_kind: DisputeKind
    forum: DisputeForum
    authority_name: ShortStr | None = Field(default=None, description="The external body, if any")
    disputed_decision: NonEmptyStr
    grounds: NonEmptyStr
    reopened: StrictBool = Field(description="True: the case had been closed and is open again")

    @model_validator(mode="after")
    def _forum(self) -> DisputeRaised:
        _dispute_rules(Rules(self), self.dispute_kind, self.forum).require(
            self.forum is DisputeForum.HEADQUARTERS or self.authority_name is not None, "authority_name",
            "name the external authority or the independent body",
        ).check()
        return self


class DisputeRuled(Envelope):
    """A dispute was decided: finally by HQ, or by the external body for a quality dispute (§5.6).
    A quality ruling with a determination changes the decision, and so the costs."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["DisputeRuled"] = "DisputeRuled"
    schema_version: Literal[2] = 2
    dispute_id: UUID
    dispute_kind: DisputeKind
    forum: DisputeForum
    ruled_by: ShortStr
    recorded_by: ShortStr
    outcome: DisputeOutcome
    ruling: NonEmptyStr
    remedy: NonEmptyStr | None = Field(default=None, description="A new remedy the ruling grants, if any")
    final: StrictBool
    determination: Determination | None = Field(
        default=None, description="For a quality dispute: the determination the ruling reached")
    responsible_party: ResponsibleParty | None = None
    misuse_resolution: MisuseResolution | None = Field(
        default=None, description="v2: how the misuse the ruling found is resolved, which decides who pays "
                                  "what (§5.5); None in a v1 message")

    @model_validator(mode="after")
    def _forum(self) -> DisputeRuled:
        rules = _dispute_rules(Rules(self), self.dispute_kind, self.forum)
        rules.require(
            self.forum is not DisputeForum.HEADQUARTERS or self.final, "final", "HQ rules finally (§5.6.1)",
        ).require(
            self.determination is None or self.dispute_kind is DisputeKind.QUALITY_DETERMINATION,
            "determination", "only for a quality dispute",
        ).require(
            self.misuse_resolution is None or self.determination is Determination.OBVIOUS_MISUSE,
            "misuse_resolution", "only when the ruling found obvious_misuse",
        ).check()
        return self


class UnreasonableDemandRecorded(Envelope):
    """An unreasonable demand or an attempt to extort, handled on record (客诉处理实务): the call
    recorded, the company's position stated, and arbitration proposed when the customer refuses it."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["UnreasonableDemandRecorded"] = "UnreasonableDemandRecorded"
    schema_version: Literal[1] = 1
    recorded_by: ShortStr
    demand: NonEmptyStr
    call_recording_ref: ShortStr
    company_position: NonEmptyStr
    customer_accepted_position: StrictBool
    arbitration_proposed_to: ArbitrationBody | None = None

    @model_validator(mode="after")
    def _arbitration(self) -> UnreasonableDemandRecorded:
        Rules(self).require(
            (self.arbitration_proposed_to is None) == self.customer_accepted_position, "arbitration_proposed_to",
            "propose arbitration exactly when the customer refuses the company's position",
        ).check()
        return self


class UrgentMeetingHeld(Envelope):
    """The urgent meeting on a serious complaint was held (car dealer's rules)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["UrgentMeetingHeld"] = "UrgentMeetingHeld"
    schema_version: Literal[1] = 1
    held_at: AwareDatetime
    chaired_by: ShortStr
    attendees: list[ShortStr] = Field(min_length=1, max_length=50)
    decisions: NonEmptyStr


class NegotiatorNamed(Envelope):
    """The one person who speaks to the customer on a serious complaint was named."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["NegotiatorNamed"] = "NegotiatorNamed"
    schema_version: Literal[1] = 1
    negotiator: ShortStr
    negotiator_role: Role
    named_by: ShortStr


class RepeatComplaintLinked(Envelope):
    """The complaint repeats an open one within the window: linked to it (not merged), to be confirmed."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["RepeatComplaintLinked"] = "RepeatComplaintLinked"
    schema_version: Literal[1] = 1
    linked_to: UUID
    linked_form_number: FormNumber
    basis: RepeatBasis
    window_days: int = Field(ge=1, le=3650)


class RepeatLinkConfirmed(Envelope):
    """The HQ clerk confirmed the link: the complaints are handled together."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["RepeatLinkConfirmed"] = "RepeatLinkConfirmed"
    schema_version: Literal[1] = 1
    linked_to: UUID
    linked_form_number: FormNumber
    confirmed_by: ShortStr


class RepeatLinkRejected(Envelope):
    """The HQ clerk found the complaints unrelated: the link is dropped."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["RepeatLinkRejected"] = "RepeatLinkRejected"
    schema_version: Literal[1] = 1
    linked_to: UUID
    rejected_by: ShortStr
    reason: NonEmptyStr


class ActionsAwaited(Envelope):
    """Who must act on the case now, and by when: the whole current list (for inboxes); empty when
    nobody must (closed)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["ActionsAwaited"] = "ActionsAwaited"
    schema_version: Literal[1] = 1
    state: CaseState
    actions: list[AwaitedAction] = Field(max_length=20)
    hidden_from: ShortStr | None = Field(
        default=None, description="A person complained about, who must not see the case (§5.3.2⑴)")


class ProgressMilestoneReached(Envelope):
    """A step the customer is told of (progress, not only the result): notify sends the notice."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["ProgressMilestoneReached"] = "ProgressMilestoneReached"
    schema_version: Literal[2] = 2
    milestone: Milestone
    message: NonEmptyStr = Field(description="What the customer is told")
    customer: Customer


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


class ComplaintArchived(Envelope):
    """The case was archived at closure by category (§5.8), with its full decision trail."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.ROUTING
    event_type: Literal["ComplaintArchived"] = "ComplaintArchived"
    schema_version: Literal[1] = 1
    archived_by: ShortStr
    category: Subject
    archive_ref: ShortStr
    documents: list[Attachment] = Field(default_factory=list, max_length=ARCHIVE_DOCUMENTS_MAX)
    decision_trail: list[TrailEntry] = Field(min_length=1, max_length=TRAIL_MAX)



# --- commands: one per human step; `XxxStep` is the step's own fields (the HTTP body, with the
# --- command id), `Xxx` the command with its envelope (actor from the bearer token) ------------


class AnswerQualityQuestionStep(Frozen):
    """The HQ clerk answers a simple or spurious quality question directly (§5.3.3⑵)."""

    answer: NonEmptyStr
    channel: Channel = Field(description="How the answer reached the customer")


class DispatchOnSiteVisitStep(Frozen):
    """The HQ clerk dispatches the responsible regional manager on site (§5.3.3⑷)."""

    regional_manager: ShortStr | None = Field(default=None, description="The manager, when named")
    note: NonEmptyStr


class AssignHandlerStep(Frozen):
    handler: ShortStr = Field(description="The user responsible for handling the case")
    handler_role: Role


class ProposeCauseAndSolutionStep(Frozen):
    """A misunderstanding is exactly the invalid complaint (not the company's fault)."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"cause_category": {"const": CauseCategory.MISUNDERSTANDING.value},
                        "valid": {"const": False}}},
        {"properties": {"cause_category": {"not": {"const": CauseCategory.MISUNDERSTANDING.value}},
                        "valid": {"const": True}}}]})

    cause: NonEmptyStr
    cause_category: CauseCategory
    valid: StrictBool = Field(description="True: the company's fault; false: a misunderstanding")
    responsible_person: ShortStr | None = None
    proposed_solution: NonEmptyStr
    compensation: Money | None = None
    company_cost: Money | None = None

    @model_validator(mode="after")
    def _valid(self) -> ProposeCauseAndSolutionStep:
        Rules(self).require(
            self.valid == (self.cause_category is not CauseCategory.MISUNDERSTANDING), "valid",
            "a misunderstanding is not the company's fault (valid false); any other cause is (valid true)",
        ).check()
        return self


class FileInternalMemoStep(Frozen):
    """The internal memo: addressed to the HQ clerk (dispatch to a department), the supervisor (a staff
    complaint) or the marketing director (cross-department or over regional authority, §5.3.1⑵)."""

    memo_id: UUID
    addressed_to: Literal[Destination.HQ_CLERK, Destination.SUPERVISOR, Destination.MARKETING_DIRECTOR]
    description: NonEmptyStr
    requested_reply_by: AwareDatetime = Field(description="When the department's reply is requested (future)")
    urgency: Urgency = Urgency.NORMAL
    attachments: Attachments = Field(default_factory=list)
    crosses_departments: StrictBool = False


class DispatchInternalMemoStep(Frozen):
    memo_id: UUID
    destination: Literal[Destination.RESPONSIBLE_DEPARTMENT, Destination.SUPERVISOR]
    department: ShortStr = Field(description="The department (or, for a staff complaint, the supervisor)")


class ReturnInternalMemoStep(Frozen):
    memo_id: UUID
    missing: list[ShortStr] = Field(min_length=1, max_length=20)
    reason: NonEmptyStr


class RecordDepartmentReplyStep(Frozen):
    memo_id: UUID
    department: ShortStr
    reply: NonEmptyStr
    cause: NonEmptyStr
    responsible_person: ShortStr | None = None
    proposed_remedy: NonEmptyStr | None = None
    compensation: Money | None = None
    signed_by: Signature = Field(description="The department head's signature (role responsible_department)")
    attachments: Attachments = Field(default_factory=list)


class RecordStaffInvestigationStep(Frozen):
    memo_id: UUID | None = None
    staff_member: ShortStr
    substantiated: StrictBool
    findings: NonEmptyStr
    opinion: NonEmptyStr
    compensation: Money | None = None
    exceeds_supervisor_authority: StrictBool
    direct_superior: ShortStr | None = None


class ApproveReplyStep(Frozen):
    """Approve under the level that is next in the chain (the caller's role must give it)."""

    approved_reply: NonEmptyStr
    remedy: NonEmptyStr | None = None
    compensation: Money | None = None
    company_cost: Money | None = None


class RejectReplyStep(Frozen):
    reason: NonEmptyStr


class EscalateApprovalStep(Frozen):
    reason: NonEmptyStr


class ReplyToCustomerStep(Frozen):
    channel: Channel
    reply: NonEmptyStr


class RecordRemedyStep(Frozen):
    remedy: NonEmptyStr
    delivered_at: AwareDatetime
    compensation_paid: Money | None = None
    reference: ShortStr | None = None


def _either(required_when: tuple[str, Any], field: str) -> dict[str, Any]:
    """JSON Schema for "`field` is given exactly when `required_when` holds" (so clients and fuzzers know)."""
    name, value = required_when
    return {"anyOf": [
        {"properties": {name: {"const": value}}, "required": [name, field],
         "not": {"properties": {field: {"type": "null"}}}},
        {"properties": {name: {"const": not value}, field: {"type": "null"}}, "required": [name]},
    ]}


class RecordFollowUpStep(Frozen):
    model_config = ConfigDict(json_schema_extra=_either(("reached_customer", True), "satisfaction"))

    channel: Channel
    reached_customer: StrictBool
    satisfaction: Satisfaction | None = Field(default=None, description="Required when reached, only then")
    comments: NonEmptyStr | None = None

    @model_validator(mode="after")
    def _answer(self) -> RecordFollowUpStep:
        Rules(self).require(
            (self.satisfaction is not None) == self.reached_customer, "satisfaction",
            "required when the customer was reached, and only then",
        ).check()
        return self


class RaiseDisputeStep(Frozen):
    """The dispute's kind follows the case's subject; a policy or staff dispute goes to HQ, a quality
    one to a national authority or an independent determination (named)."""

    dispute_id: UUID
    forum: DisputeForum
    authority_name: ShortStr | None = None
    disputed_decision: NonEmptyStr
    grounds: NonEmptyStr


def _ruling_rules(schema: dict[str, Any]) -> None:
    """`misuse_resolution` is given exactly when the ruling found obvious misuse (so clients and fuzzers know)."""
    others = [d.value for d in Determination if d is not Determination.OBVIOUS_MISUSE]
    schema["anyOf"] = [
        {"properties": {"determination": {"const": Determination.OBVIOUS_MISUSE.value}},
         "required": ["determination", "misuse_resolution"], "not": {"properties": {"misuse_resolution": {"type": "null"}}}},
        {"properties": {"determination": {"enum": [*others, None]}, "misuse_resolution": {"type": "null"}}},
    ]


class RuleDisputeStep(Frozen):
    model_config = ConfigDict(json_schema_extra=_ruling_rules)

    dispute_id: UUID
    ruled_by: ShortStr = Field(description="Who ruled: HQ (the caller) or the external body")
    outcome: DisputeOutcome
    ruling: NonEmptyStr
    remedy: NonEmptyStr | None = None
    determination: Determination | None = None
    responsible_party: ResponsibleParty | None = None
    misuse_resolution: MisuseResolution | None = Field(
        default=None, description="Required exactly when the ruling found obvious_misuse: how it is resolved "
                                  "decides who pays what (§5.5)")

    @model_validator(mode="after")
    def _misuse(self) -> RuleDisputeStep:
        misuse = self.determination is Determination.OBVIOUS_MISUSE
        Rules(self).require(
            not misuse or self.misuse_resolution is not None, "misuse_resolution",
            "required when the ruling found obvious_misuse",
        ).require(
            misuse or self.misuse_resolution is None, "misuse_resolution", "only when the ruling found obvious_misuse",
        ).check()
        return self


class CloseComplaintStep(Frozen):
    resolution_summary: NonEmptyStr


class RecordUnreasonableDemandStep(Frozen):
    model_config = ConfigDict(json_schema_extra=_either(("customer_accepted_position", False),
                                                        "arbitration_proposed_to"))

    demand: NonEmptyStr
    call_recording_ref: ShortStr
    company_position: NonEmptyStr
    customer_accepted_position: StrictBool
    arbitration_proposed_to: ArbitrationBody | None = Field(
        default=None, description="Required when the customer refused the company's position, only then")

    @model_validator(mode="after")
    def _arbitration(self) -> RecordUnreasonableDemandStep:
        Rules(self).require(
            (self.arbitration_proposed_to is None) == self.customer_accepted_position, "arbitration_proposed_to",
            "propose arbitration exactly when the customer refuses the company's position",
        ).check()
        return self


class RecordUrgentMeetingStep(Frozen):
    held_at: AwareDatetime
    chaired_by: ShortStr
    attendees: list[ShortStr] = Field(min_length=1, max_length=50)
    decisions: NonEmptyStr


class NameNegotiatorStep(Frozen):
    negotiator: ShortStr
    negotiator_role: Role


class DecideRepeatLinkStep(Frozen):
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"confirmed": {"const": True}}},
        {"properties": {"confirmed": {"const": False}}, "required": ["reason"],
         "not": {"properties": {"reason": {"type": "null"}}}}]})

    confirmed: StrictBool
    reason: NonEmptyStr | None = Field(default=None, description="Required when the link is rejected")

    @model_validator(mode="after")
    def _reason(self) -> DecideRepeatLinkStep:
        Rules(self).require(self.confirmed or self.reason is not None, "reason",
                            "say why the complaints are unrelated").check()
        return self


def _command(step: type[Frozen], name: str, doc: str) -> type[ComplaintCommand]:
    """The command of a step: the step's fields in the command envelope."""
    namespace = {
        "__doc__": doc, "__module__": __name__,
        "__annotations__": {"command_type": Literal[name], "schema_version": Literal[1]},  # type: ignore[valid-type]
        "command_type": name, "schema_version": 1,
    }
    return type(name, (ComplaintCommand, step), namespace)


AnswerQualityQuestion = _command(AnswerQualityQuestionStep, "AnswerQualityQuestion", "Command: answer directly.")
DispatchOnSiteVisit = _command(DispatchOnSiteVisitStep, "DispatchOnSiteVisit", "Command: dispatch on site.")
AssignHandler = _command(AssignHandlerStep, "AssignHandler", "Command: name the person responsible.")
ProposeCauseAndSolution = _command(ProposeCauseAndSolutionStep, "ProposeCauseAndSolution",
                                   "Command: the handler gives cause, responsible person and solution.")
FileInternalMemo = _command(FileInternalMemoStep, "FileInternalMemo", "Command: file an internal memo.")
DispatchInternalMemo = _command(DispatchInternalMemoStep, "DispatchInternalMemo", "Command: dispatch a memo.")
ReturnInternalMemo = _command(ReturnInternalMemoStep, "ReturnInternalMemo", "Command: return an incomplete memo.")
RecordDepartmentReply = _command(RecordDepartmentReplyStep, "RecordDepartmentReply",
                                 "Command: the department's signed reply.")
RecordStaffInvestigation = _command(RecordStaffInvestigationStep, "RecordStaffInvestigation",
                                    "Command: the supervisor's investigation of a staff complaint.")
ApproveReply = _command(ApproveReplyStep, "ApproveReply", "Command: approve the reply at the next level.")
RejectReply = _command(RejectReplyStep, "RejectReply", "Command: send the reply back with the reason.")
EscalateApproval = _command(EscalateApprovalStep, "EscalateApproval", "Command: take it one level up.")
ReplyToCustomer = _command(ReplyToCustomerStep, "ReplyToCustomer", "Command: give the customer the reply.")
RecordRemedy = _command(RecordRemedyStep, "RecordRemedy", "Command: record the remedy delivered.")
RecordSatisfactionFollowUp = _command(RecordFollowUpStep, "RecordSatisfactionFollowUp",
                                      "Command: record one try of the satisfaction follow-up.")
RaiseDispute = _command(RaiseDisputeStep, "RaiseDispute", "Command: the customer disputes the outcome.")
RuleDispute = _command(RuleDisputeStep, "RuleDispute", "Command: record the ruling on a dispute.")
CloseComplaint = _command(CloseComplaintStep, "CloseComplaint", "Command: close and archive the case.")
RecordUnreasonableDemand = _command(RecordUnreasonableDemandStep, "RecordUnreasonableDemand",
                                    "Command: record an unreasonable demand on record.")
RecordUrgentMeeting = _command(RecordUrgentMeetingStep, "RecordUrgentMeeting",
                               "Command: record the urgent meeting on a serious complaint.")
NameNegotiator = _command(NameNegotiatorStep, "NameNegotiator", "Command: name the negotiator.")
DecideRepeatLink = _command(DecideRepeatLinkStep, "DecideRepeatLink", "Command: confirm or reject a repeat link.")
