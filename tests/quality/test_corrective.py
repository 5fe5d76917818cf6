"""Corrective actions (CAPA, §4.4, §4.5, §5.7.1⑸) and exception reports at quality, in memory: raised once
per adjudicated defect or batch alert, proposed, approved by BOTH the management representative and the
general manager, implemented, verified effective (closed) or not (reopened, approved again); overdue
against a given now; every refusal writes nothing; steps idempotent by command_id; the published
events name the complaint and pass their contracts."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from contracts.corrective import (
    AnswerExceptionReport, ApproveCorrectiveAction, BatchAlert, CorrectiveActionApproved, CorrectiveActionRaised,
    CorrectiveActionReopened, CorrectiveActionState, CorrectiveActionSuperseded, CorrectiveActionVerified,
    ExceptionReportAnswered, ExceptionReportIssued, IssueExceptionReport, ProposeCorrectiveAction,
    RaiseCorrectiveActionFromAlert, RecordCorrectiveActionImplemented, VerifyCorrectiveAction,
)
from contracts.envelope import Actor, ServiceName
from eventsourcing.persistence import Tracking
from contracts.quality import QualityAdjudicationRecorded
from contracts.registry import parse_event, serialize_event
from contracts.routing import ComplaintRouted, Destination
from services.common.domain import DomainError, InvalidCommand, NotFound
from services.quality.application import QualityApplication
from services.quality.domain.corrective import (
    CorrectiveAction, NotTheirStep, action_id_for_adjudication, action_id_for_alert,
)
from services.quality.policies import quality_policy
from tests.common.builders import complaint_routed, envelope, in_memory, published, react, stored_events
from tests.contracts.conftest import EVENT_PAYLOADS

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
DUE = NOW + timedelta(days=5)
QA = Actor(user_id="qa-lin", role="quality_department")
MR = Actor(user_id="mr-gao", role="management_representative")
GM = Actor(user_id="gm-he", role="general_manager")
DEPT = Actor(user_id="prod-ma", role="responsible_department")
CLERK = Actor(user_id="clerk-li", role="branch_clerk", branch="SH01")
PDF = b"%PDF-1.4\n% corrective action: crack test record\n%%EOF\n"
SHA = hashlib.sha256(PDF).hexdigest()


def adjudication(determination: str = "obvious_quality_defect", **overrides: Any) -> QualityAdjudicationRecorded:
    """Quality's adjudication event (from the contract sample, turned into a defect when asked)."""
    payload = dict(EVENT_PAYLOADS["QualityAdjudicationRecorded"])
    if determination == "obvious_quality_defect":
        payload |= dict(determination=determination, misuse_resolution=None, responsible_party="company",
                        salesperson_negligent=False, negligence_degree=None, negligence_finding=None)
    payload |= {"adjudication_id": str(uuid4()), "root_cause": "Casting porosity in batch B2026-1107"}
    env = envelope(ServiceName.QUALITY, actor=QA)
    return QualityAdjudicationRecorded.model_validate({**env, **payload, "event_type": "QualityAdjudicationRecorded",
                                                      **overrides})


@pytest.fixture
def app() -> QualityApplication:
    app = in_memory(QualityApplication)
    app.corrective_clock = lambda: NOW
    assert app.evidence.put(PDF).sha256 == SHA
    return app


@pytest.fixture
def routed(app: QualityApplication) -> ComplaintRouted:
    event = complaint_routed(Destination.QUALITY_DEPARTMENT)
    react(app, quality_policy, event)
    return event


@pytest.fixture
def raised(app: QualityApplication, routed: ComplaintRouted) -> CorrectiveAction:
    action, created = app.raise_corrective_action_from_alert(alert_command(routed.complaint_id))
    assert created
    return action


def alert_command(complaint_id: UUID, alert_id: UUID | None = None, actor: Actor = QA,
                  command_id: UUID | None = None) -> RaiseCorrectiveActionFromAlert:
    return RaiseCorrectiveActionFromAlert(
        complaint_id=complaint_id, actor=actor, command_id=command_id or uuid4(),
        alert=BatchAlert(alert_id=alert_id or UUID(int=7), model="GX-200", batch_number="B2026-1107"))


def propose(action: CorrectiveAction, actor: Actor = QA, due_at: datetime = DUE, **kw: Any) -> ProposeCorrectiveAction:
    return ProposeCorrectiveAction(complaint_id=action.meta.complaint_id, action_id=action.id, actor=actor,
                                   **({"root_cause": "Mould wear", "actions": ["Replace the mould", "Add a crack test"],
                                       "responsible_department": "Production", "due_at": due_at,
                                       "due_in_working_days": 3} | kw))


