"""Notify's delivery against real parts: its store on PostgreSQL, an SMTP server (aiosmtpd) and a
local webhook receiver started here. The dispatcher runs in this process with a clock of the
test's (the retry and lease times pass when the test says so); everything else is real.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from contracts.envelope import ServiceName
from services.common.settings import ServiceSettings
from services.common.store import store_env
from services.notify.application import NotifyApplication
from services.notify.channels.email import SmtpSettings
from services.notify.delivery import Channels, Dispatcher, ReceiptLinks
from services.notify.domain.notification import RetrySchedule
from tests.common.builders import complaint_registered, react
from services.notify.policies import NotifyPolicy
from tests.notify.helpers import ROUND_THE_CLOCK, decider, fact
from tests.support.servers import SECRET, Inbox, Receiver, free_port, start_smtp

pytestmark = pytest.mark.integration
SCHEDULE = RetrySchedule(base=timedelta(seconds=10), cap=timedelta(minutes=2), give_up_after=timedelta(minutes=30))
LEASE = timedelta(seconds=30)


class Clock:
    """Starts now (the stored events' own timestamps are the wall clock's) and moves when told."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def store(new_database: Callable[[], str], tmp_path: Path) -> Callable[[], NotifyApplication]:
    """Notify's store on a fresh PostgreSQL database; each call opens it again (another process would)."""
    url = new_database()
    opened: list[NotifyApplication] = []

    def open_store() -> NotifyApplication:
        settings = ServiceSettings.for_service(ServiceName.NOTIFY)(database_url=url, data_dir=tmp_path)
        app = NotifyApplication(env=store_env(settings))
        opened.append(app)
        return app
    yield open_store
    for app in opened:
        app.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def dispatcher(app: NotifyApplication, clock: Clock, smtp_port: int, tmp_path: Path,
               hooks: dict[str, str] | None = None) -> Dispatcher:
    d = decider(ROUND_THE_CLOCK)  # whenever the test runs, nothing waits for office hours
    channels = Channels(
        smtp=SmtpSettings(host="127.0.0.1", port=smtp_port, sender="Complaints <notify@complaints.example>",
                          timeout=5),
        mail_dir=tmp_path / "mail", webhook_secret=lambda user, url: (hooks or {}).get(url),
        webhook_timeout=5, links=ReceiptLinks(b"k" * 32, "http://notify.example", timedelta(days=30)))
    return Dispatcher(app, d, channels, SCHEDULE, LEASE, clock=clock)


async def settle(d: Dispatcher, rounds: int = 20) -> None:
    """Rounds until nothing more starts or finishes (sends run as tasks: let them finish)."""
    import asyncio
    for _ in range(rounds):
        await d.round()
        if d._tasks:
            await asyncio.gather(*list(d._tasks))
            continue
        if not d.outcomes:
            await d.round()
            return


def quality_complaint(app: NotifyApplication, clock: Clock) -> Any:
    registered = complaint_registered(occurred_at=clock.now, received_at=clock.now - timedelta(minutes=5))
    react(app, NotifyPolicy(decider(ROUND_THE_CLOCK)), registered)
    return registered


def delivered(app: NotifyApplication) -> Counter:
    """(notice, target) -> Delivered events in the store."""
    events = (app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 100_000))
    return Counter((e.originator_id, e.key) for e in events if type(e).__name__ == "Delivered")


async def test_smtp_down_then_up_is_retried_and_delivered_once(store, tmp_path):
    app = store()
    clock = Clock()
    port = free_port()  # nothing listens yet
    d = dispatcher(app, clock, port, tmp_path)
    quality_complaint(app, clock)
    await settle(d)
    gm = next(n for n in d.notices.values() if n.recipient_user_id == "gm-chen")
    email_key = "email:gm@example.com"
    assert gm.targets[email_key].status == "failed" and "Connect" in (gm.targets[email_key].reason or "")
    # the inbox and the clerk's phone task did not wait for the dead relay
    assert gm.targets["inbox:gm-chen"].status == "delivered"
    inbox = Inbox()
    controller = start_smtp(inbox, port)
    try:
        clock.advance(minutes=3)  # past the retry time
        await settle(d)
        assert gm.targets[email_key].status == "delivered"
        assert [m["To"] for m in inbox.messages].count("gm@example.com") == 1
        assert len(inbox.messages) == 2  # the general manager and the management representative
        clock.advance(minutes=10)
        await settle(d)
        assert len(inbox.messages) == 2  # nothing sent again
    finally:
        controller.stop()
    assert all(n == 1 for n in delivered(app).values())
    message = next(m for m in inbox.messages if m["To"] == "gm@example.com")
    assert message["Message-ID"] == gm.targets[email_key].provider_ref
    assert message.get_content_type() == "multipart/alternative"
    assert "http://notify.example/receipts/" in message.get_body(("plain",)).get_content()  # mandatory: a link


