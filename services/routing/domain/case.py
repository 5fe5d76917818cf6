"""The complaint case headquarters works on, from routing to closure (§5.3 to §5.8).

One aggregate per complaint. Each human step is a method that checks the actor's role, the
case's state and the step's own rules, then records one or more facts; each fact is published as
the contract of the same name (`FACTS`), so the stored event and the message carry the same
fields. Nothing here does I/O: the authority matrix and the role rules are data passed in or read
once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event
from pydantic_core import to_jsonable_python

from contracts import routing as c
from contracts.envelope import Actor, Role
from contracts.registration import Channel, Customer, ProductDetails, RequestKind, Subject
from contracts.routing import (
    AuthorityLevel, CaseState, ClosureOutcome, ComplaintClosed, ComplaintRouted, DeadlineKind, Destination,
    DisputeForum, DisputeKind, FollowUpOutcome, HandlingTrack, Milestone, Satisfaction, SeriousComplaintEscalated,
)
from services.common.access import Forbidden, rules as access_rules
from services.common.domain import ComplaintAggregate, DomainError, EventMeta, InvalidCommand, fact_classes
from services.common.authority import AuthorityMatrix, BeyondAuthority
from services.routing.domain.rules import decide_route

S = CaseState

#: The states a case is open in (a dispute may still reopen a closed one).
OPEN = frozenset(S) - {S.CLOSED}


class WrongState(DomainError):
    """The case is not in a state that allows the step (409, naming the state)."""

    def __init__(self, step: str, state: CaseState, form_number: str, allowed: frozenset[CaseState] | set[CaseState]):
        super().__init__(f"cannot {step}: complaint {form_number} is {state.value} "
                         f"(the step needs {', '.join(sorted(s.value for s in allowed))})", field="state")
        self.state = state


def initial_track(subject: str, serious: bool) -> HandlingTrack:
    """The §5.3 track a complaint starts on; the regional manager may take a regional one to HQ."""
    if serious:
        return HandlingTrack.SENIOR_MANAGEMENT
    return {Subject.PRODUCT_QUALITY: HandlingTrack.QUALITY, Subject.STAFF: HandlingTrack.STAFF_SUPERVISOR}.get(
        Subject(subject), HandlingTrack.REGIONAL)


def dispute_kind(subject: str) -> DisputeKind:
    return {Subject.PRODUCT_QUALITY: DisputeKind.QUALITY_DETERMINATION,
            Subject.STAFF: DisputeKind.STAFF}.get(Subject(subject), DisputeKind.POLICY_SERVICE)


def may_role(role: str, action: str) -> bool:
    """Whether access.yaml (the one place roles are given) grants `role` the `action`."""
    rules = access_rules().roles.get(role)
    return rules is not None and action in rules.actions


def check_role(actor: Actor, action: str, step: str) -> None:
    if not may_role(actor.role.value, action):
        raise Forbidden(f"role {actor.role.value} may not {step} ({action})", field="actor")


def _json(value: Any) -> Any:
    return to_jsonable_python(value)


class ComplaintCase(ComplaintAggregate):
    # --- the events of the first version (stored: their fields never change) --------------------

    class Opened(ComplaintAggregate.Created):
        meta: EventMeta
        branch: str
        kind: str
        subject: str
        severity: str
        description: str
        product: ProductDetails | None
        received_at: datetime | None  # cases opened before it was kept have none

    @event(Opened)
    def __init__(self, meta: EventMeta, branch: str, kind: str, subject: str, severity: str,
                 description: str, product: ProductDetails | None, received_at: datetime | None = None):
        self.meta = meta
        self.received_at = received_at
        self.closed = False
        self.branch = branch
        self.kind = kind
        self.subject = subject
        self.severity = severity
        self.description = description
        self.product = product
        self.destination: str | None = None
        self.escalated = False

    class Routed(ComplaintAggregate.Event):
        PUBLISHED_AS = ComplaintRouted
        meta: EventMeta
        destination: str
        reason: str
        subject: str
        severity: str
        description: str
        product: ProductDetails | None

        def apply(self, case: ComplaintCase) -> None:
            case.destination = self.destination
            if self.destination == Destination.QUALITY_DEPARTMENT.value:
                case.state = S.WITH_QUALITY
            elif case.state is None:
                case.state = case._first_state()

    @event(Routed)
    def _routed(self, meta: EventMeta, destination: str, reason: str, subject: str, severity: str,
                description: str, product: ProductDetails | None) -> None:
        pass

    class SeriousEscalated(ComplaintAggregate.Event):
        PUBLISHED_AS = SeriousComplaintEscalated
        meta: EventMeta
        reasons: list[str]
        subject: str
        description: str
        customer: Customer
        claim_amount: Decimal | None
        departments: list[str]
        notified_roles: list[str]

        def apply(self, case: ComplaintCase) -> None:
            case.escalated = True

    @event(SeriousEscalated)
    def _serious_escalated(self, meta: EventMeta, reasons: list[str], subject: str, description: str,
                           customer: Customer, claim_amount: Decimal | None, departments: list[str],
                           notified_roles: list[str]) -> None:
        pass

    class Closed(ComplaintAggregate.Event):
        PUBLISHED_AS = ComplaintClosed
        meta: EventMeta
        outcome: str
        resolution_summary: str
        subject: str
        severity: str
        kind: str
        received_at: datetime
        customer_agrees: bool | None

        def apply(self, case: ComplaintCase) -> None:
            case.closed = True
            case.state = S.CLOSED

    @event(Closed)
    def _closed(self, meta: EventMeta, outcome: str, resolution_summary: str, subject: str, severity: str,
                kind: str, received_at: datetime, customer_agrees: bool | None) -> None:
        pass

    # --- the case's details kept since the procedure was built (internal) ---------------------

    class Detailed(ComplaintAggregate.Event):
        """What the later steps need from the registration (kept here; not published)."""

        meta: EventMeta
        customer: Customer
        channel: str
        complained_about: str | None
        region: str | None
        serious: bool

        def apply(self, case: ComplaintCase) -> None:
            case.customer = self.customer
            case.channel = self.channel
            case.complained_about = self.complained_about
            case.region = self.region
            case.serious = self.serious

    @event(Detailed)
    def _detailed(self, meta: EventMeta, customer: Customer, channel: str, complained_about: str | None,
                  region: str | None, serious: bool) -> None:
        pass

    class QualityDecisionTaken(ComplaintAggregate.Event):
        """Quality handed its approved decision (or an on-site resolution) back for the reply (internal)."""

        meta: EventMeta
        decision: str
        remedy_delivered: bool
        source: str

        def apply(self, case: ComplaintCase) -> None:
            case.remedy = self.decision
            case.remedy_delivered = self.remedy_delivered or case.quality_remedy_done
            case.cause_given = True
            case.state = S.AWAITING_CUSTOMER_REPLY
            case.approved_by = self.source

    @event(QualityDecisionTaken)
    def _quality_decision(self, meta: EventMeta, decision: str, remedy_delivered: bool, source: str) -> None:
        pass

    class QualityRemedyTaken(ComplaintAggregate.Event):
        """Quality recorded the remedy delivered (internal)."""

        meta: EventMeta
        remedy: str

        def apply(self, case: ComplaintCase) -> None:
            case.remedy_delivered = True
            case.quality_remedy_done = True
            if case.state is S.AWAITING_REMEDY:
                case.state = S.AWAITING_FOLLOW_UP

    @event(QualityRemedyTaken)
    def _quality_remedy(self, meta: EventMeta, remedy: str) -> None:
        pass

    class CommandTaken(ComplaintAggregate.Event):
        """A step's command was carried out: its id and what it asked (internal), so that the id used
        again for another step is refused instead of being taken for a repeat."""

        meta: EventMeta
        command_id: UUID
        fingerprint: str

        def apply(self, case: ComplaintCase) -> None:
            case.fingerprints = {**case.fingerprints, str(self.command_id): self.fingerprint}

    @event(CommandTaken)
    def _command_taken(self, meta: EventMeta, command_id: UUID, fingerprint: str) -> None:
        pass

    def take(self, meta: EventMeta, command_id: UUID, fingerprint: str) -> None:
        self._command_taken(meta=meta, command_id=command_id, fingerprint=fingerprint)

    def repeated_with(self, command_id: UUID, fingerprint: str) -> bool:
        """True: the command was carried out before (a repeat). A different command under the same
        id is refused (409, `command_id`)."""
        known = self.fingerprints.get(str(command_id))
        if known is None:
            return False
        if known != fingerprint:
            raise DomainError(f"command_id {command_id} was already used for another step or other fields; "
                              "send a new command_id", field="command_id")
        return True

    # --- defaults for cases stored before the procedure (read through getattr) ----------------

    _DEFAULTS: ClassVar[dict[str, Any]] = {
        "state": None, "track": None, "customer": None, "channel": None, "complained_about": None,
        "region": None, "serious": False, "handler": None, "cause_given": False,
        "memo": None, "memo_dispatched": False, "dispatched_to": None, "chain": [], "next_level": None,
        "remedy": None, "compensation": None, "company_cost": None, "approved_by": None,
        "remedy_delivered": True, "follow_up_attempts": 0, "follow_up": None,
        "answered_directly": False, "dispute": None, "disputed": False, "meeting_held": False,
        "negotiator": None, "repeat_of": None, "link_pending": False, "regional_manager": None,
        "awaited": None, "trail": [], "attachments": [],
        "staff_over_authority": False, "replied": False, "valid": None,
        "repeats": [], "quality_remedy_done": False, "awaited_state": None,
        "fingerprints": {},
    }

    def __getattr__(self, name: str) -> Any:
        defaults = type(self)._DEFAULTS
        if name in defaults:
            value = defaults[name]
            value = value.copy() if isinstance(value, (list, set, dict)) else value
            object.__setattr__(self, name, value)
            return value
        raise AttributeError(name)

    def _first_state(self) -> CaseState:
        if self.kind != RequestKind.COMPLAINT.value:
            return S.AWAITING_ANSWER  # an inquiry or a suggestion is answered at intake
        if self.subject == Subject.PRODUCT_QUALITY.value and self.destination != Destination.QUALITY_DEPARTMENT.value:
            return S.AWAITING_TRIAGE
        return S.AWAITING_MEMO

    # --- the published facts: one generic apply ------------------------------------------------

    def _on(self, fact: Any) -> None:
        """Apply a published fact (the classes made from `FACTS` below)."""
        name = type(fact).__name__
        if name not in _NOT_DECISIONS:
            self.trail.append({"at": _json(fact.timestamp), "step": name, "by": fact.meta.actor.user_id,
                               "role": fact.meta.actor.role.value, "summary": _summary(name, fact)})
            if len(self.trail) > c.TRAIL_MAX:  # the first entry and the latest ones are kept
                del self.trail[1:len(self.trail) - c.TRAIL_MAX + 1]
        getattr(self, f"_apply_{name}", lambda _: None)(fact)

    def _apply_ComplaintClassified(self, f: Any) -> None:
        self.track = HandlingTrack(f.track)

    def _apply_HandlerAssigned(self, f: Any) -> None:
        self.handler = f.handler

    def _apply_CauseAndSolutionProposed(self, f: Any) -> None:
        self.cause_given = True
        self.valid = f.valid
        self.compensation = f.compensation
        self.company_cost = f.company_cost

    def _apply_QualityCaseTriaged(self, f: Any) -> None:
        self.answered_directly = f.answered_directly
        self.regional_manager = f.regional_manager
        if f.answered_directly:
            self.cause_given = True

    def _apply_InternalMemoFiled(self, f: Any) -> None:
        self.memo = {"memo_id": str(f.memo_id), "filed_by": f.filed_by, "description": f.description,
                     "requested_reply_by": _json(f.requested_reply_by), "urgency": str(f.urgency),
                     "attachments": f.attachments, "filed_at": _json(f.timestamp)}
        self.attachments.extend(f.attachments)
        self.state = S.MEMO_FILED

    def _apply_InternalMemoReturned(self, f: Any) -> None:
        self.memo = None
        self.state = S.AWAITING_MEMO

    def _apply_InternalMemoDispatched(self, f: Any) -> None:
        self.memo_dispatched = True
        self.dispatched_to = f.department
        self.state = S.WITH_DEPARTMENT

    def _apply_StaffComplaintInvestigated(self, f: Any) -> None:
        self.cause_given = True
        self.valid = f.substantiated
        self.compensation = f.compensation
        self.staff_over_authority = f.exceeds_supervisor_authority

    def _apply_DepartmentReplyReceived(self, f: Any) -> None:
        self.cause_given = True
        self.remedy = f.proposed_remedy
        self.compensation = f.compensation
        self.attachments.extend(f.attachments)

    def _apply_ApprovalRequested(self, f: Any) -> None:
        self.chain = [str(level) for level in f.chain]
        self.next_level = str(f.next_level)
        self.remedy = f.remedy
        self.compensation = f.compensation
        self.state = S.AWAITING_APPROVAL

    def _apply_ReplyApproved(self, f: Any) -> None:
        self.remedy = f.remedy
        self.compensation = f.compensation
        self.company_cost = f.company_cost
        self.approved_by = f.approver
        if f.final:
            self.next_level = None
            self.remedy_delivered = f.remedy is None and f.compensation is None
            self.state = S.AWAITING_CUSTOMER_REPLY
        else:
            chain = self.chain
            self.next_level = chain[chain.index(str(f.authority_level)) + 1]

    def _apply_ReplyRejected(self, f: Any) -> None:
        self.next_level = None
        self.state = S.WITH_DEPARTMENT if self.memo_dispatched else S.AWAITING_MEMO
        if self.state is S.AWAITING_MEMO:
            self.cause_given = False

    def _apply_ApprovalEscalated(self, f: Any) -> None:
        chain = [level for level in self.chain if level != str(f.from_level)]
        if str(f.to_level) not in chain:
            chain.append(str(f.to_level))
        order = [level.value for level in AuthorityLevel]
        self.chain = sorted(chain, key=order.index)
        self.next_level = str(f.to_level)

    def _apply_CustomerReplied(self, f: Any) -> None:
        self.replied = True
        self.state = S.AWAITING_REMEDY if f.remedy_pending else S.AWAITING_FOLLOW_UP
        if f.remedy_pending:
            self.remedy_delivered = False

    def _apply_RemedyDelivered(self, f: Any) -> None:
        self.remedy_delivered = True
        self.state = S.AWAITING_FOLLOW_UP

    def _apply_SatisfactionFollowUpRecorded(self, f: Any) -> None:
        self.follow_up_attempts = f.attempt
        self.follow_up = str(f.outcome)
        if FollowUpOutcome(f.outcome) is not FollowUpOutcome.NOT_REACHED:
            self.state = S.READY_TO_CLOSE

    def _apply_DisputeRaised(self, f: Any) -> None:
        self.dispute = {"dispute_id": str(f.dispute_id), "forum": str(f.forum), "kind": str(f.dispute_kind)}
        self.disputed = True
        self.closed = False
        self.follow_up_attempts = 0
        self.follow_up = None
        self.state = S.DISPUTED

    def _apply_DisputeRuled(self, f: Any) -> None:
        self.dispute = None
        if f.remedy is not None:  # a new remedy is owed; without one, a remedy still owed stays owed
            self.remedy = f.remedy
            self.remedy_delivered = False
        self.approved_by = f.ruled_by
        self.state = S.AWAITING_CUSTOMER_REPLY

    def _apply_UrgentMeetingHeld(self, f: Any) -> None:
        self.meeting_held = True

    def _apply_NegotiatorNamed(self, f: Any) -> None:
        self.negotiator = f.negotiator

    def _apply_RepeatComplaintLinked(self, f: Any) -> None:
        self.repeat_of = {"complaint_id": str(f.linked_to), "form_number": f.linked_form_number,
                          "confirmed": False}
        self.link_pending = True

    def _apply_RepeatLinkConfirmed(self, f: Any) -> None:
        if self.repeat_of and self.repeat_of["complaint_id"] == str(f.linked_to):
            self.repeat_of = dict(self.repeat_of, confirmed=True)
            self.link_pending = False
        else:  # the open complaint a later one repeats: it names the repeat too
            self.repeats = [*self.repeats, {"complaint_id": str(f.linked_to), "form_number": f.linked_form_number}]

    def _apply_RepeatLinkRejected(self, f: Any) -> None:
        self.repeat_of = None
        self.link_pending = False

    def _apply_ActionsAwaited(self, f: Any) -> None:
        self.awaited = _json(f.actions)
        self.awaited_state = str(f.state)

    def _fact(self, name: str, meta: EventMeta, **fields: Any) -> None:
        self.trigger_event(FACTS[name], meta=meta, **fields)

    # --- questions -----------------------------------------------------------------------------

    def deadline_keys(self) -> dict[str, str]:
        """The keys of the case's keyed deadlines now (its current memo's)."""
        return {"memo_id": self.memo["memo_id"]} if self.memo else {}

    @property
    def case_state(self) -> CaseState:
        return self.state or self._first_state()

    @property
    def hidden_from(self) -> str | None:
        """The person complained about in a staff complaint: never shown it (§5.3.2⑴)."""
        return self.complained_about if self.subject == Subject.STAFF.value else None

    def _require(self, step: str, *allowed: CaseState) -> None:
        if self.case_state not in allowed:
            raise WrongState(step, self.case_state, self.meta.form_number, set(allowed))

    def _act(self, actor: Actor, action: str, step: str, *allowed: CaseState) -> None:
        check_role(actor, action, step)
        hidden = self.hidden_from
        if hidden is not None and actor.user_id.casefold() == hidden.casefold():
            raise Forbidden(f"{actor.user_id} is the person complained about and may not act on it (§5.3.2⑴)",
                            field="actor")
        self._require(step, *allowed)

    # --- routing (system) ----------------------------------------------------------------------

    def route(self, meta: EventMeta) -> None:
        if self.destination is not None:
            raise DomainError(f"case already routed to {self.destination}", field="destination")
        decision = decide_route(self.subject, self.severity, self.kind)
        self._routed(meta=meta, destination=decision.destination.value, reason=decision.reason,
                     subject=self.subject, severity=self.severity, description=self.description,
                     product=self.product)

    def detail(self, meta: EventMeta, customer: Customer, channel: str, complained_about: str | None,
               region: str | None, serious: bool) -> None:
        """Keep the registration's details and classify the case onto its first track."""
        self._detailed(meta=meta, customer=customer, channel=str(channel), complained_about=complained_about,
                       region=region, serious=serious)
        if self.kind == RequestKind.COMPLAINT.value:
            self._classify(meta, initial_track(self.subject, serious), False,
                           "serious, or through an external body: senior management" if serious else
                           "the first track of the complaint's subject (§5.3)")

    def _classify(self, meta: EventMeta, track: HandlingTrack, crosses_departments: bool, rationale: str) -> None:
        self._fact("ComplaintClassified", meta, subject=self.subject, severity=self.severity, kind=self.kind,
                   channel=self.channel or Channel.PHONE.value, track=track.value,
                   crosses_departments=crosses_departments, rationale=rationale, customer=self.customer,
                   product=self.product, branch=self.branch, region=self.region)

    def escalate_serious(self, meta: EventMeta, reasons: list[str], customer: Customer,
                         claim_amount: Decimal | None, departments: list[str], notified_roles: list[str]) -> None:
        """A serious complaint: the department heads and the general manager are called in at once (once)."""
        if self.escalated:
            return
        self._serious_escalated(meta=meta, reasons=reasons, subject=self.subject, description=self.description,
                                customer=customer, claim_amount=claim_amount, departments=departments,
                                notified_roles=notified_roles)

    def link_repeat(self, meta: EventMeta, linked_to: UUID, linked_form_number: str, basis: str,
                    window_days: int) -> None:
        if self.repeat_of is None and linked_to != self.id:
            self._fact("RepeatComplaintLinked", meta, linked_to=linked_to, linked_form_number=linked_form_number,
                       basis=basis, window_days=window_days)

    def withdraw(self, meta: EventMeta, reason: str, at: datetime) -> None:
        """The customer withdrew the complaint at intake: the case closes (once), nothing is deleted."""
        if self.closed:
            return
        self._closed(meta=meta, outcome=ClosureOutcome.WITHDRAWN.value,
                     resolution_summary=f"Withdrawn by the customer: {reason}", subject=self.subject,
                     severity=self.severity, kind=self.kind, received_at=self.received_at or at,
                     customer_agrees=None)
        self._archive(meta, at)  # §5.8: what was produced before the withdrawal is archived too

    def answered_at_intake(self, meta: EventMeta, summary: str, at: datetime) -> None:
        """An inquiry or suggestion answered at intake: the case closes and is archived (once)."""
        if self.closed or self.kind == RequestKind.COMPLAINT.value:
            return
        self._closed(meta=meta, outcome=ClosureOutcome.ANSWERED_DIRECTLY.value, resolution_summary=summary,
                     subject=self.subject, severity=self.severity, kind=self.kind,
                     received_at=self.received_at or at, customer_agrees=None)
        self._archive(meta, at)

    def quality_decided(self, meta: EventMeta, decision: str, remedy_delivered: bool, source: str) -> None:
        """Quality's approved decision (or an on-site resolution the customer agreed to) comes back."""
        if self.case_state is S.WITH_QUALITY:
            self._quality_decision(meta=meta, decision=decision, remedy_delivered=remedy_delivered, source=source)

    def quality_remedy_delivered(self, meta: EventMeta, remedy: str) -> None:
        if not self.remedy_delivered or self.case_state in (S.WITH_QUALITY, S.AWAITING_CUSTOMER_REPLY):
            self._quality_remedy(meta=meta, remedy=remedy)
            if self.case_state is S.AWAITING_FOLLOW_UP:
                self._milestone(meta, Milestone.REMEDY_DELIVERED, f"The remedy was delivered: {remedy}")

    # --- the human steps -----------------------------------------------------------------------

    def answer_quality_question(self, meta: EventMeta, answer: str, channel: str) -> None:
        self._act(meta.actor, "case.triage", "answer the question directly", S.AWAITING_TRIAGE)
        if self.handler is None:  # the HQ clerk who answers is the person who handled it
            self._fact("HandlerAssigned", meta, handler=meta.actor.user_id, handler_role=meta.actor.role.value,
                       assigned_by=meta.actor.user_id)
        self._fact("QualityCaseTriaged", meta, triaged_by=meta.actor.user_id, answered_directly=True,
                   regional_manager=None, note=answer)
        self._fact("CustomerReplied", meta, replied_by=meta.actor.user_id, channel=channel, reply=answer,
                   remedy=None, compensation=None, approved_by=meta.actor.user_id, customer=self.customer,
                   remedy_pending=False)

    def dispatch_on_site(self, meta: EventMeta, regional_manager: str | None, note: str) -> None:
        self._act(meta.actor, "case.triage", "dispatch the regional manager on site", S.AWAITING_TRIAGE)
        self._fact("QualityCaseTriaged", meta, triaged_by=meta.actor.user_id, answered_directly=False,
                   regional_manager=regional_manager, note=note)
        self._routed(meta=meta, destination=Destination.QUALITY_DEPARTMENT.value,
                     reason=f"§5.3.3⑷ dispatched on site by the HQ clerk: {note}"[:2000], subject=self.subject,
                     severity=self.severity, description=self.description, product=self.product)
        self._milestone(meta, Milestone.ON_SITE_VISIT_DISPATCHED,
                        "Our regional manager will visit you to inspect the product.")

    def assign_handler(self, meta: EventMeta, handler: str, handler_role: str) -> None:
        self._act(meta.actor, "case.handler.assign", "name a handler", *OPEN)
        if self.hidden_from and handler.casefold() == self.hidden_from.casefold():
            raise InvalidCommand("the person complained about cannot handle the complaint (§5.3.2⑴)",
                                 field="handler")
        if not may_role(handler_role, "case.cause.propose"):
            raise InvalidCommand(f"a handler gives the cause and the solution: role {handler_role} may not",
                                 field="handler_role")
        if self.handler is not None and handler.casefold() == self.handler.casefold():
            raise DomainError(f"{handler} is already the handler", field="handler")
        self._fact("HandlerAssigned", meta, handler=handler, handler_role=handler_role,
                   assigned_by=meta.actor.user_id)

    def propose_cause_and_solution(self, meta: EventMeta, matrix: AuthorityMatrix, cause: str, cause_category: str,
                                   valid: bool, responsible_person: str | None, proposed_solution: str,
                                   compensation: Decimal | None, company_cost: Decimal | None) -> None:
        self._act(meta.actor, "case.cause.propose", "give the cause and a solution",
                  *(OPEN - {S.AWAITING_CUSTOMER_REPLY, S.AWAITING_REMEDY, S.AWAITING_FOLLOW_UP, S.READY_TO_CLOSE}))
        if self.handler is None:
            raise DomainError("name a handler first: the handler gives the cause and the solution", field="handler")
        if meta.actor.user_id.casefold() != self.handler.casefold():
            raise Forbidden(f"only the handler ({self.handler}) gives the cause and the solution", field="actor")
        self._fact("CauseAndSolutionProposed", meta, handler=meta.actor.user_id, cause=cause,
                   cause_category=cause_category, valid=valid, responsible_person=responsible_person,
                   proposed_solution=proposed_solution, compensation=compensation, company_cost=company_cost)
        if self.case_state is S.AWAITING_MEMO and self.track is HandlingTrack.REGIONAL:
            # §5.3.1⑴: within regional authority the regional manager handles it; it is approved at once.
            self._request_approval(meta, matrix, proposed_solution, None, compensation)

    def file_memo(self, meta: EventMeta, memo_id: UUID, addressed_to: str, description: str,
                  requested_reply_by: datetime, urgency: str, attachments: list[Any],
                  crosses_departments: bool, now: datetime) -> None:
        self._act(meta.actor, "case.memo.file", "file an internal memo", S.AWAITING_MEMO)
        if requested_reply_by <= now:
            raise InvalidCommand("requested_reply_by must be in the future", field="requested_reply_by")
        staff = self.subject == Subject.STAFF.value
        if staff and addressed_to == Destination.MARKETING_DIRECTOR.value:
            raise InvalidCommand("a staff complaint's memo goes to the supervisor of the person (§5.3.2); the "
                                 "marketing director sees it when the remedy exceeds the supervisor's authority",
                                 field="addressed_to")
        if addressed_to == Destination.MARKETING_DIRECTOR.value and self.track is HandlingTrack.REGIONAL:
            self._classify(meta, HandlingTrack.HEADQUARTERS, crosses_departments,
                           "submitted to the marketing director: crosses departments or exceeds regional "
                           "authority (§5.3.1⑵)")
        self._fact("InternalMemoFiled", meta, memo_id=memo_id, filed_by=meta.actor.user_id,
                   filed_by_role=meta.actor.role.value, addressed_to=addressed_to, subject=self.subject,
                   severity=self.severity, customer=self.customer, description=description,
                   requested_reply_by=requested_reply_by, urgency=urgency, attachments=_json(attachments),
                   crosses_departments=crosses_departments)

    def _require_memo(self, memo_id: UUID) -> dict[str, Any]:
        memo = self.memo
        if memo is None or memo["memo_id"] != str(memo_id):
            current = memo["memo_id"] if memo else "none"
            raise InvalidCommand(f"memo {memo_id} is not the case's current memo ({current})", field="memo_id")
        return memo

    def dispatch_memo(self, meta: EventMeta, memo_id: UUID, destination: str, department: str) -> None:
        self._act(meta.actor, "case.memo.dispatch", "dispatch the memo", S.MEMO_FILED)
        memo = self._require_memo(memo_id)
        staff = self.subject == Subject.STAFF.value
        if staff != (destination == Destination.SUPERVISOR.value):
            raise InvalidCommand("a staff complaint goes to the supervisor of the person complained about, any "
                                 "other to the responsible department", field="destination")
        if self.hidden_from and department.casefold() == self.hidden_from.casefold():
            raise InvalidCommand("the memo cannot go to the person complained about (§5.3.2⑴)", field="department")
        self._fact("InternalMemoDispatched", meta, memo_id=memo_id, dispatched_by=meta.actor.user_id,
                   destination=destination, department=department, description=memo["description"],
                   urgency=memo["urgency"], attachments=memo["attachments"],
                   memo_received_at=memo["filed_at"], requested_reply_by=memo["requested_reply_by"])
        self._milestone(meta, Milestone.UNDER_INVESTIGATION,
                        "Your complaint has been passed to the department responsible, which is investigating.")

    def return_memo(self, meta: EventMeta, memo_id: UUID, missing: list[str], reason: str) -> None:
        self._act(meta.actor, "case.memo.dispatch", "return the memo", S.MEMO_FILED)
        memo = self._require_memo(memo_id)
        self._fact("InternalMemoReturned", meta, memo_id=memo_id, returned_by=meta.actor.user_id,
                   returned_to=memo["filed_by"], missing=missing, reason=reason)

    def record_department_reply(self, meta: EventMeta, matrix: AuthorityMatrix, memo_id: UUID, department: str,
                                reply: str, cause: str, responsible_person: str | None,
                                proposed_remedy: str | None, compensation: Decimal | None, signed_by: Any,
                                attachments: list[Any]) -> None:
        self._act(meta.actor, "case.department.reply", "record the department's reply", S.WITH_DEPARTMENT)
        if self.subject == Subject.STAFF.value:
            raise InvalidCommand("a staff complaint is answered by the supervisor's investigation "
                                 "(POST /complaints/{id}/staff-investigation)", field="memo_id")
        memo = self._require_memo(memo_id)
        signature = _json(signed_by)
        if signature["role"] != Role.RESPONSIBLE_DEPARTMENT.value:
            raise InvalidCommand("the reply is signed by the head of the responsible department "
                                 "(role responsible_department)", field="signed_by.role")
        self._fact("DepartmentReplyReceived", meta, memo_id=memo_id, department=department, reply=reply,
                   cause=cause, responsible_person=responsible_person, proposed_remedy=proposed_remedy,
                   compensation=compensation, signed_by=signature, requested_reply_by=memo["requested_reply_by"],
                   attachments=_json(attachments))
        self._request_approval(meta, matrix, reply, proposed_remedy, compensation)

    def record_staff_investigation(self, meta: EventMeta, matrix: AuthorityMatrix, memo_id: UUID | None,
                                   staff_member: str, substantiated: bool, findings: str, opinion: str,
                                   compensation: Decimal | None, exceeds: bool, direct_superior: str | None) -> None:
        self._act(meta.actor, "case.staff.investigate", "record the staff investigation", S.WITH_DEPARTMENT)
        if self.subject != Subject.STAFF.value:
            raise InvalidCommand("only a staff complaint is investigated by the supervisor", field="staff_member")
        if exceeds and direct_superior is None:
            raise InvalidCommand("name the direct superior, who is informed when it goes to the marketing "
                                 "director (§5.3.2⑶)", field="direct_superior")
        self._fact("StaffComplaintInvestigated", meta, memo_id=memo_id, staff_member=staff_member,
                   supervisor=meta.actor.user_id, substantiated=substantiated, findings=findings, opinion=opinion,
                   compensation=compensation, exceeds_supervisor_authority=exceeds, direct_superior=direct_superior)
        self._request_approval(meta, matrix, opinion, None, compensation)

    def _request_approval(self, meta: EventMeta, matrix: AuthorityMatrix, reply: str, remedy: str | None,
                          compensation: Decimal | None) -> None:
        chain = matrix.chain(self.track or HandlingTrack.REGIONAL, self.serious, self.staff_over_authority)
        self._fact("ApprovalRequested", meta, chain=[level.value for level in chain], next_level=chain[0].value,
                   proposed_reply=reply, remedy=remedy, compensation=compensation)

    def approve(self, meta: EventMeta, matrix: AuthorityMatrix, approved_reply: str, remedy: str | None,
                compensation: Decimal | None, company_cost: Decimal | None) -> None:
        self._act(meta.actor, "case.reply.approve", "approve the reply", S.AWAITING_APPROVAL)
        level = AuthorityLevel(self.next_level)
        matrix.check(meta.actor.role, level, self.subject, self.severity, self.region, compensation, company_cost)
        final = self.chain[-1] == level.value
        self._fact("ReplyApproved", meta, memo_id=UUID(self.memo["memo_id"]) if self.memo else None,
                   approver=meta.actor.user_id, approver_role=meta.actor.role.value, authority_level=level.value,
                   authority_version=matrix.version, approved_reply=approved_reply, remedy=remedy,
                   compensation=compensation, company_cost=company_cost, final=final)

    def reject(self, meta: EventMeta, matrix: AuthorityMatrix, reason: str) -> None:
        self._act(meta.actor, "case.reply.approve", "reject the reply", S.AWAITING_APPROVAL)
        level = AuthorityLevel(self.next_level)
        if meta.actor.role not in c.APPROVER_ROLES[level]:
            raise BeyondAuthority(f"the {level.value} approval is next; {meta.actor.role.value} cannot reject it",
                                  field="actor")
        back_to = (Role.SUPERVISOR if self.subject == Subject.STAFF.value else Role.RESPONSIBLE_DEPARTMENT) \
            if self.memo_dispatched else Role.REGIONAL_MANAGER
        self._fact("ReplyRejected", meta, rejected_by=meta.actor.user_id, rejected_by_role=meta.actor.role.value,
                   authority_level=level.value, reason=reason, returned_to_role=back_to.value)

    def escalate(self, meta: EventMeta, matrix: AuthorityMatrix, reason: str) -> None:
        self._act(meta.actor, "case.reply.approve", "escalate the approval", S.AWAITING_APPROVAL)
        level = AuthorityLevel(self.next_level)
        if meta.actor.role not in c.APPROVER_ROLES[level]:
            raise BeyondAuthority(f"the {level.value} approval is next; {meta.actor.role.value} cannot escalate it",
                                  field="actor")
        up = matrix.above(level)
        if up is None:
            raise DomainError(f"{level.value} is the highest authority: there is no level above", field="state")
        self._fact("ApprovalEscalated", meta, escalated_by=meta.actor.user_id, from_level=level.value,
                   to_level=up.value, reason=reason)

    def reply_to_customer(self, meta: EventMeta, channel: str, reply: str) -> None:
        self._act(meta.actor, "case.customer.reply", "reply to the customer", S.AWAITING_CUSTOMER_REPLY)
        pending = not self.remedy_delivered
        self._fact("CustomerReplied", meta, replied_by=meta.actor.user_id, channel=channel, reply=reply,
                   remedy=self.remedy, compensation=self.compensation, approved_by=self.approved_by or "headquarters",
                   customer=self.customer, remedy_pending=pending)

    def record_remedy(self, meta: EventMeta, remedy: str, delivered_at: datetime, compensation_paid: Decimal | None,
                      reference: str | None, now: datetime) -> None:
        self._act(meta.actor, "case.remedy.record", "record the remedy delivered", S.AWAITING_REMEDY)
        if self.subject == Subject.PRODUCT_QUALITY.value and not self.disputed:
            raise InvalidCommand("a quality case's remedy (replacement, repair, part) is recorded at quality",
                                 field="remedy")
        if delivered_at > now:
            raise InvalidCommand("delivered_at cannot be in the future", field="delivered_at")
        self._fact("RemedyDelivered", meta, delivered_by=meta.actor.user_id, remedy=remedy,
                   delivered_at=delivered_at, compensation_paid=compensation_paid, reference=reference)
        self._milestone(meta, Milestone.REMEDY_DELIVERED, f"The remedy was delivered: {remedy}")

    def record_follow_up(self, meta: EventMeta, max_attempts: int, channel: str, reached: bool,
                         satisfaction: str | None, comments: str | None) -> None:
        self._act(meta.actor, "case.follow_up.record", "record the satisfaction follow-up", S.AWAITING_FOLLOW_UP)
        if reached != (satisfaction is not None):
            raise InvalidCommand("satisfaction is required when the customer was reached, and only then",
                                 field="satisfaction")
        attempt = self.follow_up_attempts + 1
        if reached:
            happy = Satisfaction(satisfaction) in (Satisfaction.VERY_SATISFIED, Satisfaction.SATISFIED,
                                                  Satisfaction.NEUTRAL)
            outcome = FollowUpOutcome.SATISFIED if happy else FollowUpOutcome.NOT_SATISFIED
        else:
            outcome = FollowUpOutcome.UNREACHABLE if attempt >= max_attempts else FollowUpOutcome.NOT_REACHED
        self._fact("SatisfactionFollowUpRecorded", meta, contacted_by=meta.actor.user_id, channel=channel,
                   attempt=attempt, max_attempts=max_attempts, reached_customer=reached, satisfaction=satisfaction,
                   outcome=outcome.value, reopen_offered=outcome is FollowUpOutcome.NOT_SATISFIED, comments=comments)

    def raise_dispute(self, meta: EventMeta, dispute_id: UUID, forum: str, authority_name: str | None,
                      disputed_decision: str, grounds: str) -> None:
        self._act(meta.actor, "case.dispute.raise", "record a dispute",
                  S.AWAITING_REMEDY, S.AWAITING_FOLLOW_UP, S.READY_TO_CLOSE, S.CLOSED)
        if self.kind != RequestKind.COMPLAINT.value or (self.closed and not self.replied):
            raise WrongState("record a dispute", self.case_state, self.meta.form_number,
                             {S.AWAITING_REMEDY, S.AWAITING_FOLLOW_UP, S.READY_TO_CLOSE})
        kind = dispute_kind(self.subject)
        if DisputeForum(forum) not in c.DISPUTE_FORUMS[kind]:
            raise InvalidCommand(f"a {kind.value} dispute goes to "
                                 f"{', '.join(sorted(f.value for f in c.DISPUTE_FORUMS[kind]))} (§5.6)", field="forum")
        if forum != DisputeForum.HEADQUARTERS.value and authority_name is None:
            raise InvalidCommand("name the external authority or the independent body", field="authority_name")
        self._fact("DisputeRaised", meta, dispute_id=dispute_id, dispute_kind=kind.value, forum=forum,
                   authority_name=authority_name, disputed_decision=disputed_decision, grounds=grounds,
                   reopened=self.closed)
        self._milestone(meta, Milestone.DISPUTE_RECEIVED,
                        "We received your objection to the outcome; it will be decided "
                        + ("finally by headquarters." if forum == DisputeForum.HEADQUARTERS.value
                           else f"by {authority_name}, whose result we honour."))

    def rule_dispute(self, meta: EventMeta, dispute_id: UUID, ruled_by: str, outcome: str, ruling: str,
                     remedy: str | None, determination: str | None, responsible_party: str | None,
                     misuse_resolution: str | None = None) -> None:
        self._require("rule on the dispute", S.DISPUTED)
        dispute = self.dispute
        forum = DisputeForum(dispute["forum"])
        action = "case.dispute.rule" if forum is DisputeForum.HEADQUARTERS else "case.dispute.record_result"
        self._act(meta.actor, action, "rule on the dispute" if forum is DisputeForum.HEADQUARTERS
                  else "record the external body's result", S.DISPUTED)
        if dispute["dispute_id"] != str(dispute_id):
            raise InvalidCommand(f"dispute {dispute_id} is not the open dispute ({dispute['dispute_id']})",
                                 field="dispute_id")
        quality = DisputeKind(dispute["kind"]) is DisputeKind.QUALITY_DETERMINATION
        if determination is not None and not quality:
            raise InvalidCommand("a determination is only for a quality dispute", field="determination")
        self._fact("DisputeRuled", meta, dispute_id=dispute_id, dispute_kind=dispute["kind"], forum=forum.value,
                   ruled_by=ruled_by, recorded_by=meta.actor.user_id, outcome=outcome, ruling=ruling, remedy=remedy,
                   final=True, determination=determination,
                   responsible_party=responsible_party, misuse_resolution=misuse_resolution)
        self._milestone(meta, Milestone.DISPUTE_RULED, f"Your objection was decided: {ruling}")

    def close(self, meta: EventMeta, resolution_summary: str, now: datetime) -> None:
        self._act(meta.actor, "case.close", "close the complaint", S.READY_TO_CLOSE)
        if self.handler is None:
            raise DomainError("name the person responsible for handling first", field="handler")
        if not self.cause_given:
            raise DomainError("the handler has not given the cause and the solution", field="cause")
        if self.link_pending:
            raise DomainError("confirm or reject the repeat-complaint link first", field="repeat_link")
        outcome = (ClosureOutcome.RESOLVED_AFTER_DISPUTE if self.disputed
                   else ClosureOutcome.ANSWERED_DIRECTLY if self.answered_directly
                   else ClosureOutcome.UNFOUNDED if self.valid is False
                   else ClosureOutcome.RESOLVED)
        agrees = None if self.follow_up == FollowUpOutcome.UNREACHABLE.value else \
            self.follow_up == FollowUpOutcome.SATISFIED.value
        self._closed(meta=meta, outcome=outcome.value, resolution_summary=resolution_summary, subject=self.subject,
                     severity=self.severity, kind=self.kind, received_at=self.received_at or now,
                     customer_agrees=agrees)
        self._archive(meta, now)
        self._milestone(meta, Milestone.CLOSED, f"Your complaint is closed: {resolution_summary}")

    def _archive(self, meta: EventMeta, now: datetime) -> None:
        archive_ref = f"ARCH-{self.subject}-{self.meta.form_number}"
        self._fact("ComplaintArchived", meta, archived_by=meta.actor.user_id, category=self.subject,
                   archive_ref=archive_ref[:200], documents=list(self.attachments)[:c.ARCHIVE_DOCUMENTS_MAX],
                   decision_trail=list(self.trail) or [{"at": _json(now), "step": "ComplaintClosed",
                                                        "by": meta.actor.user_id, "role": meta.actor.role.value,
                                                        "summary": "closed"}])

    def record_unreasonable_demand(self, meta: EventMeta, demand: str, call_recording_ref: str,
                                   company_position: str, accepted: bool, arbitration: str | None) -> None:
        self._act(meta.actor, "case.unreasonable_demand.record", "record an unreasonable demand", *OPEN)
        if (arbitration is None) != accepted:
            raise InvalidCommand("propose arbitration exactly when the customer refuses the company's position",
                                 field="arbitration_proposed_to")
        self._fact("UnreasonableDemandRecorded", meta, recorded_by=meta.actor.user_id, demand=demand,
                   call_recording_ref=call_recording_ref, company_position=company_position,
                   customer_accepted_position=accepted, arbitration_proposed_to=arbitration)

    def _require_serious(self, step: str) -> None:
        if not (self.serious or self.escalated):
            raise DomainError(f"cannot {step}: complaint {self.meta.form_number} is not serious", field="severity")

    def record_urgent_meeting(self, meta: EventMeta, held_at: datetime, chaired_by: str, attendees: list[str],
                              decisions: str, now: datetime) -> None:
        self._act(meta.actor, "case.serious.manage", "record the urgent meeting", *OPEN)
        self._require_serious("record an urgent meeting")
        if held_at > now:
            raise InvalidCommand("held_at cannot be in the future", field="held_at")
        self._fact("UrgentMeetingHeld", meta, held_at=held_at, chaired_by=chaired_by, attendees=attendees,
                   decisions=decisions)

    def name_negotiator(self, meta: EventMeta, negotiator: str, negotiator_role: str) -> None:
        self._act(meta.actor, "case.serious.manage", "name the negotiator", *OPEN)
        self._require_serious("name a negotiator")
        if negotiator_role in (Role.CUSTOMER.value, Role.SYSTEM.value):
            raise InvalidCommand("the negotiator speaks for the company: a member of staff", field="negotiator_role")
        if self.hidden_from and negotiator.casefold() == self.hidden_from.casefold():
            raise InvalidCommand("the person complained about cannot negotiate with the customer (§5.3.2⑴)",
                                 field="negotiator")
        self._fact("NegotiatorNamed", meta, negotiator=negotiator, negotiator_role=negotiator_role,
                   named_by=meta.actor.user_id)

    def decide_repeat_link(self, meta: EventMeta, confirmed: bool, reason: str | None) -> None:
        self._act(meta.actor, "case.repeat_link.decide", "decide the repeat-complaint link", *OPEN)
        if not self.link_pending:
            raise DomainError(f"complaint {self.meta.form_number} has no repeat link waiting for a decision",
                              field="repeat_link")
        linked = self.repeat_of
        if confirmed:
            self._fact("RepeatLinkConfirmed", meta, linked_to=UUID(linked["complaint_id"]),
                       linked_form_number=linked["form_number"], confirmed_by=meta.actor.user_id)
        else:
            if reason is None:
                raise InvalidCommand("say why the complaints are unrelated", field="reason")
            self._fact("RepeatLinkRejected", meta, linked_to=UUID(linked["complaint_id"]),
                       rejected_by=meta.actor.user_id, reason=reason)

    def note_repeat(self, meta: EventMeta, repeat_id: UUID, repeat_form_number: str, confirmed_by: str) -> None:
        """A later complaint was confirmed as a repeat of this one: both are handled together."""
        if all(r["complaint_id"] != str(repeat_id) for r in self.repeats):
            self._fact("RepeatLinkConfirmed", meta, linked_to=repeat_id, linked_form_number=repeat_form_number,
                       confirmed_by=confirmed_by)

    # --- progress and inboxes ------------------------------------------------------------------

    def _milestone(self, meta: EventMeta, milestone: Milestone, message: str) -> None:
        if self.customer is not None:
            self._fact("ProgressMilestoneReached", meta, milestone=milestone.value, message=message[:2000],
                       customer=self.customer)

    def awaited_actions(self, due: Callable[[DeadlineKind], datetime | None]) -> list[dict[str, Any]]:
        """Who must act now, and by when (`due`: the open deadline of a kind, if any)."""
        if self.destination is None:
            return []
        state = self.case_state
        branch, region = self.branch, self.region
        items: list[tuple[str, Role, str | None, DeadlineKind | None]] = []
        staff = self.subject == Subject.STAFF.value
        match state:
            case S.AWAITING_TRIAGE:
                items.append(("triage", Role.HQ_CLERK, None, None))
            case S.WITH_QUALITY:
                items.append(("on-site-determination", Role.REGIONAL_MANAGER, self.regional_manager,
                              DeadlineKind.ON_SITE_SAMPLING))
            case S.AWAITING_MEMO:
                if self.track is HandlingTrack.REGIONAL and self.handler is not None:
                    items.append(("cause-and-solution", Role.REGIONAL_MANAGER, self.handler,
                                  DeadlineKind.CAUSE_AND_SOLUTION))
                else:
                    items.append(("memo", Role.REGIONAL_MANAGER, None, DeadlineKind.MARKETING_DIRECTOR_REVIEW
                                  if self.track is HandlingTrack.SENIOR_MANAGEMENT else None))
            case S.MEMO_FILED:
                items.append(("memo-dispatch", Role.HQ_CLERK, None, DeadlineKind.MEMO_DISPATCH))
            case S.WITH_DEPARTMENT:
                items.append(("staff-investigation", Role.SUPERVISOR, self.dispatched_to, None) if staff else
                             ("department-reply", Role.RESPONSIBLE_DEPARTMENT, self.dispatched_to,
                              DeadlineKind.DEPARTMENT_REPLY))
            case S.AWAITING_APPROVAL:
                role = sorted(c.APPROVER_ROLES[AuthorityLevel(self.next_level)])[0]
                items.append(("approval", role, None, None))
            case S.AWAITING_CUSTOMER_REPLY:
                items.append(("customer-reply", Role.BRANCH_CLERK, None, DeadlineKind.CUSTOMER_REPLY))
            case S.AWAITING_REMEDY:
                items.append(("remedy", Role.QUALITY_DEPARTMENT if self.subject == Subject.PRODUCT_QUALITY.value
                              and not self.disputed else Role.REGIONAL_MANAGER, None, None))
            case S.AWAITING_FOLLOW_UP:
                items.append(("follow-up", Role.BRANCH_CLERK, None, None))
            case S.READY_TO_CLOSE:
                items.append(("closure", Role.HQ_CLERK, None, None))
            case S.AWAITING_ANSWER:
                items.append(("inquiry-answer", Role.HQ_CLERK, None, DeadlineKind.INQUIRY_ANSWER)
                             if self.kind == RequestKind.INQUIRY.value else
                             ("suggestion-answer", Role.HQ_CLERK, None, None))
            case S.DISPUTED:
                hq = self.dispute and self.dispute["forum"] == DisputeForum.HEADQUARTERS.value
                items.append(("ruling", Role.MARKETING_DIRECTOR if hq else Role.HQ_CLERK, None, None))
        if state is not S.CLOSED and self.kind == RequestKind.COMPLAINT.value:
            if self.handler is None:
                items.append(("handler", Role.HQ_CLERK, None, None))
            if self.serious or self.escalated:
                if not self.meeting_held:
                    items.append(("urgent-meeting", Role.GENERAL_MANAGER, None, None))
                if self.negotiator is None:
                    items.append(("negotiator", Role.GENERAL_MANAGER, None, None))
            if self.link_pending:
                items.append(("repeat-link", Role.HQ_CLERK, None, None))
        out = []
        for step, role, assignee, kind in items:
            scope_branch = branch if role is Role.BRANCH_CLERK else None
            scope_region = region if role in (Role.REGIONAL_MANAGER, Role.SALESPERSON) else None
            out.append({"step": step, "role": role.value, "branch": scope_branch, "region": scope_region,
                        "assignee": assignee, "due_at": _json(due(kind)) if kind else None,
                        "deadline_kind": kind.value if kind else None})
        return out

    def refresh_awaited(self, meta: EventMeta, due: Callable[[DeadlineKind], datetime | None]) -> None:
        """Publish who must act now when it changed since last published."""
        if self.destination is None:
            return
        actions = self.awaited_actions(due)
        if actions != self.awaited or self.case_state.value != self.awaited_state:
            self._fact("ActionsAwaited", meta, state=self.case_state.value, actions=actions,
                       hidden_from=self.hidden_from)


