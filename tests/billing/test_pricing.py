"""Billing's money core (§5.5, §5.4.5, §5.5.3⑶): amounts from the price list and the cost table."""

from __future__ import annotations

import copy
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.billing import CostItem, Payer, penalty_amount
from services.billing.domain.money import cny
from services.billing.domain.pricing import (
    PRICES_PATH, RULES_PATH, PenaltyRateError, Priced, PricingDataError, PricingError, default_prices,
    default_rules, load_prices, load_rules, price, salesperson_penalty,
)

C, CU, SP, TBD = Payer.COMPANY, Payer.CUSTOMER, Payer.SALESPERSON, Payer.TO_BE_DECIDED
RET, DEL = CostItem.RETURN_TRANSPORT, CostItem.DELIVERY_TRANSPORT
LAB, PARTS, REP, SITE = CostItem.REPAIR_LABOUR, CostItem.PARTS, CostItem.REPLACEMENT, CostItem.ON_SITE_SERVICE

# One complaint's inputs: 2 x GX-200, a seal and two bearings, 2.5 h of labour, two waybills.
INPUTS: dict[str, Any] = dict(
    model="GX-200", quantity=2, parts=[("GX-200-SEAL", 1), ("GX-200-BEARING", 2)], labour_hours=D("2.5"),
    transport_incurred=[(RET, D("120.50"), "WB-R-001"), (DEL, D("98.00"), "WB-D-002")],
)
# parts: 18.50 + 2 x 64.20 = 146.90; labour: 2.5 h x 85.00 = 212.50; replacement: 2 x 1280.00 = 2560.00


def amounts(priced: Priced) -> dict[tuple[CostItem, Payer], D]:
    out: dict[tuple[CostItem, Payer], D] = {}
    for line in priced.lines:
        out[line.item, line.payer] = out.get((line.item, line.payer), D(0)) + line.amount
    return out


def without(inputs: dict[str, Any], *names: str) -> dict[str, Any]:
    out = dict(inputs)
    for name in names:
        out.pop(name)
    if "transport" in names:
        out.pop("transport_incurred", None)
    return out


