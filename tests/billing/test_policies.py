"""Billing's application over the in-memory store, reacting to real contract events the way the
consumer does: what it stores and publishes, redeliveries, commands idempotent by command_id, and
allocations stored before the ledger loading into it."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from contracts.billing import (
    ApproveCompensation, ChargeSalespersonPenalty, CostAllocated, CostEntriesBooked, CostItem, CostLine,
    CustomerChargesStated, Payer, ProposeCompensation, RecordCost, SalespersonPenaltyCharged,
)
from contracts.envelope import Actor, Role, ServiceName
from contracts.registry import parse_event, serialize_event
from services.billing.application import BillingApplication, ledger_view
from services.billing.domain.ledger import CostLedger
from services.billing.policies import billing_policy
from services.common.authority import BeyondAuthority
from services.common.domain import DomainError, EventMeta, NotFound
from tests.billing.events import adjudicated, on_site, parts, routed, ruled
from tests.common.builders import in_memory, published, react, stored_events, twice_in_one_batch

D = Decimal
HQ = Actor(user_id="hq-clerk-zhou", role=Role.HQ_CLERK)
DIRECTOR = Actor(user_id="md-chen", role=Role.MARKETING_DIRECTOR)
MANAGER = Actor(user_id="rm-wang", role=Role.REGIONAL_MANAGER, branch="SH01")


@pytest.fixture
def app() -> BillingApplication:
    return in_memory(BillingApplication)


def of_type(app: BillingApplication, cls: type) -> list:
    return [e for e in published(app) if isinstance(e, cls)]


def record(app: BillingApplication, complaint_id: UUID, item: str, amount: str, document: str | None,
           command_id: UUID | None = None, **overrides):
    command = RecordCost(command_id=command_id or uuid4(), complaint_id=complaint_id, actor=HQ, cost_id=uuid4(),
                         item=item, amount=D(amount), incurred_on=date(2026, 11, 26), source_document=document,
                         recorded_by=HQ.user_id, **overrides)
    return app.record_cost(command), command


def test_a_quality_defect_is_published_in_money_and_every_message_keeps_its_contract(app) -> None:
    complaint_id = uuid4()
    react(app, billing_policy, routed(complaint_id))
    assert published(app) == [], "the routing is noted, nothing to say yet"
    react(app, billing_policy, on_site(complaint_id, "obvious_quality_defect", quantity=2))
    record(app, complaint_id, "return_transport", "120.00", "SF-R1")
    messages = published(app)
    assert [m.event_type for m in messages] == ["CostAllocated", "CostEntriesBooked", "CustomerChargesStated",
                                                "CostRecorded", "CostEntriesBooked"]
    for message in messages:
        assert parse_event(serialize_event(message)) == message
    allocated = messages[0]
    assert {(line.item, line.payer, line.amount) for line in allocated.lines} == {
        (CostItem.REPLACEMENT, Payer.COMPANY, D("2560.00")), (CostItem.RETURN_TRANSPORT, Payer.COMPANY, None),
        (CostItem.DELIVERY_TRANSPORT, Payer.COMPANY, None)}
    booked = of_type(app, CostEntriesBooked)
    assert [(e.item.value, e.payer, e.amount) for b in booked for e in b.entries] == [
        ("replacement", Payer.COMPANY, D("2560.00")), ("return_transport", Payer.COMPANY, D("120.00"))]
    assert booked[-1].ledger_total == D("2680.00")
    [stated] = of_type(app, CustomerChargesStated)
    assert stated.amount_owed == D("0.00") and stated.price_list_version == app.prices.version


def test_a_redelivered_event_books_nothing_and_a_duplicate_in_one_batch_is_noted_once(app) -> None:
    complaint_id = uuid4()
    event = on_site(complaint_id, "cannot_be_determined")
    assert react(app, billing_policy, event) > 0
    assert react(app, billing_policy, event) == 0      # at a new position: the aggregate knows the event id
    adjudication = adjudicated(complaint_id, "obvious_quality_defect")
    assert twice_in_one_batch(app, billing_policy, adjudication).count("FactNoted") == 1


def test_undetermined_then_misuse_moves_the_pending_amounts_to_the_customer(app) -> None:
    complaint_id = uuid4()
    react(app, billing_policy, on_site(complaint_id, "cannot_be_determined", within_warranty=False,
                                       parts_used=parts(("GX-200-SEAL", 2))))
    record(app, complaint_id, "return_transport", "120.00", "SF-R1")
    record(app, complaint_id, "delivery_transport", "80.00", "SF-D1")
    assert of_type(app, CustomerChargesStated) == [], "nobody is told while quality has not decided"
    decision = adjudicated(complaint_id, "obvious_misuse", within_warranty=False, labour_hours="2",
                           parts_used=parts(("GX-200-SEAL", 2)))
    react(app, billing_policy, decision)
    last = of_type(app, CostEntriesBooked)[-1]
    assert last.decision_event_id == decision.event_id and last.rule_id == "undetermined_found_misuse_outside_warranty"
    assert sorted((e.item.value, e.payer.value, e.amount) for e in last.entries) == sorted([
        ("parts", "to_be_decided", D("-37.00")), ("parts", "customer", D("37.00")),
        ("delivery_transport", "to_be_decided", D("-80.00")), ("delivery_transport", "customer", D("80.00")),
        ("repair_labour", "to_be_decided", D("0.00")), ("repair_labour", "customer", D("170.00"))])
    [stated] = of_type(app, CustomerChargesStated)
    assert stated.amount_owed == D("287.00") and stated.decision_event_id == decision.event_id
    view = ledger_view(app.ledger(complaint_id))
    assert view["by_payer"] == {"company": D("120.00"), "customer": D("287.00"), "to_be_decided": D("0.00")}
    assert view["total"] == sum((e.amount for e in view["entries"]), D(0)) == D("407.00")
    assert view["transport"]["total"] == D("200.00") and view["pending"] == D("0.00")


def test_a_ruling_without_a_determination_is_not_a_cost_decision(app) -> None:
    complaint_id = uuid4()
    react(app, billing_policy, on_site(complaint_id, "obvious_quality_defect"))
    before = len(stored_events(app))
    event = ruled(complaint_id, "obvious_quality_defect").model_copy(update={"determination": None})
    assert react(app, billing_policy, event) == 0
    assert len(stored_events(app)) == before


def test_the_negligent_salesperson_is_charged_the_rate_of_the_transit_transport(app) -> None:
    complaint_id = uuid4()
    react(app, billing_policy, on_site(complaint_id, "cannot_be_determined"))
    record(app, complaint_id, "return_transport", "150.00", "SF-R1")
    record(app, complaint_id, "delivery_transport", "70.50", "SF-D1")
    react(app, billing_policy, adjudicated(complaint_id, "obvious_misuse", negligent=True, degree="high"))
    command = ChargeSalespersonPenalty(complaint_id=complaint_id, actor=DIRECTOR, penalty_percent=D("45"),
                                       approved_by=DIRECTOR.user_id)
    done = app.charge_penalty(command)
    assert done.amount == D("99.23")                       # 220.50 x 45 % = 99.225, half-up
    [charged] = of_type(app, SalespersonPenaltyCharged)
    assert (charged.salesperson, charged.degree.value, charged.transit_transport_cost, charged.amount) == (
        "sales-wu", "high", D("220.50"), D("99.23"))
    assert ledger_view(app.ledger(complaint_id))["by_payer"]["salesperson"] == D("99.23")
    events = len(stored_events(app))
    assert app.charge_penalty(command).created is False     # the same command again: nothing written
    assert len(stored_events(app)) == events
    with pytest.raises(DomainError) as refused:
        app.charge_penalty(command.model_copy(update={"penalty_percent": D("50")}))
    assert refused.value.field == "command_id"


def test_a_cost_command_repeated_returns_the_first_result_and_another_under_its_id_is_409(app) -> None:
    complaint_id = uuid4()
    react(app, billing_policy, on_site(complaint_id, "obvious_quality_defect"))
    done, command = record(app, complaint_id, "return_transport", "120.00", "SF-R1")
    events = len(stored_events(app))
    assert app.record_cost(command).created is False and len(stored_events(app)) == events
    with pytest.raises(DomainError) as refused:
        app.record_cost(command.model_copy(update={"amount": D("121.00")}))
    assert refused.value.field == "command_id" and len(stored_events(app)) == events


def test_a_complaint_outside_the_caller_s_scope_is_not_found(app) -> None:
    complaint_id = uuid4()
    react(app, billing_policy, on_site(complaint_id, "obvious_quality_defect"))
    with pytest.raises(NotFound):
        app.ledger(complaint_id, lambda branch: branch == "BJ02")
    with pytest.raises(NotFound):
        app.ledger(uuid4())


def test_goodwill_is_approved_against_the_complaint_s_subject_severity_and_region(app) -> None:
    complaint_id = uuid4()
    react(app, billing_policy, routed(complaint_id, subject="product_quality", severity="general"))
    proposal = ProposeCompensation(complaint_id=complaint_id, actor=MANAGER, compensation_id=uuid4(),
                                   amount=D("3000.01"), reason="Second visit", proposed_by=MANAGER.user_id)
    app.propose_compensation(proposal)
    approval = dict(complaint_id=complaint_id, compensation_id=proposal.compensation_id)
    events = len(stored_events(app))
    with pytest.raises(BeyondAuthority) as refused:     # the HQ regional manager's limit: 3000.00
        app.approve_compensation(ApproveCompensation(actor=Actor(user_id="hqrm-liu", role=Role.HQ_REGIONAL_MANAGER),
                                                     approver="hqrm-liu", approver_role="hq_regional_manager",
                                                     **approval))
    assert "3000.00" in str(refused.value) and len(stored_events(app)) == events
    app.approve_compensation(ApproveCompensation(actor=DIRECTOR, approver=DIRECTOR.user_id,
                                                 approver_role="marketing_director", **approval))
    assert [(e.event_type, e.amount) for e in published(app) if e.event_type.startswith("Compensation")] == [
        ("CompensationProposed", D("3000.01")), ("CompensationApproved", D("3000.01"))]
    assert ledger_view(app.ledger(complaint_id))["by_item"] == {"compensation": D("3000.01")}


LEGACY_AGGREGATE = "services.billing.domain.allocation:CostAllocation"
LEGACY_EVENT = f"{LEGACY_AGGREGATE}.Allocated"


def store_legacy_allocation(app: BillingApplication, complaint_id: UUID, determination: str,
                            lines: list[CostLine]) -> None:
    """A store written before the ledger: one `CostAllocation.Allocated`, under the old topics."""
    meta = EventMeta(complaint_id=complaint_id, form_number="SH01-20261125-0001", correlation_id=uuid4(),
                     causation_id=uuid4(), actor=Actor.system(ServiceName.BILLING))
    event = CostLedger.LegacyAllocated(
        originator_id=complaint_id, originator_version=1, timestamp=datetime(2026, 11, 20, tzinfo=timezone.utc),
        originator_topic=LEGACY_AGGREGATE, meta=meta, determination=determination, misuse_resolution=None,
        rule="§5.5 cannot be determined", lines=lines)
    stored = app.mapper.to_stored_event(event)
    app.recorder.insert_events([dataclasses.replace(stored, topic=LEGACY_EVENT)])


def test_an_allocation_stored_before_the_ledger_loads_into_it_and_is_priced_on_the_next_fact(app) -> None:
    complaint_id = uuid4()
    store_legacy_allocation(app, complaint_id, "cannot_be_determined", [
        CostLine(item=CostItem.RETURN_TRANSPORT, payer=Payer.COMPANY),
        CostLine(item=CostItem.REPAIR_LABOUR, payer=Payer.TO_BE_DECIDED)])
    [old] = published(app)
    assert isinstance(old, CostAllocated) and old.determination.value == "cannot_be_determined"
    ledger = app.ledger(complaint_id)
    assert isinstance(ledger, CostLedger) and ledger.on_site["within_warranty"] is False
    react(app, billing_policy, adjudicated(complaint_id, "obvious_misuse", within_warranty=False, labour_hours="1"))
    assert {(e.item.value, e.payer.value, e.amount) for e in app.ledger(complaint_id).entries} == {
        ("repair_labour", "customer", D("85.00"))}
    assert of_type(app, CustomerChargesStated)[-1].amount_owed == D("85.00")
