"""Deadlines as aggregates, on the real calendar and rules table: set, met, paused and resumed,
agreed, missed and escalated up the chain, re-planned; the same events in any order of arrival."""

from __future__ import annotations

import itertools
from uuid import uuid4
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contracts.envelope import Actor, Role, ServiceName
from contracts.quality import OnSiteVisitArranged
from contracts.routing import DeadlineKind, DispatchOnSiteVisit, TimeBasis
from services.common.consumer import UnitOfWork
from services.routing.application import RoutingApplication
from services.common.calendar import load_calendar
from services.routing.domain.deadline import DeadlineClock, Planner, deadline_id
from services.routing.domain.deadline_rules import RulesError, load_rules, parse_rules
from services.routing.policies import DeadlinePolicy, RoutingPolicy
from services.routing.timers import DeadlineTimer
from tests.common.builders import (
    complaint_registered, complaint_routed, determination_recorded, envelope, in_memory, published,
)

SH = ZoneInfo("Asia/Shanghai")
RULES = load_rules()
PLANNER = Planner(load_calendar())


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def policy() -> RoutingPolicy:
    return RoutingPolicy(DeadlinePolicy(RULES, PLANNER))


def feed(app: RoutingApplication, *events, only_deadlines: bool = False) -> None:
    """Each event in its own transaction, as the consumer would (`only_deadlines`: as if the
    event were routing's own, through the deadline rules alone)."""
    for event in events:
        uow = UnitOfWork(app)
        if only_deadlines:
            DeadlinePolicy(RULES, PLANNER).react(event, uow)
        else:
            policy()(event, uow)
        app.save(*uow.aggregates.values())


def deadlines(app: RoutingApplication) -> dict[str, dict]:
    """kind -> what a reader of routing's topic knows of it (latest deadline, and which events)."""
    out: dict[str, dict] = {}
    for e in published(app):
        d = getattr(e, "deadline", None) or getattr(e, "new_deadline", None)
        if d is None:
            continue
        entry = out.setdefault(d.kind.value, {"events": []})
        entry["events"].append(e.event_type)
        entry["deadline"] = d
    return out


def quality_complaint_registered(received: datetime):
    return complaint_registered(subject="product_quality", received_at=received, occurred_at=received)


def quality_complaint(received: datetime) -> tuple:
    """Registered at `received`, and routed to quality (dispatched) at the same moment."""
    registered = quality_complaint_registered(received)
    routed = complaint_routed(complaint_id=registered.complaint_id, form_number=registered.form_number,
                              occurred_at=received)
    return registered, routed


def setup(received: datetime) -> tuple[RoutingApplication, object]:
    app = in_memory(RoutingApplication)
    registered, routed = quality_complaint(received)
    feed(app, registered, routed, only_deadlines=True)
    return app, registered


def test_routing_its_own_decision_starts_the_deadlines_it_names() -> None:
    app = in_memory(RoutingApplication)
    app.policy = policy()
    registered = quality_complaint_registered(datetime.now(SH))
    feed(app, registered)
    assert set(deadlines(app)) == {"on_site_visit"}, "no sampling before the HQ clerk dispatches on site"
    app.handle(DispatchOnSiteVisit(complaint_id=registered.complaint_id, note="Crack needs inspection",
                                   actor=Actor(user_id="hq-zhao", role=Role.HQ_CLERK)))
    assert set(deadlines(app)) == {"on_site_visit", "on_site_sampling"}, "sampling starts on routing's dispatch"


def test_every_deadline_of_the_procedure_is_a_row_and_names_real_events() -> None:
    kinds = {rule.kind for rule in RULES.rules}
    assert kinds == set(DeadlineKind) - {DeadlineKind.SATISFACTION_FOLLOW_UP}
    assert all(rule.escalation for rule in RULES.rules), "every deadline escalates somewhere"