def write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def raw(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --- every row of the cost table, with amounts ---------------------------------------------------

ROWS = [
    ("quality_defect", ("obvious_quality_defect", None, True, None),
     dict(INPUTS, parts=[], labour_hours=0), {(REP, C): D("2560.00"), (RET, C): D("120.50"), (DEL, C): D("98.00")}),
    ("quality_defect", ("obvious_quality_defect", None, False, None),
     dict(INPUTS, parts=[], labour_hours=0), {(REP, C): D("2560.00"), (RET, C): D("120.50"), (DEL, C): D("98.00")}),
    ("misuse_fixed_on_site", ("obvious_misuse", "fixed_on_site", True, None),
     dict(model="GX-200"), {(SITE, C): D("0.00")}),
    ("misuse_complex_needs_parts", ("obvious_misuse", "complex_needs_parts", False, None),
     INPUTS, {(LAB, C): D("0.00"), (PARTS, CU): D("146.90"), (RET, CU): D("120.50"), (DEL, CU): D("98.00")}),
    ("misuse_simple_part_swap", ("obvious_misuse", "simple_part_swap", False, None),
     dict(INPUTS, labour_hours=0, transport_incurred=[]), {(PARTS, CU): D("146.90"), (SITE, C): D("0.00")}),
    ("undetermined_pending_within_warranty", ("cannot_be_determined", None, True, None),
     INPUTS, {(RET, C): D("120.50"), (LAB, C): D("0.00"), (PARTS, TBD): D("146.90"), (DEL, TBD): D("98.00")}),
    ("undetermined_pending_outside_warranty", ("cannot_be_determined", None, False, None),
     INPUTS, {(RET, C): D("120.50"), (LAB, TBD): D("212.50"), (PARTS, TBD): D("146.90"), (DEL, TBD): D("98.00")}),
    ("undetermined_found_quality_defect", ("cannot_be_determined", None, True, "obvious_quality_defect"),
     dict(INPUTS, parts=[], labour_hours=0), {(RET, C): D("120.50"), (REP, C): D("2560.00"), (DEL, C): D("98.00")}),
    ("undetermined_found_misuse_within_warranty", ("cannot_be_determined", None, True, "obvious_misuse"),
     INPUTS, {(RET, C): D("120.50"), (LAB, C): D("0.00"), (PARTS, CU): D("146.90"), (DEL, CU): D("98.00")}),
    ("undetermined_found_misuse_outside_warranty", ("cannot_be_determined", None, False, "obvious_misuse"),
     INPUTS, {(RET, C): D("120.50"), (LAB, CU): D("212.50"), (PARTS, CU): D("146.90"), (DEL, CU): D("98.00")}),
]


@pytest.mark.parametrize(("row_id", "case", "inputs", "expected"), ROWS, ids=[f"{r[0]}-{r[1][2]}" for r in ROWS])
def test_every_row_of_the_cost_table_priced(row_id: str, case: tuple, inputs: dict, expected: dict) -> None:
    determination, resolution, within, outcome = case
    priced = price(determination, resolution, within, **inputs, quality_outcome=outcome)
    assert priced.rule_id == row_id
    assert amounts(priced) == expected
    assert {line.rule_id for line in priced.lines} == {row_id}
    assert {line.price_list_version for line in priced.lines} == {default_prices().version}
    assert priced.total == sum(expected.values())
    assert sum(priced.by_payer().values()) == priced.total


def test_every_row_of_the_rules_file_is_exercised() -> None:
    assert {row.id for row in default_rules().rows} == {row[0] for row in ROWS}


def test_transport_lines_carry_their_waybill_and_parts_one_line_each() -> None:
    priced = price("obvious_misuse", "complex_needs_parts", True, **INPUTS)
    documents = {line.item: line.source_document for line in priced.lines if line.item in (RET, DEL)}
    assert documents == {RET: "WB-R-001", DEL: "WB-D-002"}
    assert [line.amount for line in priced.lines if line.item is PARTS] == [D("18.50"), D("128.40")]


def test_kx_200_replacement_and_several_waybills_for_one_leg() -> None:
    priced = price("obvious_quality_defect", None, True, "KX-200", 3,
                   transport_incurred=[(RET, "40.10", "WB-1"), (RET, "35", "WB-2")])
    assert amounts(priced) == {(REP, C): D("7350.00"), (RET, C): D("75.10"), (DEL, C): D("0.00")}
    assert priced.by_payer() == {C: D("7425.10")}


def test_lines_become_contract_cost_lines() -> None:
    line = price("cannot_be_determined", None, False, **INPUTS).lines[1].to_cost_line()
    assert (line.item, line.payer, line.amount) == (LAB, TBD, D("212.50"))


# --- warranty in and out (§5.4.5) -----------------------------------------------------------------

@pytest.mark.parametrize("outcome", [None, "obvious_misuse"])
def test_within_warranty_labour_free_and_parts_at_cost_whatever_the_result(outcome: str | None) -> None:
    within = amounts(price("cannot_be_determined", None, True, **INPUTS, quality_outcome=outcome))
    outside = amounts(price("cannot_be_determined", None, False, **INPUTS, quality_outcome=outcome))
    assert within[LAB, C] == D("0.00")
    assert sum(v for (item, _), v in outside.items() if item is LAB) == D("212.50")
    parts = lambda paid: sum(v for (item, _), v in paid.items() if item is PARTS)  # noqa: E731
    assert parts(within) == parts(outside) == D("146.90")


@pytest.mark.parametrize("case", [("obvious_quality_defect", None), ("obvious_misuse", "complex_needs_parts"),
                                  ("obvious_misuse", "simple_part_swap"), ("obvious_misuse", "fixed_on_site")])
def test_determined_on_site_warranty_changes_nothing(case: tuple[str, str | None]) -> None:
    inputs = dict(model="GX-200") if case[1] == "fixed_on_site" else \
        dict(INPUTS, parts=[], labour_hours=0) if case[0] == "obvious_quality_defect" else \
        dict(INPUTS, labour_hours=0, transport_incurred=[]) if case[1] == "simple_part_swap" else INPUTS
    assert amounts(price(*case, True, **inputs)) == amounts(price(*case, False, **inputs))


# --- the salesperson penalty (§5.5.3⑶) ------------------------------------------------------------

@pytest.mark.parametrize(("rate", "expected"), [("30", D("66.15")), ("60", D("132.30")), ("45.5", D("100.33"))])
def test_penalty_within_30_to_60_percent(rate: str, expected: D) -> None:
    assert salesperson_penalty(D("220.50"), D(rate)) == expected == penalty_amount(D("220.50"), D(rate))


@pytest.mark.parametrize("rate", ["29", "61", "29.99", "60.01", "0", "100", "-30"])
def test_penalty_outside_the_range_is_refused_naming_the_field_and_range(rate: str) -> None:
    with pytest.raises(PenaltyRateError) as refused:
        salesperson_penalty(D("220.50"), D(rate))
    assert isinstance(refused.value, ValueError)
    assert refused.value.field == "penalty_percent"
    assert "30-60 %" in str(refused.value)


@pytest.mark.parametrize("rate", [45.0, "NaN", "abc"])
def test_penalty_rate_never_a_float_or_garbage(rate: Any) -> None:
    with pytest.raises(PenaltyRateError):
        salesperson_penalty(D("100"), rate)


def test_penalty_on_a_float_transport_is_refused() -> None:
    with pytest.raises(PricingError, match="transit_transport.*float"):
        salesperson_penalty(220.5, D(30))  # type: ignore[arg-type]


# --- money: half-up at the fen, never a float -----------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("0.005", "0.01"), ("2.675", "2.68"), ("0.004", "0.00"), ("2.665", "2.67"), ("-0.005", "-0.01"),
    (D("1.234999"), "1.23"), (7, "7.00"), (" 12.5 ", "12.50"),
])
def test_half_up_at_the_fen(value: Any, expected: str) -> None:
    assert cny(value) == D(expected) and str(cny(value)) == expected


