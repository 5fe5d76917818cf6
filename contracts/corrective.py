"""Corrective and preventive actions (CAPA, §4.4, §4.5, §5.7.1⑸): quality's messages about one
corrective action, raised from an adjudicated defect or a batch-defect alert."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, StrictBool, model_validator

from contracts.envelope import (
    APPROVALS_MAX, Attachments, ComplaintCommand, Envelope, NonEmptyStr, Role, Rules, ServiceName, ShortStr,
    Signature, describe,
)

#: The two who approve corrective actions for defects (§5.7.1⑸).
CORRECTIVE_ACTION_APPROVERS = frozenset({Role.MANAGEMENT_REPRESENTATIVE, Role.GENERAL_MANAGER})


class CorrectiveActionProposed(Envelope):
    """The quality department proposed corrective (and preventive) actions for a defect (§4.4)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["CorrectiveActionProposed"] = "CorrectiveActionProposed"
    schema_version: Literal[1] = 1
    action_id: UUID
    adjudication_id: UUID | None = None
    proposed_by: ShortStr
    root_cause: NonEmptyStr
    actions: NonEmptyStr
    preventive: StrictBool = False
    responsible_department: ShortStr
    due_at: AwareDatetime


class CorrectiveActionApproved(Envelope):
    """The management representative and the general manager approved the corrective action (§5.7.1⑸)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["CorrectiveActionApproved"] = "CorrectiveActionApproved"
    schema_version: Literal[1] = 1
    action_id: UUID
    approvals: list[Signature] = Field(min_length=2, max_length=APPROVALS_MAX)
    responsible_department: ShortStr
    actions: NonEmptyStr
    due_at: AwareDatetime

    @model_validator(mode="after")
    def _both_approve(self) -> CorrectiveActionApproved:
        missing = CORRECTIVE_ACTION_APPROVERS - {s.role for s in self.approvals}
        Rules(self).require(
            not missing, "approvals", f"missing the approval of {describe(missing)}",
        ).check()
        return self


class CorrectiveActionImplemented(Envelope):
    """The responsible department reported the corrective action done."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["CorrectiveActionImplemented"] = "CorrectiveActionImplemented"
    schema_version: Literal[1] = 1
    action_id: UUID
    implemented_by: ShortStr
    responsible_department: ShortStr
    summary: NonEmptyStr
    evidence: Attachments = Field(default_factory=list)


class CorrectiveActionVerified(Envelope):
    """The quality department checked the implemented action; not effective means it is reopened."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["CorrectiveActionVerified"] = "CorrectiveActionVerified"
    schema_version: Literal[1] = 1
    action_id: UUID
    verified_by: ShortStr
    effective: StrictBool
    findings: NonEmptyStr


class ProposeCorrectiveAction(ComplaintCommand):
    """Command: propose a corrective action."""

    command_type: Literal["ProposeCorrectiveAction"] = "ProposeCorrectiveAction"
    schema_version: Literal[1] = 1
    action_id: UUID
    adjudication_id: UUID | None = None
    root_cause: NonEmptyStr
    actions: NonEmptyStr
    preventive: StrictBool = False
    responsible_department: ShortStr
    due_at: AwareDatetime


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
    evidence: Attachments = Field(default_factory=list)


class VerifyCorrectiveAction(ComplaintCommand):
    """Command: record whether an implemented corrective action works."""

    command_type: Literal["VerifyCorrectiveAction"] = "VerifyCorrectiveAction"
    schema_version: Literal[1] = 1
    action_id: UUID
    effective: StrictBool
    findings: NonEmptyStr