def approve(action: CorrectiveAction, actor: Actor, **kw: Any) -> ApproveCorrectiveAction:
    return ApproveCorrectiveAction(complaint_id=action.meta.complaint_id, action_id=action.id, actor=actor, **kw)


def implement(action: CorrectiveAction, actor: Actor = DEPT) -> RecordCorrectiveActionImplemented:
    return RecordCorrectiveActionImplemented(complaint_id=action.meta.complaint_id, action_id=action.id, actor=actor,
                                             summary="Mould replaced; crack test on every casting", evidence=[SHA])


def verify(action: CorrectiveAction, effective: bool, **kw: Any) -> VerifyCorrectiveAction:
    extra = {} if effective else {"actions": ["Change the alloy supplier"], "due_at": DUE + timedelta(days=10)}
    return VerifyCorrectiveAction(complaint_id=action.meta.complaint_id, action_id=action.id, actor=QA,
                                  effective=effective, findings="Checked three batches", **(extra | kw))


def to_approved(app: QualityApplication, action: CorrectiveAction) -> CorrectiveAction:
    app.corrective_action_step(propose(action))
    app.corrective_action_step(approve(action, MR))
    done, _ = app.corrective_action_step(approve(action, GM))
    return done


def log_size(app: QualityApplication) -> int:
    return len(stored_events(app))


# --- raised: from an adjudicated defect (policy), from a batch alert (command) ------------------------


def test_an_adjudicated_defect_raises_one_corrective_action_owned_by_quality(app: QualityApplication) -> None:
    event = adjudication()
    assert react(app, quality_policy, event) == 1
    action = app.corrective_action(action_id_for_adjudication(event.adjudication_id))
    assert action.state is CorrectiveActionState.RAISED
    assert action.owner == "quality_department" and action.root_cause == event.root_cause
    [raised] = published(app)
    assert isinstance(raised, CorrectiveActionRaised)
    assert raised.action_id == action.id != event.complaint_id
    assert (raised.complaint_id, raised.form_number, raised.correlation_id) == (
        event.complaint_id, event.form_number, event.correlation_id)
    assert raised.causation_id == event.event_id and raised.adjudication_id == event.adjudication_id
    assert raised.source == "adjudication" and raised.alert is None and raised.product == event.product


def test_the_same_adjudication_again_raises_nothing_more(app: QualityApplication) -> None:
    event = adjudication()
    react(app, quality_policy, event)
    assert react(app, quality_policy, event, position=99) == 0
    assert react(app, quality_policy, event.model_copy(update={"event_id": uuid4()}), position=100) == 0
    assert len(published(app)) == 1


def test_misuse_raises_no_corrective_action(app: QualityApplication) -> None:
    assert react(app, quality_policy, adjudication("obvious_misuse")) == 0
    assert published(app) == []


def test_a_batch_alert_raises_one_action_on_the_complaint_that_raised_it(
        app: QualityApplication, routed: ComplaintRouted, raised: CorrectiveAction) -> None:
    assert raised.id == action_id_for_alert(UUID(int=7))
    events = [e for e in published(app) if isinstance(e, CorrectiveActionRaised)]
    assert [(e.complaint_id, e.form_number, e.source, e.alert) for e in events] == [
        (routed.complaint_id, routed.form_number, "batch_alert",
         BatchAlert(alert_id=UUID(int=7), model="GX-200", batch_number="B2026-1107"))]
    assert events[0].actor == QA and events[0].correlation_id == routed.correlation_id


def test_the_same_alert_raises_once(app: QualityApplication, routed: ComplaintRouted,
                                    raised: CorrectiveAction) -> None:
    size = log_size(app)
    with pytest.raises(DomainError) as again:
        app.raise_corrective_action_from_alert(alert_command(routed.complaint_id))
    assert again.value.field == "alert" and again.value.status == 409
    assert log_size(app) == size


def test_a_repeated_raise_command_answers_the_action_and_writes_nothing(app: QualityApplication,
                                                                        routed: ComplaintRouted) -> None:
    command = alert_command(routed.complaint_id, alert_id=uuid4())
    first, created = app.raise_corrective_action_from_alert(command)
    size = log_size(app)
    again, created_again = app.raise_corrective_action_from_alert(command.model_copy(update={"issued_at": NOW}))
    assert (created, created_again, again.id, again.version) == (True, False, first.id, first.version)
    assert log_size(app) == size