@pytest.mark.parametrize(("change", "message"), [
    ({"starts": {"event": "NoSuchEvent"}}, "not an event"),
    ({"starts": {"event": "ComplaintRouted", "when": {"colour": "red"}}}, "has no field colour"),
    ({"limit": {"amount": -1, "unit": "working_hours"}}, "positive"),
    ({"limit": {"unit": "fortnights"}}, "unit must be"),
    ({"limit": {"unit": "agreed_time", "field": "nope"}}, "agreed_time needs"),
    ({"responsible_role": "janitor"}, "janitor"),
])
def test_a_wrong_rules_file_is_refused_naming_the_row(change: dict, message: str) -> None:
    row = {"kind": "memo_dispatch", "starts": {"event": "InternalMemoFiled"}, "responsible_role": "hq_clerk",
           "limit": {"amount": 2, "unit": "working_hours"}} | change
    with pytest.raises(RulesError, match=message) as caught:
        parse_rules({"version": "t", "deadlines": [row]})
    assert "deadlines[0]" in str(caught.value)


def test_routing_a_quality_complaint_sets_its_on_site_deadlines_on_working_time() -> None:
    app, _ = setup(at(2026, 11, 25, 10, 0))  # a Wednesday
    d = deadlines(app)
    visit, sampling = d["on_site_visit"]["deadline"], d["on_site_sampling"]["deadline"]
    assert visit.basis is TimeBasis.WORKING_DAYS and visit.amount == 2
    assert visit.due_at.astimezone(SH) == at(2026, 11, 27, 10, 0)
    assert sampling.due_at.astimezone(SH) == at(2026, 11, 25, 14, 0), "3 working hours around the lunch break"
    assert visit.rule_version == RULES.version and visit.calendar_version and not visit.provisional


def test_the_determination_meets_both_on_site_deadlines_in_any_order_of_arrival() -> None:
    received = at(2026, 11, 25, 10, 0)
    registered, routed = quality_complaint(received)
    determined = determination_recorded(complaint_id=registered.complaint_id, form_number=registered.form_number,
                                        occurred_at=received + timedelta(hours=2))
    results = []
    for order in itertools.permutations([registered, routed, determined]):
        if order.index(registered) > order.index(routed):
            continue  # routing's own event follows the registration it routes
        app = in_memory(RoutingApplication)
        feed(app, *order, only_deadlines=True)
        results.append({k: (v["events"], v["deadline"]) for k, v in deadlines(app).items()})
    assert len(results) == 3 and all(r == results[0] for r in results), \
        "a rebuild reading quality's topic first gives the same deadlines"
    assert results[0]["on_site_visit"][0] == ["DeadlineSet", "DeadlineMet"]
    assert results[0]["on_site_sampling"][0] == ["DeadlineSet", "DeadlineMet"]


def test_a_missed_deadline_escalates_one_level_at_a_time_and_names_who_was_responsible() -> None:
    now = {"t": at(2026, 11, 25, 10, 0)}
    app, _ = setup(now["t"])
    timer = DeadlineTimer(app, RULES, PLANNER, clock=lambda: now["t"])
    sampling = deadline_id(published(app)[0].complaint_id, DeadlineKind.ON_SITE_SAMPLING)

    def fire_at(moment: datetime) -> list[str]:
        now["t"] = moment
        timer.index.catch_up()
        return [str(i) for i in timer.index.due_now(moment) if timer.fire(i, moment)]

    assert fire_at(at(2026, 11, 25, 13, 59)) == [], "not before it is due"
    assert fire_at(at(2026, 11, 25, 14, 0)) == [str(sampling)]
    assert fire_at(at(2026, 11, 25, 14, 0)) == [], "fired once"
    missed = [e for e in published(app) if e.event_type == "DeadlineMissed"]
    assert missed[0].responsible_for_delay == "the regional manager"
    [escalated] = [e for e in published(app) if e.event_type == "OverdueHandlingEscalated"]
    assert (escalated.escalation_level, escalated.escalated_to_role) == (1, "marketing_director")
    assert escalated.new_deadline.due_at.astimezone(SH) == at(2026, 11, 25, 16, 0)
    assert fire_at(at(2026, 11, 25, 16, 0)) == [str(sampling)]
    second = [e for e in published(app) if e.event_type == "OverdueHandlingEscalated"][-1]
    assert (second.escalation_level, second.escalated_to_role) == (2, "general_manager")
    assert second.new_deadline.due_at.astimezone(SH) == at(2026, 11, 26, 16, 0), "1 working day"
    assert fire_at(at(2026, 11, 26, 16, 0)) == [str(sampling)]
    clock: DeadlineClock = app.repository.get(sampling)
    assert clock.status == "missed", "the end of the chain: missed for good, still open to being met late"


