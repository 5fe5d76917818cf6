"""The shipped rules, texts and calendar turned into notifications by notify's policy (pure: in memory).

Each trigger of the issue reaches exactly its people through its channels; internal notices wait
for working hours while serious, urgent and customer notices go at once; mandatory ones carry the
time they must be acknowledged by; a redelivered fact records nothing new; a fact that comes before
its complaint's registration waits for it and gives the same notices.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from contracts.notify import NotificationRecorded
from tests.common.builders import complaint_registered, customer
from tests.notify.helpers import Notify, fact

SATURDAY = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
MONDAY_START = datetime(2026, 11, 30, 0, 30, tzinfo=timezone.utc)  # 08:30 in Shanghai


def who(notices: list[NotificationRecorded]) -> dict[str, set[tuple[str, str]]]:
    """recipient user id (or 'customer') -> its (channel, address) targets."""
    return {(n.recipient_user_id or "customer"): {(t.channel.value, t.address) for t in n.targets} for n in notices}


def test_a_quality_complaint_tells_the_general_manager_and_the_management_representative_and_the_customer():
    registered = complaint_registered()
    notify = Notify()
    notify.feed(registered)
    notices = notify.recorded()
    assert who(notices) == {
        "gm-chen": {("email", "gm@example.com"), ("inbox", "gm-chen")},
        "mr-sun": {("email", "mr@example.com"), ("inbox", "mr-sun")},
        "customer": {("phone_task", "clerk-li")},  # the SH01 clerk phones the customer
    }
    customer_notice = next(n for n in notices if n.recipient_user_id is None)
    assert registered.form_number in customer_notice.subject and registered.form_number in customer_notice.body
    assert "Shanghai Hengda Machinery Co." in customer_notice.body
    assert all(n.mandatory and n.acknowledge_by is not None for n in notices)
    assert {n.causation_id for n in notices} == {registered.event_id}


def test_internal_notices_wait_for_working_hours_the_customer_is_told_at_once():
    registered = complaint_registered(occurred_at=SATURDAY, received_at=SATURDAY - timedelta(minutes=5))
    notify = Notify()
    notify.feed(registered)
    sends = {(n.recipient_user_id or "customer"): n for n in notify.recorded()}
    assert sends["gm-chen"].send_at == MONDAY_START
    assert sends["mr-sun"].send_at == MONDAY_START
    assert sends["customer"].send_at == SATURDAY
    # eight working hours from Monday 08:30 with a lunch break: Monday's end of work
    assert sends["gm-chen"].acknowledge_by > MONDAY_START + timedelta(hours=8)
    assert sends["gm-chen"].acknowledge_by.date() == MONDAY_START.date()


def test_a_serious_complaint_calls_in_the_heads_and_the_general_manager_at_once():
    registered = complaint_registered(occurred_at=SATURDAY, received_at=SATURDAY, severity="serious",
                                      serious_reasons=["personal_safety"])
    notify = Notify()
    notify.feed(registered)
    escalated = fact("SeriousComplaintEscalated", registered, occurred_at=SATURDAY + timedelta(minutes=1),
                     departments=["Quality department"], notified_roles=["general_manager"])
    notify.feed(escalated)
    notices = [n for n in notify.recorded() if n.rule == "serious_complaint_called_in"]
    assert {n.recipient_user_id for n in notices} == {"head-quality-ma", "gm-chen"}
    assert all(n.urgent and n.send_at == escalated.occurred_at for n in notices)
    assert all(n.acknowledge_by == escalated.occurred_at + timedelta(hours=2) for n in notices)
    gm = next(n for n in notices if n.recipient_user_id == "gm-chen")
    assert ("webhook", "https://ops.example.com/hooks/gm-desk") in {(t.channel.value, t.address) for t in gm.targets}
    # on a serious complaint even the registration's notices are not held to Monday
    assert all(n.send_at == SATURDAY for n in notify.recorded() if n.about_event_type == "ComplaintRegistered")


def test_the_approved_decision_reaches_the_branch_head_and_clerk_and_the_result_the_customer():
    registered = complaint_registered()
    notify = Notify()
    notify.feed(registered)
    notify.feed(fact("QualityDecisionApproved", registered, decision="Replace the housing at our cost"))
    notify.feed(fact("CustomerChargesStated", registered))
    decided = [n for n in notify.recorded() if n.about_event_type == "QualityDecisionApproved"]
    assert who(decided).keys() == {"gm-chen", "mr-sun", "head-sh01", "clerk-li"}
    assert all("Replace the housing at our cost" in n.body for n in decided)
    [result] = [n for n in notify.recorded() if n.rule == "customer_result"]
    charges = fact("CustomerChargesStated", registered)
    assert who([result]) == {"customer": {("phone_task", "clerk-li")}}
    assert f"{Decimal(charges.amount_owed)}" in result.body or "无需承担" in result.body


def test_the_person_complained_about_is_never_told_who_complained():
    registered = complaint_registered(subject="staff", product=None, complained_about="clerk-li",
                                      description="The clerk was rude on the phone.")
    notify = Notify()
    notify.feed(registered)
    notify.feed(fact("ReplyApproved", registered, final=True))
    told = {n.recipient_user_id for n in notify.recorded()}
    assert "head-sh01" in told
    assert "clerk-li" not in told
    # nor given the task of phoning the customer: with no other clerk at SH01, headquarters' clerk is
    customer_notice = next(n for n in notify.recorded() if n.rule == "customer_acknowledgement")
    assert {(t.channel.value, t.address) for t in customer_notice.targets} == {("phone_task", "hq-clerk-xu")}


def test_a_redelivered_fact_records_nothing_new():
    registered = complaint_registered()
    decided = fact("QualityDecisionApproved", registered)
    notify = Notify()
    notify.feed(registered, registered)
    notify.feed(decided)
    before = len(notify.recorded())
    notify.feed(decided, registered)
    notify.feed(decided)
    assert len(notify.recorded()) == before
    assert len({n.notice_id for n in notify.recorded()}) == before


def test_a_fact_before_its_registration_waits_and_gives_the_same_notices():
    registered = complaint_registered(customer=customer(name="Hangzhou Mingyuan Pumps"))
    decided = fact("QualityDecisionApproved", registered)

    def seen(*batches) -> set[tuple]:
        notify = Notify()
        for batch in batches:
            notify.feed(*batch)
        return {(n.notice_id, n.recipient_user_id, n.subject, n.body, n.send_at, n.causation_id)
                for n in notify.recorded()}
    early = Notify()
    early.feed(decided)
    assert early.recorded() == []  # nothing until the customer and the complained-about are known
    in_order = seen([registered], [decided])
    assert seen([decided], [registered]) == in_order
    assert seen([decided, registered]) == in_order
    assert seen([decided], [decided], [registered], [registered, decided]) == in_order
    assert any("Hangzhou Mingyuan Pumps" in body for *_, body, _, _ in in_order)


def test_the_customer_with_an_address_is_also_written_to_in_their_language():
    registered = complaint_registered(customer=customer(email="buyer@hengda.example", language="en"))
    notify = Notify()
    notify.feed(registered)
    notify.feed(fact("CustomerChargesStated", registered))  # carries no customer: the registration's is used
    for rule in ("customer_acknowledgement", "customer_result"):
        [notice] = [n for n in notify.recorded() if n.rule == rule]
        assert who([notice]) == {"customer": {("phone_task", "clerk-li"), ("email", "buyer@hengda.example")}}
        assert notice.language == "en" and notice.body.startswith("Dear Shanghai Hengda Machinery Co.")
    # without an address, Chinese, by the clerk's phone task only
    plain = Notify()
    plain.feed(complaint_registered())
    [ack] = [n for n in plain.recorded() if n.rule == "customer_acknowledgement"]
    assert who([ack]) == {"customer": {("phone_task", "clerk-li")}} and ack.language == "zh"