def test_an_alert_on_a_complaint_quality_does_not_investigate_is_not_found(app: QualityApplication) -> None:
    with pytest.raises(NotFound):
        app.raise_corrective_action_from_alert(alert_command(uuid4()))
    assert log_size(app) == 0


def test_only_quality_raises_from_an_alert(app: QualityApplication, routed: ComplaintRouted) -> None:
    size = log_size(app)
    with pytest.raises(NotTheirStep) as refused:
        app.raise_corrective_action_from_alert(alert_command(routed.complaint_id, alert_id=uuid4(), actor=CLERK))
    assert refused.value.status == 403 and log_size(app) == size


# --- the life of an action ----------------------------------------------------------------------------


def test_both_approvals_are_needed_before_it_starts(app: QualityApplication, raised: CorrectiveAction) -> None:
    action, _ = app.corrective_action_step(propose(raised))
    assert action.state is CorrectiveActionState.PROPOSED and action.due_at == DUE
    action, _ = app.corrective_action_step(approve(raised, MR))
    assert action.state is CorrectiveActionState.PROPOSED
    assert [r.value for r in action.outstanding_approvers()] == ["general_manager"]
    with pytest.raises(DomainError) as early:  # not started: nothing to implement yet
        app.corrective_action_step(implement(raised))
    assert early.value.field == "action_id" and "proposed" in str(early.value)
    action, _ = app.corrective_action_step(approve(raised, GM))
    assert action.state is CorrectiveActionState.APPROVED
    approvals = [e for e in published(app) if isinstance(e, CorrectiveActionApproved)]
    assert [(a.approver_role, a.fully_approved, a.outstanding) for a in approvals] == [
        ("management_representative", False, ["general_manager"]), ("general_manager", True, [])]
    assert approvals[-1].due_at == DUE and approvals[-1].responsible_department == "Production"


def test_either_approver_may_come_first_but_each_only_once(app: QualityApplication, raised: CorrectiveAction) -> None:
    app.corrective_action_step(propose(raised))
    app.corrective_action_step(approve(raised, GM))
    size = log_size(app)
    with pytest.raises(DomainError) as twice:
        app.corrective_action_step(approve(raised, Actor(user_id="gm-deputy", role="general_manager")))
    assert twice.value.field == "actor" and "general_manager" in str(twice.value)
    assert log_size(app) == size
    action, _ = app.corrective_action_step(approve(raised, MR))
    assert action.state is CorrectiveActionState.APPROVED


def test_effective_closes_the_action(app: QualityApplication, raised: CorrectiveAction) -> None:
    to_approved(app, raised)
    action, _ = app.corrective_action_step(implement(raised))
    assert action.state is CorrectiveActionState.IMPLEMENTED and action.implementation["evidence"] == [SHA]
    assert action.implementation["on_time"] is True
    action, _ = app.corrective_action_step(verify(raised, effective=True))
    assert action.state is CorrectiveActionState.CLOSED and action.closed
    [verified] = [e for e in published(app) if isinstance(e, CorrectiveActionVerified)]
    assert verified.effective and verified.closed and verified.round == 1
    with pytest.raises(DomainError):  # closed: nothing more
        app.corrective_action_step(verify(raised, effective=True))


def test_not_effective_reopens_with_new_actions_and_both_approvals_again(app: QualityApplication,
                                                                         raised: CorrectiveAction) -> None:
    to_approved(app, raised)
    app.corrective_action_step(implement(raised))
    action, _ = app.corrective_action_step(verify(raised, effective=False, responsible_department="Purchasing"))
    assert action.state is CorrectiveActionState.PROPOSED and action.round == 2
    assert action.actions == ["Change the alloy supplier"] and action.responsible_department == "Purchasing"
    assert action.due_at == DUE + timedelta(days=10) and action.approvals == {} and action.implementation is None
    verified, reopened = [e for e in published(app)
                          if isinstance(e, CorrectiveActionVerified | CorrectiveActionReopened)]
    assert not verified.effective and not verified.closed
    assert isinstance(reopened, CorrectiveActionReopened) and reopened.round == 2
    assert reopened.reason == "Checked three batches"
    app.corrective_action_step(approve(raised, MR))
    with pytest.raises(DomainError):
        app.corrective_action_step(implement(raised))
    action, _ = app.corrective_action_step(approve(raised, GM))
    assert action.state is CorrectiveActionState.APPROVED and action.round == 2


