"""Corrective and preventive actions (CAPA, §4.4, §4.5, §5.7.1⑸): quality's messages about one
corrective action, raised from an adjudicated defect or a batch-defect alert, and the exception
report (异常处理单) sent instead when a defect caused no loss.

A corrective action has its own id (`action_id`); every message still names the complaint it came
from (`complaint_id`, `form_number`: for a batch alert, the complaint that raised the alert), so it
is published on the complaint's partition and read in the complaint's order.

Life of one action: raised → proposed (actions, owner, responsible department, due time) →
approved by the management representative AND the general manager (each separately; it starts
only when both have approved) → implemented (summary, evidence) → verified: effective closes it,
not effective reopens it with new actions and a new due time (proposed again, approved again).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, ConfigDict, Field, StrictBool, model_validator

from contracts.envelope import (
    ComplaintCommand, Envelope, Frozen, NonEmptyStr, Role, Rules, ServiceName, ShortStr, TrueBool, describe,
    whole_match,
)
from contracts.registration import ProductDetails

#: The two who approve corrective actions for defects (§5.7.1⑸); each approves separately.
CORRECTIVE_ACTION_APPROVERS = frozenset({Role.MANAGEMENT_REPRESENTATIVE, Role.GENERAL_MANAGER})
#: Actions of one proposal.
ACTIONS_MAX = 20
#: Evidence hashes on one implementation report.
EVIDENCE_MAX = 50
#: Longest due period in working days one proposal may set.
DUE_WORKING_DAYS_MAX = 250

SHA256_PATTERN = r"^[0-9a-f]{64}$"
#: A stored evidence file, by the SHA-256 of its bytes (64 lower-case hex digits).
EvidenceSha256 = Annotated[
    str, Field(min_length=64, max_length=64, pattern=SHA256_PATTERN,
               description="SHA-256 of a stored evidence file (POST /evidence), 64 lower-case hex digits"),
    whole_match(SHA256_PATTERN),
]
EvidenceHashes = Annotated[list[EvidenceSha256], Field(max_length=EVIDENCE_MAX)]
ActionItems = Annotated[list[NonEmptyStr], Field(min_length=1, max_length=ACTIONS_MAX,
                                                 description="The corrective (and preventive) actions, one each")]
DueWorkingDays = Annotated[int, Field(ge=1, le=DUE_WORKING_DAYS_MAX,
                                      description="The due period in working days, when it was given so "
                                                  "(due_at is its end on the company calendar)")]


class CorrectiveActionSource(StrEnum):
    """What raised the corrective action."""

    ADJUDICATION = "adjudication"   # quality's adjudication found a defect (§5.4.5, §5.7.1⑸)
    BATCH_ALERT = "batch_alert"     # analytics found repeated defects in one batch (§4.4)


class CorrectiveActionState(StrEnum):
    RAISED = "raised"
    PROPOSED = "proposed"
    APPROVED = "approved"           # both approvals: the action runs until its due time
    IMPLEMENTED = "implemented"
    CLOSED = "closed"               # verified effective
    SUPERSEDED = "superseded"       # no loss: an exception report went to the unit concerned instead


class BatchAlert(Frozen):
    """A batch-defect alert: one model and batch with repeated defects."""

    alert_id: UUID
    model: ShortStr
    batch_number: ShortStr


def _source_rules(rules: Rules, source: CorrectiveActionSource, adjudication_id: UUID | None,
                  alert: BatchAlert | None) -> Rules:
    from_adjudication = source is CorrectiveActionSource.ADJUDICATION
    return rules.require(
        not from_adjudication or (adjudication_id is not None and alert is None), "adjudication_id",
        "an action raised from an adjudication names the adjudication and no alert",
    ).require(
        from_adjudication or (alert is not None and adjudication_id is None), "alert",
        "an action raised from a batch alert names the alert and no adjudication",
    )


# --- events -----------------------------------------------------------------------------------


class CorrectiveActionRaised(Envelope):
    """A corrective action was raised: automatically from an adjudication that found a defect, or
    by the quality department from a batch-defect alert. The owner proposes what to do next."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["CorrectiveActionRaised"] = "CorrectiveActionRaised"
    schema_version: Literal[1] = 1
    action_id: UUID
    source: CorrectiveActionSource
    adjudication_id: UUID | None = None
    alert: BatchAlert | None = None
    root_cause: NonEmptyStr | None = Field(default=None, description="The adjudication's root cause, if any")
    product: ProductDetails | None = None
    owner: ShortStr = Field(description="Who owns the action until it is closed (the quality department)")
    raised_by: ShortStr

    @model_validator(mode="after")
    def _source(self) -> CorrectiveActionRaised:
        _source_rules(Rules(self), self.source, self.adjudication_id, self.alert).check()
        return self


