"""Notify (§4.6, §5.3.1, §5.7.2⑸): who must be told of a cost decision, recorded once per cause."""

from __future__ import annotations

from uuid import uuid4

import pytest
from pydantic import ValidationError

from contracts.envelope import Role, ServiceName
from contracts.notify import NotificationChannel, NotificationRecorded
from contracts.registration import ComplaintRegistered
from contracts.registry import parse_event, serialize_event
from services.notify.application import NotifyApplication
from services.notify.domain.rules import Contact, who_must_know
from services.notify.policies import notify_policy
from tests.common.builders import (
    twice_in_one_batch,
    complaint_registered, complaint_routed, cost_allocated, customer, determination_recorded, in_memory,
    published, react,
)

EVERYONE = {Role.CUSTOMER, Role.GENERAL_MANAGER, Role.MANAGEMENT_REPRESENTATIVE}


def test_cost_decision_must_reach_customer_gm_and_management_representative() -> None:
    event = cost_allocated(form_number="BJ02-20261125-0007", determination="cannot_be_determined")
    specs = who_must_know(event, None)
    assert {s.recipient_role for s in specs} == EVERYONE
    assert len(specs) == 3
    by_role = {s.recipient_role: s for s in specs}
    for spec in specs:
        assert "BJ02-20261125-0007" in spec.subject
        assert "BJ02-20261125-0007" in spec.body
        assert "cannot be determined" in spec.body
    assert by_role[Role.CUSTOMER].channel is NotificationChannel.PHONE
    assert by_role[Role.GENERAL_MANAGER].channel is NotificationChannel.INTERNAL
    assert by_role[Role.MANAGEMENT_REPRESENTATIVE].channel is NotificationChannel.INTERNAL
    assert event.rule in by_role[Role.GENERAL_MANAGER].body
    # Without a known contact, the customer is reached through the branch of the form number.
    assert "BJ02" in by_role[Role.CUSTOMER].recipient


def test_customer_notice_names_the_contact() -> None:
    contact = Contact("Shanghai Hengda Machinery Co.", "+86 21 5555 0101", "SH01", "product_quality")
    [customer_spec] = [s for s in who_must_know(cost_allocated(), contact) if s.recipient_role is Role.CUSTOMER]
    assert "Shanghai Hengda Machinery Co." in customer_spec.recipient
    assert "+86 21 5555 0101" in customer_spec.recipient


@pytest.mark.parametrize("event", [complaint_registered(), complaint_routed(), determination_recorded()],
                         ids=lambda e: e.event_type)
def test_other_events_need_no_notice(event) -> None:
    assert who_must_know(event, None) == []


@pytest.fixture
def app() -> NotifyApplication:
    return in_memory(NotifyApplication)


def notices(app: NotifyApplication) -> list[NotificationRecorded]:
    events = published(app)
    assert all(isinstance(e, NotificationRecorded) for e in events)
    return events  # type: ignore[return-value]


def contact_known(app: NotifyApplication, **overrides) -> ComplaintRegistered:
    """Intake's registration processed: notify knows the customer's contact."""
    registered = complaint_registered(**overrides)
    react(app, notify_policy, registered)
    return registered


def test_cost_allocated_records_one_notice_per_recipient(app: NotifyApplication) -> None:
    registered = contact_known(app)
    cost = cost_allocated(complaint_id=registered.complaint_id)
    assert react(app, notify_policy, cost) > 0
    recorded = notices(app)
    assert {n.recipient_role for n in recorded} == EVERYONE
    assert len(recorded) == 3
    assert len({n.notice_id for n in recorded}) == 3
    for notice in recorded:
        assert notice.producer is ServiceName.NOTIFY
        assert notice.about_event_type == "CostAllocated"
        assert notice.causation_id == cost.event_id
        assert notice.correlation_id == cost.correlation_id
        assert (notice.complaint_id, notice.form_number) == (cost.complaint_id, cost.form_number)
        assert parse_event(serialize_event(notice)) == notice


def test_cost_allocated_processed_twice_records_notices_once(app: NotifyApplication) -> None:
    cost = cost_allocated(complaint_id=contact_known(app).complaint_id)
    react(app, notify_policy, cost)
    first = notices(app)
    assert react(app, notify_policy, cost, position=99) == 0
    assert notices(app) == first


