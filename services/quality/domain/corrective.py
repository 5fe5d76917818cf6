"""Corrective and preventive actions (CAPA, §4.4, §4.5, §5.7.1⑸) and the exception report (异常处理单).

Each corrective action is an aggregate of its own, under its own id (`action_id`), not the
complaint's: a complaint's investigation and its corrective action live side by side. Its events
still carry the complaint's `EventMeta`, so the relay publishes them with the complaint's id and
form number, on the complaint's partition. An action raised from an adjudication or an alert gets
an id derived from that source (`action_id_for_adjudication`, `action_id_for_alert`), so it is
raised once however often the source arrives.

States: raised → proposed → approved (management representative AND general manager, each
separately) → implemented → closed (verified effective) | proposed again (not effective: reopened
with new actions and a new due time, round + 1, both approvals needed again).

Due time: given by the caller as an instant (`due_at`), computed on the company's working-time
calendar (routing's; quality does not import it), optionally with the number of working days it
was computed from. `overdue(now)`: past `due_at` and not closed.

Pure: no I/O. A refused step raises before any event is triggered, so it writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from contracts.corrective import (
    CORRECTIVE_ACTION_APPROVERS, CorrectiveActionApproved, CorrectiveActionImplemented, CorrectiveActionProposed,
    CorrectiveActionRaised, CorrectiveActionReopened, CorrectiveActionSource, CorrectiveActionState,
    CorrectiveActionSuperseded, CorrectiveActionVerified, ExceptionReportAnswered, ExceptionReportIssued,
)
from contracts.envelope import COMPLAINTS_NAMESPACE, CommandEnvelope, Envelope, Role
from contracts.registration import ProductDetails
from services.common.domain import DomainError, EventMeta, InvalidCommand

S = CorrectiveActionState
#: Who owns an automatically raised action.
QUALITY_OWNER = Role.QUALITY_DEPARTMENT.value
#: Who may record an action implemented.
IMPLEMENTERS = frozenset({Role.RESPONSIBLE_DEPARTMENT, Role.QUALITY_DEPARTMENT})
#: Who proposes and verifies.
QUALITY_ROLES = frozenset({Role.QUALITY_DEPARTMENT})
_NAMESPACE = uuid5(COMPLAINTS_NAMESPACE, "corrective-action")


class NotTheirStep(DomainError):
    """The actor's role does not take this step (403)."""

    status = 403


def action_id_for_adjudication(adjudication_id: UUID) -> UUID:
    """The one corrective action an adjudication raises."""
    return uuid5(_NAMESPACE, f"adjudication:{adjudication_id}")


def action_id_for_alert(alert_id: UUID) -> UUID:
    """The one corrective action a batch alert raises."""
    return uuid5(_NAMESPACE, f"alert:{alert_id}")


def command_fingerprint(command: CommandEnvelope) -> str:
    """What a command asks, apart from when it was sent: the same id must ask the same again."""
    asked = command.model_dump(mode="json", exclude={"command_id", "issued_at", "correlation_id"})
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


class OwnIdAggregate(Aggregate):
    """An aggregate with an id of its own whose events concern one complaint (their `meta`), and
    which remembers the commands it carried out (id and fingerprint) so that a repeat writes
    nothing and another command under a used id is refused."""

    class Event(Aggregate.Event):
        PUBLISHED_AS: ClassVar[type[Envelope] | None] = None

    class Created(Event, Aggregate.Created):
        pass

    class CommandTaken(Event):
        """Internal: a command was carried out (its id and what it asked)."""

        meta: EventMeta
        command_id: UUID
        fingerprint: str

        def apply(self, aggregate: OwnIdAggregate) -> None:
            aggregate.fingerprints = {**aggregate.fingerprints, str(self.command_id): self.fingerprint}

    def take(self, meta: EventMeta, command: CommandEnvelope) -> None:
        self.trigger_event(self.CommandTaken, meta=meta, command_id=command.command_id,
                           fingerprint=command_fingerprint(command))

    def repeated(self, command: CommandEnvelope) -> bool:
        """True: carried out before (a repeat). Another command under the same id: 409 `command_id`."""
        known = self.fingerprints.get(str(command.command_id))
        if known is None:
            return False
        if known != command_fingerprint(command):
            raise DomainError(f"command_id {command.command_id} was already used for another step or other "
                              "fields; send a new command_id", field="command_id")
        return True


def _future(due_at: datetime, now: datetime, field: str = "due_at") -> None:
    if due_at <= now:
        raise InvalidCommand(f"{field} {due_at.isoformat()} is not in the future", field=field)


def _role(meta: EventMeta) -> Role:
    return Role(meta.actor.role)


