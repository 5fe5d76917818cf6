"""Serious complaints (96233 §3.1.2): routing calls in the department heads and the general
manager at once, and notify tells each of them."""

from __future__ import annotations

import pytest

from contracts.routing import SeriousComplaintEscalated
from services.common.consumer import UnitOfWork
from tests.notify.helpers import Notify
from services.routing.application import RoutingApplication
from services.routing.domain.serious import load_serious, parse_serious
from services.routing.policies import route
from tests.common.builders import complaint_registered, in_memory, published

SERIOUS = load_serious()


def routed(**registration) -> tuple[RoutingApplication, list]:
    app = in_memory(RoutingApplication)
    event = complaint_registered(**registration)
    uow = UnitOfWork(app)
    route(event, uow, SERIOUS)
    app.save(*uow.aggregates.values())
    return app, published(app)


def test_a_serious_complaint_calls_in_the_department_heads_and_the_general_manager_at_once() -> None:
    _, events = routed(subject="product_quality", severity="serious", serious_reasons=["personal_safety"],
                       claim_amount="80000.00")
    [escalated] = [e for e in events if isinstance(e, SeriousComplaintEscalated)]
    assert [r.value for r in escalated.reasons] == ["personal_safety"]
    assert escalated.departments == ["Quality department", "Production", "Sales"]
    assert "general_manager" in [r.value for r in escalated.notified_roles]
    assert str(escalated.claim_amount) == "80000.00"
    assert escalated.customer.name


def test_a_complaint_through_an_external_body_is_escalated_too() -> None:
    _, events = routed(subject="policy_service", severity="general", channel="external_body",
                       external_body="Shanghai Consumer Council")
    [escalated] = [e for e in events if isinstance(e, SeriousComplaintEscalated)]
    assert escalated.departments == ["Sales", "After-sales service"]


def test_a_general_complaint_is_not_escalated_and_a_repeat_escalates_once() -> None:
    _, events = routed(severity="general")
    assert not [e for e in events if isinstance(e, SeriousComplaintEscalated)]
    app = in_memory(RoutingApplication)
    event = complaint_registered(severity="serious")
    for _ in range(2):
        uow = UnitOfWork(app)
        route(event, uow, SERIOUS)
        app.save(*uow.aggregates.values())
    assert len([e for e in published(app) if isinstance(e, SeriousComplaintEscalated)]) == 1


def test_notify_tells_every_head_and_the_general_manager_at_once_and_once() -> None:
    registered = complaint_registered(subject="product_quality", severity="serious", serious_reasons=["media"])
    _, events = routed(subject="product_quality", severity="serious", serious_reasons=["media"])
    [escalated] = [e.model_copy(update={"complaint_id": registered.complaint_id})
                   for e in events if isinstance(e, SeriousComplaintEscalated)]
    notify = Notify()
    notify.feed(escalated)  # before the registration: it waits
    notify.feed(registered)
    notify.feed(escalated)  # redelivered
    notices = [n for n in notify.recorded() if n.about_event_type == "SeriousComplaintEscalated"]
    assert sorted(n.recipient_user_id for n in notices) == sorted([
        "gm-chen", "mr-sun", "md-huang", "head-quality-ma", "head-production-song", "head-sales-guo"])
    assert all(n.urgent and n.send_at == escalated.occurred_at for n in notices)
    assert all("重大投诉" in n.subject and "媒体曝光" in n.body for n in notices)


def test_the_serious_rules_file_must_name_the_general_manager() -> None:
    with pytest.raises(ValueError, match="general_manager"):
        parse_serious({"version": "t", "departments": {s: ["X"] for s in
                                                       ["policy_service", "staff", "product_quality",
                                                        "transport_packaging", "other"]},
                       "notified_roles": ["marketing_director"]})


def test_the_next_authority_is_told_of_every_escalated_deadline() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from services.common.calendar import load_calendar
    from services.routing.domain.deadline import Planner
    from services.routing.domain.deadline_rules import load_rules
    from services.routing.policies import DeadlinePolicy
    from services.routing.timers import DeadlineTimer
    from tests.common.builders import complaint_routed

    sh = ZoneInfo("Asia/Shanghai")
    rules, planner = load_rules(), Planner(load_calendar())
    app = in_memory(RoutingApplication)
    routed_event = complaint_routed(occurred_at=datetime(2026, 11, 25, 10, 0, tzinfo=sh))
    uow = UnitOfWork(app)
    DeadlinePolicy(rules, planner).react(routed_event, uow)
    app.save(*uow.aggregates.values())
    later = datetime(2026, 11, 25, 14, 0, tzinfo=sh)
    timer = DeadlineTimer(app, rules, planner, clock=lambda: later)
    timer.index.catch_up()
    assert [timer.fire(i, later) for i in timer.index.due_now(later)] == [True]
    [escalated] = [e for e in published(app) if e.event_type == "OverdueHandlingEscalated"]

    notify = Notify()
    notify.feed(complaint_registered(complaint_id=escalated.complaint_id, form_number=escalated.form_number))
    notify.feed(escalated)
    notify.feed(escalated)
    [notice] = [n for n in notify.recorded() if n.about_event_type == "OverdueHandlingEscalated"]
    assert (notice.recipient_role.value, notice.recipient_user_id) == ("marketing_director", "md-huang")
    assert "现场取样" in notice.subject and "新的期限" in notice.body