def test_a_paused_deadline_resumes_with_the_time_that_remained_and_never_fires_at_once() -> None:
    app, registered = setup(at(2026, 11, 25, 10, 0))
    identity = deadline_id(registered.complaint_id, DeadlineKind.ON_SITE_SAMPLING)
    clock: DeadlineClock = app.repository.get(identity)
    clock.pause(clock.meta, at(2026, 11, 25, 11, 0), "waiting for the customer's information", PLANNER)
    app.save(clock)
    assert clock.remaining_seconds == 2 * 3600, "11:00-12:00 and 13:00-14:00 were left"
    clock.resume(clock.meta, at(2026, 11, 27, 9, 0), "the customer answered", PLANNER)  # long past 14:00 Wed
    app.save(clock)
    assert clock.deadline.due_at.astimezone(SH) == at(2026, 11, 27, 11, 0)
    timer = DeadlineTimer(app, RULES, PLANNER, clock=lambda: at(2026, 11, 27, 9, 30))
    timer.index.catch_up()
    assert identity not in timer.index.due_now(at(2026, 11, 27, 9, 30))
    assert any("paused at" in step for step in clock.explain()["steps"])


def test_a_pause_of_zero_changes_nothing() -> None:
    app, registered = setup(at(2026, 11, 25, 10, 0))
    clock: DeadlineClock = app.repository.get(deadline_id(registered.complaint_id, DeadlineKind.ON_SITE_SAMPLING))
    due = clock.deadline.due_at
    clock.pause(clock.meta, at(2026, 11, 25, 11, 0), "x", PLANNER)
    clock.resume(clock.meta, at(2026, 11, 25, 11, 0), "y", PLANNER)
    assert clock.deadline.due_at == due


def test_a_visit_time_agreed_with_the_customer_replaces_the_due_time() -> None:
    app, registered = setup(at(2026, 11, 25, 10, 0))
    arranged = OnSiteVisitArranged(
        **envelope(ServiceName.QUALITY, complaint_id=registered.complaint_id, form_number=registered.form_number,
                   occurred_at=at(2026, 11, 25, 10, 30)),
        visitor="rm-wang", visit_at=at(2026, 11, 30, 15, 0), agreed_with_customer=True)
    feed(app, arranged, only_deadlines=True)
    d = deadlines(app)["on_site_visit"]
    assert d["events"] == ["DeadlineSet", "DeadlineReplanned"]
    assert d["deadline"].basis is TimeBasis.AGREED_TIME
    assert d["deadline"].due_at.astimezone(SH) == at(2026, 11, 30, 15, 0)


def test_a_deadline_in_a_year_without_a_schedule_is_provisional() -> None:
    app, _ = setup(at(2031, 3, 3, 10, 0))
    d = deadlines(app)["on_site_visit"]["deadline"]
    assert d.provisional
    clock: DeadlineClock = app.repository.get(d.deadline_id)
    assert any("2031" in step for step in clock.explain()["steps"])