class CorrectiveAction(OwnIdAggregate):
    """One corrective (and preventive) action (§4.4, §4.5)."""

    @staticmethod
    def create_id(action_id: UUID, **_: Any) -> UUID:
        return action_id

    class Raised(OwnIdAggregate.Created):
        PUBLISHED_AS = CorrectiveActionRaised
        meta: EventMeta
        action_id: UUID
        source: str
        adjudication_id: UUID | None
        alert: dict[str, Any] | None
        root_cause: str | None
        product: ProductDetails | None
        owner: str
        raised_by: str

    @event(Raised)
    def __init__(self, meta: EventMeta, action_id: UUID, source: str, adjudication_id: UUID | None,
                 alert: dict[str, Any] | None, root_cause: str | None, product: ProductDetails | None, owner: str,
                 raised_by: str):
        self.meta = meta
        self.action_id = action_id
        self.source = source
        self.adjudication_id = adjudication_id
        self.alert = alert
        self.root_cause = root_cause
        self.product = product
        self.owner = owner
        self.raised_by = raised_by
        self.state = S.RAISED
        self.round = 0
        self.actions: list[str] = []
        self.preventive = False
        self.responsible_department: str | None = None
        self.due_at: datetime | None = None
        self.due_in_working_days: int | None = None
        self.approvals: dict[str, str] = {}  # role -> approver, this round
        self.implementation: dict[str, Any] | None = None
        self.verifications: list[dict[str, Any]] = []
        self.superseded_by_report: UUID | None = None
        self.fingerprints = {}

    @classmethod
    def from_adjudication(cls, meta: EventMeta, adjudication_id: UUID, root_cause: str | None,
                          product: ProductDetails | None) -> CorrectiveAction:
        """Raised automatically (state raised, owned by the quality department)."""
        return cls(meta=meta, action_id=action_id_for_adjudication(adjudication_id),
                   source=CorrectiveActionSource.ADJUDICATION.value, adjudication_id=adjudication_id, alert=None,
                   root_cause=root_cause, product=product, owner=QUALITY_OWNER, raised_by=meta.actor.user_id)

    @classmethod
    def from_alert(cls, meta: EventMeta, alert_id: UUID, model: str, batch_number: str) -> CorrectiveAction:
        """Raised by the quality department from a batch-defect alert (the meta is the complaint's
        that raised the alert)."""
        if _role(meta) not in QUALITY_ROLES | {Role.SYSTEM}:
            raise NotTheirStep(f"{meta.actor.role} may not raise a corrective action; the quality department does",
                               field="actor")
        return cls(meta=meta, action_id=action_id_for_alert(alert_id),
                   source=CorrectiveActionSource.BATCH_ALERT.value, adjudication_id=None,
                   alert={"alert_id": str(alert_id), "model": model, "batch_number": batch_number},
                   root_cause=None, product=None, owner=QUALITY_OWNER, raised_by=meta.actor.user_id)

    # --- reading ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """No longer open: verified effective, or superseded by an exception report."""
        return self.state in (S.CLOSED, S.SUPERSEDED)

    def overdue(self, now: datetime) -> bool:
        """Past its due time and not closed (an action not yet proposed has no due time)."""
        return self.due_at is not None and not self.closed and now > self.due_at

    def outstanding_approvers(self) -> list[Role]:
        return sorted((r for r in CORRECTIVE_ACTION_APPROVERS if r.value not in self.approvals), key=str)

    def _require(self, states: set[CorrectiveActionState], step: str) -> None:
        if self.state not in states:
            raise DomainError(f"corrective action {self.id} is {self.state.value}: it cannot be {step} now "
                              f"(only when {' or '.join(sorted(s.value for s in states))})", field="action_id")

    @staticmethod
    def _role_in(meta: EventMeta, roles: frozenset[Role], step: str) -> Role:
        role = _role(meta)
        if role not in roles:
            raise NotTheirStep(f"{role.value} may not {step} a corrective action; "
                               f"{' or '.join(sorted(r.value for r in roles))} does", field="actor")
        return role

    # --- steps --------------------------------------------------------------------------------

    class Proposed(OwnIdAggregate.Event):
        PUBLISHED_AS = CorrectiveActionProposed
        meta: EventMeta
        action_id: UUID
        round: int
        proposed_by: str
        owner: str
        root_cause: str
        actions: list[str]
        preventive: bool
        responsible_department: str
        due_at: datetime
        due_in_working_days: int | None

        def apply(self, action: CorrectiveAction) -> None:
            action.state = S.PROPOSED
            action.round = self.round
            action.owner = self.owner
            action.root_cause = self.root_cause
            action.actions = list(self.actions)
            action.preventive = self.preventive
            action.responsible_department = self.responsible_department
            action.due_at = self.due_at
            action.due_in_working_days = self.due_in_working_days
            action.approvals = {}

    def propose(self, meta: EventMeta, root_cause: str, actions: list[str], preventive: bool, owner: str | None,
                responsible_department: str, due_at: datetime, due_in_working_days: int | None,
                now: datetime) -> None:
        self._role_in(meta, QUALITY_ROLES, "propose")
        self._require({S.RAISED}, "proposed")
        _future(due_at, now)
        self.trigger_event(self.Proposed, meta=meta, action_id=self.id, round=1, proposed_by=meta.actor.user_id,
                           owner=owner or meta.actor.user_id, root_cause=root_cause, actions=list(actions),
                           preventive=preventive, responsible_department=responsible_department, due_at=due_at,
                           due_in_working_days=due_in_working_days)

    class Approved(OwnIdAggregate.Event):
        PUBLISHED_AS = CorrectiveActionApproved
        meta: EventMeta
        action_id: UUID
        round: int
        approver: str
        approver_role: str
        outstanding: list[str]
        fully_approved: bool
        responsible_department: str
        due_at: datetime

        def apply(self, action: CorrectiveAction) -> None:
            action.approvals = {**action.approvals, self.approver_role: self.approver}
            if self.fully_approved:
                action.state = S.APPROVED

    def approve(self, meta: EventMeta) -> None:
        """One approval; the action starts when both the management representative and the general
        manager have approved this round."""
        role = self._role_in(meta, CORRECTIVE_ACTION_APPROVERS, "approve")
        self._require({S.PROPOSED}, "approved")
        if role.value in self.approvals:
            raise DomainError(f"the {role.value} ({self.approvals[role.value]}) already approved round "
                              f"{self.round} of corrective action {self.id}", field="actor")
        outstanding = [r.value for r in self.outstanding_approvers() if r is not role]
        assert self.responsible_department is not None and self.due_at is not None
        self.trigger_event(self.Approved, meta=meta, action_id=self.id, round=self.round, approver=meta.actor.user_id,
                           approver_role=role.value, outstanding=outstanding, fully_approved=not outstanding,
                           responsible_department=self.responsible_department, due_at=self.due_at)

    class Implemented(OwnIdAggregate.Event):
        PUBLISHED_AS = CorrectiveActionImplemented
        meta: EventMeta
        action_id: UUID
        round: int
        implemented_by: str
        implementer_role: str
        responsible_department: str
        summary: str
        evidence: list[str]
        due_at: datetime
        on_time: bool

        def apply(self, action: CorrectiveAction) -> None:
            action.state = S.IMPLEMENTED
            action.implementation = {"implemented_by": self.implemented_by, "summary": self.summary,
                                     "evidence": list(self.evidence), "on_time": self.on_time,
                                     "at": self.timestamp}

    def implement(self, meta: EventMeta, summary: str, evidence: list[str], now: datetime) -> None:
        role = self._role_in(meta, IMPLEMENTERS, "record implemented")
        self._require({S.APPROVED}, "recorded implemented")
        assert self.responsible_department is not None and self.due_at is not None
        self.trigger_event(self.Implemented, meta=meta, action_id=self.id, round=self.round,
                           implemented_by=meta.actor.user_id,
                           implementer_role=role.value, responsible_department=self.responsible_department,
                           summary=summary, evidence=list(evidence), due_at=self.due_at, on_time=now <= self.due_at)

    class Verified(OwnIdAggregate.Event):
        PUBLISHED_AS = CorrectiveActionVerified
        meta: EventMeta
        action_id: UUID
        round: int
        verified_by: str
        effective: bool
        findings: str
        closed: bool

        def apply(self, action: CorrectiveAction) -> None:
            action.verifications = [*action.verifications, {
                "round": self.round, "verified_by": self.verified_by, "effective": self.effective,
                "findings": self.findings}]
            if self.effective:
                action.state = S.CLOSED

    class Reopened(OwnIdAggregate.Event):
        PUBLISHED_AS = CorrectiveActionReopened
        meta: EventMeta
        action_id: UUID
        round: int
        reopened_by: str
        reason: str
        actions: list[str]
        responsible_department: str
        due_at: datetime
        due_in_working_days: int | None

        def apply(self, action: CorrectiveAction) -> None:
            action.state = S.PROPOSED
            action.round = self.round
            action.actions = list(self.actions)
            action.responsible_department = self.responsible_department
            action.due_at = self.due_at
            action.due_in_working_days = self.due_in_working_days
            action.approvals = {}
            action.implementation = None

    def verify(self, meta: EventMeta, effective: bool, findings: str, actions: list[str] | None,
               responsible_department: str | None, due_at: datetime | None, due_in_working_days: int | None,
               now: datetime) -> None:
        """Effective closes the action; not effective reopens it with new actions and due time."""
        self._role_in(meta, QUALITY_ROLES, "verify")
        self._require({S.IMPLEMENTED}, "verified")
        if not effective:
            if not actions:
                raise InvalidCommand("a not-effective action is reopened with new actions", field="actions")
            if due_at is None:
                raise InvalidCommand("a not-effective action is reopened with a new due time", field="due_at")
            _future(due_at, now)
        self.trigger_event(self.Verified, meta=meta, action_id=self.id, round=self.round,
                           verified_by=meta.actor.user_id,
                           effective=effective, findings=findings, closed=effective)
        if not effective:
            assert actions is not None and due_at is not None
            self.trigger_event(self.Reopened, meta=meta, action_id=self.id, round=self.round + 1,
                               reopened_by=meta.actor.user_id,
                               reason=findings, actions=list(actions),
                               responsible_department=responsible_department or self.responsible_department,
                               due_at=due_at, due_in_working_days=due_in_working_days)


    class Superseded(OwnIdAggregate.Event):
        PUBLISHED_AS = CorrectiveActionSuperseded
        meta: EventMeta
        action_id: UUID
        report_id: UUID
        superseded_by: str
        unit: str

        def apply(self, action: CorrectiveAction) -> None:
            action.state = S.SUPERSEDED
            action.superseded_by_report = self.report_id

    def supersede(self, meta: EventMeta, report_id: UUID, unit: str) -> None:
        """No loss: the exception report to the unit concerned replaces the action, while it is only raised."""
        self._role_in(meta, QUALITY_ROLES, "supersede")
        if self.state is not S.RAISED:
            raise DomainError(f"corrective action {self.id} of this adjudication is {self.state.value}: an "
                              "exception report replaces it only while it is raised", field="adjudication_id")
        self.trigger_event(self.Superseded, meta=meta, action_id=self.id, report_id=report_id,
                           superseded_by=meta.actor.user_id, unit=unit)


