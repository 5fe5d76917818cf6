"""Properties of billing's money core: every cost item to exactly one payer, totals that add up."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from hypothesis import given, strategies as st

from contracts.billing import PENALTY_PERCENT_MAX, PENALTY_PERCENT_MIN, CostItem, Payer, penalty_amount
from contracts.quality import Determination, MisuseResolution
from services.billing.domain.money import FEN, cny
from services.billing.domain.pricing import (
    PenaltyRateError, default_prices, default_rules, price, salesperson_penalty,
)

PRICES = default_prices()
money = st.decimals(min_value=0, max_value=D("99999.99"), places=2)
transport_leg = st.sampled_from([CostItem.RETURN_TRANSPORT, CostItem.DELIVERY_TRANSPORT])


@st.composite
def cases(draw: st.DrawFn) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A case of any row of the table, with only the inputs its row can bear."""
    determination = draw(st.sampled_from(Determination))
    resolution = draw(st.sampled_from(MisuseResolution)) if determination is Determination.OBVIOUS_MISUSE else None
    outcome = draw(st.sampled_from([None, Determination.OBVIOUS_QUALITY_DEFECT, Determination.OBVIOUS_MISUSE])) \
        if determination is Determination.CANNOT_BE_DETERMINED else None
    within = draw(st.booleans())
    row = next(r for r in default_rules().rows
               if r.applies((determination, resolution, outcome.value if outcome else "pending"
                             if determination is Determination.CANNOT_BE_DETERMINED else None), within))
    items = {line.item for line in row.lines}
    inputs: dict[str, Any] = dict(model=draw(st.sampled_from(sorted(PRICES.products))),
                                  quantity=draw(st.integers(1, 50)), quality_outcome=outcome)
    if CostItem.PARTS in items:
        inputs["parts"] = draw(st.lists(st.tuples(st.sampled_from(sorted(PRICES.parts)), st.integers(1, 20)),
                                        max_size=5))
    if CostItem.REPAIR_LABOUR in items:
        inputs["labour_hours"] = draw(st.decimals(min_value=0, max_value=200, places=3))
    legs = [leg for leg in (CostItem.RETURN_TRANSPORT, CostItem.DELIVERY_TRANSPORT) if leg in items]
    if legs:
        inputs["transport_incurred"] = draw(st.lists(
            st.tuples(st.sampled_from(legs), money, st.from_regex(r"WB-[0-9]{1,6}", fullmatch=True)), max_size=4))
    return (determination, resolution, within), inputs


@given(cases())
def test_every_cost_item_goes_to_exactly_one_payer(case: tuple[tuple[Any, ...], dict[str, Any]]) -> None:
    args, inputs = case
    priced = price(*args, **inputs)
    payers: dict[CostItem, set[Payer]] = {}
    for line in priced.lines:
        payers.setdefault(line.item, set()).add(line.payer)
    assert all(len(paid) == 1 for paid in payers.values()), payers
    row = next(r for r in default_rules().rows if r.id == priced.rule_id)
    assert {item: paid.pop() for item, paid in payers.items()} == {line.item: line.payer for line in row.lines}


@given(cases())
def test_totals_equal_the_sum_of_the_lines_to_the_fen(case: tuple[tuple[Any, ...], dict[str, Any]]) -> None:
    args, inputs = case
    priced = price(*args, **inputs)
    assert all(line.amount == line.amount.quantize(FEN) and line.amount >= 0 for line in priced.lines)
    assert priced.total == sum((line.amount for line in priced.lines), D(0))
    assert sum(priced.by_payer().values(), D(0)) == priced.total
    assert {(line.rule_id, line.price_list_version) for line in priced.lines} == {(priced.rule_id, PRICES.version)}


@given(cases())
def test_transport_incurred_is_charged_whole_with_its_waybill(case: tuple[tuple[Any, ...], dict[str, Any]]) -> None:
    args, inputs = case
    priced = price(*args, **inputs)
    incurred = inputs.get("transport_incurred", [])
    charged = [line for line in priced.lines if line.source_document is not None]
    assert [(line.item, line.amount, line.source_document) for line in charged] == \
        sorted(incurred, key=lambda t: [line.item for line in priced.lines].index(t[0]))
    if args[0] is not Determination.OBVIOUS_MISUSE:
        assert all(line.payer is Payer.COMPANY for line in priced.lines if line.item is CostItem.RETURN_TRANSPORT)


@given(money, st.decimals(min_value=0, max_value=100, places=2))
def test_penalty_only_within_30_to_60_percent(transit: D, rate: D) -> None:
    if PENALTY_PERCENT_MIN <= rate <= PENALTY_PERCENT_MAX:
        amount = salesperson_penalty(transit, rate)
        assert amount == penalty_amount(transit, rate)
        assert cny(transit * D("0.3")) <= amount <= cny(transit * D("0.6"))
    else:
        try:
            salesperson_penalty(transit, rate)
        except PenaltyRateError as refused:
            assert refused.field == "penalty_percent"
        else:
            raise AssertionError(f"{rate} % accepted")


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**9, max_value=10**9))
def test_cny_is_half_up_to_the_fen(value: D) -> None:
    amount = cny(value)
    assert amount == amount.quantize(FEN) and cny(amount) == amount
    assert abs(amount - value) <= D("0.005")
    if abs(amount - value) == D("0.005"):
        assert abs(amount) > abs(value)  # a half fen rounds away from zero
    assert cny(str(value)) == amount