def test_the_quality_department_may_record_the_implementation_too(app: QualityApplication,
                                                                  raised: CorrectiveAction) -> None:
    to_approved(app, raised)
    action, _ = app.corrective_action_step(implement(raised, actor=QA))
    assert action.implementation["implemented_by"] == "qa-lin"


@pytest.mark.parametrize(("step", "field", "status"), [
    (lambda a: propose(a, actor=Actor(user_id="rm", role="regional_manager")), "actor", 403),
    (lambda a: propose(a, due_at=NOW), "due_at", 422),
    (lambda a: propose(a, due_at=NOW - timedelta(days=1)), "due_at", 422),
    (lambda a: approve(a, MR), "action_id", 409),
    (lambda a: implement(a), "action_id", 409),
    (lambda a: verify(a, effective=True), "action_id", 409),
])
def test_a_refused_step_writes_nothing_and_names_its_field(app: QualityApplication, raised: CorrectiveAction,
                                                           step: Any, field: str, status: int) -> None:
    size = log_size(app)
    with pytest.raises(DomainError) as refused:
        app.corrective_action_step(step(raised))
    assert (refused.value.field, refused.value.status) == (field, status)
    assert log_size(app) == size and app.corrective_action(raised.id).state is CorrectiveActionState.RAISED


def test_refused_later_steps_write_nothing(app: QualityApplication, raised: CorrectiveAction) -> None:
    to_approved(app, raised)
    size = log_size(app)
    with pytest.raises(NotTheirStep):
        app.corrective_action_step(implement(raised, actor=MR))
    with pytest.raises(DomainError):  # proposing again once approved
        app.corrective_action_step(propose(raised))
    app.corrective_action_step(implement(raised))
    size = log_size(app)
    with pytest.raises(NotTheirStep):
        app.corrective_action_step(verify(raised, effective=True).model_copy(update={"actor": DEPT}))
    with pytest.raises(InvalidCommand) as past:
        app.corrective_action_step(verify(raised, effective=False, due_at=NOW - timedelta(hours=1)))
    assert past.value.field == "due_at"
    assert log_size(app) == size and app.corrective_action(raised.id).state is CorrectiveActionState.IMPLEMENTED


def test_evidence_that_is_not_stored_is_refused(app: QualityApplication, raised: CorrectiveAction) -> None:
    to_approved(app, raised)
    size = log_size(app)
    unknown = hashlib.sha256(b"never uploaded").hexdigest()
    with pytest.raises(InvalidCommand) as refused:
        app.corrective_action_step(implement(raised).model_copy(update={"evidence": [SHA, unknown]}))
    assert refused.value.field == "evidence" and unknown in str(refused.value)
    assert log_size(app) == size


def test_not_effective_without_new_actions_is_refused_in_the_domain_too(app: QualityApplication,
                                                                        raised: CorrectiveAction) -> None:
    to_approved(app, raised)
    app.corrective_action_step(implement(raised))
    action = app.corrective_action(raised.id)
    meta = action.meta.caused_by(uuid4(), QA)
    with pytest.raises(InvalidCommand) as refused:
        action.verify(meta, False, "Cracks recur", None, None, DUE, None, NOW)
    assert refused.value.field == "actions" and action.pending_events == []


# --- idempotency --------------------------------------------------------------------------------------


def test_a_repeated_step_writes_nothing_and_another_step_under_its_id_is_refused(
        app: QualityApplication, raised: CorrectiveAction) -> None:
    command = propose(raised)
    first, created = app.corrective_action_step(command)
    size = log_size(app)
    again, created_again = app.corrective_action_step(command.model_copy(update={"issued_at": NOW}))
    assert (created, created_again, again.version) == (True, False, first.version)
    assert log_size(app) == size
    with pytest.raises(DomainError) as reused:
        app.corrective_action_step(approve(raised, MR, command_id=command.command_id))
    assert reused.value.field == "command_id" and log_size(app) == size


def test_a_step_naming_another_complaint_is_refused(app: QualityApplication, raised: CorrectiveAction) -> None:
    with pytest.raises(InvalidCommand) as wrong:
        app.corrective_action_step(propose(raised).model_copy(update={"complaint_id": uuid4()}))
    assert wrong.value.field == "complaint_id"


# --- overdue ------------------------------------------------------------------------------------------