async def test_a_webhook_failing_twice_is_delivered_on_the_third_try_signed(store, tmp_path, receiver):
    app = store()
    clock = Clock()
    inbox = Inbox()
    port = free_port()
    controller = start_smtp(inbox, port)
    local = receiver.url("/gm-desk")
    d = dispatcher(app, clock, port, tmp_path, hooks={local: SECRET})
    # the general manager's subscription, aimed at the receiver here
    rules = d.decider.rules
    people = tuple(replace(p, webhooks=tuple(replace(h, url=local) for h in p.webhooks)) if p.user_id == "gm-chen"
                   else p for p in rules.directory.people)
    d.decider.rules = replace(rules, directory=replace(rules.directory, people=people))
    registered = quality_complaint(app, clock)
    escalated = fact("SeriousComplaintEscalated", registered, occurred_at=clock.now,
                     departments=["Quality department"], notified_roles=["general_manager"])
    try:
        receiver.script["/gm-desk"] = [503, 503]
        react(app, NotifyPolicy(d.decider), escalated)
        await settle(d)
        clock.advance(seconds=30)
        await settle(d)
        clock.advance(minutes=1)
        await settle(d)
    finally:
        controller.stop()
    calls = receiver.at("/gm-desk")
    assert [c["status"] for c in calls] == [503, 503, 200]
    assert all(c["verified"] for c in calls)
    assert len({c["idempotency_key"] for c in calls}) == 1
    gm = next(n for n in d.notices.values() if n.rule == "serious_complaint_called_in"
              and n.recipient_user_id == "gm-chen")
    assert gm.targets[f"webhook:{local}"].status == "delivered" and gm.targets[f"webhook:{local}"].attempts == 3


async def test_a_duplicated_upstream_event_sends_one_email(store, tmp_path):
    app = store()
    clock = Clock()
    inbox = Inbox()
    port = free_port()
    controller = start_smtp(inbox, port)
    try:
        d = dispatcher(app, clock, port, tmp_path)
        registered = quality_complaint(app, clock)
        policy = NotifyPolicy(d.decider)
        react(app, policy, registered)  # redelivered
        decided = fact("QualityDecisionApproved", registered, occurred_at=clock.now)
        react(app, policy, decided)
        react(app, policy, decided)
        await settle(d)
    finally:
        controller.stop()
    to = Counter((m["To"], m["Message-ID"]) for m in inbox.messages)
    assert all(n == 1 for n in to.values())
    assert Counter(m["To"] for m in inbox.messages) == Counter(
        {"gm@example.com": 2, "mr@example.com": 2, "head.sh01@example.com": 1, "clerk.sh01@example.com": 1})


async def test_a_send_in_flight_when_the_process_died_is_retried_after_its_lease_with_the_same_message_id(
        store, tmp_path):
    inbox = Inbox()
    port = free_port()
    controller = start_smtp(inbox, port)
    try:
        clock = Clock()
        first = store()
        d1 = dispatcher(first, clock, port, tmp_path)
        quality_complaint(first, clock)
        await d1.follow()
        # the first process started the e-mails (recorded, leased) and died before sending them
        for n in d1.notices.values():
            for t in n.due(clock()):
                n.start_attempt(t.key, clock(), LEASE)
        first.save(*d1.notices.values())
        # a new process on the same store: nothing is sent before the lease runs out, then once
        second = store()
        d2 = dispatcher(second, clock, port, tmp_path)
        await settle(d2)
        assert inbox.messages == []
        clock.advance(seconds=31)
        await settle(d2)
        assert sorted(m["To"] for m in inbox.messages) == ["gm@example.com", "mr@example.com"]
        gm = next(n for n in d2.notices.values() if n.recipient_user_id == "gm-chen")
        assert gm.targets["email:gm@example.com"].attempts == 2
        message = next(m for m in inbox.messages if m["To"] == "gm@example.com")
        assert message["Message-ID"] == f"<{gm.notice_id}.notify@complaints.example>"
    finally:
        controller.stop()


