"""Intake: form numbers (§5.2), idempotent registration, and the published ComplaintRegistered."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from contracts.envelope import ServiceName, stable_event_id
from contracts.registration import ComplaintRegistered
from contracts.registry import parse_event, serialize_event
from services.common.publishing import to_integration_event
from services.common.domain import DomainError, InvalidCommand
from services.intake.application import CommandIdReused, IntakeApplication
from services.intake.domain.form_numbers import business_day
from services.intake.domain.registration import ComplaintRegistration, complaint_id_for
from tests.common.builders import CLERK, POPO, customer, published, register_command, stored_events

NOV25_MORNING = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
NOV26_MORNING = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)
#: Intake's clock in these tests: the registrations below lie within its window.
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> IntakeApplication:
    return IntakeApplication(env=dict(POPO), clock=clock)


def register(app: IntakeApplication, branch: str = "SH01", received_at: datetime = NOV25_MORNING, **kw) -> str:
    return app.register_complaint(register_command(branch=branch, received_at=received_at, **kw)).form_number


def notification_count(app: IntakeApplication) -> int:
    return app.recorder.max_notification_id() or 0


def test_numbers_count_up_per_branch_and_day_independently(app: IntakeApplication) -> None:
    issued = [
        register(app, "SH01"),
        register(app, "SH01"),
        register(app, "BJ02"),
        register(app, "SH01", NOV26_MORNING),
        register(app, "SH01"),
        register(app, "BJ02", NOV26_MORNING),
        register(app, "BJ02"),
    ]
    assert issued == [
        "SH01-20261125-0001",
        "SH01-20261125-0002",
        "BJ02-20261125-0001",
        "SH01-20261126-0001",
        "SH01-20261125-0003",
        "BJ02-20261126-0001",
        "BJ02-20261125-0002",
    ]
    assert len(set(issued)) == len(issued)


@pytest.mark.parametrize(("utc", "day"), [
    (datetime(2026, 11, 25, 17, 30, tzinfo=timezone.utc), "20261126"),  # 01:30 next day in Shanghai
    (datetime(2026, 11, 25, 16, 0, tzinfo=timezone.utc), "20261126"),   # midnight in Shanghai
    (datetime(2026, 11, 25, 15, 59, 59, tzinfo=timezone.utc), "20261125"),
    (datetime(2026, 11, 24, 16, 30, tzinfo=timezone.utc), "20261125"),  # 00:30 on the 25th
])
def test_business_day_is_the_day_in_shanghai(app: IntakeApplication, utc: datetime, day: str) -> None:
    assert register(app, "SH01", utc) == f"SH01-{day}-0001"
    assert business_day(utc).strftime("%Y%m%d") == day


def test_late_utc_registration_shares_the_next_shanghai_day_sequence(app: IntakeApplication) -> None:
    late_evening_utc = datetime(2026, 11, 25, 17, 30, tzinfo=timezone.utc)
    assert register(app, "SH01", late_evening_utc) == "SH01-20261126-0001"
    assert register(app, "SH01", NOV26_MORNING) == "SH01-20261126-0002"
    assert register(app, "SH01", NOV25_MORNING) == "SH01-20261125-0001"


def test_registration_in_another_timezone_uses_the_shanghai_day(app: IntakeApplication) -> None:
    # 2026-11-25 20:00 in New York is 2026-11-26 09:00 in Shanghai.
    received = datetime(2026, 11, 25, 20, 0, tzinfo=ZoneInfo("America/New_York"))
    assert register(app, "SH01", received) == "SH01-20261126-0001"


def test_same_command_twice_is_the_same_registration(app: IntakeApplication) -> None:
    command = register_command()
    first = app.register_complaint(command)
    stored = notification_count(app)

    again = app.register_complaint(command)

    assert first.created is True
    assert again.created is False
    assert (again.complaint_id, again.form_number) == (first.complaint_id, first.form_number)
    assert notification_count(app) == stored, "a repeated command must record nothing"
    # The retry did not consume a number: the next complaint gets the next one.
    assert register(app) == "SH01-20261125-0002"


def test_different_commands_are_different_complaints(app: IntakeApplication) -> None:
    a = app.register_complaint(register_command())
    b = app.register_complaint(register_command())
    assert a.complaint_id != b.complaint_id
    assert a.form_number != b.form_number


def test_published_registration_carries_the_form(app: IntakeApplication) -> None:
    command = register_command()
    result = app.register_complaint(command)

    [event] = published(app)

    assert isinstance(event, ComplaintRegistered)
    assert event.producer is ServiceName.INTAKE
    assert event.complaint_id == result.complaint_id
    assert event.form_number == result.form_number == "SH01-20261125-0001"
    for name in ("branch", "channel", "kind", "subject", "severity", "customer", "description", "product",
                 "received_at", "read_back_confirmed", "resolved_on_the_spot"):
        assert getattr(event, name) == getattr(command, name), name
    assert event.correlation_id == command.command_id
    assert event.causation_id == command.command_id
    assert event.actor == CLERK
    assert event.occurred_at.tzinfo is not None
    # It survives the wire unchanged.
    assert parse_event(serialize_event(event)) == event


def test_correlation_id_given_by_the_client_is_kept(app: IntakeApplication) -> None:
    correlation = uuid4()
    command = register_command(correlation_id=correlation)
    app.register_complaint(command)
    [event] = published(app)
    assert event.correlation_id == correlation
    assert event.causation_id == command.command_id


def test_event_id_is_stable_for_the_same_stored_event(app: IntakeApplication) -> None:
    first = app.register_complaint(register_command())
    second = app.register_complaint(register_command())
    notifications = app.recorder.select_notifications(1, 100)
    registered = [(n, app.mapper.to_domain_event(n)) for n in notifications]
    registered = [(n, e) for n, e in registered if type(e).__name__ == "Registered"]
    assert len(registered) == 2

    (n1, e1), (n2, e2) = registered
    once = to_integration_event(ServiceName.INTAKE, e1, n1.id)
    # Read again from the store (as a relay would after a restart): same id.
    reread = to_integration_event(ServiceName.INTAKE, app.mapper.to_domain_event(n1), n1.id)
    assert once.event_id == reread.event_id == stable_event_id(ServiceName.INTAKE, first.complaint_id, 1)
    other = to_integration_event(ServiceName.INTAKE, e2, n2.id)
    assert other.event_id != once.event_id
    assert other.complaint_id == second.complaint_id


def test_only_registrations_are_published_not_sequence_events(app: IntakeApplication) -> None:
    for _ in range(3):
        register(app)
    events = published(app)
    assert [e.event_type for e in events] == ["ComplaintRegistered"] * 3
    assert notification_count(app) > 3  # the sequence's own events are stored but kept internal
    assert [e.notification_id for e in events] == sorted({e.notification_id for e in events})


def test_concurrent_registration_loses_cleanly_and_retry_gets_next_number(app: IntakeApplication) -> None:
    """Two clerks at one branch and day: the loser writes nothing, and its retry takes the next number."""
    rival = register_command()
    mine = register_command()
    original_save = app.save

    def rival_saves_first(*aggregates):
        app.save = original_save
        app.register_complaint(rival)  # the other clerk's registration commits in between
        return original_save(*aggregates)

    app.save = rival_saves_first  # type: ignore[method-assign]
    with pytest.raises(IntegrityError):
        app.register_complaint(mine)
    with pytest.raises(AggregateNotFoundError):
        app.get_registration(complaint_id_for(mine.command_id))

    retried = app.register_complaint(mine)  # what the runtime's retry does
    assert app.register_complaint(rival).form_number == "SH01-20261125-0001"
    assert retried.form_number == "SH01-20261125-0002"
    assert [e.form_number for e in published(app)] == ["SH01-20261125-0001", "SH01-20261125-0002"]


# --- the same command id, the same form (issue 5: intake inputs) -------------------------------------

def test_same_command_id_with_another_form_is_409_naming_command_id_and_writes_nothing(
        app: IntakeApplication) -> None:
    command = register_command()
    first = app.register_complaint(command)
    stored = notification_count(app)

    other = register_command(command_id=command.command_id, description="A different complaint altogether.")
    with pytest.raises(CommandIdReused) as refused:
        app.register_complaint(other)

    assert refused.value.status == 409 and refused.value.field == "command_id"
    assert first.form_number in str(refused.value)
    assert notification_count(app) == stored
    assert app.register_complaint(command) == type(first)(first.complaint_id, first.form_number, created=False)


def test_a_form_that_differs_only_by_defaults_spelled_out_is_the_same(app: IntakeApplication) -> None:
    command = register_command()
    assert "kind" in command.model_fields_set
    spelled = register_command(command_id=command.command_id, kind="complaint",
                               customer=customer(), issued_at=datetime(2026, 11, 26, tzinfo=timezone.utc))
    first = app.register_complaint(command)
    assert app.register_complaint(spelled).complaint_id == first.complaint_id


def test_a_registration_stored_before_fingerprints_counts_as_the_same(app: IntakeApplication) -> None:
    command = register_command()
    first = app.register_complaint(command)
    registration: ComplaintRegistration = app.get_registration(first.complaint_id)
    [registered] = [e for e in stored_events(app) if type(e).__name__ == "Registered"]
    assert registered.form_fingerprint and registration.form_fingerprint == registered.form_fingerprint
    registration.form_fingerprint = None  # as rebuilt from an event stored before fingerprints existed
    app.repository.cache = None  # type: ignore[assignment]
    original_get = app.repository.get
    app.repository.get = lambda *a, **kw: registration if a[0] == first.complaint_id else original_get(*a, **kw)
    other = register_command(command_id=command.command_id, description="Changed in a later client version.")
    assert app.register_complaint(other).form_number == first.form_number


def test_an_old_registered_event_without_a_fingerprint_still_rebuilds(app: IntakeApplication) -> None:
    first = app.register_complaint(register_command())
    [notification] = [n for n in app.recorder.select_notifications(1, 100) if n.topic.endswith("Registered")]
    state = app.mapper.transcoder.decode(notification.state)
    del state["form_fingerprint"]
    event = object.__new__(ComplaintRegistration.Registered)
    object.__setattr__(event, "__dict__", state | {"originator_id": first.complaint_id, "originator_version": 1})
    rebuilt = event.mutate(None)
    assert rebuilt.form_fingerprint is None and rebuilt.form_number == first.form_number


# --- received_at within a sane window (rule 12) ---------------------------------------------------------

@pytest.mark.parametrize("received_at", [
    datetime(2030, 1, 1, 2, 0, tzinfo=timezone.utc),
    NOW + timedelta(minutes=6),
    NOW - timedelta(days=8),
], ids=["2030", "6-minutes-ahead", "8-days-ago"])
def test_received_at_outside_the_window_is_refused_naming_it(app: IntakeApplication, received_at: datetime) -> None:
    with pytest.raises(InvalidCommand) as refused:
        register(app, received_at=received_at)
    assert refused.value.status == 422 and refused.value.field == "received_at"
    assert notification_count(app) == 0


@pytest.mark.parametrize("received_at", [NOW + timedelta(minutes=4), NOW - timedelta(days=6, hours=23)],
                         ids=["within-clock-skew", "six-days-ago"])
def test_received_at_within_the_window_is_accepted(app: IntakeApplication, received_at: datetime) -> None:
    assert register(app, received_at=received_at).startswith("SH01-")


def test_a_role_that_may_backdate_registers_eight_days_back(app: IntakeApplication) -> None:
    command = register_command(received_at=NOW - timedelta(days=8))
    assert app.register_complaint(command, may_backdate=True).form_number == "SH01-20261119-0001"
    with pytest.raises(InvalidCommand):  # but not into the future
        app.register_complaint(register_command(received_at=datetime(2030, 1, 1, tzinfo=timezone.utc)),
                               may_backdate=True)


def test_the_window_moves_with_the_clock(app: IntakeApplication, clock: Clock) -> None:
    received = NOW - timedelta(days=6)
    assert register(app, received_at=received)
    clock.now = NOW + timedelta(days=2)
    with pytest.raises(InvalidCommand):
        register(app, received_at=received)


def test_a_retry_after_the_window_closed_still_returns_the_first_result(app: IntakeApplication,
                                                                         clock: Clock) -> None:
    command = register_command(received_at=NOW - timedelta(days=6))
    first = app.register_complaint(command)
    clock.now = NOW + timedelta(days=30)
    again = app.register_complaint(command)
    assert (again.form_number, again.created) == (first.form_number, False)
    assert isinstance(CommandIdReused("x"), DomainError)


def test_the_registration_records_demand_object_order_external_body_and_the_serious_triggers(
        app: IntakeApplication) -> None:
    command = register_command(received_at=NOV25_MORNING, channel="external_body",
                               external_body="Shanghai Consumer Council", complained_about="GX-200 gearbox",
                               demand="Replace both units and refund the freight", order_number="PO-2026-1107",
                               severity="serious", serious_reasons=["consumer_association"])
    app.register_complaint(command)
    [registered] = [e for e in published(app) if isinstance(e, ComplaintRegistered)]
    assert registered.schema_version == 3
    assert (registered.customer.email, registered.customer.language.value) == (None, "zh")
    assert (registered.external_body, registered.complained_about, registered.order_number) == (
        "Shanghai Consumer Council", "GX-200 gearbox", "PO-2026-1107")
    assert registered.demand == "Replace both units and refund the freight"
    assert registered.serious_reasons == ["consumer_association"]


def test_a_complaint_through_an_external_body_names_it() -> None:
    from pydantic import ValidationError
    with pytest.raises(ValidationError) as caught:
        register_command(channel="external_body")
    assert any(e["loc"][-1] == "external_body" for e in caught.value.errors())


@pytest.mark.parametrize(("claim", "severity", "reasons"), [
    ("80000.00", "serious", ["large_claim"]),
    ("50000.00", "serious", ["large_claim"]),
    ("49999.99", "general", []),
    (None, "general", []),
])
def test_a_claim_at_the_threshold_makes_the_complaint_serious(claim, severity, reasons) -> None:
    from decimal import Decimal
    app = IntakeApplication(env=dict(POPO), clock=Clock(), large_claim_threshold=Decimal("50000"))
    command = register_command(received_at=NOV25_MORNING, severity="general", claim_amount=claim)
    app.register_complaint(command)
    again = app.register_complaint(command)  # a retry is the same command, not a 409
    assert not again.created
    [registered] = [e for e in published(app) if isinstance(e, ComplaintRegistered)]
    assert (registered.severity.value, [r.value for r in registered.serious_reasons]) == (severity, reasons)
