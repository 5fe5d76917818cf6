"""Routing's reactions to upstream events: route each registered complaint, and keep its deadlines.

Deadlines react to the events of every service (the rules table says which start, meet,
pause, resume or re-plan each), and to routing's own new events, in the same unit of work
as the change that caused them.
"""

from __future__ import annotations

import functools
from typing import Any
from uuid import UUID

from contracts.envelope import Actor, Envelope, ServiceName, branch_of
from contracts.registration import ComplaintRegistered, ComplaintWithdrawn
from contracts.routing import TimeBasis
from services.common.consumer import UnitOfWork
from services.common.domain import EventMeta
from services.common.publishing import to_integration_event
from services.routing.domain.case import ComplaintCase
from services.routing.domain.deadline import DeadlineClock, Planner, deadline_id
from services.routing.domain.deadline_rules import DeadlineRule, RuleTable, load_rules
from services.routing.domain.rules import needs_routing
from services.routing.domain.serious import SeriousRules, load_serious

ROUTING = Actor.system(ServiceName.ROUTING)


def route(event: Envelope, uow: UnitOfWork, serious: SeriousRules | None = None) -> None:
    if isinstance(event, ComplaintWithdrawn):
        case = uow.get(event.complaint_id)  # none: never registered, or closed at intake
        if isinstance(case, ComplaintCase):
            case.withdraw(EventMeta.from_upstream(event, ROUTING), event.reason, event.occurred_at)
        return
    if isinstance(event, ComplaintRegistered):
        if not needs_routing(event.resolved_on_the_spot) or uow.get(event.complaint_id):
            return
        meta = EventMeta.from_upstream(event, ROUTING)
        case = uow.add(ComplaintCase(meta=meta, branch=event.branch, kind=event.kind, subject=event.subject,
                                     severity=event.severity, description=event.description,
                                     product=event.product, received_at=event.received_at))
        case.route(meta)
        if serious is not None and serious.applies(event.severity, event.channel):
            case.escalate_serious(
                meta, reasons=[r.value for r in serious.reasons(event.serious_reasons, event.channel)],
                customer=event.customer, claim_amount=event.claim_amount,
                departments=list(serious.departments[event.subject]),
                notified_roles=[r.value for r in serious.notified_roles])


class DeadlinePolicy:
    """Applies the rules table to one event: start, meet, pause, resume, agree."""

    def __init__(self, table: RuleTable, planner: Planner):
        self.table = table
        self.planner = planner
        self.events = table.events()

    def react(self, event: Envelope, uow: UnitOfWork) -> None:
        if event.event_type not in self.events:
            return
        meta = EventMeta.from_upstream(event, ROUTING)
        if any(trigger.matches(event) for trigger in self.table.cancelled_by):
            for rule in self.table.rules:
                if rule.key is None and (clock := self._clock(uow, meta, rule, event)) is not None:
                    clock.cancel(meta, event.occurred_at, event.event_type)
        for rule in self.table.rules:
            if rule.starts.matches(event):
                clock = self._clock(uow, meta, rule, event)
                if clock is not None:
                    agreed = getattr(event, rule.limit.field) if rule.limit.unit is TimeBasis.AGREED_TIME else None
                    clock.set(meta, rule, self.table.version, self.planner, getattr(event, rule.at), agreed=agreed)
            for trigger in rule.met_by:
                if trigger.matches(event) and (clock := self._clock(uow, meta, rule, event)) is not None:
                    clock.meet(meta, event.occurred_at)
            for trigger in rule.paused_by:
                if trigger.matches(event) and (clock := self._clock(uow, meta, rule, event)) is not None:
                    clock.pause(meta, event.occurred_at, f"{event.event_type}", self.planner)
            for trigger in rule.resumed_by:
                if trigger.matches(event) and (clock := self._clock(uow, meta, rule, event)) is not None:
                    clock.resume(meta, event.occurred_at, f"{event.event_type}", self.planner)
            for trigger in rule.agreed_by:
                if trigger.matches(event) and (clock := self._clock(uow, meta, rule, event)) is not None:
                    clock.agree(meta, getattr(event, trigger.field), f"time agreed with the customer "
                                                                    f"({event.event_type})")

    @staticmethod
    def _clock(uow: UnitOfWork, meta: EventMeta, rule: DeadlineRule, event: Envelope) -> DeadlineClock | None:
        """The deadline this event concerns (made when first heard of: a fact may come first)."""
        key: Any = None
        if rule.key is not None:
            key = getattr(event, rule.key, None)
            if key is None:
                return None  # this event does not say which of the complaint's deadlines it concerns
            key = str(key)
        identity = deadline_id(event.complaint_id, rule.kind, key)
        clock = uow.get(identity)
        if clock is None:
            clock = uow.add(DeadlineClock(meta=meta, kind=rule.kind.value, key=key,
                                          branch=branch_of(event.form_number)))
        return clock


class RoutingPolicy:
    """Route (calling in senior management at once for a serious complaint), then keep the
    deadlines of what arrived and of what routing itself just decided."""

    def __init__(self, deadlines: DeadlinePolicy, serious: SeriousRules | None = None):
        self.deadlines = deadlines
        self.serious = serious

    def __call__(self, event: Envelope, uow: UnitOfWork) -> None:
        before = {identity: len(a.pending_events) for identity, a in uow.aggregates.items()}
        route(event, uow, self.serious)
        self.deadlines.react(event, uow)
        for own in own_new_events(uow, before):
            self.deadlines.react(own, uow)


def own_new_events(uow: UnitOfWork, before: dict[UUID, int]) -> list[Envelope]:
    """Routing's new published events in this unit of work (deadline events aside), as published."""
    out: list[Envelope] = []
    for identity, aggregate in list(uow.aggregates.items()):
        if isinstance(aggregate, DeadlineClock):
            continue
        for domain_event in aggregate.pending_events[before.get(identity, 0):]:
            published = to_integration_event(ServiceName.ROUTING, domain_event, notification_id=1)
            if published is not None:
                out.append(published)
    return out


@functools.cache
def default_policy() -> RoutingPolicy:
    """The policy on the rules table and calendar in the repository (loaded once, on first use)."""
    from services.routing.domain.calendar import load_calendar
    return RoutingPolicy(DeadlinePolicy(load_rules(), Planner(load_calendar())), load_serious())


def routing_policy(event: Envelope, uow: UnitOfWork) -> None:
    default_policy()(event, uow)