class ExceptionReport(OwnIdAggregate):
    """The exception report (异常处理单): a defect with no loss sent to the unit concerned, which
    acknowledges and answers it."""

    @staticmethod
    def create_id(report_id: UUID, **_: Any) -> UUID:
        return report_id

    class Issued(OwnIdAggregate.Created):
        PUBLISHED_AS = ExceptionReportIssued
        meta: EventMeta
        report_id: UUID
        issued_by: str
        unit: str
        description: str
        requested_response: str
        respond_by: datetime | None
        adjudication_id: UUID | None
        product: ProductDetails | None

    @event(Issued)
    def __init__(self, meta: EventMeta, report_id: UUID, issued_by: str, unit: str, description: str,
                 requested_response: str, respond_by: datetime | None, adjudication_id: UUID | None,
                 product: ProductDetails | None):
        self.meta = meta
        self.report_id = report_id
        self.issued_by = issued_by
        self.unit = unit
        self.description = description
        self.requested_response = requested_response
        self.respond_by = respond_by
        self.adjudication_id = adjudication_id
        self.product = product
        self.answer: dict[str, Any] | None = None
        self.fingerprints = {}

    @classmethod
    def issue(cls, meta: EventMeta, report_id: UUID, unit: str, description: str, requested_response: str,
              respond_by: datetime | None, adjudication_id: UUID | None, product: ProductDetails | None,
              now: datetime) -> ExceptionReport:
        if _role(meta) not in QUALITY_ROLES:
            raise NotTheirStep(f"{meta.actor.role} may not issue an exception report; the quality department does",
                               field="actor")
        if respond_by is not None:
            _future(respond_by, now, "respond_by")
        return cls(meta=meta, report_id=report_id, issued_by=meta.actor.user_id, unit=unit, description=description,
                   requested_response=requested_response, respond_by=respond_by, adjudication_id=adjudication_id,
                   product=product)

    class Answered(OwnIdAggregate.Event):
        PUBLISHED_AS = ExceptionReportAnswered
        meta: EventMeta
        report_id: UUID
        unit: str
        answered_by: str
        response: str

        def apply(self, report: ExceptionReport) -> None:
            report.answer = {"answered_by": self.answered_by, "response": self.response, "at": self.timestamp}

    def answer_report(self, meta: EventMeta, response: str) -> None:
        if _role(meta) not in IMPLEMENTERS:
            raise NotTheirStep(f"{meta.actor.role} may not answer an exception report; the unit concerned "
                               "(responsible_department) or the quality department for it does", field="actor")
        if self.answer is not None:
            raise DomainError(f"exception report {self.id} was already answered by {self.answer['answered_by']}",
                              field="report_id")
        self.trigger_event(self.Answered, meta=meta, report_id=self.id, unit=self.unit, answered_by=meta.actor.user_id,
                           response=response)
