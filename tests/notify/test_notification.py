"""One notification's life (pure: the aggregate with times passed in): delivery per target,
retries on the schedule, a lease that runs out, giving up, receipts and the escalation of a
mandatory notice not acknowledged in time; and notices an earlier notify stored still publish."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from contracts.envelope import Actor, ServiceName
from contracts.notify import NotificationRecorded
from services.common.domain import EventMeta, NotFound
from services.common.publishing import to_integration_event
from services.notify.application import NotifyApplication
from services.notify.domain.notices import ComplaintNotices
from services.notify.domain.notification import Notification, RetrySchedule
from tests.common.builders import complaint_registered, in_memory
from tests.notify.helpers import decider

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)
META = EventMeta(complaint_id=uuid4(), form_number="SH01-20261130-0001", correlation_id=uuid4(),
                 causation_id=uuid4(), actor=Actor.system(ServiceName.NOTIFY))
SCHEDULE = RetrySchedule(base=timedelta(seconds=10), cap=timedelta(minutes=5), give_up_after=timedelta(hours=1))
LEASE = timedelta(minutes=2)


def notification(mandatory: bool = True, **overrides) -> Notification:
    fields = dict(meta=META, notice_id=uuid4(), rule="quality_decision_to_branch", rules_version="1",
                  recipient_role="branch_clerk", recipient="李静", recipient_user_id="clerk-li", language="zh",
                  targets=[{"channel": "email", "address": "clerk@example.com"},
                           {"channel": "inbox", "address": "clerk-li"}],
                  subject="处理决定", body="请告知客户", about_event_type="QualityDecisionApproved",
                  mandatory=mandatory, urgent=False, send_at=T0,
                  acknowledge_by=T0 + timedelta(hours=8) if mandatory else None)
    return Notification(**(fields | overrides))


def test_nothing_is_due_before_its_send_time_and_each_target_goes_its_own_way():
    n = notification()
    assert n.due(T0 - timedelta(seconds=1)) == []
    assert {t.key for t in n.due(T0)} == {"email:clerk@example.com", "inbox:clerk-li"}
    email = n.start_attempt("email:clerk@example.com", T0, LEASE)
    inbox = n.start_attempt("inbox:clerk-li", T0, LEASE)
    n.delivered("inbox:clerk-li", inbox)
    assert n.visible_to("clerk-li") and not n.targets["email:clerk@example.com"].done
    n.failed("email:clerk@example.com", email, "connection refused", False, T0, SCHEDULE, rand=lambda: 1.0)
    retry_at = n.targets["email:clerk@example.com"].next_at
    assert retry_at == T0 + SCHEDULE.base  # the first retry after `base` (jitter at its top)
    assert [t.key for t in n.due(retry_at)] == ["email:clerk@example.com"]


def test_retries_back_off_to_the_cap_then_give_up_after_the_configured_time():
    n = notification()
    key = "email:clerk@example.com"
    now, delays = T0, []
    while not n.targets[key].done:
        attempt = n.start_attempt(key, now, LEASE)
        gave_up = n.failed(key, attempt, "421 try later", False, now, SCHEDULE, rand=lambda: 1.0)
        if gave_up:
            break
        delays.append(n.targets[key].next_at - now)
        now = n.targets[key].next_at
    assert delays[:4] == [timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=40), timedelta(seconds=80)]
    assert max(delays) == SCHEDULE.cap
    assert n.targets[key].status == "given_up" and n.targets[key].reason == "421 try later"
    assert now - T0 <= SCHEDULE.give_up_after


def test_a_permanent_refusal_gives_up_at_once():
    n = notification()
    attempt = n.start_attempt("email:clerk@example.com", T0, LEASE)
    assert n.failed("email:clerk@example.com", attempt, "550 no such user", True, T0, SCHEDULE)
    assert n.targets["email:clerk@example.com"].status == "given_up"
    assert n.due(T0 + timedelta(days=1)) == [n.targets["inbox:clerk-li"]]


def test_a_send_whose_process_died_is_tried_again_when_its_lease_runs_out_and_the_late_outcome_is_ignored():
    n = notification()
    key = "email:clerk@example.com"
    first = n.start_attempt(key, T0, LEASE)
    assert key not in {t.key for t in n.due(T0 + LEASE - timedelta(seconds=1))}
    second = n.start_attempt(key, T0 + LEASE, LEASE)
    assert second == first + 1
    n.delivered(key, first, "<late@x>")  # the first attempt's outcome, come too late: ignored
    assert n.targets[key].status == "sending"
    n.delivered(key, second, "<id@x>")
    assert n.targets[key].status == "delivered" and n.targets[key].provider_ref == "<id@x>"
    with pytest.raises(Exception):
        n.start_attempt(key, T0 + LEASE * 3, LEASE)


def test_receipts_only_from_the_recipient_late_ones_are_marked():
    n = notification()
    n.delivered("inbox:clerk-li", n.start_attempt("inbox:clerk-li", T0, LEASE))
    with pytest.raises(NotFound):
        n.acknowledge("someone-else", "inbox", T0)
    assert not n.overdue_at(T0 + timedelta(hours=8))
    assert n.overdue_at(T0 + timedelta(hours=8, seconds=1))
    assert n.acknowledge("clerk-li", "inbox", T0 + timedelta(hours=9))
    assert n.acknowledged["late"] is True
    assert not n.acknowledge("clerk-li", "link", T0 + timedelta(hours=10))  # once
    assert not n.overdue_at(T0 + timedelta(days=2))


def test_reading_is_per_user_and_only_of_what_reached_the_inbox():
    n = notification()
    with pytest.raises(NotFound):
        n.mark_read("clerk-li", T0)  # not delivered to the inbox yet
    n.delivered("inbox:clerk-li", n.start_attempt("inbox:clerk-li", T0, LEASE))
    assert n.mark_read("clerk-li", T0) and not n.mark_read("clerk-li", T0)
    with pytest.raises(NotFound):
        n.mark_read("gm-chen", T0)


def test_an_unacknowledged_notice_escalates_to_the_next_authority_of_its_branch_once():
    d = decider()
    n = notification()
    role, drafts = d.escalation(n, T0 + timedelta(hours=9))
    assert role.value == "regional_manager"
    assert {x.recipient_user_id for x in drafts} == {"rm-wang"}  # SH01 is in the east region
    assert all("处理决定" in x.body and "李静" in x.body for x in drafts)
    gm = notification(recipient_role="general_manager", recipient_user_id="gm-chen")
    assert d.escalation(gm, T0) == (None, [])  # nobody above the general manager


def test_a_notice_the_earlier_notify_stored_still_reads_and_publishes_as_the_current_version():
    app = in_memory(NotifyApplication)
    registered = complaint_registered()
    meta = EventMeta.from_upstream(registered, Actor.system(ServiceName.NOTIFY))
    notices = ComplaintNotices(meta=meta)
    notice_id = uuid4()
    notices.trigger_event(ComplaintNotices.ContactNoted, meta=meta, customer_name="A", phone="+86 21 5555 0101",
                          branch="SH01", subject="product_quality")
    notices.trigger_event(ComplaintNotices.Recorded, meta=meta, notice_id=notice_id, recipient_role="customer",
                          recipient="A (+86 21 5555 0101), via branch SH01 clerk", channel="phone",
                          subject="Result", body="You owe nothing", about_event_type="CostAllocated")
    app.save(notices)
    again = app.repository.get(registered.complaint_id)
    assert again.registration.customer_name == "A"
    [stored] = [e for e in (app.mapper.to_domain_event(x) for x in app.recorder.select_notifications(1, 10))
                if isinstance(e, ComplaintNotices.Recorded)]
    published = to_integration_event(app.SERVICE, stored, 2)
    assert isinstance(published, NotificationRecorded) and published.schema_version == 2
    assert [(t.channel.value, t.address) for t in published.targets] == [
        ("phone", "A (+86 21 5555 0101), via branch SH01 clerk")]
    assert published.notice_id == notice_id and not published.mandatory
