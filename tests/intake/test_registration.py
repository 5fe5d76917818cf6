"""Intake: form numbers (§5.2), idempotent registration, and the published ComplaintRegistered."""

from __future__ import annotations

from datetime import datetime, timezone
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from contracts.envelope import ServiceName, stable_event_id
from contracts.registration import ComplaintRegistered
from contracts.registry import parse_event, serialize_event
from services.common.publishing import to_integration_event
from services.intake.application import IntakeApplication
from services.intake.domain.form_numbers import business_day
from services.intake.domain.registration import complaint_id_for
from tests.common.builders import CLERK, in_memory, published, register_command

NOV25_MORNING = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
NOV26_MORNING = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def app() -> IntakeApplication:
    return in_memory(IntakeApplication)


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