@pytest.mark.parametrize(("value", "error"), [(2.675, TypeError), (True, TypeError), (None, TypeError),
                                              ("abc", ValueError), ("Infinity", ValueError), ("", ValueError)])
def test_money_refuses_floats_and_garbage_naming_the_value(value: Any, error: type) -> None:
    with pytest.raises(error, match=repr(value).replace("(", r"\(").replace(".", r"\.")):
        cny(value)


def test_half_up_at_the_fen_in_the_penalty_and_labour(tmp_path: Path) -> None:
    assert salesperson_penalty(D("33.35"), D(30)) == D("10.01")  # 10.005
    data = raw(PRICES_PATH)
    data["labour"]["repair"] = "85.05"
    prices = load_prices(write(tmp_path, "prices.yaml", data))
    priced = price("cannot_be_determined", None, False, labour_hours=D("0.1"), prices=prices)
    assert amounts(priced)[LAB, TBD] == D("8.51")  # 8.505


# --- a price-list change between two complaints --------------------------------------------------

def test_price_list_change_between_two_complaints(tmp_path: Path) -> None:
    data = raw(PRICES_PATH)
    data["version"] = "2026-12-01.1"
    data["products"]["GX-200"] = "1350.00"
    data["parts"]["GX-200-SEAL"] = "19.90"
    new = load_prices(write(tmp_path, "prices.yaml", data))
    first = price("obvious_quality_defect", None, True, "GX-200", 2)
    second = price("obvious_quality_defect", None, True, "GX-200", 2, prices=new)
    assert amounts(first)[REP, C] == D("2560.00") and amounts(second)[REP, C] == D("2700.00")
    assert {line.price_list_version for line in first.lines} == {"2026-11-25.1"}
    assert {line.price_list_version for line in second.lines} == {"2026-12-01.1"}
    swap = price("obvious_misuse", "simple_part_swap", True, parts=[("GX-200-SEAL", 1)], prices=new)
    assert amounts(swap)[PARTS, CU] == D("19.90")
    assert default_prices().products["GX-200"] == D("1280.00")


def test_the_files_are_read_once() -> None:
    assert default_prices() is default_prices() and default_rules() is default_rules()


# --- the data files are validated, naming the row ------------------------------------------------