class CorrectiveActionProposed(Envelope):
    """The quality department proposed corrective (and preventive) actions, who carries them out and
    by when (§4.4). `round` is 1 at first and grows each time a not-effective action is reopened."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["CorrectiveActionProposed"] = "CorrectiveActionProposed"
    schema_version: Literal[1] = 1
    action_id: UUID
    round: int = Field(ge=1)
    proposed_by: ShortStr
    owner: ShortStr
    root_cause: NonEmptyStr
    actions: ActionItems
    preventive: StrictBool = False
    responsible_department: ShortStr
    due_at: AwareDatetime
    due_in_working_days: DueWorkingDays | None = None


class CorrectiveActionApproved(Envelope):
    """One of the two approvers (management representative, general manager) approved the proposal.
    `fully_approved` is true on the second: the action starts then and is due at `due_at`."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["CorrectiveActionApproved"] = "CorrectiveActionApproved"
    schema_version: Literal[1] = 1
    action_id: UUID
    round: int = Field(ge=1)
    approver: ShortStr
    approver_role: Role
    outstanding: list[Role] = Field(max_length=2, description="Approvers still awaited (empty when fully approved)")
    fully_approved: StrictBool
    responsible_department: ShortStr
    due_at: AwareDatetime

    @model_validator(mode="after")
    def _approvers(self) -> CorrectiveActionApproved:
        Rules(self).require(
            self.approver_role in CORRECTIVE_ACTION_APPROVERS, "approver_role",
            f"corrective actions are approved by {describe(CORRECTIVE_ACTION_APPROVERS)}",
        ).require(
            set(self.outstanding) <= CORRECTIVE_ACTION_APPROVERS - {self.approver_role}, "outstanding",
            "only the other approver may be outstanding",
        ).require(
            self.fully_approved == (not self.outstanding), "fully_approved",
            "fully approved exactly when no approver is outstanding",
        ).check()
        return self


class CorrectiveActionImplemented(Envelope):
    """The responsible department (or the quality department for it) reported the action done."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["CorrectiveActionImplemented"] = "CorrectiveActionImplemented"
    schema_version: Literal[1] = 1
    action_id: UUID
    round: int = Field(ge=1)
    implemented_by: ShortStr
    implementer_role: Role
    responsible_department: ShortStr
    summary: NonEmptyStr
    evidence: EvidenceHashes = Field(default_factory=list)
    due_at: AwareDatetime
    on_time: StrictBool = Field(description="Whether it was done by due_at")


class CorrectiveActionVerified(Envelope):
    """The quality department checked the implemented action. Effective closes it; not effective is
    followed by `CorrectiveActionReopened`."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["CorrectiveActionVerified"] = "CorrectiveActionVerified"
    schema_version: Literal[1] = 1
    action_id: UUID
    round: int = Field(ge=1)
    verified_by: ShortStr
    effective: StrictBool
    findings: NonEmptyStr
    closed: StrictBool = Field(description="True when verified effective: the action is closed")

    @model_validator(mode="after")
    def _closed(self) -> CorrectiveActionVerified:
        Rules(self).require(self.closed == self.effective, "closed", "closed exactly when effective").check()
        return self


class CorrectiveActionReopened(Envelope):
    """A not-effective action was reopened with new actions and a new due time: proposed again
    (round + 1), it needs both approvals again before it starts."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["CorrectiveActionReopened"] = "CorrectiveActionReopened"
    schema_version: Literal[1] = 1
    action_id: UUID
    round: int = Field(ge=2)
    reopened_by: ShortStr
    reason: NonEmptyStr
    actions: ActionItems
    responsible_department: ShortStr
    due_at: AwareDatetime
    due_in_working_days: DueWorkingDays | None = None


class CorrectiveActionSuperseded(Envelope):
    """A raised action whose defect caused no loss was handled by an exception report (异常处理单) to the
    unit concerned instead: it is no longer open."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["CorrectiveActionSuperseded"] = "CorrectiveActionSuperseded"
    schema_version: Literal[1] = 1
    action_id: UUID
    report_id: UUID
    superseded_by: ShortStr
    unit: ShortStr


class ExceptionReportIssued(Envelope):
    """The exception report (异常处理单): a defect that caused no loss, sent to the unit concerned
    for its response instead of a corrective action."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["ExceptionReportIssued"] = "ExceptionReportIssued"
    schema_version: Literal[1] = 1
    report_id: UUID
    issued_by: ShortStr
    unit: ShortStr = Field(description="The unit concerned")
    description: NonEmptyStr
    requested_response: NonEmptyStr
    respond_by: AwareDatetime | None = None
    adjudication_id: UUID | None = None
    product: ProductDetails | None = None


class ExceptionReportAnswered(Envelope):
    """The unit concerned acknowledged the exception report and answered it."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["ExceptionReportAnswered"] = "ExceptionReportAnswered"
    schema_version: Literal[1] = 1
    report_id: UUID
    unit: ShortStr
    answered_by: ShortStr
    response: NonEmptyStr


# --- commands ---------------------------------------------------------------------------------


