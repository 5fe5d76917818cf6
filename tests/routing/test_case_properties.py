"""Random sequences of steps on one complaint case (hypothesis, rule-based): people from a small pool in
random roles, random step choices and amounts around the authority limits, applied through
`RoutingApplication.handle` on a fresh in-memory app, with quality's and intake's reactions in between.

After every step: (a) an accepted step leaves the case in a valid state (the invariants below, derived
from the procedure), (b) a refused step wrote nothing and named its field, (c) the case rebuilt from its
stored events is the one the step changed in memory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from hypothesis import HealthCheck, event, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from pydantic import ValidationError

from contracts import routing as c
from contracts.envelope import Actor, Role, ServiceName, Signature, utc_now
from contracts.quality import QualityDecisionApproved, QualityRemedyDelivered
from contracts.registration import ComplaintWithdrawn, InquiryAnswered, SuggestionAnswered
from contracts.routing import APPROVER_ROLES, AuthorityLevel, CaseState, HandlingTrack
from services.common.access import rules as access_rules
from services.common.domain import DomainError
from services.routing.application import RoutingApplication
from services.common.authority import BeyondAuthority
from services.routing.domain.case import ComplaintCase
from services.routing.domain.deadline import deadline_id
from services.routing.policies import default_policy
from tests.common.builders import POPO, customer, determination_recorded, envelope, product, react
from tests.routing.test_case import ACCUSED, CLERK, DEPT, GM, HQ, MD, QD, RM, SUP, register

S = CaseState
L = AuthorityLevel
LEVELS = list(AuthorityLevel)

USERS = ["clerk-li", "hq-zhao", "rm-wang", "rm-xu", "sup-chen", "md-sun", "gm-qian", "dept-liu", "q-li", ACCUSED]
#: Amounts around every limit of the matrix (CNY), and none.
AMOUNTS = [None, "0.00", "999.99", "1000.00", "1000.01", "1999.99", "2000.00", "2000.01", "3000.00", "4999.99",
           "5000.00", "5000.01", "9999.99", "10000.00", "10000.01", "49999.99", "50000.00", "50000.01", "99999.99",
           "100000.00", "100000.01", "250000.00"]
APPROVER = {L.REGIONAL: RM, L.SUPERVISOR: SUP, L.MARKETING_DIRECTOR: MD, L.GENERAL_MANAGER: GM}

#: The action each awaited step needs (the inbox never names a role that may not take its step).
STEP_ACTIONS = {
    "triage": {"case.triage"}, "memo": {"case.memo.file"}, "memo-dispatch": {"case.memo.dispatch"},
    "cause-and-solution": {"case.cause.propose"}, "department-reply": {"case.department.reply"},
    "staff-investigation": {"case.staff.investigate"}, "approval": {"case.reply.approve"},
    "customer-reply": {"case.customer.reply"}, "remedy": {"case.remedy.record"},
    "follow-up": {"case.follow_up.record"}, "closure": {"case.close"},
    "ruling": {"case.dispute.rule", "case.dispute.record_result"}, "handler": {"case.handler.assign"},
    "urgent-meeting": {"case.serious.manage"}, "negotiator": {"case.serious.manage"},
    "repeat-link": {"case.repeat_link.decide"}, "on-site-determination": {"quality.on_site_determination.record"},
    "inquiry-answer": {"inquiry.answer"}, "suggestion-answer": {"suggestion.answer"},
}
#: Steps done outside routing (at quality): the role named acts there, not through a case command.
ELSEWHERE = {("remedy", Role.QUALITY_DEPARTMENT)}


class WatchedRoutingApplication(RoutingApplication):
    """Keeps the case a step changed in memory, to compare with the case rebuilt from the store."""

    live: ComplaintCase | None = None

    def find_case(self, complaint_id: UUID) -> ComplaintCase:
        self.live = super().find_case(complaint_id)
        return self.live


def observable(case: ComplaintCase) -> dict[str, Any]:
    return {
        "state": case.case_state, "chain": list(case.chain), "next_level": case.next_level, "handler": case.handler,
        "trail": len(case.trail), "awaited": case.awaited, "closed": case.closed, "version": case.version,
        "remedy_delivered": case.remedy_delivered, "follow_up_attempts": case.follow_up_attempts,
        "link_pending": case.link_pending, "dispute": case.dispute, "memo": case.memo, "track": case.track,
        "compensation": case.compensation, "disputed": case.disputed, "fingerprints": dict(case.fingerprints),
        "fingerprints": dict(case.fingerprints), "negotiator": case.negotiator, "repeat_of": case.repeat_of,
    }


def name(e: Any) -> str:
    return type(e).__name__


class CaseMachine(RuleBasedStateMachine):
    """One complaint, steps taken on it at random; the invariants hold after every one."""

    # --- the complaint --------------------------------------------------------------------------

    @initialize(subject=st.sampled_from(["policy_service", "staff", "product_quality", "transport_packaging",
                                         "other"]),
                kind=st.sampled_from(["complaint"] * 12 + ["inquiry", "suggestion"]),
                serious=st.sampled_from([None, None, "severity", "external_body"]),
                branch=st.sampled_from(["SH01", "SH01", "XA07"]),
                repeat=st.booleans(), attempts=st.integers(1, 3))
    def open(self, subject: str, kind: str, serious: str | None, branch: str, repeat: bool, attempts: int) -> None:
        self.app = WatchedRoutingApplication(env=dict(POPO), follow_up_attempts=attempts)
        self.app.policy = default_policy()
        fields: dict[str, Any] = {"branch": branch, "kind": kind}
        if serious == "severity" and kind == "complaint":
            fields |= {"severity": "serious", "serious_reasons": ["media"]}
        elif serious == "external_body":
            fields |= {"channel": "external_body", "external_body": "Consumer association"}
        if subject == "staff":
            fields["complained_about"] = ACCUSED
        if subject in ("policy_service", "transport_packaging", "other") and repeat:
            fields["product"] = product()
        if repeat:
            register(self.app, subject, **fields | {"kind": "complaint", "severity": "general",
                                                    "serious_reasons": [], "channel": "phone"})
        self.registered = register(self.app, subject, **fields)
        self.cid = self.registered.complaint_id
        self.subject, self.kind, self.branch = subject, kind, branch
        self.accepted: list[c.ComplaintCommand] = []
        self.refusals = 0
        event(f"opened {subject} {kind} serious={serious}")

    # --- how a step is tried ------------------------------------------------------------------------

    def size(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def case(self) -> ComplaintCase:
        return self.app.repository.get(self.cid)

    def attempt(self, make: Callable[[], c.ComplaintCommand]) -> None:
        try:
            command = make()
        except ValidationError:
            return  # a command its own contract refuses never reaches the case
        before, size = self.case(), self.size()
        try:
            done = self.app.handle(command)
        except DomainError as refused:
            # (b) a refused step names what is wrong and writes nothing
            assert refused.status in (403, 409, 422), refused
            assert refused.field, f"{refused!r} names no field"
            assert self.size() == size and self.case().version == before.version, f"{refused!r} wrote something"
            if isinstance(refused, BeyondAuthority):
                event("refused beyond authority")
            self.refusals += 1
            event(f"refused {refused.status}")
            return
        # (a) accepted: something new was written and the answer says where the case stands
        assert done.created and done.version > before.version and self.size() > size
        stored = self.case()
        assert (done.state, done.version) == (stored.case_state, stored.version)
        # (c) the case rebuilt from its stored events is the one the step changed in memory
        assert self.app.live is not None and self.app.live is not stored
        assert observable(self.app.live) == observable(stored)
        self.accepted.append(command)
        event(f"accepted {type(command).__name__} -> {done.state.value}")

    def command(self, cls: type[c.ComplaintCommand], actor: Actor, **fields: Any) -> None:
        self.attempt(lambda: cls(complaint_id=self.cid, actor=actor, **fields))

    def upstream(self, event_type: type, producer: ServiceName, **fields: Any) -> None:
        size = self.size()
        upstream = event_type(**envelope(producer, complaint_id=self.cid, form_number=self.registered.form_number,
                                         correlation_id=self.registered.correlation_id), **fields)
        react(self.app, self.app.policy, upstream)
        assert self.size() >= size

    # --- random fields ------------------------------------------------------------------------------

    def fields_of(self, data: st.DataObject, cls: type) -> dict[str, Any]:
        case, now = self.case(), utc_now()
        draw = data.draw
        memo_id = draw(st.sampled_from([UUID(case.memo["memo_id"]) if case.memo else uuid4(), uuid4()]))
        dispute_id = draw(st.sampled_from([UUID(case.dispute["dispute_id"]) if case.dispute else uuid4(), uuid4()]))
        amount = st.sampled_from(AMOUNTS)
        if cls is c.AnswerQualityQuestion:
            return dict(answer="Use grade 2 oil", channel="phone")
        if cls is c.DispatchOnSiteVisit:
            return dict(regional_manager=draw(st.sampled_from([None, "rm-wang", "rm-xu"])), note="Samples")
        if cls is c.AssignHandler:
            role = draw(st.sampled_from([Role.REGIONAL_MANAGER, Role.SUPERVISOR, Role.HQ_CLERK]))
            return dict(handler=draw(st.sampled_from(USERS)), handler_role=role)
        if cls is c.ProposeCauseAndSolution:
            valid = draw(st.booleans())
            return dict(cause="Late", cause_category="transport" if valid else "misunderstanding", valid=valid,
                        proposed_solution="Refund", compensation=draw(amount), company_cost=draw(amount))
        if cls is c.FileInternalMemo:
            return dict(memo_id=uuid4(), addressed_to=draw(st.sampled_from(["hq_clerk", "supervisor",
                                                                            "marketing_director"])),
                        description="Details", crosses_departments=draw(st.booleans()),
                        requested_reply_by=now + draw(st.sampled_from([timedelta(days=2), -timedelta(hours=1)])))
        if cls is c.DispatchInternalMemo:
            return dict(memo_id=memo_id, destination=draw(st.sampled_from(["responsible_department", "supervisor"])),
                        department=draw(st.sampled_from(["Logistics", "sup-chen", ACCUSED])))
        if cls is c.ReturnInternalMemo:
            return dict(memo_id=memo_id, missing=["photos"], reason="No photos")
        if cls is c.RecordDepartmentReply:
            role = draw(st.sampled_from([Role.RESPONSIBLE_DEPARTMENT] * 4 + [Role.HQ_CLERK]))
            return dict(memo_id=memo_id, department="Logistics", reply="We refund", cause="Carrier",
                        proposed_remedy=draw(st.sampled_from([None, "Refund"])), compensation=draw(amount),
                        signed_by=Signature(name="Head Liu", role=role, signed_at=now))
        if cls is c.RecordStaffInvestigation:
            exceeds = draw(st.booleans())
            return dict(memo_id=draw(st.sampled_from([memo_id, None])), staff_member=ACCUSED,
                        substantiated=draw(st.booleans()), findings="Rude", opinion="Apologise",
                        compensation=draw(amount), exceeds_supervisor_authority=exceeds,
                        direct_superior=draw(st.sampled_from(["rm-wang", "rm-wang", None])) if exceeds else None)
        if cls is c.ApproveReply:
            return dict(approved_reply="We refund", remedy=draw(st.sampled_from([None, "Refund"])),
                        compensation=draw(st.sampled_from([None] * 4 + AMOUNTS)),
                        company_cost=draw(st.sampled_from([None] * 8 + AMOUNTS)))
        if cls in (c.RejectReply, c.EscalateApproval):
            return dict(reason="Not mine to decide")
        if cls is c.ReplyToCustomer:
            return dict(channel="phone", reply="We refund")
        if cls is c.RecordRemedy:
            return dict(remedy="Refunded", delivered_at=now + draw(st.sampled_from([-timedelta(hours=1)] * 3
                                                                                  + [timedelta(hours=1)])))
        if cls is c.RecordSatisfactionFollowUp:
            reached = draw(st.booleans())
            satisfaction = draw(st.sampled_from(["very_satisfied", "satisfied", "neutral", "dissatisfied",
                                                 "very_dissatisfied"])) if reached else None
            return dict(channel="phone", reached_customer=reached, satisfaction=satisfaction)
        if cls is c.RaiseDispute:
            forum = draw(st.sampled_from(["headquarters", "national_authority", "independent_determination"]))
            return dict(dispute_id=uuid4(), forum=forum, authority_name=draw(st.sampled_from(["SAMR", None])),
                        disputed_decision="The decision", grounds="Unfair")
        if cls is c.RuleDispute:
            quality = self.subject == "product_quality"
            return dict(dispute_id=dispute_id, ruled_by="HQ", outcome=draw(st.sampled_from(
                ["upheld", "partially_upheld", "rejected"])), ruling="Decided",
                remedy=draw(st.sampled_from([None, "Replace"])),
                determination=draw(st.sampled_from([None, "obvious_quality_defect"] if quality else [None] * 3
                                                   + ["obvious_misuse"])),
                responsible_party=draw(st.sampled_from([None, "company"])))
        if cls is c.CloseComplaint:
            return dict(resolution_summary="Done")
        if cls is c.RecordUnreasonableDemand:
            accepted = draw(st.booleans())
            return dict(demand="More", call_recording_ref="REC-1", company_position="No",
                        customer_accepted_position=accepted,
                        arbitration_proposed_to=None if accepted else "consumer_association")
        if cls is c.RecordUrgentMeeting:
            return dict(held_at=now + draw(st.sampled_from([-timedelta(hours=1)] * 3 + [timedelta(hours=1)])),
                        chaired_by="gm-qian", attendees=["md-sun"], decisions="Apologise")
        if cls is c.NameNegotiator:
            return dict(negotiator=draw(st.sampled_from(["md-sun", "gm-qian"])), negotiator_role="marketing_director")
        if cls is c.DecideRepeatLink:
            confirmed = draw(st.booleans())
            return dict(confirmed=confirmed, reason=None if confirmed else "Unrelated")
        raise AssertionError(cls)

    # --- the rules: any step by anyone; the plausible next step; the world around; a repeat ------------

    @rule(data=st.data(), cls=st.sampled_from(sorted(
        [cls for cls in c.__dict__.values() if isinstance(cls, type) and issubclass(cls, c.ComplaintCommand)
         and cls is not c.ComplaintCommand], key=lambda k: k.__name__)),
        user=st.sampled_from(USERS), role=st.sampled_from(list(Role)))
    def anyone_tries_anything(self, data: st.DataObject, cls: type, user: str, role: Role) -> None:
        self.command(cls, Actor(user_id=user, role=role), **self.fields_of(data, cls))

    @rule(data=st.data())
    def the_next_step(self, data: st.DataObject) -> None:
        self._next(data)

    @rule(data=st.data())
    def the_next_step_again(self, data: st.DataObject) -> None:
        self._next(data)

    @rule(data=st.data())
    def the_next_step_once_more(self, data: st.DataObject) -> None:
        self._next(data)

    @rule(data=st.data())
    def and_the_next(self, data: st.DataObject) -> None:
        self._next(data)

    def _next(self, data: st.DataObject) -> None:
        """The step the case waits for, by a person who may take it, with random choices and amounts."""
        case = self.case()
        state, draw = case.case_state, data.draw
        act = lambda cls, actor: self.command(cls, actor, **self.fields_of(data, cls))  # noqa: E731
        if case.kind == "complaint" and not case.closed and draw(st.integers(0, 9)) == 0:
            side = draw(st.sampled_from([c.RecordUnreasonableDemand, c.RecordUrgentMeeting, c.NameNegotiator,
                                         c.DecideRepeatLink, c.AssignHandler]))
            actor = {c.RecordUnreasonableDemand: CLERK, c.RecordUrgentMeeting: GM, c.NameNegotiator: GM,
                     c.DecideRepeatLink: HQ, c.AssignHandler: HQ}[side]
            return act(side, actor)
        match state:
            case S.AWAITING_ANSWER:
                self.intake_answers()
            case S.AWAITING_TRIAGE:
                act(draw(st.sampled_from([c.AnswerQualityQuestion, c.DispatchOnSiteVisit, c.DispatchOnSiteVisit])),
                    HQ)
            case S.WITH_QUALITY:
                self.quality_decides(data)
            case S.AWAITING_MEMO if case.handler is None:
                act(c.AssignHandler, HQ)
            case S.AWAITING_MEMO:
                if case.track is HandlingTrack.REGIONAL and draw(st.booleans()):
                    self.command(c.ProposeCauseAndSolution, Actor(user_id=case.handler, role=Role.REGIONAL_MANAGER),
                                 **self.fields_of(data, c.ProposeCauseAndSolution))
                else:
                    act(c.FileInternalMemo, draw(st.sampled_from([RM, CLERK, HQ])))
            case S.MEMO_FILED:
                act(draw(st.sampled_from([c.DispatchInternalMemo] * 3 + [c.ReturnInternalMemo])), HQ)
            case S.WITH_DEPARTMENT:
                if self.subject == "staff":
                    act(c.RecordStaffInvestigation, SUP)
                else:
                    act(c.RecordDepartmentReply, DEPT)
            case S.AWAITING_APPROVAL:
                step = draw(st.sampled_from([c.ApproveReply] * 4 + [c.RejectReply, c.EscalateApproval]))
                act(step, APPROVER[L(case.next_level)])
            case S.AWAITING_CUSTOMER_REPLY:
                act(c.ReplyToCustomer, draw(st.sampled_from([CLERK, HQ])))
            case S.AWAITING_REMEDY if self.subject == "product_quality" and not case.disputed:
                self.quality_delivers()
            case S.AWAITING_REMEDY:
                act(c.RecordRemedy, draw(st.sampled_from([RM, HQ])))
            case S.AWAITING_FOLLOW_UP:
                act(draw(st.sampled_from([c.RecordSatisfactionFollowUp] * 5 + [c.RaiseDispute])), CLERK)
            case S.READY_TO_CLOSE:
                if case.link_pending:
                    act(c.DecideRepeatLink, HQ)
                else:
                    act(draw(st.sampled_from([c.CloseComplaint] * 5 + [c.RaiseDispute])),
                        HQ)
            case S.DISPUTED:
                hq = case.dispute["forum"] == "headquarters"
                act(c.RuleDispute, draw(st.sampled_from([MD, GM] if hq else [HQ, QD])))
            case S.CLOSED:
                if draw(st.integers(0, 3)) == 0:
                    act(c.RaiseDispute, CLERK)

    def intake_answers(self) -> None:
        received = self.registered.received_at
        if self.kind == "inquiry":
            self.upstream(InquiryAnswered, ServiceName.INTAKE, customer=customer(), question="Oil?", answer="Grade 2",
                          answered_by="hq-zhao", channel="phone", received_at=received,
                          due_at=received + timedelta(hours=24), answered_at=received + timedelta(hours=1))
        else:
            self.upstream(SuggestionAnswered, ServiceName.INTAKE, adopted=True, answer="Thanks",
                          answered_by="hq-zhao", channel="letter", answered_at=utc_now())

    def quality_decides(self, data: st.DataObject) -> None:
        if data.draw(st.booleans()):
            self.upstream(QualityDecisionApproved, ServiceName.QUALITY, adjudication_id=uuid4(), approver="hqrm",
                          approver_role=Role.HQ_REGIONAL_MANAGER, determination="obvious_quality_defect",
                          responsible_party="company", decision="Replace")
        else:
            findings = data.draw(st.sampled_from([
                dict(determination="obvious_misuse", misuse_resolution="fixed_on_site", customer_agrees=True),
                dict(determination="obvious_misuse", misuse_resolution="fixed_on_site", customer_agrees=False),
                dict(determination="obvious_quality_defect"), dict(determination="cannot_be_determined")]))
            react(self.app, self.app.policy, determination_recorded(
                complaint_id=self.cid, form_number=self.registered.form_number, **findings))

    def quality_delivers(self) -> None:
        self.upstream(QualityRemedyDelivered, ServiceName.QUALITY, remedy_kind="replacement_shipped",
                      description="Shipped", delivered_by="q-li", delivered_at=utc_now())

    @precondition(lambda self: self.subject == "product_quality")
    @rule(data=st.data(), which=st.sampled_from(["decision", "remedy"]))
    def quality_reports_at_any_time(self, data: st.DataObject, which: str) -> None:
        """Quality's events may arrive in any state: they act only where they apply."""
        if which == "decision":
            self.quality_decides(data)
        elif not self.case().closed:
            self.quality_delivers()

    @precondition(lambda self: self.accepted)
    @rule(data=st.data())
    def a_command_is_delivered_again(self, data: st.DataObject) -> None:
        """A repeated command id answers the state now and writes nothing."""
        command = data.draw(st.sampled_from(self.accepted))
        size, case = self.size(), self.case()
        done = self.app.handle(command)
        assert not done.created and (done.state, done.version) == (case.case_state, case.version)
        assert self.size() == size

    @precondition(lambda self: self.accepted)
    @rule(data=st.data(), cls=st.sampled_from([c.CloseComplaint, c.RecordUnreasonableDemand, c.AssignHandler]))
    def a_command_id_is_used_again_for_another_step(self, data: st.DataObject, cls: type) -> None:
        """Refused (409, command_id) and nothing written, not taken for a repeat."""
        used = data.draw(st.sampled_from(self.accepted))
        other = cls(complaint_id=self.cid, actor=HQ, command_id=used.command_id, **self.fields_of(data, cls))
        if type(used) is cls:
            return
        size = self.size()
        try:
            self.app.handle(other)
        except DomainError as refused:
            assert (refused.status, refused.field) == (409, "command_id")
        else:
            raise AssertionError("a command id used again for another step was taken")
        assert self.size() == size

    @rule(withdraw=st.integers(0, 49))
    def the_customer_withdraws_rarely(self, withdraw: int) -> None:
        if withdraw == 0 and not self.case().closed:
            self.upstream(ComplaintWithdrawn, ServiceName.INTAKE, reason="Sorted", recorded_by="clerk-li",
                          state_at_withdrawal="registered")
            event("withdrawn")

    # --- (a) invariants --------------------------------------------------------------------------------

    def stored(self) -> list[Any]:
        return list(self.app.events.get(self.cid))

    @invariant()
    def the_case_is_valid(self) -> None:
        case, events = self.case(), self.stored()
        state = case.case_state
        event(f"state {state.value}")
        names = [name(e) for e in events]
        awaited = [e for e in events if name(e) == "ActionsAwaited"]

        # closed exactly when the last closing or reopening fact is a closure; nobody then must act
        closings = [n for n in names if n in ("Closed", "DisputeRaised")]
        assert (state is S.CLOSED) == (bool(closings) and closings[-1] == "Closed") == case.closed
        if awaited:
            assert awaited[-1].state == state.value, "the inbox says where the case stands"
        if state is S.CLOSED:
            assert not awaited or list(awaited[-1].actions) == []
        else:
            # an open case always names who must act, and only roles that may take the step
            assert awaited and list(awaited[-1].actions), f"nobody must act on an open case in {state.value}"
            for action in awaited[-1].actions:
                role = Role(action["role"])
                if (action["step"], role) in ELSEWHERE:
                    continue
                granted = access_rules().roles[role.value].actions
                assert STEP_ACTIONS[action["step"]] & granted, f"{role.value} named for {action['step']}"
        if awaited:  # the inbox is the case's own list now (due times aside: they are the deadlines')
            undated = [{k: v for k, v in a.items() if k != "due_at"} for a in awaited[-1].actions]
            assert undated == [{k: v for k, v in a.items() if k != "due_at"}
                               for a in case.awaited_actions(lambda kind: None)]

        # awaiting approval: the next level is in the chain, the chain in level order
        if state is S.AWAITING_APPROVAL:
            assert case.next_level in case.chain
            assert case.chain == sorted(case.chain, key=[lv.value for lv in LEVELS].index)
            assert len(set(case.chain)) == len(case.chain)

        self.approvals_in_chain_order_and_within_the_matrix(case, events)
        self.no_reply_before_a_decision(events)
        self.closed_only_after_reply_remedy_and_follow_up(events)
        self.a_remedy_owed_is_never_dropped(events)
        self.the_closure_says_how_it_ended(events)
        self.the_person_complained_about_never_acts(case, events)
        if awaited and state is not S.CLOSED:
            self.a_named_deadline_has_its_due_time(case, awaited[-1])
        assert len(case.trail) <= c.TRAIL_MAX

    def approvals_in_chain_order_and_within_the_matrix(self, case: ComplaintCase, events: list[Any]) -> None:
        matrix = self.app.authority
        chain: list[str] = []
        next_level: str | None = None
        for e in events:
            match name(e):
                case "ApprovalRequested":
                    chain, next_level = [str(x) for x in e.chain], str(e.next_level)
                    assert next_level == chain[0]
                case "ApprovalEscalated":
                    assert str(e.from_level) == next_level
                    assert matrix.above(L(e.from_level)) == L(e.to_level)
                    chain = sorted({*chain, str(e.to_level)} - {str(e.from_level)},
                                   key=[lv.value for lv in LEVELS].index)
                    next_level = str(e.to_level)
                case "ReplyRejected":
                    assert str(e.authority_level) == next_level
                    next_level = None
                case "ReplyApproved":
                    level = L(e.authority_level)
                    assert level.value == next_level, f"approved at {level.value}, {next_level} was next"
                    assert Role(e.approver_role) in APPROVER_ROLES[level]
                    assert e.authority_version == matrix.version
                    # never beyond the approver's limits (raises if it were)
                    matrix.check(Role(e.approver_role), level, case.subject, case.severity, case.region,
                                 None if e.compensation is None else Decimal(str(e.compensation)),
                                 None if e.company_cost is None else Decimal(str(e.company_cost)))
                    assert bool(e.final) == (level.value == chain[-1])
                    next_level = None if e.final else chain[chain.index(level.value) + 1]
                    event(f"approved at {level.value} final={e.final}")

    @staticmethod
    def no_reply_before_a_decision(events: list[Any]) -> None:
        """The customer is answered only on a final approval, quality's decision, a direct answer or a
        ruling, once per decision."""
        decided = False
        for e in events:
            n = name(e)
            if (n == "ReplyApproved" and e.final) or n in ("QualityDecisionTaken", "DisputeRuled") or (
                    n == "QualityCaseTriaged" and e.answered_directly):
                decided = True
            elif n in ("ApprovalRequested", "DisputeRaised", "ReplyRejected"):
                decided = False
            elif n == "CustomerReplied":
                assert decided, "the customer was answered before anything was decided"
                decided = False

    def closed_only_after_reply_remedy_and_follow_up(self, events: list[Any]) -> None:
        since = 0
        for i, e in enumerate(events):
            n = name(e)
            if n == "DisputeRaised":
                since = i
            if n != "Closed" or e.outcome == "withdrawn" or e.kind != "complaint":
                continue
            before = events[since:i]
            replies = [j for j, x in enumerate(before) if name(x) == "CustomerReplied"]
            assert replies, "closed without a reply to the customer"
            after = before[replies[-1]:]
            if after[0].remedy_pending:
                assert any(name(x) in ("RemedyDelivered", "QualityRemedyTaken") for x in after), \
                    "closed with the remedy undelivered"
            follow_ups = [x for x in after if name(x) == "SatisfactionFollowUpRecorded"]
            assert follow_ups and follow_ups[-1].outcome in ("satisfied", "not_satisfied", "unreachable")
            assert any(name(x) == "HandlerAssigned" for x in events[:i]), "closed with nobody responsible"
            event(f"closed {e.outcome}")

    @staticmethod
    def a_remedy_owed_is_never_dropped(events: list[Any]) -> None:
        """A remedy the customer was told of stays owed until delivered: through disputes, rulings that
        reject, and replies; the case never closes owing it."""
        owed = False
        for e in events:
            n = name(e)
            if n == "CustomerReplied":
                assert e.remedy_pending or not owed, "a reply forgot the remedy still owed"
                owed = bool(e.remedy_pending)
            elif n in ("RemedyDelivered", "QualityRemedyTaken"):
                owed = False
            elif n == "Closed" and e.outcome != "withdrawn":
                assert not owed, "closed owing the customer a remedy"

    @staticmethod
    def the_closure_says_how_it_ended(events: list[Any]) -> None:
        disputed = answered = False
        valid: bool | None = None
        follow_up: str | None = None
        for e in events:
            match name(e):
                case "DisputeRaised":
                    disputed, follow_up = True, None
                case "QualityCaseTriaged" if e.answered_directly:
                    answered = True
                case "CauseAndSolutionProposed":
                    valid = e.valid
                case "StaffComplaintInvestigated":
                    valid = e.substantiated
                case "SatisfactionFollowUpRecorded":
                    follow_up = e.outcome
                case "Closed" if e.outcome != "withdrawn" and e.kind == "complaint":
                    expected = ("resolved_after_dispute" if disputed else "answered_directly" if answered
                                else "unfounded" if valid is False else "resolved")
                    assert e.outcome == expected, f"closed {e.outcome}, expected {expected}"
                    assert e.customer_agrees == (None if follow_up == "unreachable" else follow_up == "satisfied")

    def a_named_deadline_has_its_due_time(self, case: ComplaintCase, awaited: Any) -> None:
        """A step that names its deadline shows when it is due, unless its one clock per complaint was
        already met by an earlier round (a redo after a rejection, a return or a ruling: a known gap)."""
        for action in awaited.actions:
            if action["deadline_kind"] is None or action["due_at"] is not None:
                continue
            kind = c.DeadlineKind(action["deadline_kind"])
            key = case.memo["memo_id"] if case.memo and kind in (c.DeadlineKind.MEMO_DISPATCH,
                                                                 c.DeadlineKind.DEPARTMENT_REPLY) else None
            try:
                clock = self.app.repository.get(deadline_id(self.cid, kind, key))
            except AggregateNotFoundError:
                raise AssertionError(f"{action['step']} names {kind.value}, which was never set") from None
            assert clock.status in ("met", "cancelled"), f"{action['step']}: {kind.value} is {clock.status}, no due"
            event(f"known gap: {action['step']} redone without a due time")

    @staticmethod
    def the_person_complained_about_never_acts(case: ComplaintCase, events: list[Any]) -> None:
        hidden = case.hidden_from
        if hidden is None:
            return
        for e in events:
            assert e.meta.actor.user_id.casefold() != hidden.casefold(), f"{name(e)} by the person complained about"
            if name(e) == "ActionsAwaited":
                assert e.hidden_from == hidden
        assert (case.handler or "").casefold() != hidden.casefold()
        assert (case.dispatched_to or "").casefold() != hidden.casefold()
        assert (case.negotiator or "").casefold() != hidden.casefold()


CaseMachine.TestCase.settings = settings(
    max_examples=50, stateful_step_count=40, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
TestCaseMachine = CaseMachine.TestCase