def _rules_with(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(raw(RULES_PATH))
    change(data["rows"])
    return data


@pytest.mark.parametrize(("change", "message"), [
    (lambda rows: rows[2]["lines"]["parts"].update(payer="insurer"), r"row 'misuse_complex_needs_parts'.*Payer 'insurer'"),
    (lambda rows: rows[0]["lines"].update(gift={"payer": "company", "pricing": "waived"}), r"row 'quality_defect'.*CostItem 'gift'"),
    (lambda rows: rows[0]["lines"]["replacement"].update(pricing="list_price"), r"row 'quality_defect'.*pricing 'list_price'"),
    (lambda rows: rows[0]["lines"]["replacement"].update(pricing="parts_at_cost"), r"row 'quality_defect'.*pricing"),
    (lambda rows: rows[6]["lines"]["return_transport"].update(payer="customer"), r"row 'undetermined_found_quality_defect'.*always the company"),
    (lambda rows: rows.pop(3), r"simple_part_swap.*exactly one row, has \[\]"),
    (lambda rows: rows.append(dict(rows[0], id="again")), r"exactly one row, has \['quality_defect', 'again'\]"),
    (lambda rows: rows[1].update(warranty="sometimes"), r"row 'misuse_fixed_on_site': warranty"),
    (lambda rows: rows[1].pop("misuse_resolution"), r"row 'misuse_fixed_on_site': misuse_resolution is required"),
    (lambda rows: rows[4].update(outcome="maybe"), r"row 'undetermined_pending_within_warranty': unknown outcome"),
])
def test_a_malformed_rules_row_is_refused_naming_it(tmp_path: Path, change: Any, message: str) -> None:
    with pytest.raises(PricingDataError, match=message):
        load_rules(write(tmp_path, "cost_rules.yaml", _rules_with(change)))


@pytest.mark.parametrize(("section", "key", "value"), [
    ("products", "GX-200", 1280.0), ("parts", "GX-200-SEAL", "18.505"), ("labour", "repair", "-85"),
    ("products", "KX-200", "abc"), ("parts", "GX-200-SEAL", 18),
])
def test_a_malformed_price_is_refused_naming_it(tmp_path: Path, section: str, key: str, value: Any) -> None:
    data = raw(PRICES_PATH)
    data[section][key] = value
    with pytest.raises(PricingDataError, match=rf"{section}\.{key}: malformed amount"):
        load_prices(write(tmp_path, "prices.yaml", data))


def test_a_price_list_without_the_repair_rate_is_refused(tmp_path: Path) -> None:
    data = raw(PRICES_PATH)
    data["labour"] = {"painting": "60.00"}
    with pytest.raises(PricingDataError, match="labour: the `repair` rate"):
        load_prices(write(tmp_path, "prices.yaml", data))


def test_a_price_list_without_version_is_refused(tmp_path: Path) -> None:
    data = raw(PRICES_PATH)
    del data["version"]
    with pytest.raises(PricingDataError, match="version"):
        load_prices(write(tmp_path, "prices.yaml", data))


# --- inputs that cannot be priced are refused, naming the field -----------------------------------

@pytest.mark.parametrize(("args", "kwargs", "field"), [
    (("obvious_quality_defect", None, True), dict(model="ZX-9"), "model"),
    (("obvious_quality_defect", None, True), dict(model="GX-200", quantity=0), "quantity"),
    (("obvious_misuse", "simple_part_swap", True), dict(parts=[("NO-SUCH-PART", 1)]), "parts"),
    (("obvious_misuse", "simple_part_swap", True), dict(parts=[("GX-200-SEAL", 0)]), "parts[GX-200-SEAL]"),
    (("obvious_misuse", "simple_part_swap", True), dict(transport_incurred=[(RET, "10", "WB-1")]), "return_transport"),
    (("obvious_quality_defect", None, True), dict(model="GX-200", parts=[("GX-200-SEAL", 1)]), "parts"),
    (("obvious_misuse", "fixed_on_site", True), dict(labour_hours=D(1)), "repair_labour"),
    (("obvious_quality_defect", None, True), dict(model="GX-200", transport_incurred=[(RET, 12.5, "WB-1")]),
     "transport_incurred['WB-1']"),
    (("obvious_quality_defect", None, True), dict(model="GX-200", transport_incurred=[(RET, "12.50", " ")]),
     "transport_incurred"),
    (("obvious_quality_defect", None, True), dict(model="GX-200", transport_incurred=[(PARTS, "1", "X")]),
     "transport_incurred"),
    (("cannot_be_determined", None, False), dict(labour_hours=2.5), "labour_hours"),
    (("cannot_be_determined", None, False), dict(labour_hours="-1"), "labour_hours"),
    (("obvious_misuse", None, True), {}, "misuse_resolution"),
    (("obvious_quality_defect", "fixed_on_site", True), dict(model="GX-200"), "misuse_resolution"),
    (("obvious_misuse", "fixed_on_site", True), dict(quality_outcome="obvious_misuse"), "quality_outcome"),
    (("cannot_be_determined", None, True), dict(quality_outcome="cannot_be_determined"), "quality_outcome"),
    (("cannot_be_determined", None, "yes"), {}, "within_warranty"),
    (("obviously_fine", None, True), {}, "determination"),
    (("obvious_misuse", "glued_it", True), {}, "misuse_resolution"),
    (("cannot_be_determined", None, True), dict(quality_outcome="force_majeure"), "quality_outcome"),
])
def test_inputs_that_cannot_be_priced_are_refused(args: tuple, kwargs: dict, field: str) -> None:
    with pytest.raises(PricingError) as refused:
        price(*args, **kwargs)
    assert refused.value.field == field
