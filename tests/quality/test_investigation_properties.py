"""Random step sequences on one investigation (hypothesis, rule-based): any step, by any role, in any
order, with costs around the authority limits. After every step: a refused step wrote nothing and
named its field; an accepted one wrote exactly one fact; the approval is never undone; the chain's
order holds (no approval before filing, no adjudication before forwarding and receipt, no decision
before adjudication, no remedy before a decision or an on-site settlement)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from contracts.envelope import Actor
from services.common.domain import DomainError
from tests.common.builders import MANAGER
from tests.quality.chain import CLERK, GM, HQ, HQRM, MD, OTHER_MANAGER, QA, Chain

#: Mostly the person whose step it is (None), sometimes anyone else.
ACTORS = st.sampled_from([None] * 6 + [MANAGER, OTHER_MANAGER, CLERK, MD, GM, HQRM, HQ, QA])
DETERMINATIONS = st.sampled_from(["obvious_quality_defect", "obvious_misuse", "cannot_be_determined"])
COSTS = st.sampled_from(["0.00", "1800.00", "1800.00", "1800.00", "19999.99", "20000.00", "20000.01", "100000.00",
                         "100000.01"])


class Investigation(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain = Chain()
        self.approved_once = False
        self.refusals = 0

    def attempt(self, step: Any) -> None:
        before = self.chain.stored()
        version = self.chain.investigation.version
        try:
            step()
        except DomainError as e:
            assert e.field, f"a refusal names its field: {e}"
            assert self.chain.stored() == before, "a refused step writes nothing"
            assert self.chain.investigation.version == version
            self.refusals += 1
        except ValueError:  # a command the contract refuses (pydantic): never reaches the store
            assert self.chain.stored() == before
        else:
            assert self.chain.stored() == before + 1, "one fact per accepted step"

    @rule(actor=ACTORS, determination=DETERMINATIONS, photo=st.sampled_from([True, True, True, False]),
          agrees=st.booleans(),
          resolution=st.sampled_from(["fixed_on_site", "simple_part_swap", "complex_needs_parts"]))
    def determine(self, actor: Actor, determination: str, photo: bool, agrees: bool, resolution: str) -> None:
        actor = actor or MANAGER
        misuse = determination == "obvious_misuse"
        self.attempt(lambda: self.chain.determine(
            actor, determination=determination, misuse_resolution=resolution if misuse else None,
            customer_agrees=agrees, evidence=[self.chain.photo] if photo else [self.chain.scan]))

    @rule(actor=ACTORS, determination=DETERMINATIONS, photo=st.booleans())
    def correct(self, actor: Actor, determination: str, photo: bool) -> None:
        actor = actor or MANAGER
        misuse = determination == "obvious_misuse"
        self.attempt(lambda: self.chain.correct(actor, determination=determination,
                                                misuse_resolution="complex_needs_parts" if misuse else None,
                                                evidence=[self.chain.photo] if photo else []))

    @rule(actor=ACTORS, cost=COSTS, return_proposed=st.booleans())
    def file(self, actor: Actor, cost: str, return_proposed: bool) -> None:
        actor = actor or MANAGER
        determination = self.chain.investigation.determination or "obvious_quality_defect"
        self.attempt(lambda: self.chain.file(actor, estimated_company_cost=cost, return_proposed=return_proposed,
                                             determination=determination))

    @rule(actor=ACTORS, stage=st.sampled_from(["marketing_director", "hq_regional_manager"]),
          back=st.sampled_from([True, True, False]))
    def approve_form(self, actor: Actor, stage: str, back: bool) -> None:
        actor = actor or (MD if stage == "marketing_director" else HQRM)
        self.attempt(lambda: self.chain.approve_form(
            actor, stage, product_return=back if stage == "hq_regional_manager" else None))

    @rule(actor=ACTORS, hq=st.booleans(), now=st.integers(0, 3))
    def reject_form(self, actor: Actor, hq: bool, now: int) -> None:
        if now == 0:  # now and then: a rejection sends the form back
            actor = actor or (HQRM if hq else MD)
            self.attempt(lambda: self.chain.reject_form(actor))

    @rule(actor=ACTORS, forward=st.sampled_from([True, True, True, False]))
    def hq_clerk(self, actor: Actor, forward: bool) -> None:
        actor = actor or HQ
        self.attempt(lambda: self.chain.forward(actor) if forward else self.chain.return_form(["photos"], actor))

    @rule(actor=ACTORS, which=st.sampled_from(["request", "ship", "receive"]))
    def shipment(self, actor: Actor, which: str) -> None:
        actor = actor or (QA if which == "receive" else MANAGER)
        self.attempt(lambda: getattr(self.chain, {"request": "request_return", "ship": "ship",
                                                  "receive": "receive"}[which])(actor))

    @rule(actor=ACTORS, misuse=st.booleans(), negligent=st.booleans())
    def adjudicate(self, actor: Actor, misuse: bool, negligent: bool) -> None:
        actor = actor or QA
        fields: dict[str, Any] = dict(determination="obvious_misuse", misuse_resolution="complex_needs_parts",
                                      responsible_party="customer") if misuse else {}
        if negligent:
            fields |= dict(salesperson="Sales Wu", salesperson_negligent=True, negligence_degree="high")
        from uuid import uuid4
        if self.chain.investigation.adjudication and self.chain.investigation.adjudication.get("rejected"):
            self.chain.adjudication_id = uuid4()
        self.attempt(lambda: self.chain.adjudicate(actor, **fields))

    @rule(actor=ACTORS, cost=COSTS, approve=st.booleans())
    def second_approval(self, actor: Actor, cost: str, approve: bool) -> None:
        actor = actor or HQRM
        self.attempt(lambda: self.chain.approve_decision(actor, company_cost=cost) if approve
                     else self.chain.reject_decision(actor))

    @rule(actor=ACTORS, kind=st.sampled_from(["replacement_shipped", "repair_done", "part_swapped", "fixed_on_site"]))
    def remedy(self, actor: Actor, kind: str) -> None:
        actor = actor or QA
        self.attempt(lambda: self.chain.remedy(actor, remedy_kind=kind))

    @rule(negligent=st.booleans(), misuse=st.booleans())
    def advance(self, negligent: bool, misuse: bool) -> None:
        """The next step of the procedure, by the person whose step it is (so that deep states are reached)."""
        i, c = self.chain.investigation, self.chain
        form = i.form or {}
        ret = i.product_return or {}
        next_step = {
            "awaiting_determination": lambda: self.determine(None, "cannot_be_determined", True, False, "fixed_on_site"),
            "determined": lambda: self.file(None, "1800.00", True),
            "form_filed": lambda: self.approve_form(None, "marketing_director", True),
            "form_rejected": lambda: self.file(None, "1800.00", True),
            "form_returned": lambda: self.file(None, "1800.00", False),
            "form_marketing_approved": lambda: self.approve_form(None, "hq_regional_manager", True),
            "form_approved": lambda: self.hq_clerk(None, True),
            "form_forwarded": lambda: (self.shipment(None, "request") if form.get("product_return")
                                       else self.adjudicate(None, misuse, negligent)),
            "return_requested": lambda: self.shipment(None, "ship"),
            "return_shipped": lambda: self.shipment(None, "receive"),
            "return_received": lambda: self.adjudicate(None, misuse, negligent),
            "adjudication_rejected": lambda: self.adjudicate(None, misuse, negligent),
            "adjudicated": lambda: self.second_approval(None, "1800.00", True),
            "decision_approved": lambda: self.remedy(None, "replacement_shipped"),
        }.get(i.stage)
        del c, ret
        if next_step is not None:
            next_step()

    @invariant()
    def the_chain_keeps_its_order(self) -> None:
        i = self.chain.investigation
        if i.determination_approved:
            self.approved_once = True
        assert i.determination_approved == self.approved_once, "an approval is never undone"
        if i.form is not None:
            assert i.inspector is not None, "no form before the on-site determination"
            assert i.determination != "obvious_misuse" or i.adjudication is not None or i.form["state"] in (
                "rejected", "returned", "filed"), "no form for misuse goes ahead"
        if i.form and i.form["approvals"]:
            assert i.form["approvals"][0]["stage"] == "marketing_director"
        if i.adjudications:
            assert i.form is not None and i.form["state"] == "forwarded"
            if i.form["product_return"]:
                assert i.product_return is not None and i.product_return["state"] == "received"
        if i.decision is not None:
            assert i.adjudication is not None and not i.adjudication["rejected"]
            assert i.decision["adjudication_id"] == i.adjudication["adjudication_id"]
        if i.remedies:
            assert i.decision is not None or i.settled_on_site
        if i.inspector is not None:
            assert i.inspector == MANAGER.user_id or i.inspector == OTHER_MANAGER.user_id

TestInvestigation = Investigation.TestCase
TestInvestigation.settings = settings(max_examples=60, stateful_step_count=30, deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow])
