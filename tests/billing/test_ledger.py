"""The cost ledger (pure, no store): §5.5's table in money through real upstream facts, pending payers
moved when quality decides, compensating entries only, the penalty and goodwill payments."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from uuid import uuid4

import pytest

from contracts.billing import DecisionKind, LedgerItem, Payer
from services.billing.domain.costing import (
    AWAITING_DETERMINATION, COMPANY_BEARS_UNCOVERED, OTHER_COST_COMPANY, ZERO, targets,
)
from services.billing.domain.pricing import default_prices, default_rules
from services.common.authority import BeyondAuthority, level_of, load_authority
from services.common.domain import DomainError, InvalidCommand, NotFound
from tests.billing.events import adjudicated, corrected, on_site, parts, routed, ruled
from tests.billing.ledger_helpers import (
    D, HQ, by_payer, cost, feed, holdings, new_ledger, penalty, pending_names, published_payloads,
)

C, U, S, T = Payer.COMPANY, Payer.CUSTOMER, Payer.SALESPERSON, Payer.TO_BE_DECIDED
SEALS = parts(("GX-200-SEAL", 2))          # 2 x 18.50 at cost = 37.00
RETURN, DELIVERY = ("return_transport", "SF-R1"), ("delivery_transport", "SF-D1")


def with_transport(ledger) -> None:
    cost(ledger, "return_transport", "120.00", "SF-R1")
    cost(ledger, "delivery_transport", "80.00", "SF-D1")


# --- every row of the cost table, with amounts ------------------------------------------------

ROWS = [
    # (on-site determination, misuse resolution, within warranty, quality's outcome, expected holdings)
    ("obvious_quality_defect", None, True, None,
     {("replacement", "GX-200"): (C, D("2560.00")), RETURN: (C, D("120.00")), DELIVERY: (C, D("80.00"))}),
    ("obvious_quality_defect", None, False, None,
     {("replacement", "GX-200"): (C, D("2560.00")), RETURN: (C, D("120.00")), DELIVERY: (C, D("80.00"))}),
    ("obvious_misuse", "fixed_on_site", True, None, {("on_site_service", "on_site_service"): (C, ZERO)}),
    ("obvious_misuse", "complex_needs_parts", True, None,
     {("repair_labour", "repair_labour"): (C, ZERO), ("parts", "GX-200-SEAL"): (U, D("37.00")),
      RETURN: (U, D("120.00")), DELIVERY: (U, D("80.00"))}),
    ("obvious_misuse", "complex_needs_parts", False, None,
     {("repair_labour", "repair_labour"): (C, ZERO), ("parts", "GX-200-SEAL"): (U, D("37.00")),
      RETURN: (U, D("120.00")), DELIVERY: (U, D("80.00"))}),
    ("obvious_misuse", "simple_part_swap", True, None,
     {("parts", "GX-200-SEAL"): (U, D("37.00")), ("on_site_service", "on_site_service"): (C, ZERO)}),
    ("cannot_be_determined", None, True, None,
     {RETURN: (C, D("120.00")), ("repair_labour", "repair_labour"): (C, ZERO),
      ("parts", "GX-200-SEAL"): (T, D("37.00")), DELIVERY: (T, D("80.00"))}),
    ("cannot_be_determined", None, False, None,
     {RETURN: (C, D("120.00")), ("repair_labour", "repair_labour"): (T, ZERO),
      ("parts", "GX-200-SEAL"): (T, D("37.00")), DELIVERY: (T, D("80.00"))}),
    ("cannot_be_determined", None, True, "obvious_quality_defect",
     {RETURN: (C, D("120.00")), ("replacement", "GX-200"): (C, D("2560.00")), DELIVERY: (C, D("80.00"))}),
    ("cannot_be_determined", None, False, "obvious_quality_defect",
     {RETURN: (C, D("120.00")), ("replacement", "GX-200"): (C, D("2560.00")), DELIVERY: (C, D("80.00"))}),
    ("cannot_be_determined", None, True, "obvious_misuse",
     {RETURN: (C, D("120.00")), ("repair_labour", "repair_labour"): (C, ZERO),
      ("parts", "GX-200-SEAL"): (U, D("37.00")), DELIVERY: (U, D("80.00"))}),
    ("cannot_be_determined", None, False, "obvious_misuse",   # 1.5 h at 85.00 = 127.50
     {RETURN: (C, D("120.00")), ("repair_labour", "repair_labour"): (U, D("127.50")),
      ("parts", "GX-200-SEAL"): (U, D("37.00")), DELIVERY: (U, D("80.00"))}),
]


@pytest.mark.parametrize("determination, resolution, within, outcome, expected", ROWS,
                         ids=[f"{r[0]}-{r[1]}-{'within' if r[2] else 'outside'}-{r[3]}" for r in ROWS])
def test_every_row_of_the_cost_table_in_money(determination, resolution, within, outcome, expected) -> None:
    ledger = new_ledger()
    misuse = determination == "obvious_misuse"
    transported = determination != "obvious_misuse" or resolution == "complex_needs_parts"
    feed(ledger, on_site(ledger.id, determination, resolution, within_warranty=within, quantity=2,
                         parts_used=SEALS if misuse and resolution != "fixed_on_site" else
                         (SEALS if determination == "cannot_be_determined" else None)))
    if transported:
        with_transport(ledger)
    if outcome is not None:
        feed(ledger, adjudicated(ledger.id, outcome, within_warranty=within, quantity=2,
                                 labour_hours="1.5" if outcome == "obvious_misuse" else "0",
                                 parts_used=SEALS if outcome == "obvious_misuse" else None,
                                 misuse_resolution="complex_needs_parts" if outcome == "obvious_misuse" else None))
    assert holdings(ledger) == expected
    # one payer per cost item, the total is the sum of the entries and of the payers
    assert ledger.total == sum((e.amount for e in ledger.entries), ZERO) == sum(by_payer(ledger).values(), ZERO)
    assert ledger.total == sum((amount for _, amount in expected.values()), ZERO)
    assert all(e.rules_version == default_rules().version for e in ledger.entries)
    assert all(e.price_list_version == default_prices().version for e in ledger.entries)


def test_every_entry_names_its_rule_its_versions_its_document_and_its_decision() -> None:
    ledger = new_ledger()
    determination = on_site(ledger.id, "obvious_quality_defect", quantity=1)
    feed(ledger, determination)
    command = cost(ledger, "return_transport", "120.00", "SF-R1")
    replacement, transport = ledger.entries
    assert (replacement.item, replacement.rule_id, replacement.amount) == (LedgerItem.REPLACEMENT, "quality_defect",
                                                                           D("1280.00"))
    assert replacement.decision_event_id == determination.event_id
    assert replacement.decision_kind is DecisionKind.ON_SITE_DETERMINATION
    assert replacement.basis == "1 x GX-200 at 1280.00"
    assert (transport.source_document, transport.decision_event_id, transport.decision_kind) == (
        "SF-R1", command, DecisionKind.COST_INCURRED)


# --- decisions that change the outcome ------------------------------------------------------------

def test_pending_amounts_move_to_the_party_found_responsible_by_compensating_entries() -> None:
    ledger = new_ledger()
    feed(ledger, on_site(ledger.id, "cannot_be_determined", parts_used=SEALS))
    with_transport(ledger)
    before = list(ledger.entries)
    assert {payer for payer, _ in holdings(ledger).values()} == {C, T}
    decision = adjudicated(ledger.id, "obvious_misuse", parts_used=SEALS)
    feed(ledger, decision)
    assert ledger.entries[:len(before)] == before, "nothing booked is edited or deleted"
    booked = ledger.entries[len(before):]
    assert all(e.decision_event_id == decision.event_id for e in booked)
    reversals = [e for e in booked if e.reverses is not None]
    by_id = {e.entry_id: e for e in before}
    assert {(by_id[e.reverses].payer, e.amount) for e in reversals} == {(T, D("-37.00")), (T, D("-80.00"))}
    assert all(e.payer is by_id[e.reverses].payer and e.amount == -by_id[e.reverses].amount for e in reversals)
    assert holdings(ledger)[("parts", "GX-200-SEAL")] == (U, D("37.00"))
    assert holdings(ledger)[DELIVERY] == (U, D("80.00"))
    assert holdings(ledger)[RETURN] == (C, D("120.00")), "the return to the company stays the company's"
    assert T not in {payer for payer, _ in holdings(ledger).values()}


def test_revising_twice_to_the_same_outcome_books_nothing_the_second_time() -> None:
    ledger = new_ledger()
    feed(ledger, on_site(ledger.id, "cannot_be_determined", parts_used=SEALS))
    with_transport(ledger)
    feed(ledger, adjudicated(ledger.id, "obvious_quality_defect"))
    entries, events = len(ledger.entries), len(ledger.pending_events)
    feed(ledger, ruled(ledger.id, "obvious_quality_defect"))   # the ruling reaches the same outcome
    assert len(ledger.entries) == entries
    assert pending_names(ledger)[events:] == ["FactNoted"]


def test_the_same_event_delivered_twice_is_noted_once() -> None:
    ledger = new_ledger()
    event = on_site(ledger.id, "obvious_quality_defect")
    assert feed(ledger, event) is True
    count = len(ledger.pending_events)
    assert feed(ledger, event) is False
    assert len(ledger.pending_events) == count


def test_an_adjudication_that_overturns_a_defect_prices_the_misuse() -> None:
    ledger = new_ledger()
    feed(ledger, on_site(ledger.id, "obvious_quality_defect", quantity=1))
    with_transport(ledger)
    assert holdings(ledger)[("replacement", "GX-200")] == (C, D("1280.00"))
    feed(ledger, adjudicated(ledger.id, "obvious_misuse", "complex_needs_parts", "obvious_quality_defect",
                             parts_used=SEALS))
    assert holdings(ledger) == {("repair_labour", "repair_labour"): (C, ZERO), ("parts", "GX-200-SEAL"): (U, D("37.00")),
                                RETURN: (U, D("120.00")), DELIVERY: (U, D("80.00"))}
    [reversal] = [e for e in ledger.entries if e.item is LedgerItem.REPLACEMENT and e.reverses]
    assert reversal.amount == D("-1280.00") and reversal.decision_kind is DecisionKind.QUALITY_ADJUDICATION
    assert ledger.total == D("237.00")


def test_a_dispute_ruling_overrides_the_adjudication_and_the_customer_owes_nothing_again() -> None:
    ledger = new_ledger()
    feed(ledger, on_site(ledger.id, "cannot_be_determined", parts_used=SEALS))
    with_transport(ledger)
    feed(ledger, adjudicated(ledger.id, "obvious_misuse", parts_used=SEALS))
    stated = published_payloads(ledger, "ChargesStated")
    assert [s.amount_owed for s in stated] == [D("117.00")]
    ruling = ruled(ledger.id, "obvious_quality_defect")
    feed(ledger, ruling)
    assert {payer for payer, _ in holdings(ledger).values()} == {C}
    assert holdings(ledger)[("replacement", "GX-200")] == (C, D("1280.00"))
    last = published_payloads(ledger, "ChargesStated")[-1]
    assert (last.amount_owed, last.lines, last.decision_event_id) == (ZERO, [], ruling.event_id)


def test_a_ruling_of_misuse_without_a_resolution_v1_keeps_the_adjudicated_one() -> None:
    ledger = new_ledger()
    feed(ledger, on_site(ledger.id, "obvious_quality_defect"))
    feed(ledger, adjudicated(ledger.id, "obvious_misuse", "simple_part_swap", "obvious_quality_defect",
                             parts_used=SEALS))
    feed(ledger, ruled(ledger.id, "obvious_misuse"))
    assert ledger.rule_id == "misuse_simple_part_swap"


def test_a_corrected_on_site_determination_is_priced_anew() -> None:
    ledger = new_ledger()
    feed(ledger, on_site(ledger.id, "cannot_be_determined"))
    with_transport(ledger)
    feed(ledger, corrected(ledger.id, "cannot_be_determined", "obvious_misuse", "complex_needs_parts",
                           parts_used=SEALS))
    assert holdings(ledger)[RETURN] == (U, D("120.00"))
    assert holdings(ledger)[("parts", "GX-200-SEAL")] == (U, D("37.00"))
    assert ledger.entries[-1].decision_kind is DecisionKind.ON_SITE_CORRECTION


def test_costs_recorded_before_any_determination_wait_with_no_payer() -> None:
    ledger = new_ledger()
    cost(ledger, "return_transport", "120.00", "SF-R1")
    assert holdings(ledger) == {RETURN: (T, D("120.00"))}
    assert ledger.entries[0].rule_id == AWAITING_DETERMINATION
    assert published_payloads(ledger, "ChargesStated") == []
    feed(ledger, on_site(ledger.id, "obvious_quality_defect"))
    assert holdings(ledger)[RETURN] == (C, D("120.00"))


def test_a_cost_the_row_does_not_assign_is_the_company_s() -> None:
    ledger = new_ledger()
    feed(ledger, on_site(ledger.id, "obvious_misuse", "fixed_on_site"))
    cost(ledger, "return_transport", "60.00", "SF-R9")
    cost(ledger, "other", "35.00", "INV-7")
    assert holdings(ledger)[("return_transport", "SF-R9")] == (C, D("60.00"))
    assert holdings(ledger)[("other", "INV-7")] == (C, D("35.00"))
    assert {e.rule_id for e in ledger.entries if e.amount} == {COMPANY_BEARS_UNCOVERED, OTHER_COST_COMPANY}


def test_labour_a_quality_defect_needs_is_the_company_s() -> None:
    ledger = new_ledger()
    feed(ledger, on_site(ledger.id, "cannot_be_determined"))
    feed(ledger, adjudicated(ledger.id, "obvious_quality_defect", labour_hours="2"))
    assert holdings(ledger)[("repair_labour", "repair_labour")] == (C, D("170.00"))
    assert [e.rule_id for e in ledger.entries if e.item is LedgerItem.REPAIR_LABOUR and e.amount] == [
        COMPANY_BEARS_UNCOVERED]


def test_a_model_missing_from_the_price_list_is_listed_not_priced_and_the_rest_is_booked() -> None:
    ledger = new_ledger()
    feed(ledger, on_site(ledger.id, "obvious_quality_defect", model="ZZ-999"))
    cost(ledger, "return_transport", "120.00", "SF-R1")
    assert holdings(ledger) == {RETURN: (C, D("120.00"))}
    assert ledger.unpriced == [f"replacement ZZ-999: not in price list {default_prices().version}"]


def test_a_price_list_change_between_two_complaints_is_named_on_each_entry() -> None:
    old = default_prices()
    new = dataclasses.replace(old, version="2027-01-01.1", products={**old.products, "GX-200": D("1350.00")})
    first, second = new_ledger(), new_ledger()
    feed(first, on_site(first.id, "obvious_quality_defect"), prices=old)
    feed(second, on_site(second.id, "obvious_quality_defect"), prices=new)
    assert [(e.amount, e.price_list_version) for e in first.entries] == [(D("1280.00"), old.version)]
    assert [(e.amount, e.price_list_version) for e in second.entries] == [(D("1350.00"), "2027-01-01.1")]


def test_labour_is_rounded_half_up_at_the_fen() -> None:
    prices = dataclasses.replace(default_prices(), labour={"repair": D("85.55")})
    ledger = new_ledger()
    feed(ledger, on_site(ledger.id, "cannot_be_determined", within_warranty=False), prices=prices)
    feed(ledger, adjudicated(ledger.id, "obvious_misuse", within_warranty=False, labour_hours="0.5"), prices=prices)
    assert holdings(ledger)[("repair_labour", "repair_labour")] == (U, D("42.78"))   # 42.775 half-up


# --- the salesperson's penalty ------------------------------------------------------------------

def negligent_case():
    ledger = new_ledger()
    feed(ledger, on_site(ledger.id, "cannot_be_determined"))
    cost(ledger, "return_transport", "220.50", "SF-R1")
    feed(ledger, adjudicated(ledger.id, "obvious_misuse", negligent=True, degree="high"))
    return ledger


@pytest.mark.parametrize("percent, amount", [("30", D("66.15")), ("45", D("99.23")), ("60", D("132.30"))])
def test_the_penalty_within_30_to_60_percent_of_the_transit_transport(percent: str, amount: Decimal) -> None:
    ledger = negligent_case()
    assert penalty(ledger, percent) == amount          # 220.50 x 45 % = 99.225, half-up 99.23
    assert holdings(ledger)[("salesperson_penalty", "salesperson_penalty")] == (S, amount)
    [charged] = published_payloads(ledger, "PenaltyCharged")
    assert (charged.salesperson, charged.degree, charged.transit_transport_cost) == ("sales-wu", "high", D("220.50"))


@pytest.mark.parametrize("percent", ["29", "29.99", "60.01", "61"])
def test_a_penalty_outside_30_to_60_percent_is_refused_naming_the_rate_and_nothing_is_written(percent: str) -> None:
    ledger = negligent_case()
    count = len(ledger.pending_events)
    with pytest.raises(InvalidCommand) as refused:
        penalty(ledger, percent)
    assert refused.value.field == "penalty_percent"
    assert len(ledger.pending_events) == count


def test_no_penalty_without_the_quality_department_s_negligence_finding() -> None:
    ledger = new_ledger()
    feed(ledger, on_site(ledger.id, "cannot_be_determined"))
    cost(ledger, "return_transport", "220.50", "SF-R1")
    feed(ledger, adjudicated(ledger.id, "obvious_misuse"))
    count = len(ledger.pending_events)
    with pytest.raises(DomainError) as refused:
        penalty(ledger, "45")
    assert refused.value.status == 409 and len(ledger.pending_events) == count


def test_the_penalty_follows_transit_transport_recorded_later_at_the_same_rate() -> None:
    ledger = negligent_case()
    penalty(ledger, "40")                                          # 220.50 x 40 % = 88.20
    cost(ledger, "delivery_transport", "79.50", "SF-D1")           # 300.00 x 40 % = 120.00
    assert holdings(ledger)[("salesperson_penalty", "salesperson_penalty")] == (S, D("120.00"))
    assert [e.amount for e in ledger.entries if e.item is LedgerItem.SALESPERSON_PENALTY] == [
        D("88.20"), D("-88.20"), D("120.00")]


# --- goodwill and compensation payments ----------------------------------------------------------

def proposal(ledger, amount: str):
    command_id, compensation_id = uuid4(), uuid4()
    ledger.propose_compensation(ledger.meta, command_id, "fp", compensation_id, D(amount), "Goodwill", "rm-wang")
    return compensation_id


def approve(ledger, compensation_id, role: str = "regional_manager"):
    command_id = uuid4()
    return ledger.approve_compensation(ledger.meta, command_id, f"fp-{command_id}", compensation_id, "someone", role,
                                       None, load_authority(), level_of(role), "EAST", default_prices(),
                                       default_rules())


def test_a_payment_within_the_approver_s_authority_is_booked_to_the_company() -> None:
    ledger = new_ledger()
    feed(ledger, routed(ledger.id, subject="policy_service"))
    compensation_id = proposal(ledger, "2000.00")     # the regional manager's limit (authority.yaml)
    assert holdings(ledger) == {}, "nothing is booked before approval"
    assert approve(ledger, compensation_id) == D("2000.00")
    assert holdings(ledger) == {("compensation", str(compensation_id)): (C, D("2000.00"))}
    with pytest.raises(DomainError):
        approve(ledger, compensation_id)


def test_a_payment_beyond_the_approver_s_authority_is_refused_naming_the_limit_and_nothing_is_written() -> None:
    ledger = new_ledger()
    feed(ledger, routed(ledger.id, subject="policy_service"))
    compensation_id = proposal(ledger, "2000.01")
    count = len(ledger.pending_events)
    with pytest.raises(BeyondAuthority) as refused:
        approve(ledger, compensation_id)
    assert refused.value.field == "compensation" and "2000.00" in str(refused.value)
    assert "escalate it to supervisor" in str(refused.value)
    assert len(ledger.pending_events) == count
    assert approve(ledger, compensation_id, "marketing_director") == D("2000.01")


def test_an_approval_needs_the_proposal_and_the_complaint_s_subject() -> None:
    ledger = new_ledger()
    with pytest.raises(NotFound):
        approve(ledger, uuid4())
    compensation_id = proposal(ledger, "10.00")
    with pytest.raises(DomainError) as refused:
        approve(ledger, compensation_id)
    assert "subject" in str(refused.value)


# --- what the customer is told -------------------------------------------------------------------

def test_the_customer_is_told_when_the_total_changes_and_not_while_quality_has_not_decided() -> None:
    ledger = new_ledger()
    feed(ledger, on_site(ledger.id, "cannot_be_determined", parts_used=SEALS))
    with_transport(ledger)
    assert published_payloads(ledger, "ChargesStated") == []
    feed(ledger, adjudicated(ledger.id, "obvious_misuse", parts_used=SEALS))
    cost(ledger, "other", "10.00", "INV-1")          # the company's: the customer's total is unchanged
    [stated] = published_payloads(ledger, "ChargesStated")
    assert stated.amount_owed == D("117.00")
    assert {(line.item, line.amount) for line in stated.lines} == {(LedgerItem.PARTS, D("37.00")),
                                                                   (LedgerItem.DELIVERY_TRANSPORT, D("80.00"))}


def test_targets_give_every_cost_exactly_one_payer_from_the_facts_alone() -> None:
    ledger = new_ledger()
    feed(ledger, on_site(ledger.id, "obvious_misuse", "complex_needs_parts", parts_used=SEALS))
    with_transport(ledger)
    target = targets(ledger.facts())
    keys = [(line.item, line.key) for line in target.lines]
    assert len(keys) == len(set(keys))
    assert target.by_payer() == {C: ZERO, U: D("237.00")}
    assert HQ.user_id in {e.recorded_by for e in ledger.pending_events if type(e).__name__ == "CostIncurred"}