def test_twice_in_one_batch_records_once(app: NotifyApplication) -> None:
    cost = cost_allocated(complaint_id=contact_known(app).complaint_id)
    assert twice_in_one_batch(app, notify_policy, cost).count("Recorded") == 3


def test_twice_in_one_batch_before_the_contact_waits_once(app: NotifyApplication) -> None:
    events = twice_in_one_batch(app, notify_policy, cost_allocated())
    assert (events.count("Recorded"), events.count("AwaitingContact")) == (2, 1)


def test_notice_ids_are_stable_per_cause_and_recipient() -> None:
    cost = cost_allocated()
    ids = []
    for _ in range(2):  # two independent stores seeing the same cause
        app = in_memory(NotifyApplication)
        contact_known(app, complaint_id=cost.complaint_id)
        react(app, notify_policy, cost)
        ids.append({n.recipient_role: n.notice_id for n in notices(app)})
    assert ids[0] == ids[1]


def test_a_new_cause_gets_its_own_notices(app: NotifyApplication) -> None:
    first = cost_allocated(complaint_id=contact_known(app).complaint_id)
    react(app, notify_policy, first)
    second = cost_allocated(complaint_id=first.complaint_id, event_id=uuid4(), notification_id=2)
    react(app, notify_policy, second)
    recorded = notices(app)
    assert len(recorded) == 6
    assert {n.causation_id for n in recorded} == {first.event_id, second.event_id}


def test_contact_noted_first_puts_name_and_phone_in_customer_notice(app: NotifyApplication) -> None:
    registered = complaint_registered(customer=customer(name="Hangzhou Mingyuan Pumps", phone="0571-5555-0404"),
                                      branch="HZ05", form_number="HZ05-20261125-0003")
    react(app, notify_policy, registered)
    assert notices(app) == []  # noting the contact tells nobody anything
    cost = cost_allocated(complaint_id=registered.complaint_id, form_number=registered.form_number)
    react(app, notify_policy, cost)

    by_role = {n.recipient_role: n for n in notices(app)}
    assert set(by_role) == EVERYONE
    customer_notice = by_role[Role.CUSTOMER]
    assert "Hangzhou Mingyuan Pumps" in customer_notice.recipient
    assert "0571-5555-0404" in customer_notice.recipient
    assert "HZ05" in customer_notice.recipient
    assert "Hangzhou Mingyuan Pumps" not in by_role[Role.GENERAL_MANAGER].recipient


def test_contact_is_noted_once(app: NotifyApplication) -> None:
    registered = complaint_registered()
    react(app, notify_policy, registered)
    assert react(app, notify_policy, registered, position=99) == 0


def test_without_contact_customer_notice_waits_for_it(app: NotifyApplication) -> None:
    cost = cost_allocated(form_number="GZ03-20261125-0002")
    react(app, notify_policy, cost)
    assert {n.recipient_role for n in notices(app)} == {Role.GENERAL_MANAGER, Role.MANAGEMENT_REPRESENTATIVE}
    registered = complaint_registered(complaint_id=cost.complaint_id, form_number=cost.form_number, branch="GZ03",
                                      customer=customer(name="Guangzhou Tianhe Valves", phone="020-5555-0202"))
    assert react(app, notify_policy, registered) > 0
    [customer_notice] = [n for n in notices(app) if n.recipient_role is Role.CUSTOMER]
    assert customer_notice.recipient == "Guangzhou Tianhe Valves (020-5555-0202), via branch GZ03 clerk"
    assert customer_notice.causation_id == cost.event_id
    assert customer_notice.about_event_type == "CostAllocated"
    assert "GZ03-20261125-0002" in customer_notice.subject
    # Seen again, neither fact records anything more.
    assert react(app, notify_policy, registered, position=99) == 0
    assert react(app, notify_policy, cost, position=99) == 0


def test_long_customer_name_still_publishes(app: NotifyApplication) -> None:
    registered = complaint_registered(customer=customer(name="Shanghai " + "Hengda " * 24 + "Co."))
    react(app, notify_policy, registered)
    react(app, notify_policy, cost_allocated(complaint_id=registered.complaint_id))
    assert len(notices(app)) == 3


def test_other_upstream_events_record_nothing(app: NotifyApplication) -> None:
    for event in (complaint_routed(), determination_recorded()):
        assert react(app, notify_policy, event) == 0
    assert published(app) == []