def test_a_repeated_start_or_meet_changes_nothing() -> None:
    app, registered = setup(at(2026, 11, 25, 10, 0))
    determined = determination_recorded(complaint_id=registered.complaint_id, form_number=registered.form_number,
                                        occurred_at=at(2026, 11, 25, 11, 0))
    feed(app, determined, only_deadlines=True)
    before = len(published(app))
    feed(app, determined, determined, only_deadlines=True)
    assert len(published(app)) == before


def test_a_calendar_change_moves_open_deadlines_only_through_the_explicit_replan() -> None:
    import yaml

    from services.common.calendar import COMPANY_FILE, CalendarSet, official_from_library

    app, registered = setup(at(2026, 11, 25, 10, 0))
    visit = deadline_id(registered.complaint_id, DeadlineKind.ON_SITE_VISIT)
    before: DeadlineClock = app.repository.get(visit)
    assert before.deadline.due_at.astimezone(SH) == at(2026, 11, 27, 10, 0)

    data = yaml.safe_load(COMPANY_FILE.read_text(encoding="utf-8"))
    data["version"] = "2026.2"
    data["days_off"] = [*(data.get("days_off") or []), {"date": "2026-11-26", "name": "company anniversary"}]
    changed = Planner(CalendarSet.from_data(data, official_from_library()))
    feed(app, determination_recorded(occurred_at=at(2026, 11, 25, 11, 0)), only_deadlines=True)  # another complaint
    assert app.repository.get(visit).deadline.due_at == before.deadline.due_at, "nothing moves by itself"

    timer = DeadlineTimer(app, RULES, changed, clock=lambda: at(2026, 11, 25, 12, 0))
    moved = timer.replan("company anniversary added to the calendar")
    assert moved >= 1
    after: DeadlineClock = app.repository.get(visit)
    assert after.deadline.due_at.astimezone(SH) == at(2026, 11, 30, 10, 0), "Thu 26th is now a day off"
    assert after.deadline.calendar_version.startswith("2026.2")
    [replanned] = [e for e in published(app) if e.event_type == "DeadlineReplanned" and e.deadline.deadline_id == visit]
    assert replanned.previous_due_at == before.deadline.due_at
    assert any("was due" in s and "2026-11-27" in s for s in after.explain()["steps"]), "both plans shown"
    assert timer.replan("again") == 0, "re-planning on the same calendar moves nothing"


def test_loading_a_years_schedule_replans_its_provisional_deadlines() -> None:
    import yaml

    from services.common.calendar import COMPANY_FILE, CalendarSet, official_from_library

    app, registered = setup(at(2031, 3, 3, 10, 0))
    visit = deadline_id(registered.complaint_id, DeadlineKind.ON_SITE_VISIT)
    assert app.repository.get(visit).deadline.provisional
    data = yaml.safe_load(COMPANY_FILE.read_text(encoding="utf-8"))
    data["version"] = "2026.3"
    data["confirmed_years"] = [*(data.get("confirmed_years") or []), 2031]
    timer = DeadlineTimer(app, RULES, Planner(CalendarSet.from_data(data, official_from_library())), clock=lambda: at(2031, 3, 3, 11, 0))
    assert timer.replan("2031 schedule loaded") >= 1
    assert not app.repository.get(visit).deadline.provisional