def test_overdue_is_past_the_due_time_and_not_closed(app: QualityApplication, raised: CorrectiveAction) -> None:
    assert not raised.overdue(NOW + timedelta(days=365))  # no due time before the proposal
    action = to_approved(app, raised)
    assert not action.overdue(DUE) and action.overdue(DUE + timedelta(seconds=1))
    app.corrective_action_step(implement(raised))
    app.corrective_action_step(verify(raised, effective=True))
    assert not app.corrective_action(raised.id).overdue(DUE + timedelta(days=30))


def test_implemented_late_is_recorded_as_not_on_time(app: QualityApplication, raised: CorrectiveAction) -> None:
    to_approved(app, raised)
    app.corrective_clock = lambda: DUE + timedelta(hours=1)
    action, _ = app.corrective_action_step(implement(raised))
    assert action.implementation["on_time"] is False
    assert action.overdue(DUE + timedelta(hours=1))  # still open until verified


def test_every_action_is_listed(app: QualityApplication, routed: ComplaintRouted) -> None:
    ids = [app.raise_corrective_action_from_alert(alert_command(routed.complaint_id, alert_id=uuid4()))[0].id
           for _ in range(3)]
    react(app, quality_policy, adjudication())
    listed = [a.id for a in app.corrective_actions()]
    assert listed[:3] == ids and len(listed) == 4
    assert app.corrective_actions(lambda branch: False) == []


# --- exception reports --------------------------------------------------------------------------------


def test_an_exception_report_goes_to_the_unit_and_is_answered_once(app: QualityApplication,
                                                                   routed: ComplaintRouted) -> None:
    issue = IssueExceptionReport(complaint_id=routed.complaint_id, actor=QA, report_id=uuid4(), no_loss=True,
                                 unit="Packing line 2", description="Scratched label, no loss",
                                 requested_response="Check the guide rail")
    report, created = app.issue_exception_report(issue)
    assert created and report.product == routed.product
    assert app.issue_exception_report(issue)[1] is False
    answer = AnswerExceptionReport(complaint_id=routed.complaint_id, report_id=issue.report_id, actor=DEPT,
                                   response="Guide rail re-aligned")
    report, created = app.answer_exception_report(answer)
    assert created and report.answer["answered_by"] == "prod-ma"
    size = log_size(app)
    with pytest.raises(DomainError) as twice:
        app.answer_exception_report(answer.model_copy(update={"command_id": uuid4()}))
    assert twice.value.field == "report_id" and log_size(app) == size
    issued, answered = [e for e in published(app) if isinstance(e, ExceptionReportIssued | ExceptionReportAnswered)]
    assert issued.unit == answered.unit == "Packing line 2" and issued.complaint_id == routed.complaint_id
    assert answered.response == "Guide rail re-aligned"


def test_only_quality_issues_an_exception_report(app: QualityApplication, routed: ComplaintRouted) -> None:
    issue = IssueExceptionReport(complaint_id=routed.complaint_id, actor=DEPT, report_id=uuid4(), no_loss=True,
                                 unit="Line 2", description="Scratch", requested_response="Check")
    with pytest.raises(NotTheirStep):
        app.issue_exception_report(issue)
    assert [type(e).__name__ for e in published(app)] == ["QualityInvestigationOpened"]


# --- the published form -------------------------------------------------------------------------------


def test_every_published_event_names_the_complaint_and_round_trips(app: QualityApplication,
                                                                   raised: CorrectiveAction) -> None:
    to_approved(app, raised)
    app.corrective_action_step(implement(raised))
    app.corrective_action_step(verify(raised, effective=False))
    events = [e for e in published(app) if e.event_type != "QualityInvestigationOpened"]
    assert [e.event_type for e in events] == [
        "CorrectiveActionRaised", "CorrectiveActionProposed", "CorrectiveActionApproved", "CorrectiveActionApproved",
        "CorrectiveActionImplemented", "CorrectiveActionVerified", "CorrectiveActionReopened"]
    assert {e.complaint_id for e in events} == {raised.meta.complaint_id}
    assert {e.action_id for e in events} == {raised.id}
    assert len({e.event_id for e in events}) == len(events)
    for event in events:
        assert parse_event(serialize_event(event)) == event


# --- quality follows its own topic: the adjudication arrives as a message -------------------------------


