"""Quality's commands over its event store: each human step of the investigation (§5.3.3⑸, §5.4, §5.7)
in one unit of work. What the domain cannot know is looked up here: the kinds of the evidence hashes
(`self.evidence`, the evidence store), the authority matrix, the complaint's region and the time."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic

from contracts import quality as q
from contracts.corrective import (
    AnswerExceptionReport, ApproveCorrectiveAction, IssueExceptionReport, ProposeCorrectiveAction,
    RaiseCorrectiveActionFromAlert, RecordCorrectiveActionImplemented, VerifyCorrectiveAction,
)
from contracts.envelope import ComplaintCommand, ServiceName, branch_of, utc_now
from contracts.registration import ProductDetails
from services.common.access import rules as access_rules
from services.common.authority import AuthorityMatrix, load_authority
from services.common.domain import DomainError, EventMeta, InvalidCommand, NotFound
from services.common.store import ServiceApplication
from services.quality.domain.corrective import (
    CorrectiveAction, ExceptionReport, action_id_for_adjudication, action_id_for_alert,
)
from services.quality.domain.investigation import QualityInvestigation


@dataclass(frozen=True)
class StepDone:
    """A step's answer: where the investigation stands after it; `created` false for a repeated command."""

    complaint_id: UUID
    form_number: str
    stage: str
    determination: str | None
    version: int
    created: bool


@dataclass(frozen=True)
class Context:
    """What a step may need besides the command: looked up here, passed to the pure domain."""

    matrix: AuthorityMatrix
    region: str | None
    now: datetime
    kinds: dict[str, str | None]


Step = Callable[[QualityInvestigation, EventMeta, Any, Context], None]

#: Each command: the step's name (who takes it: `STEP_ROLES`) and the investigation method that carries it out.
STEPS: dict[type, tuple[str, Step]] = {
    q.RecordOnSiteDetermination: ("record determination", lambda i, meta, cmd, x: i.record_on_site_determination(
        meta, cmd, cmd.inspector, x.now, x.kinds)),
    q.CorrectOnSiteDetermination: ("correct determination", lambda i, meta, cmd, x: i.correct_determination(
        meta, cmd, x.kinds)),
    q.FileDefectiveProductForm: ("file the defective-product form", lambda i, meta, cmd, x: i.file_form(
        meta, cmd, x.kinds)),
    q.ApproveDefectiveProductForm: ("approve the defective-product form", lambda i, meta, cmd, x: i.approve_form(
        meta, cmd, x.matrix, x.region)),
    q.RejectDefectiveProductForm: ("reject the defective-product form", lambda i, meta, cmd, x: i.reject_form(
        meta, cmd)),
    q.ReturnDefectiveProductForm: ("return the defective-product form", lambda i, meta, cmd, x: i.return_form(
        meta, cmd)),
    q.ForwardDefectiveProductForm: ("forward the defective-product form", lambda i, meta, cmd, x: i.forward_form(
        meta, cmd)),
    q.RequestProductReturn: ("request the return", lambda i, meta, cmd, x: i.request_return(meta, cmd)),
    q.ShipProductReturn: ("ship the return", lambda i, meta, cmd, x: i.ship_return(meta, cmd, x.now)),
    q.RecordProductReceived: ("receive the returned product", lambda i, meta, cmd, x: i.receive_return(meta, cmd)),
    q.RecordQualityAdjudication: ("adjudicate", lambda i, meta, cmd, x: i.adjudicate(meta, cmd)),
    q.ApproveQualityDecision: ("approve the quality decision", lambda i, meta, cmd, x: i.approve_decision(
        meta, cmd, x.matrix, x.region)),
    q.RejectQualityDecision: ("reject the quality decision", lambda i, meta, cmd, x: i.reject_decision(meta, cmd)),
    q.RecordQualityRemedy: ("record the remedy", lambda i, meta, cmd, x: i.record_remedy(meta, cmd, x.now)),
}


def command_fingerprint(command: ComplaintCommand) -> str:
    """What a command asks, apart from when it was sent: the same id must ask the same again."""
    asked = command.model_dump(mode="json", exclude={"command_id", "issued_at", "correlation_id"})
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


