"""Billing (§5.5, §5.4.5): who pays what, and the policy reacting to the on-site determination."""

from __future__ import annotations

import pytest

from contracts.billing import CostAllocated, CostItem, Payer
from contracts.envelope import Actor, ServiceName
from contracts.quality import Determination, MisuseResolution
from contracts.registry import parse_event, serialize_event
from services.billing.application import BillingApplication
from services.billing.domain.rules import Allocation, allocate
from services.billing.policies import billing_policy
from tests.common.builders import twice_in_one_batch, complaint_routed, determination_recorded, in_memory, published, react

TRANSPORT = {CostItem.RETURN_TRANSPORT, CostItem.DELIVERY_TRANSPORT}

ALL_CASES = [
    (Determination.OBVIOUS_QUALITY_DEFECT, None, True),
    (Determination.OBVIOUS_QUALITY_DEFECT, None, False),
    *[(Determination.OBVIOUS_MISUSE, r, w) for r in MisuseResolution for w in (True, False)],
    (Determination.CANNOT_BE_DETERMINED, None, True),
    (Determination.CANNOT_BE_DETERMINED, None, False),
]


def payers(allocation: Allocation) -> dict[CostItem, Payer]:
    items = [line.item for line in allocation.lines]
    assert len(items) == len(set(items)), f"an item is allocated twice: {items}"
    return {line.item: line.payer for line in allocation.lines}


@pytest.mark.parametrize("within_warranty", [True, False])
def test_obvious_quality_defect_company_replaces_and_pays_all_transport(within_warranty: bool) -> None:
    paid = payers(allocate("obvious_quality_defect", None, within_warranty))
    assert paid[CostItem.REPLACEMENT] is Payer.COMPANY
    assert paid[CostItem.RETURN_TRANSPORT] is Payer.COMPANY
    assert paid[CostItem.DELIVERY_TRANSPORT] is Payer.COMPANY
    assert set(paid.values()) == {Payer.COMPANY}


def test_misuse_fixed_on_site_salesperson_fixes_it_nothing_shipped() -> None:
    paid = payers(allocate(Determination.OBVIOUS_MISUSE, MisuseResolution.FIXED_ON_SITE))
    assert paid.get(CostItem.ON_SITE_SERVICE) is Payer.COMPANY
    assert not TRANSPORT & paid.keys()
    assert CostItem.REPLACEMENT not in paid
    assert Payer.TO_BE_DECIDED not in paid.values()


def test_misuse_complex_company_waives_labour_customer_pays_parts_and_transit() -> None:
    paid = payers(allocate("obvious_misuse", "complex_needs_parts"))
    assert paid[CostItem.REPAIR_LABOUR] is Payer.COMPANY
    assert paid[CostItem.PARTS] is Payer.CUSTOMER
    assert paid[CostItem.RETURN_TRANSPORT] is Payer.CUSTOMER
    assert paid[CostItem.DELIVERY_TRANSPORT] is Payer.CUSTOMER
    assert CostItem.REPLACEMENT not in paid


def test_misuse_simple_part_swap_customer_pays_the_part_only() -> None:
    paid = payers(allocate("obvious_misuse", "simple_part_swap"))
    assert paid[CostItem.PARTS] is Payer.CUSTOMER
    assert [item for item, payer in paid.items() if payer is Payer.CUSTOMER] == [CostItem.PARTS]
    assert not TRANSPORT & paid.keys()  # swapped on site: nothing travels
    assert paid.get(CostItem.ON_SITE_SERVICE, Payer.COMPANY) is Payer.COMPANY


@pytest.mark.parametrize("resolution", list(MisuseResolution))
def test_obvious_misuse_never_gives_a_free_replacement(resolution: MisuseResolution) -> None:
    paid = payers(allocate("obvious_misuse", resolution))
    assert CostItem.REPLACEMENT not in paid
    assert Payer.TO_BE_DECIDED not in paid.values()


