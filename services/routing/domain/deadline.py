"""A deadline of a complaint as an aggregate in routing's store (domain.md, "Deadlines at a glance").

Set when its start event arrives, paused while the step waits on the customer and resumed
with the time that remained, replaced by a time agreed with the customer, met, or missed —
and a missed deadline escalates one level up its rule's chain, each level with a further
deadline of its own. Every due time carries the rule and calendar versions it was planned
under and an explanation (start, skipped non-working time, pauses, result).

Rule 8: a fact that arrives before the deadline was set (a rebuild from zero may read
quality's topic before intake's) is kept, and applied when the deadline is set, so every
order of arrival gives the same events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from contracts.envelope import COMPLAINTS_NAMESPACE
from contracts.routing import (
    Deadline, DeadlineCancelled, DeadlineKind, DeadlineMet, DeadlineMissed, DeadlinePaused, DeadlineReplanned,
    DeadlineResumed,
    DeadlineSet, OverdueHandlingEscalated, TimeBasis,
)
from services.common.domain import EventMeta
from services.routing.domain.deadline_rules import DeadlineRule, Limit


def deadline_id(complaint_id: UUID, kind: DeadlineKind | str, key: Any = None) -> UUID:
    """The same deadline of the same complaint (and memo or action) always has the same id."""
    return uuid5(COMPLAINTS_NAMESPACE, f"deadline:{complaint_id}:{getattr(kind, 'value', kind)}:{key or ''}")


class WorkingCalendar(Protocol):
    version: str

    def add_working_hours(self, start: datetime, hours: Any) -> Any: ...
    def add_working_days(self, start: datetime, days: int) -> Any: ...
    def add_clock_hours(self, start: datetime, hours: Any) -> Any: ...
    def working_time_between(self, a: datetime, b: datetime) -> timedelta: ...


class Calendars(Protocol):
    def for_branch(self, branch: str) -> WorkingCalendar: ...


@dataclass(frozen=True)
class Plan:
    due_at: datetime
    provisional: bool
    calendar_version: str
    explanation: str


class Planner:
    """Due times from limits, on the calendar of the complaint's branch (pure)."""

    def __init__(self, calendars: Calendars):
        self.calendars = calendars

    def plan(self, branch: str, start: datetime, unit: TimeBasis, amount: Decimal | None = None,
             seconds: int | None = None, agreed: datetime | None = None) -> Plan:
        calendar = self.calendars.for_branch(branch)
        if unit is TimeBasis.AGREED_TIME:
            due = agreed if agreed is not None else start + timedelta(seconds=seconds or 0)
            return Plan(due, False, calendar.version, f"agreed time {due.isoformat()}")
        if seconds is not None:  # the remaining time of a paused deadline
            hours = Decimal(seconds) / 3600
            result = (calendar.add_clock_hours(start, hours) if unit is TimeBasis.CALENDAR_HOURS
                      else calendar.add_working_hours(start, hours))
            what = f"{seconds} remaining {'clock' if unit is TimeBasis.CALENDAR_HOURS else 'working'} seconds"
        elif unit is TimeBasis.WORKING_DAYS:
            result = calendar.add_working_days(start, int(amount or 0))
            what = f"{amount} working days"
        elif unit is TimeBasis.WORKING_HOURS:
            result = calendar.add_working_hours(start, amount)
            what = f"{amount} working hours"
        else:
            result = calendar.add_clock_hours(start, amount)
            what = f"{amount} clock hours"
        provisional = bool(getattr(result, "provisional", False))
        detail = getattr(result, "explanation", "") or ""
        note = f"; provisional: no schedule for {sorted(getattr(result, 'uncovered_years', ()))}" if provisional else ""
        return Plan(result.due_at, provisional, calendar.version,
                    f"{what} from {start.isoformat()} on calendar {calendar.version}: due {result.due_at.isoformat()}"
                    f"{note}{'; ' + detail if detail else ''}")

    def remaining_seconds(self, branch: str, at: datetime, due: datetime, unit: TimeBasis) -> int:
        if due <= at:
            return 0
        if unit in (TimeBasis.CALENDAR_HOURS, TimeBasis.AGREED_TIME):
            return int((due - at).total_seconds())
        return int(self.calendars.for_branch(branch).working_time_between(at, due).total_seconds())