class _NoEvidence:
    """No evidence store attached: nothing is stored (every hash is unknown)."""

    def info(self, sha256: str) -> None:
        return None


def _default_evidence_store() -> Any:
    try:
        from services.common.evidence import InMemoryEvidenceStore
    except ImportError:  # pragma: no cover - the evidence store ships with the package
        return _NoEvidence()
    return InMemoryEvidenceStore()


class QualityApplication(ServiceApplication):
    SERVICE = ServiceName.QUALITY
    VALUE_TYPES = (EventMeta, ProductDetails)

    def __init__(self, *args: Any, clock: Callable[[], datetime] = utc_now, authority: AuthorityMatrix | None = None,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.authority = authority or load_authority()
        #: The evidence store (photos and scans by SHA-256); bootstrap attaches the configured one.
        self.evidence: Any = _default_evidence_store()

    @staticmethod
    def missing(complaint_id: UUID) -> NotFound:
        return NotFound(f"no quality investigation for complaint {complaint_id}: "
                        "it has not been routed to quality")

    def investigation(self, complaint_id: UUID) -> QualityInvestigation:
        try:
            investigation = self.repository.get(complaint_id)
        except AggregateNotFoundError:
            raise self.missing(complaint_id) from None
        if not isinstance(investigation, QualityInvestigation):
            raise self.missing(complaint_id)
        return investigation

    def visible(self, complaint_id: UUID, in_scope: Callable[[str], bool]) -> QualityInvestigation:
        """The investigation, when `in_scope(branch)`: one outside the caller's scope is not found,
        exactly like a complaint quality never received."""
        investigation = self.investigation(complaint_id)
        if not in_scope(branch_of(investigation.meta.form_number)):
            raise self.missing(complaint_id)
        return investigation

    def evidence_kinds(self, hashes: list[str]) -> dict[str, str | None]:
        kinds: dict[str, str | None] = {}
        for sha256 in hashes:
            info = self.evidence.info(sha256)
            kinds[sha256] = getattr(info, "kind", None) if info is not None else None
        return kinds

    def handle(self, command: ComplaintCommand,
               in_scope: Callable[[str], bool] = lambda branch: True) -> StepDone:
        """Carry out one step; a repeated command id answers the state now and writes nothing. A refused
        step raises before anything is saved. `in_scope(branch)`: whether the caller may act on a
        complaint of that branch (the edge passes the access rules)."""
        investigation = self.visible(command.complaint_id, in_scope)
        fingerprint = command_fingerprint(command)
        if investigation.repeated_with(command.command_id, fingerprint):
            return self._done(investigation, created=False)
        name, step = STEPS[type(command)]
        investigation.check_actor(name, command.actor)
        meta = investigation.meta.caused_by(command.command_id, command.actor)
        context = Context(matrix=self.authority,
                          region=access_rules().region_of(branch_of(investigation.meta.form_number)),
                          now=self.clock(), kinds=self.evidence_kinds(list(getattr(command, "evidence", ()))))
        investigation.taking(fingerprint)
        step(investigation, meta, command, context)
        self.save(investigation)
        return self._done(investigation, created=True)

    @staticmethod
    def _done(investigation: QualityInvestigation, created: bool) -> StepDone:
        return StepDone(investigation.id, investigation.meta.form_number, investigation.stage,
                        investigation.determination, investigation.version, created)

    def record_on_site_determination(self, command: q.RecordOnSiteDetermination,
                                     in_scope: Callable[[str], bool] = lambda branch: True) -> QualityInvestigation:
        """The on-site determination step (kept for its callers): `handle`, answering the investigation."""
        self.handle(command, in_scope)
        return self.investigation(command.complaint_id)

    # --- corrective actions (CAPA) and exception reports ------------------------------------------
    # Each corrective action / exception report is an aggregate of its own id (domain/corrective.py);
    # its events carry the complaint's meta. Idempotent by command_id like every step here.

    #: The clock of due times and the overdue flag (None: the wall clock; tests set their own).
    corrective_clock: Callable[[], datetime] | None = None

    def corrective_now(self) -> datetime:
        return (self.corrective_clock or utc_now)()

    def _own(self, aggregate_id: UUID, cls: type, what: str, in_scope: Callable[[str], bool]) -> Any:
        try:
            found = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            found = None
        if not isinstance(found, cls) or not in_scope(branch_of(found.meta.form_number)):
            raise NotFound(f"no {what} {aggregate_id}")
        return found

    def corrective_action(self, action_id: UUID,
                          in_scope: Callable[[str], bool] = lambda branch: True) -> CorrectiveAction:
        return self._own(action_id, CorrectiveAction, "corrective action", in_scope)

    def exception_report(self, report_id: UUID,
                         in_scope: Callable[[str], bool] = lambda branch: True) -> ExceptionReport:
        return self._own(report_id, ExceptionReport, "exception report", in_scope)

    def _complaint_meta(self, complaint_id: UUID, in_scope: Callable[[str], bool]) -> tuple[EventMeta, Any]:
        """The meta and product of the complaint quality investigates (404 when quality has none)."""
        try:
            investigation = self.repository.get(complaint_id)
        except AggregateNotFoundError:
            investigation = None
        meta = getattr(investigation, "meta", None)
        if meta is None or not in_scope(branch_of(meta.form_number)):
            raise NotFound(f"no quality investigation for complaint {complaint_id}: it has not been routed to quality")
        return meta, getattr(investigation, "product", None)

    def raise_corrective_action_from_alert(
            self, command: RaiseCorrectiveActionFromAlert,
            in_scope: Callable[[str], bool] = lambda branch: True) -> tuple[CorrectiveAction, bool]:
        """Raise the one corrective action of a batch alert; (action, created)."""
        meta, _ = self._complaint_meta(command.complaint_id, in_scope)
        action_id = action_id_for_alert(command.alert.alert_id)
        try:
            existing = self.repository.get(action_id)
        except AggregateNotFoundError:
            existing = None
        if existing is not None:
            if existing.repeated(command):
                return existing, False
            raise DomainError(f"alert {command.alert.alert_id} already raised corrective action {action_id}",
                              field="alert")
        meta = meta.caused_by(command.command_id, command.actor)
        action = CorrectiveAction.from_alert(meta, command.alert.alert_id, command.alert.model,
                                             command.alert.batch_number)
        action.take(meta, command)
        self.save(action)
        return action, True

    def corrective_action_step(
            self, command: ProposeCorrectiveAction | ApproveCorrectiveAction | RecordCorrectiveActionImplemented
            | VerifyCorrectiveAction,
            in_scope: Callable[[str], bool] = lambda branch: True) -> tuple[CorrectiveAction, bool]:
        """Propose, approve, record implemented or verify; (action, created). A repeat writes nothing."""
        action = self.corrective_action(command.action_id, in_scope)
        if command.complaint_id != action.meta.complaint_id:
            raise InvalidCommand(f"corrective action {action.id} belongs to complaint {action.meta.complaint_id}",
                                 field="complaint_id")
        if action.repeated(command):
            return action, False
        meta = action.meta.caused_by(command.command_id, command.actor)
        now = self.corrective_now()
        if isinstance(command, ProposeCorrectiveAction):
            action.propose(meta, command.root_cause, list(command.actions), command.preventive, command.owner,
                           command.responsible_department, command.due_at, command.due_in_working_days, now)
        elif isinstance(command, ApproveCorrectiveAction):
            action.approve(meta)
        elif isinstance(command, RecordCorrectiveActionImplemented):
            unknown = [h for h in command.evidence if self.evidence.info(h) is None]
            if unknown:
                raise InvalidCommand(f"evidence {unknown[0]} is not stored: upload it first (POST /evidence)",
                                     field="evidence")
            action.implement(meta, command.summary, list(command.evidence), now)
        elif isinstance(command, VerifyCorrectiveAction):
            action.verify(meta, command.effective, command.findings,
                          list(command.actions) if command.actions is not None else None,
                          command.responsible_department, command.due_at, command.due_in_working_days, now)
        else:  # pragma: no cover - the edge sends only these
            raise TypeError(f"not a corrective action step: {type(command).__name__}")
        action.take(meta, command)
        self.save(action)
        return action, True

    def issue_exception_report(self, command: IssueExceptionReport,
                               in_scope: Callable[[str], bool] = lambda branch: True) -> tuple[ExceptionReport, bool]:
        meta, product = self._complaint_meta(command.complaint_id, in_scope)
        try:
            existing = self.repository.get(command.report_id)
        except AggregateNotFoundError:
            existing = None
        if existing is not None:
            if isinstance(existing, ExceptionReport) and existing.repeated(command):
                return existing, False
            raise DomainError(f"report_id {command.report_id} is taken; choose a new one", field="report_id")
        meta = meta.caused_by(command.command_id, command.actor)
        product = product if isinstance(product, ProductDetails) else None
        report = ExceptionReport.issue(meta, command.report_id, command.unit, command.description,
                                       command.requested_response, command.respond_by, command.adjudication_id,
                                       product, self.corrective_now())
        changed: list[Any] = [report]
        if command.adjudication_id is not None:  # instead of the adjudication's corrective action
            action_id = action_id_for_adjudication(command.adjudication_id)
            try:
                action = self.repository.get(action_id)
            except AggregateNotFoundError:  # not raised yet (quality follows its own topic): raised here
                action = CorrectiveAction.from_adjudication(meta, command.adjudication_id, None, product)
            if action.meta.complaint_id != command.complaint_id:
                raise DomainError(f"adjudication {command.adjudication_id} is another complaint's",
                                  field="adjudication_id")
            action.supersede(meta, command.report_id, command.unit)
            changed.append(action)
        report.take(meta, command)
        self.save(*changed)
        return report, True

    def answer_exception_report(self, command: AnswerExceptionReport,
                                in_scope: Callable[[str], bool] = lambda branch: True) -> tuple[ExceptionReport, bool]:
        report = self.exception_report(command.report_id, in_scope)
        if command.complaint_id != report.meta.complaint_id:  # another complaint's: not found under this one
            raise NotFound(f"no exception report {report.id} for complaint {command.complaint_id}")
        if report.repeated(command):
            return report, False
        meta = report.meta.caused_by(command.command_id, command.actor)
        report.answer_report(meta, command.response)
        report.take(meta, command)
        self.save(report)
        return report, True

    def corrective_actions(self, in_scope: Callable[[str], bool] = lambda branch: True) -> list[CorrectiveAction]:
        """Every corrective action the caller sees, from the log (raised events) on."""
        return [a for a in (self.corrective_action(i) for i in self._corrective_index().ids())
                if in_scope(branch_of(a.meta.form_number))]

    def _corrective_index(self) -> CorrectiveActionIndex:
        index = self.__dict__.get("_corrective_action_index")
        if index is None:
            index = self.__dict__.setdefault("_corrective_action_index", CorrectiveActionIndex(self))
        return index

    def aggregates_of(self, complaint_id: UUID) -> list[UUID]:
        """The aggregates whose events make up the complaint's history here: its investigation and
        the corrective actions raised from it (stored under their own ids; found in the index, not by
        loading every action)."""
        return [complaint_id, *self._corrective_index().ids(of=complaint_id)]


# --- corrective actions (CAPA), continued ------------------------------------------------------


class CorrectiveActionIndex:
    """The ids of every corrective action, in the order raised: read from the store's log (the
    raised events only) and followed from there; nothing stored besides the events."""

    TOPICS = [get_topic(CorrectiveAction.Raised)]

    def __init__(self, app: ServiceApplication, chunk: int = 1000):
        self.app = app
        self.chunk = chunk
        self.position = 0
        self._ids: dict[UUID, UUID] = {}  # action id -> the complaint it was raised about
        self._lock = threading.Lock()

    def ids(self, of: UUID | None = None) -> list[UUID]:
        """Every action's id, or (`of`) those raised about one complaint."""
        with self._lock:
            while True:
                notifications = self.app.recorder.select_notifications(self.position + 1, self.chunk,
                                                                       topics=self.TOPICS)
                for notification in notifications:
                    raised = self.app.mapper.to_domain_event(notification)
                    self._ids[notification.originator_id] = raised.meta.complaint_id
                if notifications:
                    self.position = notifications[-1].id
                if len(notifications) < self.chunk:
                    return [i for i, complaint in self._ids.items() if of is None or complaint == of]
