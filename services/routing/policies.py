"""Routing's reactions to upstream events: route each registered complaint, and keep its deadlines.

Deadlines react to the events of every service (the rules table says which start, meet,
pause, resume or re-plan each), and to routing's own new events, in the same unit of work
as the change that caused them.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from contracts.envelope import Actor, Envelope, ServiceName, branch_of
from contracts.quality import (
    Determination, MisuseResolution, OnSiteDeterminationCorrected, OnSiteDeterminationRecorded, QualityDecisionApproved,
    QualityRemedyDelivered,
)
from contracts.registration import (
    ComplaintRegistered, ComplaintWithdrawn, InquiryAnswered, RequestKind, SuggestionAnswered,
)
from contracts.routing import DeadlineKind, TimeBasis
from services.common.consumer import UnitOfWork
from services.common.domain import EventMeta
from services.common.publishing import to_integration_event
from services.common.access import rules as access_rules
from services.routing.domain.case import ComplaintCase
from services.routing.domain.repeats import RepeatIndex, index_id, repeat_keys
from services.routing.domain.deadline import DeadlineClock, Planner, deadline_id
from services.routing.domain.deadline_rules import DeadlineRule, RuleTable, load_rules
from services.routing.domain.rules import needs_routing
from services.routing.domain.serious import SeriousRules, load_serious

ROUTING = Actor.system(ServiceName.ROUTING)
#: How far back an open complaint counts as the one a new complaint repeats (settings override it).
REPEAT_WINDOW = timedelta(days=30)


def route(event: Envelope, uow: UnitOfWork, serious: SeriousRules | None = None,
          repeat_window: timedelta = REPEAT_WINDOW) -> None:
    """Open and route each registered complaint; follow what intake and quality report about it."""
    if isinstance(event, ComplaintRegistered):
        _open(event, uow, serious, repeat_window)
        return
    case = uow.get(event.complaint_id)
    if not isinstance(case, ComplaintCase):
        return  # never routed (closed at intake), or not a complaint routing knows
    meta = EventMeta.from_upstream(event, ROUTING)
    if isinstance(event, ComplaintWithdrawn):
        case.withdraw(meta, event.reason, event.occurred_at)
    elif isinstance(event, InquiryAnswered):
        case.answered_at_intake(meta, f"Inquiry answered by {event.answered_by}: {event.answer}"[:2000],
                                event.occurred_at)
    elif isinstance(event, SuggestionAnswered):
        adopted = "adopted" if event.adopted else "not adopted"
        case.answered_at_intake(meta, f"Suggestion {adopted}: {event.answer}"[:2000], event.occurred_at)
    elif isinstance(event, QualityDecisionApproved):
        case.quality_decided(meta, event.decision, remedy_delivered=False,
                             source=f"{event.approver} ({event.approver_role.value})")
    elif isinstance(event, (OnSiteDeterminationRecorded, OnSiteDeterminationCorrected)) and _settled_on_site(event):
        fixed = event.misuse_resolution is MisuseResolution.FIXED_ON_SITE
        corrected = isinstance(event, OnSiteDeterminationCorrected)
        said = event.reason if corrected else event.memo
        decision = (f"Fixed on site: {said}" if fixed else
                    f"Obvious misuse ({event.misuse_resolution.value.replace('_', ' ')}), agreed on site: {said}")
        case.quality_decided(meta, decision[:2000], remedy_delivered=fixed,
                             source=event.corrected_by if corrected else event.inspector)
    elif isinstance(event, QualityRemedyDelivered):
        case.quality_remedy_delivered(meta, event.description)


def _settled_on_site(event: OnSiteDeterminationRecorded | OnSiteDeterminationCorrected) -> bool:
    """Obvious misuse, the customer agreeing: decided on site (§5.5). Fixed there, it is also remedied
    (§5.5.2⑴); a part swap or a complex repair is replied to, then quality records it done."""
    return event.determination is Determination.OBVIOUS_MISUSE and event.customer_agrees


def _open(event: ComplaintRegistered, uow: UnitOfWork, serious: SeriousRules | None,
          repeat_window: timedelta) -> None:
    if not needs_routing(event.resolved_on_the_spot) or uow.get(event.complaint_id):
        return
    meta = EventMeta.from_upstream(event, ROUTING)
    case = uow.add(ComplaintCase(meta=meta, branch=event.branch, kind=event.kind, subject=event.subject,
                                 severity=event.severity, description=event.description,
                                 product=event.product, received_at=event.received_at))
    case.route(meta)
    is_serious = serious is not None and serious.applies(event.severity, event.channel)
    case.detail(meta, customer=event.customer, channel=event.channel, complained_about=event.complained_about,
                region=access_rules().region_of(event.branch), serious=is_serious)
    if is_serious:
        case.escalate_serious(
            meta, reasons=[r.value for r in serious.reasons(event.serious_reasons, event.channel)],
            customer=event.customer, claim_amount=event.claim_amount,
            departments=list(serious.departments[event.subject]),
            notified_roles=[r.value for r in serious.notified_roles])
    if event.kind is RequestKind.COMPLAINT:
        _link_repeat(event, case, meta, uow, repeat_window)


def _link_repeat(event: ComplaintRegistered, case: ComplaintCase, meta: EventMeta, uow: UnitOfWork,
                 window: timedelta) -> None:
    """Link to the newest open complaint of the same customer and product, or about the same person."""
    for basis, key in repeat_keys(event.subject, event.customer, event.product, event.complained_about):
        index = uow.get(index_id(basis, key)) or uow.add(RepeatIndex(basis.value, key))
        for entry in index.recent(event.complaint_id, event.received_at, window):
            other = uow.get(UUID(entry["complaint_id"]))
            if isinstance(other, ComplaintCase) and not other.closed:
                case.link_repeat(meta, other.id, entry["form_number"], basis.value, max(1, window.days))
                break
        index.note(event.complaint_id, event.form_number, event.received_at)


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
            case = uow.get(event.complaint_id)
            keys = case.deadline_keys() if isinstance(case, ComplaintCase) else {}
            for rule in self.table.rules:
                if rule.key is not None and rule.key not in keys:
                    continue  # a keyed deadline the case has none of now
                if (clock := self._clock(uow, meta, rule, event, keys.get(rule.key))) is not None:
                    clock.cancel(meta, event.occurred_at, event.event_type)
        for rule in self.table.rules:
            if rule.started_by(event):
                clock = self._clock(uow, meta, rule, event)
                if clock is not None:
                    agreed = getattr(event, rule.limit.field) if rule.limit.unit is TimeBasis.AGREED_TIME else None
                    clock.set(meta, rule, self.table.version, self.planner, getattr(event, rule.at), agreed=agreed)
            for trigger in rule.met_by:
                if trigger.matches(event) and (clock := self._clock(uow, meta, rule, event)) is not None:
                    clock.meet(meta, trigger.done_at(event))
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
    def _clock(uow: UnitOfWork, meta: EventMeta, rule: DeadlineRule, event: Envelope,
               key: Any = None) -> DeadlineClock | None:
        """The deadline this event concerns (made when first heard of: a fact may come first);
        `key`: the deadline's key when the event does not carry it."""
        if rule.key is not None:
            key = getattr(event, rule.key, None) or key
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
    deadlines of what arrived and of what routing itself just decided, and say who must act next."""

    def __init__(self, deadlines: DeadlinePolicy, serious: SeriousRules | None = None,
                 repeat_window: timedelta = REPEAT_WINDOW):
        self.deadlines = deadlines
        self.serious = serious
        self.repeat_window = repeat_window

    def __call__(self, event: Envelope, uow: UnitOfWork) -> None:
        before = {identity: len(a.pending_events) for identity, a in uow.aggregates.items()}
        route(event, uow, self.serious, self.repeat_window)
        self.deadlines.react(event, uow)
        self.follow_up(uow, before, EventMeta.from_upstream(event, ROUTING))

    def follow_up(self, uow: UnitOfWork, before: dict[UUID, int], meta: EventMeta) -> None:
        """After a change: deadlines react to routing's own new events, then each changed case
        publishes who must act now (with the due times just planned)."""
        for own in own_new_events(uow, before):
            self.deadlines.react(own, uow)
        for identity, aggregate in list(uow.aggregates.items()):
            if isinstance(aggregate, ComplaintCase) and len(aggregate.pending_events) > before.get(identity, 0):
                aggregate.refresh_awaited(meta, lambda kind: due_of(uow, aggregate, kind))


def due_of(uow: UnitOfWork, case: ComplaintCase, kind: DeadlineKind) -> datetime | None:
    """The due time of the case's open (or missed) deadline of this kind, if it has one."""
    memo = case.memo
    key = memo["memo_id"] if memo and kind in (DeadlineKind.MEMO_DISPATCH, DeadlineKind.DEPARTMENT_REPLY) else None
    clock = uow.get(deadline_id(case.id, kind, key))
    if isinstance(clock, DeadlineClock) and clock.status in ("open", "missed") and clock.deadline is not None:
        return clock.deadline.due_at
    return None


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
    from services.common.calendar import load_calendar
    return RoutingPolicy(DeadlinePolicy(load_rules(), Planner(load_calendar())), load_serious())


def routing_policy(event: Envelope, uow: UnitOfWork) -> None:
    default_policy()(event, uow)