def _reopen_rules(schema: dict[str, Any]) -> None:
    """Not effective needs new actions and a new due time; effective takes neither."""
    schema["anyOf"] = [
        {"properties": {"effective": {"const": True}, "actions": {"type": "null"}, "due_at": {"type": "null"},
                        "due_in_working_days": {"type": "null"}, "responsible_department": {"type": "null"}}},
        {"required": ["actions", "due_at"],
         "properties": {"effective": {"const": False}, "actions": {"not": {"type": "null"}},
                        "due_at": {"not": {"type": "null"}}}},
    ]


class RaiseCorrectiveActionFromAlert(ComplaintCommand):
    """Command: the quality department raises a corrective action from a batch-defect alert; the
    complaint is the one that raised the alert. Once per alert."""

    command_type: Literal["RaiseCorrectiveActionFromAlert"] = "RaiseCorrectiveActionFromAlert"
    schema_version: Literal[1] = 1
    alert: BatchAlert


class ProposeCorrectiveAction(ComplaintCommand):
    """Command: propose the actions, owner, responsible department and due time of a raised action."""

    command_type: Literal["ProposeCorrectiveAction"] = "ProposeCorrectiveAction"
    schema_version: Literal[1] = 1
    action_id: UUID
    root_cause: NonEmptyStr
    actions: ActionItems
    preventive: StrictBool = False
    owner: ShortStr | None = Field(default=None, description="Default: the proposer")
    responsible_department: ShortStr
    due_at: AwareDatetime = Field(description="When it is due, computed by the caller on the company's "
                                              "working-time calendar")
    due_in_working_days: DueWorkingDays | None = None


class ApproveCorrectiveAction(ComplaintCommand):
    """Command: the management representative or the general manager approves a corrective action."""

    command_type: Literal["ApproveCorrectiveAction"] = "ApproveCorrectiveAction"
    schema_version: Literal[1] = 1
    action_id: UUID

    @model_validator(mode="after")
    def _approver(self) -> ApproveCorrectiveAction:
        Rules(self).require(
            self.actor.role in CORRECTIVE_ACTION_APPROVERS, "actor",
            f"corrective actions are approved by {describe(CORRECTIVE_ACTION_APPROVERS)}",
        ).check()
        return self


class RecordCorrectiveActionImplemented(ComplaintCommand):
    """Command: report a corrective action done."""

    command_type: Literal["RecordCorrectiveActionImplemented"] = "RecordCorrectiveActionImplemented"
    schema_version: Literal[1] = 1
    action_id: UUID
    summary: NonEmptyStr
    evidence: EvidenceHashes = Field(default_factory=list)


class VerifyCorrectiveAction(ComplaintCommand):
    """Command: record whether an implemented corrective action works; when it does not, with the new
    actions and due time it is reopened with."""

    model_config = ConfigDict(json_schema_extra=_reopen_rules)

    command_type: Literal["VerifyCorrectiveAction"] = "VerifyCorrectiveAction"
    schema_version: Literal[1] = 1
    action_id: UUID
    effective: StrictBool
    findings: NonEmptyStr
    actions: ActionItems | None = Field(default=None, description="Not effective: the new actions")
    responsible_department: ShortStr | None = Field(default=None, description="Not effective: default the same")
    due_at: AwareDatetime | None = Field(default=None, description="Not effective: the new due time")
    due_in_working_days: DueWorkingDays | None = None

    @model_validator(mode="after")
    def _reopen(self) -> VerifyCorrectiveAction:
        verify_rules(Rules(self), self.effective, self.actions, self.due_at, self.due_in_working_days,
                     self.responsible_department).check()
        return self


def verify_rules(rules: Rules, effective: bool, actions: list[str] | None, due_at: Any,
                 due_in_working_days: int | None, responsible_department: str | None) -> Rules:
    return rules.require(
        effective or actions is not None, "actions", "required when the action was not effective",
    ).require(
        effective or due_at is not None, "due_at", "required when the action was not effective",
    ).require(
        not effective or (actions is None and due_at is None and due_in_working_days is None
                          and responsible_department is None),
        "effective", "an effective action is closed: no new actions, department or due time",
    )


class IssueExceptionReport(ComplaintCommand):
    """Command: send the exception report (异常处理单) for a defect with no loss to the unit concerned."""

    command_type: Literal["IssueExceptionReport"] = "IssueExceptionReport"
    schema_version: Literal[1] = 1
    report_id: UUID
    no_loss: TrueBool = Field(description="The defect caused no loss (else a corrective action is raised)")
    unit: ShortStr
    description: NonEmptyStr
    requested_response: NonEmptyStr
    respond_by: AwareDatetime | None = None
    adjudication_id: UUID | None = Field(default=None, description=(
        "The adjudication that found the defect: its corrective action, if still raised, is superseded"))


class AnswerExceptionReport(ComplaintCommand):
    """Command: the unit concerned acknowledges and answers an exception report."""

    command_type: Literal["AnswerExceptionReport"] = "AnswerExceptionReport"
    schema_version: Literal[1] = 1
    report_id: UUID
    response: NonEmptyStr
