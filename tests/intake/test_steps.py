"""Intake's steps after registration (§5.2, Classification): read-back, corrections, withdrawal,
minor complaints closed at intake, inquiries and suggestions; every refusal names the state."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from uuid import uuid4

import pytest

from contracts.registration import (
    Channel, ComplaintRegistered, ComplaintWithdrawn, InquiryAnswered, IntakeState, MinorComplaintClosedAtIntake,
    ReadBackConfirmed, ReadBackImpossibleReason, ReadBackNotPossible, RegistrationForm, SuggestionAnswered,
    SuggestionReplyPromised,
)
from contracts.registry import parse_event, serialize_event
from services.common.access import Forbidden, authorize
from services.common.auth import Principal
from services.common.domain import InvalidCommand, NotFound
from services.intake.application import IntakeApplication
from services.intake.domain.registration import WrongState
from tests.common.builders import CLERK, POPO, form_fields, published, register_command

RECEIVED = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)
NOW = RECEIVED + timedelta(hours=3)


@pytest.fixture
def app() -> IntakeApplication:
    return IntakeApplication(env=dict(POPO), clock=lambda: NOW)


def take(app: IntakeApplication, **overrides):
    """Register without `read_back_confirmed`: the record is taken, its read-back pending."""
    command = register_command(received_at=RECEIVED, **overrides)
    command = type(command).model_validate(command.model_dump(exclude={"read_back_confirmed"}))
    return app.register_complaint(command)


def register(app: IntakeApplication, **overrides):
    return app.register_complaint(register_command(received_at=RECEIVED, **overrides))


def types(app: IntakeApplication) -> list[str]:
    return [e.event_type for e in published(app)]


def test_a_taken_record_is_not_published_until_its_read_back(app: IntakeApplication) -> None:
    taken = take(app)
    assert taken.state is IntakeState.AWAITING_READ_BACK and taken.created
    assert types(app) == []  # nothing for routing yet
    done = app.confirm_read_back(taken.complaint_id, uuid4(), CLERK, record_revision=1, confirmed_by="Mr. Zhao")
    assert done.state is IntakeState.REGISTERED
    assert types(app) == ["ReadBackConfirmed", "ComplaintRegistered"]
    confirmed, registered = published(app)
    assert isinstance(confirmed, ReadBackConfirmed) and confirmed.read_back_by == CLERK.user_id
    assert isinstance(registered, ComplaintRegistered)
    assert registered.read_back_confirmed is True and registered.read_back_not_possible is None
    assert registered.form_number == taken.form_number
    assert parse_event(serialize_event(registered)) == registered


def test_a_repeated_step_command_changes_nothing(app: IntakeApplication) -> None:
    taken = take(app)
    command_id = uuid4()
    first = app.confirm_read_back(taken.complaint_id, command_id, CLERK, 1, "Mr. Zhao")
    again = app.confirm_read_back(taken.complaint_id, command_id, CLERK, 1, "Mr. Zhao")
    assert (again.created, again.state, again.version) == (False, first.state, first.version)
    assert types(app) == ["ReadBackConfirmed", "ComplaintRegistered"]


def test_the_read_back_impossible_registers_with_the_reason(app: IntakeApplication) -> None:
    taken = take(app, channel="fax")
    app.record_read_back_not_possible(taken.complaint_id, uuid4(), CLERK, 1, ReadBackImpossibleReason.WRITTEN_CHANNEL,
                                      "Received by fax; no phone number answers")
    impossible, registered = published(app)
    assert isinstance(impossible, ReadBackNotPossible) and impossible.reason == "written_channel"
    assert isinstance(registered, ComplaintRegistered)
    assert registered.read_back_not_possible is ReadBackImpossibleReason.WRITTEN_CHANNEL


def test_a_correction_is_an_event_and_the_registered_record_is_the_corrected_one(app: IntakeApplication) -> None:
    taken = take(app)
    corrected = RegistrationForm.model_validate(form_fields(received_at=RECEIVED, description="Cracked AND leaking"))
    done = app.correct_registration(taken.complaint_id, uuid4(), CLERK, corrected, "customer added the leak")
    assert done.state is IntakeState.AWAITING_READ_BACK
    registration = app.get_registration(taken.complaint_id)
    assert registration.revision == 2
    events = [type(e).__name__ for e in app.events.get(taken.complaint_id)]
    assert events == ["Taken", "Corrected"]
    with pytest.raises(InvalidCommand) as stale:
        app.confirm_read_back(taken.complaint_id, uuid4(), CLERK, record_revision=1, confirmed_by="Mr. Zhao")
    assert stale.value.field == "record_revision"
    app.confirm_read_back(taken.complaint_id, uuid4(), CLERK, record_revision=2, confirmed_by="Mr. Zhao")
    registered = published(app)[-1]
    assert registered.description == "Cracked AND leaking"


def test_a_correction_cannot_move_the_branch_nor_change_nothing(app: IntakeApplication) -> None:
    taken = take(app)
    with pytest.raises(InvalidCommand) as moved:
        app.correct_registration(taken.complaint_id, uuid4(), CLERK,
                                 RegistrationForm.model_validate(form_fields(received_at=RECEIVED, branch="BJ02")), "x")
    assert moved.value.field == "branch"
    with pytest.raises(InvalidCommand):
        app.correct_registration(taken.complaint_id, uuid4(), CLERK,
                                 RegistrationForm.model_validate(form_fields(received_at=RECEIVED)), "x")


@pytest.mark.parametrize("step", ["confirm", "impossible", "correct"])
def test_read_back_steps_after_registration_are_refused_naming_the_state(app: IntakeApplication, step: str) -> None:
    registered = register(app)
    before = types(app)
    with pytest.raises(WrongState) as refused:
        if step == "confirm":
            app.confirm_read_back(registered.complaint_id, uuid4(), CLERK, 1, "Mr. Zhao")
        elif step == "impossible":
            app.record_read_back_not_possible(registered.complaint_id, uuid4(), CLERK, 1,
                                              ReadBackImpossibleReason.CUSTOMER_HUNG_UP, "hung up")
        else:
            app.correct_registration(registered.complaint_id, uuid4(), CLERK,
                                     RegistrationForm.model_validate(form_fields(received_at=RECEIVED,
                                                                                 description="other")), "x")
    assert refused.value.status == 409 and "registered" in str(refused.value)
    assert types(app) == before


def test_withdrawal_closes_without_deleting_and_is_refused_after_closure(app: IntakeApplication) -> None:
    registered = register(app)
    done = app.withdraw(registered.complaint_id, uuid4(), CLERK, "Settled with the salesperson", "Mr. Zhao")
    assert done.state is IntakeState.WITHDRAWN
    withdrawn = published(app)[-1]
    assert isinstance(withdrawn, ComplaintWithdrawn)
    assert (withdrawn.state_at_withdrawal, withdrawn.recorded_by) == ("registered", CLERK.user_id)
    assert [e.event_type for e in published(app)] == ["ComplaintRegistered", "ComplaintWithdrawn"]
    with pytest.raises(WrongState) as refused:
        app.withdraw(registered.complaint_id, uuid4(), CLERK, "again")
    assert "withdrawn" in str(refused.value)


def test_a_taken_record_can_be_withdrawn_and_is_then_never_registered(app: IntakeApplication) -> None:
    taken = take(app)
    app.withdraw(taken.complaint_id, uuid4(), CLERK, "Customer changed their mind before the read-back")
    assert types(app) == ["ComplaintWithdrawn"]
    assert published(app)[0].state_at_withdrawal == "awaiting_read_back"
    with pytest.raises(WrongState, match="withdrawn"):
        app.confirm_read_back(taken.complaint_id, uuid4(), CLERK, 1, "Mr. Zhao")


def test_a_minor_complaint_resolved_on_the_spot_closes_at_intake(app: IntakeApplication) -> None:
    done = register(app, severity="minor", subject="policy_service", product=None,
                    resolved_on_the_spot="Invoice re-sent by e-mail")
    assert done.state is IntakeState.CLOSED_AT_INTAKE
    registered, closed = published(app)
    assert isinstance(registered, ComplaintRegistered) and registered.resolved_on_the_spot  # routing ignores it
    assert isinstance(closed, MinorComplaintClosedAtIntake) and closed.customer_satisfied is True
    with pytest.raises(WrongState, match="closed_at_intake"):
        app.withdraw(done.complaint_id, uuid4(), CLERK, "too late")


def test_a_minor_complaint_taken_first_closes_once_read_back(app: IntakeApplication) -> None:
    taken = take(app, severity="minor", subject="policy_service", product=None, resolved_on_the_spot="Explained")
    app.confirm_read_back(taken.complaint_id, uuid4(), CLERK, 1, "Mr. Zhao")
    assert types(app) == ["ReadBackConfirmed", "ComplaintRegistered", "MinorComplaintClosedAtIntake"]


def test_an_inquiry_is_answered_with_its_24_hour_due_time(app: IntakeApplication) -> None:
    inquiry = register(app, kind="inquiry", subject="other", product=None,
                       description="How often should the filter be changed?")
    done = app.answer_inquiry(inquiry.complaint_id, uuid4(), CLERK, "Every 500 hours", Channel.PHONE)
    assert done.state is IntakeState.INQUIRY_ANSWERED
    answered = published(app)[-1]
    assert isinstance(answered, InquiryAnswered)
    assert answered.due_at == RECEIVED + timedelta(hours=24) and answered.answered_in_time
    assert answered.question == "How often should the filter be changed?"
    with pytest.raises(WrongState, match="inquiry_answered"):
        app.answer_inquiry(inquiry.complaint_id, uuid4(), CLERK, "again", Channel.PHONE)


def test_only_an_inquiry_is_answered_as_one(app: IntakeApplication) -> None:
    complaint = register(app)
    with pytest.raises(WrongState) as refused:
        app.answer_inquiry(complaint.complaint_id, uuid4(), CLERK, "answer", Channel.PHONE)
    assert refused.value.field == "kind" and "registered" in str(refused.value)


def test_a_suggestion_gets_a_promised_date_then_an_answer(app: IntakeApplication) -> None:
    suggestion = register(app, kind="suggestion", subject="policy_service", product=None,
                          description="Send invoices by e-mail")
    with pytest.raises(InvalidCommand) as past:
        app.promise_suggestion_reply(suggestion.complaint_id, uuid4(), CLERK, date(2026, 11, 1))
    assert past.value.field == "reply_by"
    app.promise_suggestion_reply(suggestion.complaint_id, uuid4(), CLERK, date(2026, 12, 10))
    with pytest.raises(WrongState, match="reply_promised"):
        app.promise_suggestion_reply(suggestion.complaint_id, uuid4(), CLERK, date(2026, 12, 11))
    done = app.answer_suggestion(suggestion.complaint_id, uuid4(), CLERK, True, "Adopted from January",
                                 Channel.PHONE)
    assert done.state is IntakeState.SUGGESTION_ANSWERED
    promised, answered = published(app)[-2:]
    assert isinstance(promised, SuggestionReplyPromised) and promised.reply_by == date(2026, 12, 10)
    assert isinstance(answered, SuggestionAnswered) and answered.adopted and answered.reply_by == date(2026, 12, 10)
    with pytest.raises(WrongState, match="suggestion_answered"):
        app.withdraw(suggestion.complaint_id, uuid4(), CLERK, "late")


def test_a_step_on_an_unknown_complaint_is_not_found(app: IntakeApplication) -> None:
    with pytest.raises(NotFound):
        app.withdraw(uuid4(), uuid4(), CLERK, "no such complaint")


def test_the_state_survives_a_rebuild_from_the_events(app: IntakeApplication) -> None:
    taken = take(app)
    app.record_read_back_not_possible(taken.complaint_id, uuid4(), CLERK, 1,
                                      ReadBackImpossibleReason.CUSTOMER_HUNG_UP, "Hung up during the read-back")
    app.withdraw(taken.complaint_id, uuid4(), CLERK, "Customer withdrew")
    rebuilt = app.repository.get(taken.complaint_id)
    assert rebuilt.state is IntakeState.WITHDRAWN and rebuilt.read_back_not_possible == "customer_hung_up"


@pytest.mark.parametrize("action", ["complaint.read_back.record", "complaint.registration.correct",
                                    "complaint.withdrawal.record", "inquiry.answer", "suggestion.answer"])
@pytest.mark.parametrize("role", ["regional_manager", "salesperson", "quality_department", "operator", "customer"])
def test_roles_other_than_the_clerks_may_not_do_intake_steps(action: str, role: str) -> None:
    with pytest.raises(Forbidden) as refused:
        authorize(Principal(user_id="someone", role=role, region="EAST"), action, "SH01", not_found="missing")
    assert refused.value.status == 403 and action in str(refused.value)


@pytest.mark.parametrize("action", ["complaint.read_back.record", "complaint.withdrawal.record", "inquiry.answer"])
def test_a_clerk_acts_for_the_own_branch_and_hq_for_every_branch(action: str) -> None:
    authorize(Principal(user_id="clerk-li", role="branch_clerk", branch="SH01"), action, "SH01", not_found="x")
    with pytest.raises(NotFound):
        authorize(Principal(user_id="clerk-li", role="branch_clerk", branch="SH01"), action, "BJ02", not_found="x")
    authorize(Principal(user_id="hq-zhao", role="hq_clerk"), action, "BJ02", not_found="x")