async def test_a_target_still_failing_is_given_up_with_an_alert_and_the_others_go_on(store, tmp_path, caplog):
    app = store()
    clock = Clock()
    d = dispatcher(app, clock, free_port(), tmp_path)  # the relay never comes up
    quality_complaint(app, clock)
    with caplog.at_level(logging.ERROR, logger="notify.delivery"):
        for _ in range(40):
            await settle(d)
            clock.advance(minutes=2)
    gm = next(n for n in d.notices.values() if n.recipient_user_id == "gm-chen")
    assert gm.targets["email:gm@example.com"].status == "given_up"
    assert gm.targets["inbox:gm-chen"].status == "delivered"
    alerts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ALERT")]
    assert len([a for a in alerts if "gm@example.com" in a]) == 1
    assert d.report()["given_up"] == 2  # the general manager's and the management representative's e-mail
    # a given-up target is not tried again, whatever time passes
    clock.advance(days=2)
    assert await d.round() == 0 or gm.targets["email:gm@example.com"].status == "given_up"


async def test_an_unacknowledged_notice_escalates_once_and_an_acknowledged_one_not(store, tmp_path):
    app = store()
    clock = Clock()
    d = dispatcher(app, clock, free_port(), tmp_path)
    quality_complaint(app, clock)
    await settle(d)
    mr = next(n for n in d.notices.values() if n.recipient_user_id == "mr-sun")
    stored = app.repository.get(mr.id)
    stored.acknowledge("mr-sun", "inbox", clock())
    app.save(stored)
    clock.advance(days=3)  # past every acknowledge_by
    await settle(d)
    escalations = [n for n in d.notices.values() if n.rule == "acknowledgement_overdue"]
    # the general manager's notice: nobody above him; the customer's phone task, not done by the SH01
    # clerk: the regional manager of the east region
    assert {(n.recipient_user_id, n.recipient_role) for n in escalations} == {("rm-wang", "regional_manager")}
    gm = next(n for n in d.notices.values() if n.recipient_user_id == "gm-chen")
    assert gm.overdue and not d.notices[mr.id].overdue
    clock.advance(days=3)
    await settle(d)
    assert len([n for n in d.notices.values() if n.rule == "acknowledgement_overdue"]) == 1
    # and a restarted dispatcher rebuilds the same state from the store
    again = dispatcher(store(), clock, free_port(), tmp_path)
    await again.follow()
    assert {k: v.summary() for k, v in again.notices.items()} == {k: v.summary() for k, v in d.notices.items()}


async def test_one_notification_that_cannot_be_saved_holds_up_no_other(store, tmp_path):
    """A defect reproduced: a round whose events one notification makes invalid (here a retry time
    before the failure's own time: a clock behind the store's) was refused whole, every round."""
    app = store()
    clock = Clock()
    port = free_port()
    d = dispatcher(app, clock, port, tmp_path)
    quality_complaint(app, clock)
    await d.follow()
    gm = next(n for n in d.notices.values() if n.recipient_user_id == "gm-chen")
    d.schedule = RetrySchedule(base=timedelta(seconds=10), cap=timedelta(seconds=10))
    clock.now -= timedelta(hours=1)  # the dispatcher's clock behind the events' (a retry_at in their past)
    for n in d.notices.values():
        n.send_at = clock.now  # due by that clock too
        for key, t in list(n.targets.items()):
            n.targets[key] = replace(t, next_at=clock.now)
    await settle(d)
    assert gm.targets["email:gm@example.com"].status != "delivered"  # the relay is down: its failure unsaved
    stored = app.repository.get(gm.id)
    assert stored.targets["inbox:gm-chen"].status == "delivered"  # but the inboxes were saved
    customer = next(n for n in d.notices.values() if n.recipient_user_id is None)
    assert app.repository.get(customer.id).targets["phone_task:clerk-li"].status == "delivered"