def test_the_rules_table_pauses_and_resumes_a_deadline_on_the_events_it_names() -> None:
    table = parse_rules({"version": "t-1", "deadlines": [{
        "kind": "on_site_sampling", "starts": {"event": "ComplaintRouted"}, "responsible_role": "regional_manager",
        "limit": {"amount": 3, "unit": "working_hours"},
        "paused_by": [{"event": "OnSiteVisitArranged", "when": {"agreed_with_customer": False}}],
        "resumed_by": [{"event": "EvidenceAdded"}]}]})
    from contracts.quality import EvidenceAdded
    app = in_memory(RoutingApplication)
    registered, routed = quality_complaint(at(2026, 11, 25, 10, 0))
    same = dict(complaint_id=registered.complaint_id, form_number=registered.form_number)
    waiting = OnSiteVisitArranged(**envelope(ServiceName.QUALITY, **same, occurred_at=at(2026, 11, 25, 11, 0)),
                                  visitor="rm-wang", visit_at=at(2026, 11, 26, 9, 0), agreed_with_customer=False)
    answered = EvidenceAdded(**envelope(ServiceName.QUALITY, **same, occurred_at=at(2026, 11, 26, 9, 0)),
                             evidence_id=registered.event_id, collected_by="rm-wang", description="photos",
                             items=[{"kind": "photo", "ref": "sha256:" + "0" * 64}])
    for event in (routed, waiting, answered):
        uow = UnitOfWork(app)
        DeadlinePolicy(table, PLANNER).react(event, uow)
        app.save(*uow.aggregates.values())
    clock: DeadlineClock = app.repository.get(deadline_id(registered.complaint_id, DeadlineKind.ON_SITE_SAMPLING))
    assert [e.event_type for e in published(app)] == ["DeadlineSet", "DeadlinePaused", "DeadlineResumed"]
    assert clock.deadline.due_at.astimezone(SH) == at(2026, 11, 26, 11, 0), "2 working hours left at the pause"


def test_health_names_the_years_ahead_without_an_official_schedule(tmp_path) -> None:
    from services.routing.bootstrap import build_parts
    from services.routing.settings import RoutingSettings

    parts, _ = build_parts(RoutingSettings(data_dir=tmp_path), clock=lambda: at(2026, 11, 25, 10, 0))
    [(name, section)] = parts.reports
    report = section()
    assert name == "deadlines" and report["years_without_schedule"] == [2027]
    assert "2027" in report["warning"] and "replan" in report["warning"]
    parts.app.close()


def withdrawn(registered, moment: datetime):
    from contracts.registration import ComplaintWithdrawn
    return ComplaintWithdrawn(**envelope(ServiceName.INTAKE, complaint_id=registered.complaint_id,
                                         form_number=registered.form_number, occurred_at=moment),
                              reason="the customer solved it with the carrier", recorded_by="clerk-li",
                              state_at_withdrawal="registered")


def test_a_withdrawal_ends_the_complaints_deadlines_in_any_order_of_arrival() -> None:
    received = at(2026, 11, 25, 10, 0)
    registered, routed = quality_complaint(received)
    gone = withdrawn(registered, at(2026, 11, 25, 11, 0))
    results = []
    for order in ([registered, routed, gone], [gone, registered, routed], [registered, gone, routed]):
        app = in_memory(RoutingApplication)
        feed(app, *order, only_deadlines=True)
        results.append({k: v["events"] for k, v in deadlines(app).items()})
        timer = DeadlineTimer(app, RULES, PLANNER, clock=lambda: at(2026, 12, 31, 10, 0))
        timer.index.catch_up()
        assert timer.index.due_now(at(2026, 12, 31, 10, 0)) == [], "nothing left to fire"
    assert all(r == results[0] for r in results), results
    assert results[0]["on_site_visit"] == ["DeadlineSet", "DeadlineCancelled"]
    assert results[0]["on_site_sampling"] == ["DeadlineSet", "DeadlineCancelled"]