def test_quality_follows_its_own_topic_and_raises_the_action_once_from_the_message(app: QualityApplication) -> None:
    from aiokafka import ConsumerRecord

    from contracts.topics import events_topic
    from services.common.consumer import Inbound, TrackingConsumer, tracking_name

    topic = events_topic(ServiceName.QUALITY)
    event = adjudication(notification_id=4)

    def record(offset: int, previous: int) -> ConsumerRecord:
        value = serialize_event(event)
        headers = [("producer", b"quality"), ("notification_id", b"4"),
                   ("previous_notification_id", str(previous).encode())]
        return ConsumerRecord(topic=topic, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=None,
                              value=value, checksum=None, serialized_key_size=0, serialized_value_size=len(value),
                              headers=headers)

    consumer = TrackingConsumer(app, quality_policy, [ServiceName.QUALITY], producer=None)  # type: ignore[arg-type]
    name = tracking_name(ServiceName.QUALITY, 0)
    plan = consumer._plan(topic, name, [Inbound.read(record(0, 0))])
    assert (plan.processed, plan.new_position, plan.dead) == (1, 4, [])
    app.save_processed(list(plan.uow.aggregates.values()), Tracking(name, plan.new_position))
    action = app.corrective_action(action_id_for_adjudication(event.adjudication_id))
    assert action.state is CorrectiveActionState.RAISED
    again = consumer._plan(topic, name, [Inbound.read(record(1, 0))])  # redelivered: a duplicate
    assert (again.processed, again.duplicates) == (0, 1)


def test_the_quality_service_is_wired_to_follow_its_own_topic(tmp_path: Any) -> None:
    from services.quality.bootstrap import create_app
    from services.quality.settings import QualitySettings

    api = create_app(QualitySettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1"))
    assert ServiceName.QUALITY in api.state.runtime.parts.upstreams


# --- an exception report instead of the adjudication's corrective action ----------------------------------


def exception_report(complaint_id: UUID, adjudication_id: UUID | None) -> IssueExceptionReport:
    return IssueExceptionReport(complaint_id=complaint_id, actor=QA, report_id=uuid4(), no_loss=True,
                                unit="Casting unit", description="Porosity found, no loss",
                                requested_response="Check the degassing", adjudication_id=adjudication_id)


def test_an_exception_report_supersedes_the_raised_action_of_its_adjudication(app: QualityApplication,
                                                                              routed: ComplaintRouted) -> None:
    event = adjudication(complaint_id=routed.complaint_id, form_number=routed.form_number)
    react(app, quality_policy, event)
    command = exception_report(routed.complaint_id, event.adjudication_id)
    app.issue_exception_report(command)
    action = app.corrective_action(action_id_for_adjudication(event.adjudication_id))
    assert action.state is CorrectiveActionState.SUPERSEDED and action.closed
    assert action.superseded_by_report == command.report_id and not action.overdue(NOW + timedelta(days=999))
    [superseded] = [e for e in published(app) if isinstance(e, CorrectiveActionSuperseded)]
    assert (superseded.action_id, superseded.report_id, superseded.unit) == (action.id, command.report_id,
                                                                             "Casting unit")
    assert superseded.complaint_id == routed.complaint_id


def test_a_report_before_the_adjudication_arrives_leaves_nothing_open(app: QualityApplication,
                                                                      routed: ComplaintRouted) -> None:
    event = adjudication(complaint_id=routed.complaint_id, form_number=routed.form_number)
    app.issue_exception_report(exception_report(routed.complaint_id, event.adjudication_id))
    assert react(app, quality_policy, event) == 0  # the action exists (superseded): nothing raised again
    assert app.corrective_action(action_id_for_adjudication(event.adjudication_id)).state is (
        CorrectiveActionState.SUPERSEDED)


def test_a_report_cannot_replace_an_action_already_proposed(app: QualityApplication, routed: ComplaintRouted) -> None:
    event = adjudication(complaint_id=routed.complaint_id, form_number=routed.form_number)
    react(app, quality_policy, event)
    action = app.corrective_action(action_id_for_adjudication(event.adjudication_id))
    app.corrective_action_step(propose(action))
    size = log_size(app)
    with pytest.raises(DomainError) as refused:
        app.issue_exception_report(exception_report(routed.complaint_id, event.adjudication_id))
    assert refused.value.field == "adjudication_id" and refused.value.status == 409
    assert log_size(app) == size  # neither the report nor anything on the action


def test_a_report_naming_another_complaints_adjudication_is_refused(app: QualityApplication,
                                                                    routed: ComplaintRouted) -> None:
    event = adjudication()  # another complaint
    react(app, quality_policy, event)
    size = log_size(app)
    with pytest.raises(DomainError) as refused:
        app.issue_exception_report(exception_report(routed.complaint_id, event.adjudication_id))
    assert refused.value.field == "adjudication_id" and log_size(app) == size