#: Facts that are not steps of the decision trail (inbox and customer notices).
_NOT_DECISIONS = frozenset({"ActionsAwaited", "ProgressMilestoneReached", "ComplaintArchived"})


def _summary(name: str, fact: Any) -> str:
    for field in ("reply", "approved_reply", "ruling", "reason", "opinion", "proposed_solution", "decisions",
                  "note", "remedy", "description", "company_position", "handler", "negotiator"):
        value = getattr(fact, field, None)
        if isinstance(value, str) and value.strip():
            return _clip(f"{name}: {value}", c.TRAIL_SUMMARY_MAX)
    return name


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: The published facts: each a stored event class made from its contract, with the same fields.
FACT_CONTRACTS = (
    c.ComplaintClassified, c.HandlerAssigned, c.CauseAndSolutionProposed, c.QualityCaseTriaged,
    c.InternalMemoFiled, c.InternalMemoReturned, c.InternalMemoDispatched, c.StaffComplaintInvestigated,
    c.DepartmentReplyReceived, c.ApprovalRequested, c.ReplyApproved, c.ReplyRejected, c.ApprovalEscalated,
    c.CustomerReplied, c.RemedyDelivered, c.SatisfactionFollowUpRecorded, c.DisputeRaised, c.DisputeRuled,
    c.UnreasonableDemandRecorded, c.UrgentMeetingHeld, c.NegotiatorNamed, c.RepeatComplaintLinked,
    c.RepeatLinkConfirmed, c.RepeatLinkRejected, c.ActionsAwaited, c.ProgressMilestoneReached, c.ComplaintArchived,
)


FACTS: dict[str, type] = fact_classes(ComplaintCase, FACT_CONTRACTS)