def test_closing_a_case_ends_the_deadlines_of_its_memo_too() -> None:
    """A memo's deadlines are keyed by the memo: a withdrawal must end them as well, or they fire
    and escalate for a complaint that is gone."""
    from contracts import routing as c
    from contracts.registration import ComplaintWithdrawn

    app = in_memory(RoutingApplication)
    app.policy = policy()
    registered = complaint_registered(subject="policy_service", product=None)
    feed(app, registered)
    hq, rm = Actor(user_id="hq-zhao", role=Role.HQ_CLERK), Actor(user_id="rm-wang", role=Role.REGIONAL_MANAGER)
    memo_id = uuid4()
    app.handle(c.FileInternalMemo(complaint_id=registered.complaint_id, actor=rm, memo_id=memo_id,
                                  addressed_to="hq_clerk", description="Deliveries late three times",
                                  requested_reply_by=datetime.now(SH) + timedelta(days=3)))
    app.handle(c.DispatchInternalMemo(complaint_id=registered.complaint_id, actor=hq, memo_id=memo_id,
                                      destination="responsible_department", department="Logistics"))
    assert deadlines(app)["department_reply"]["events"] == ["DeadlineSet"]
    feed(app, ComplaintWithdrawn(**envelope(ServiceName.INTAKE, complaint_id=registered.complaint_id,
                                            form_number=registered.form_number),
                                 reason="settled", recorded_by="clerk-li", state_at_withdrawal="registered"))
    assert deadlines(app)["department_reply"]["events"] == ["DeadlineSet", "DeadlineCancelled"]


def test_a_corrective_action_is_due_from_its_second_approval_until_it_is_implemented() -> None:
    """§4.5: the department fixes the cause by the date set for it. The clock starts when both the
    management representative and the general manager have approved (§5.7.1⑸), not at the first."""
    from contracts.corrective import CorrectiveActionApproved, CorrectiveActionImplemented
    app, registered = setup(at(2026, 11, 25, 10, 0))
    action_id, due = uuid4(), at(2026, 12, 18, 17, 0)
    base = dict(complaint_id=registered.complaint_id, form_number=registered.form_number)
    approval = dict(action_id=action_id, round=1, responsible_department="Production", due_at=due)
    first = CorrectiveActionApproved(**envelope(ServiceName.QUALITY, **base), **approval, approver="mr-gao",
                                     approver_role=Role.MANAGEMENT_REPRESENTATIVE, outstanding=[Role.GENERAL_MANAGER],
                                     fully_approved=False)
    feed(app, first)
    assert "corrective_action" not in deadlines(app), "one approval starts nothing"
    second = CorrectiveActionApproved(**envelope(ServiceName.QUALITY, **base), **approval, approver="gm-wu",
                                      approver_role=Role.GENERAL_MANAGER, outstanding=[], fully_approved=True)
    feed(app, second)
    started = deadlines(app)["corrective_action"]
    assert started["events"] == ["DeadlineSet"] and started["deadline"].due_at == due
    done = CorrectiveActionImplemented(**envelope(ServiceName.QUALITY, **base), action_id=action_id, round=1,
                                       implemented_by="prod-ma", implementer_role=Role.RESPONSIBLE_DEPARTMENT,
                                       responsible_department="Production", summary="Mould replaced",
                                       due_at=due, on_time=True)
    feed(app, done)
    assert deadlines(app)["corrective_action"]["events"] == ["DeadlineSet", "DeadlineMet"]


def test_the_on_site_deadlines_are_met_when_the_visit_took_place_not_when_it_was_typed_in() -> None:
    """§5.3.3⑷: sampling within 3 working hours of the dispatch. A manager on site at 11:00 who records
    the inspection back at the office at 16:00 met the deadline at 11:00."""
    received = at(2026, 11, 25, 10, 0)  # sampling due 14:00
    registered, routed = quality_complaint(received)
    recorded = determination_recorded(complaint_id=registered.complaint_id, form_number=registered.form_number,
                                      occurred_at=at(2026, 11, 25, 16, 0), visited_at=at(2026, 11, 25, 11, 0))
    app = in_memory(RoutingApplication)
    feed(app, registered, routed, recorded, only_deadlines=True)
    met = [e for e in published(app) if e.event_type == "DeadlineMet"
           and e.deadline.kind is DeadlineKind.ON_SITE_SAMPLING]
    assert [m.completed_at for m in met] == [at(2026, 11, 25, 11, 0)]