@pytest.mark.parametrize("within_warranty", [True, False])
def test_cannot_be_determined_return_transport_is_always_the_company_s(within_warranty: bool) -> None:
    paid = payers(allocate("cannot_be_determined", None, within_warranty))
    assert paid[CostItem.RETURN_TRANSPORT] is Payer.COMPANY
    # Other costs follow the quality department's result: not fixed on anyone yet, and no free replacement.
    assert paid[CostItem.PARTS] is not Payer.COMPANY
    assert paid.get(CostItem.DELIVERY_TRANSPORT, Payer.TO_BE_DECIDED) is Payer.TO_BE_DECIDED
    assert CostItem.REPLACEMENT not in paid


def test_cannot_be_determined_labour_free_within_warranty_only() -> None:
    within = payers(allocate("cannot_be_determined", None, within_warranty=True))
    outside = payers(allocate("cannot_be_determined", None, within_warranty=False))
    assert within[CostItem.REPAIR_LABOUR] is Payer.COMPANY
    assert outside[CostItem.REPAIR_LABOUR] is not Payer.COMPANY
    lines = {line.item: line for line in allocate("cannot_be_determined", None, True).lines}
    assert "cost" in (lines[CostItem.PARTS].note or "")  # parts are charged at cost (§5.4.5)


def test_obvious_misuse_requires_a_resolution() -> None:
    with pytest.raises(ValueError, match="misuse_resolution"):
        allocate("obvious_misuse", None)


@pytest.mark.parametrize(("determination", "resolution", "within_warranty"), ALL_CASES)
def test_every_allocation_names_its_rule_and_has_lines(determination, resolution, within_warranty) -> None:
    allocation = allocate(determination, resolution, within_warranty)
    assert "§5.5" in allocation.rule
    assert allocation.lines
    payers(allocation)  # no item twice


# --- the policy ---------------------------------------------------------------------------------

@pytest.fixture
def app() -> BillingApplication:
    return in_memory(BillingApplication)


@pytest.mark.parametrize(("determination", "resolution", "within_warranty"), ALL_CASES)
def test_published_allocation_follows_the_rules(app: BillingApplication, determination, resolution,
                                                within_warranty) -> None:
    upstream = determination_recorded(determination=determination, misuse_resolution=resolution,
                                      within_warranty=within_warranty)
    assert react(app, billing_policy, upstream) == 1

    [allocated] = published(app)
    assert isinstance(allocated, CostAllocated)
    assert allocated.producer is ServiceName.BILLING
    assert allocated.determination is determination
    assert allocated.misuse_resolution == resolution
    expected = allocate(determination, resolution, within_warranty)
    assert allocated.lines == list(expected.lines)
    assert allocated.rule == expected.rule
    assert allocated.currency == "CNY"
    assert (allocated.complaint_id, allocated.form_number) == (upstream.complaint_id, upstream.form_number)
    assert allocated.correlation_id == upstream.correlation_id
    assert allocated.causation_id == upstream.event_id
    assert allocated.actor == Actor.system(ServiceName.BILLING)
    assert parse_event(serialize_event(allocated)) == allocated


def test_allocates_once_per_complaint_even_if_seen_twice(app: BillingApplication) -> None:
    upstream = determination_recorded()
    react(app, billing_policy, upstream)
    assert react(app, billing_policy, upstream, position=99) == 0
    # Even a different determination event for the same complaint does not allocate again.
    later = determination_recorded(complaint_id=upstream.complaint_id, determination="cannot_be_determined")
    assert react(app, billing_policy, later, position=100) == 0
    [allocated] = published(app)
    assert allocated.determination is Determination.OBVIOUS_QUALITY_DEFECT


def test_twice_in_one_batch_allocates_once(app: BillingApplication) -> None:
    assert twice_in_one_batch(app, billing_policy, determination_recorded()) == ["Allocated"]


def test_each_complaint_gets_its_own_allocation(app: BillingApplication) -> None:
    react(app, billing_policy, determination_recorded())
    react(app, billing_policy, determination_recorded())
    assert len({e.complaint_id for e in published(app)}) == 2


def test_other_events_allocate_nothing(app: BillingApplication) -> None:
    assert react(app, billing_policy, complaint_routed()) == 0
    assert published(app) == []