class DeadlineClock(Aggregate):
    """One deadline of one complaint, through all its escalation levels."""

    @staticmethod
    def create_id(meta: EventMeta, kind: str, key: str | None, **_: Any) -> UUID:
        return deadline_id(meta.complaint_id, kind, key)

    class Tracked(Aggregate.Created):
        meta: EventMeta
        kind: str
        key: str | None
        branch: str

    @event(Tracked)
    def __init__(self, meta: EventMeta, kind: str, key: str | None, branch: str):
        self.meta = meta
        self.kind = kind
        self.key = key
        self.branch = branch
        self.status = "new"                  # new, open, paused, met, missed
        self.deadline: Deadline | None = None
        self.rule_version: str | None = None
        self.span_start: datetime | None = None  # where the running clock counts from
        self.span_seconds: int | None = None     # None: the rule's limit; else time remaining at a pause
        self.remaining_seconds = 0
        self.early_met_at: datetime | None = None
        self.early_agreed: tuple[datetime, str] | None = None
        self.early_cancelled: tuple[datetime, str] | None = None
        self.explanations: list[str] = []

    # --- events ---------------------------------------------------------------------------------

    class Set(Aggregate.Event):
        PUBLISHED_AS = DeadlineSet
        meta: EventMeta
        deadline: Deadline
        explanation: str

        def apply(self, clock: DeadlineClock) -> None:
            clock.status, clock.deadline = "open", self.deadline
            clock.rule_version = self.deadline.rule_version
            clock.span_start, clock.span_seconds = self.deadline.started_at, None
            clock.explanations.append(f"set: {self.explanation}")

    class EarlyFact(Aggregate.Event):
        """Met or agreed before the deadline was set (kept, applied when it is)."""

        meta: EventMeta
        fact: str
        at: datetime
        reason: str

        def apply(self, clock: DeadlineClock) -> None:
            if self.fact == "met":
                clock.early_met_at = clock.early_met_at or self.at
            elif self.fact == "cancelled":
                clock.early_cancelled = clock.early_cancelled or (self.at, self.reason)
            else:
                clock.early_agreed = (self.at, self.reason)

    class Paused(Aggregate.Event):
        PUBLISHED_AS = DeadlinePaused
        meta: EventMeta
        deadline: Deadline
        paused_at: datetime
        remaining_seconds: int
        reason: str

        def apply(self, clock: DeadlineClock) -> None:
            clock.status, clock.remaining_seconds = "paused", self.remaining_seconds
            clock.explanations.append(f"paused at {self.paused_at.isoformat()} with {self.remaining_seconds}s "
                                      f"left: {self.reason}")

    class Resumed(Aggregate.Event):
        PUBLISHED_AS = DeadlineResumed
        meta: EventMeta
        deadline: Deadline
        resumed_at: datetime
        reason: str
        explanation: str

        def apply(self, clock: DeadlineClock) -> None:
            clock.status, clock.deadline = "open", self.deadline
            clock.span_start, clock.span_seconds = self.resumed_at, clock.remaining_seconds
            clock.explanations.append(f"resumed: {self.explanation} ({self.reason})")

    class Replanned(Aggregate.Event):
        PUBLISHED_AS = DeadlineReplanned
        meta: EventMeta
        deadline: Deadline
        previous_due_at: datetime
        previous_calendar_version: str | None
        reason: str
        explanation: str

        def apply(self, clock: DeadlineClock) -> None:
            clock.deadline = self.deadline
            if self.deadline.basis is TimeBasis.AGREED_TIME:
                clock.span_start, clock.span_seconds = None, None
            clock.explanations.append(f"re-planned ({self.reason}): was due {self.previous_due_at.isoformat()} "
                                      f"on {self.previous_calendar_version}; {self.explanation}")

    class Met(Aggregate.Event):
        PUBLISHED_AS = DeadlineMet
        meta: EventMeta
        deadline: Deadline
        completed_at: datetime

        def apply(self, clock: DeadlineClock) -> None:
            clock.status = "met"
            late = " (late)" if self.completed_at > self.deadline.due_at else ""
            clock.explanations.append(f"met at {self.completed_at.isoformat()}{late}")

    class Cancelled(Aggregate.Event):
        PUBLISHED_AS = DeadlineCancelled
        meta: EventMeta
        deadline: Deadline
        cancelled_at: datetime
        reason: str

        def apply(self, clock: DeadlineClock) -> None:
            clock.status = "cancelled"
            clock.explanations.append(f"cancelled at {self.cancelled_at.isoformat()}: {self.reason}")

    class Missed(Aggregate.Event):
        PUBLISHED_AS = DeadlineMissed
        meta: EventMeta
        deadline: Deadline
        missed_at: datetime
        responsible_for_delay: str | None

        def apply(self, clock: DeadlineClock) -> None:
            clock.status = "missed"
            clock.explanations.append(f"missed at {self.missed_at.isoformat()} (due "
                                      f"{self.deadline.due_at.isoformat()}); responsible: {self.responsible_for_delay}")

    class Escalated(Aggregate.Event):
        PUBLISHED_AS = OverdueHandlingEscalated
        meta: EventMeta
        missed: Deadline
        escalation_level: int
        escalated_to_role: str
        escalated_to: str | None
        reason: str
        new_deadline: Deadline
        explanation: str

        def apply(self, clock: DeadlineClock) -> None:
            clock.status, clock.deadline = "open", self.new_deadline
            clock.span_start, clock.span_seconds = self.new_deadline.started_at, None
            clock.explanations.append(f"escalated to {self.escalated_to_role} (level {self.escalation_level}): "
                                      f"{self.explanation}")

    @event(Set)
    def _set(self, meta: EventMeta, deadline: Deadline, explanation: str) -> None:
        pass

    @event(EarlyFact)
    def _early(self, meta: EventMeta, fact: str, at: datetime, reason: str) -> None:
        pass

    @event(Paused)
    def _paused(self, meta: EventMeta, deadline: Deadline, paused_at: datetime, remaining_seconds: int,
                reason: str) -> None:
        pass

    @event(Resumed)
    def _resumed(self, meta: EventMeta, deadline: Deadline, resumed_at: datetime, reason: str,
                 explanation: str) -> None:
        pass

    @event(Replanned)
    def _replanned(self, meta: EventMeta, deadline: Deadline, previous_due_at: datetime,
                   previous_calendar_version: str | None, reason: str, explanation: str) -> None:
        pass

    @event(Met)
    def _met(self, meta: EventMeta, deadline: Deadline, completed_at: datetime) -> None:
        pass

    @event(Cancelled)
    def _cancelled(self, meta: EventMeta, deadline: Deadline, cancelled_at: datetime, reason: str) -> None:
        pass

    @event(Missed)
    def _missed(self, meta: EventMeta, deadline: Deadline, missed_at: datetime,
                responsible_for_delay: str | None) -> None:
        pass

    @event(Escalated)
    def _escalated(self, meta: EventMeta, missed: Deadline, escalation_level: int, escalated_to_role: str,
                   escalated_to: str | None, reason: str, new_deadline: Deadline, explanation: str) -> None:
        pass

    # --- commands -------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def set(self, meta: EventMeta, rule: DeadlineRule, rule_version: str, planner: Planner, start: datetime,
            agreed: datetime | None = None, responsible: str | None = None) -> None:
        """Start the clock (once; a repeated start event changes nothing)."""
        if self.status != "new":
            return
        plan = self._plan(planner, rule.limit, start, agreed=agreed)
        if plan.due_at <= start:  # an agreed time already past: due at once, not before it started
            plan = Plan(start + timedelta(seconds=1), plan.provisional, plan.calendar_version, plan.explanation)
        deadline = Deadline(
            deadline_id=self.id, kind=DeadlineKind(self.kind), basis=rule.limit.unit,
            amount=_amount(rule.limit), started_at=start, due_at=plan.due_at, responsible_role=rule.responsible_role,
            responsible=responsible, rule_version=rule_version, calendar_version=plan.calendar_version,
            provisional=plan.provisional, escalation_level=0,
        )
        self._set(meta=meta, deadline=deadline, explanation=f"rule {rule.kind.value} v{rule_version} "
                                                              f"({rule.source}): {plan.explanation}")
        if self.early_agreed is not None:
            self.agree(meta, *self.early_agreed)
        if self.early_met_at is not None:
            self.meet(meta, self.early_met_at)
        if self.early_cancelled is not None:
            self.cancel(meta, *self.early_cancelled)

    def meet(self, meta: EventMeta, at: datetime) -> None:
        if self.status == "new":
            if self.early_met_at is None:
                self._early(meta=meta, fact="met", at=at, reason="met before the deadline was set")
            return
        if self.status in ("open", "paused", "missed") and self.deadline is not None:
            self._met(meta=meta, deadline=self.deadline, completed_at=at)

    def cancel(self, meta: EventMeta, at: datetime, reason: str) -> None:
        """The complaint is gone: the deadline ends without being met or missed."""
        if self.status == "new":
            if self.early_cancelled is None:
                self._early(meta=meta, fact="cancelled", at=at, reason=reason)
            return
        if self.status in ("open", "paused", "missed") and self.deadline is not None:
            self._cancelled(meta=meta, deadline=self.deadline, cancelled_at=at, reason=reason)

    def pause(self, meta: EventMeta, at: datetime, reason: str, planner: Planner) -> None:
        if self.status != "open" or self.deadline is None:
            return
        remaining = planner.remaining_seconds(self.branch, at, self.deadline.due_at, self.deadline.basis)
        self._paused(meta=meta, deadline=self.deadline, paused_at=at, remaining_seconds=remaining, reason=reason)

    def resume(self, meta: EventMeta, at: datetime, reason: str, planner: Planner) -> None:
        """Run the clock again with the time that remained: never due at once because the
        original due time has passed meanwhile."""
        if self.status != "paused" or self.deadline is None:
            return
        unit = self.deadline.basis
        plan = planner.plan(self.branch, at, unit, seconds=max(self.remaining_seconds, 1))
        deadline = self.deadline.model_copy(update={
            "due_at": max(plan.due_at, at + timedelta(seconds=1)), "calendar_version": plan.calendar_version,
            "provisional": plan.provisional})
        self._resumed(meta=meta, deadline=deadline, resumed_at=at, reason=reason, explanation=plan.explanation)

    def agree(self, meta: EventMeta, agreed: datetime, reason: str) -> None:
        """A time agreed with the customer replaces the due time."""
        if self.status == "new":
            self._early(meta=meta, fact="agreed", at=agreed, reason=reason)
            return
        if self.status not in ("open", "paused") or self.deadline is None or self.deadline.due_at == agreed:
            return
        deadline = self.deadline.model_copy(update={
            "basis": TimeBasis.AGREED_TIME, "amount": None,
            "due_at": max(agreed, self.deadline.started_at + timedelta(seconds=1))})
        self._replanned(meta=meta, deadline=Deadline.model_validate(deadline.model_dump()),
                        previous_due_at=self.deadline.due_at,
                        previous_calendar_version=self.deadline.calendar_version, reason=reason,
                        explanation=f"due at the agreed time {agreed.isoformat()}")

    def miss(self, meta: EventMeta, now: datetime, rule: DeadlineRule, planner: Planner) -> bool:
        """Fire the timer: missed, and escalated one level up when the chain goes on."""
        if self.status != "open" or self.deadline is None or self.deadline.due_at > now:
            return False
        missed = self.deadline
        responsible = missed.responsible or f"the {missed.responsible_role.value.replace('_', ' ')}"
        self._missed(meta=meta, deadline=missed, missed_at=now, responsible_for_delay=responsible)
        level = missed.escalation_level + 1
        if level <= len(rule.escalation):
            limit, role = rule.level_limit(level), rule.level_role(level)
            plan = self._plan(planner, limit, now)
            new = Deadline(
                deadline_id=self.id, kind=missed.kind, basis=limit.unit, amount=_amount(limit), started_at=now,
                due_at=plan.due_at, responsible_role=role, responsible=None, memo_id=missed.memo_id,
                rule_version=missed.rule_version, calendar_version=plan.calendar_version,
                provisional=plan.provisional, escalation_level=level,
            )
            self._escalated(
                meta=meta, missed=missed, escalation_level=level, escalated_to_role=role.value, escalated_to=None,
                reason=(f"{missed.kind.value.replace('_', ' ')} due {missed.due_at.isoformat()} was missed by "
                        f"{responsible}; escalated to {role.value.replace('_', ' ')}"),
                new_deadline=new, explanation=plan.explanation)
        return True

    def replan(self, meta: EventMeta, rule: DeadlineRule, planner: Planner, reason: str) -> bool:
        """Plan the open deadline again on today's calendar (an explicit re-plan)."""
        if self.status != "open" or self.deadline is None or self.deadline.basis is TimeBasis.AGREED_TIME:
            return False
        limit = rule.level_limit(self.deadline.escalation_level)
        start = self.span_start or self.deadline.started_at
        plan = (planner.plan(self.branch, start, self.deadline.basis, seconds=self.span_seconds)
                if self.span_seconds is not None else self._plan(planner, limit, start))
        if plan.due_at == self.deadline.due_at and plan.calendar_version == self.deadline.calendar_version \
                and plan.provisional == self.deadline.provisional:
            return False
        deadline = self.deadline.model_copy(update={
            "due_at": max(plan.due_at, self.deadline.started_at + timedelta(seconds=1)),
            "calendar_version": plan.calendar_version, "provisional": plan.provisional})
        self._replanned(meta=meta, deadline=deadline, previous_due_at=self.deadline.due_at,
                        previous_calendar_version=self.deadline.calendar_version, reason=reason,
                        explanation=plan.explanation)
        return True

    def _plan(self, planner: Planner, limit: Limit, start: datetime, agreed: datetime | None = None) -> Plan:
        return planner.plan(self.branch, start, limit.unit, amount=limit.amount, agreed=agreed)

    def explain(self) -> dict[str, Any]:
        d = self.deadline
        return {"deadline_id": str(self.id), "kind": self.kind, "status": self.status, "key": self.key,
                "due_at": d.due_at.isoformat() if d else None, "basis": d.basis.value if d else None,
                "responsible_role": d.responsible_role.value if d else None,
                "escalation_level": d.escalation_level if d else 0,
                "rule_version": self.rule_version, "calendar_version": d.calendar_version if d else None,
                "provisional": d.provisional if d else False, "steps": list(self.explanations)}


def _amount(limit: Limit) -> int | None:
    if limit.unit is TimeBasis.AGREED_TIME or limit.amount is None:
        return None
    return max(1, int(limit.amount))


