"""What each cost of a complaint amounts to, and who pays it (§5.5, §5.4.5), as a pure function.

Amounts come from data: the price list (`prices.yaml`: product unit prices, parts at cost, labour
rates) and §5.5's cost table (`cost_rules.yaml`), both versioned and read once; transport is the
amount actually incurred, with its invoice or waybill reference. The ledger (`ledger.py`, through `costing.targets`) prices every decision with it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from contracts.billing import PENALTY_PERCENT_MAX, PENALTY_PERCENT_MIN, CostItem, CostLine, Payer
from contracts.quality import Determination, MisuseResolution
from services.billing.domain.money import cny

HERE = Path(__file__).resolve().parent.parent
PRICES_PATH = HERE / "prices.yaml"
RULES_PATH = HERE / "cost_rules.yaml"

ZERO = Decimal("0.00")
LABOUR_RATE = "repair"
PENDING = "pending"
WARRANTIES = ("within", "outside", "any")
TRANSPORT = (CostItem.RETURN_TRANSPORT, CostItem.DELIVERY_TRANSPORT)
#: pricing -> the cost items it may price
PRICINGS: dict[str, frozenset[CostItem]] = {
    "unit_price_x_quantity": frozenset({CostItem.REPLACEMENT}),
    "parts_at_cost": frozenset({CostItem.PARTS}),
    "labour_hours_x_rate": frozenset({CostItem.REPAIR_LABOUR}),
    "waived": frozenset({CostItem.REPAIR_LABOUR, CostItem.ON_SITE_SERVICE}),
    "as_incurred": frozenset(TRANSPORT),
}
_AMOUNT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?$")


class PricingError(ValueError):
    """A case or an input that cannot be priced; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class PenaltyRateError(PricingError):
    """The salesperson's penalty rate is outside 30-60 % (§5.5.3⑶)."""


class PricingDataError(ValueError):
    """prices.yaml or cost_rules.yaml is malformed; the message names the file and the row."""


# --- the data ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PriceList:
    version: str
    products: Mapping[str, Decimal]
    parts: Mapping[str, Decimal]
    labour: Mapping[str, Decimal]


@dataclass(frozen=True)
class RuleLine:
    item: CostItem
    payer: Payer
    pricing: str


@dataclass(frozen=True)
class CostRule:
    id: str
    rule: str
    determination: Determination
    misuse_resolution: MisuseResolution | None
    outcome: str | None
    warranty: str
    lines: tuple[RuleLine, ...]

    def applies(self, key: tuple[Determination, MisuseResolution | None, str | None], within: bool) -> bool:
        return ((self.determination, self.misuse_resolution, self.outcome) == key
                and self.warranty in ("any", "within" if within else "outside"))


@dataclass(frozen=True)
class CostRules:
    version: str
    rows: tuple[CostRule, ...]


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise PricingDataError(f"{where}: must be a non-empty mapping")
    return value


def _version(data: Any, path: Path) -> str:
    version = _mapping(data, str(path)).get("version")
    if not isinstance(version, str) or not version.strip():
        raise PricingDataError(f"{path}: `version` must be a non-empty string")
    return version


def _amounts(section: Any, where: str) -> dict[str, Decimal]:
    out = {}
    for key, value in _mapping(section, where).items():
        if not isinstance(value, str) or not _AMOUNT.match(value):
            raise PricingDataError(f"{where}.{key}: malformed amount {value!r} (a quoted CNY amount, like \"12.50\")")
        out[str(key)] = Decimal(value)
    return out


def load_prices(path: Path = PRICES_PATH) -> PriceList:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    version = _version(data, path)
    if data.get("currency", "CNY") != "CNY":
        raise PricingDataError(f"{path}: currency must be CNY")
    prices = PriceList(version, *(_amounts(data.get(key), f"{path} {key}") for key in ("products", "parts", "labour")))
    if LABOUR_RATE not in prices.labour:
        raise PricingDataError(f"{path} labour: the `{LABOUR_RATE}` rate per hour is missing")
    return prices


def _enum(kind: type, value: Any, where: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise PricingDataError(f"{where}: unknown {kind.__name__} {value!r}") from None


def _rule(row: Any, index: int, path: Path) -> CostRule:
    where = f"{path} row {index + 1}"
    row = _mapping(row, where)
    if not isinstance(row.get("id"), str) or not isinstance(row.get("rule"), str):
        raise PricingDataError(f"{where}: `id` and `rule` must be strings")
    where = f"{path} row {row['id']!r}"
    determination = _enum(Determination, row.get("determination"), where)
    misuse = row.get("misuse_resolution")
    misuse = None if misuse is None else _enum(MisuseResolution, misuse, where)
    if (misuse is None) == (determination is Determination.OBVIOUS_MISUSE):
        raise PricingDataError(f"{where}: misuse_resolution is required for obvious misuse, and only then")
    outcome = row.get("outcome")
    if (outcome is None) == (determination is Determination.CANNOT_BE_DETERMINED):
        raise PricingDataError(f"{where}: outcome is required for cannot be determined, and only then")
    if outcome is not None and outcome not in (PENDING, Determination.OBVIOUS_QUALITY_DEFECT,
                                               Determination.OBVIOUS_MISUSE):
        raise PricingDataError(f"{where}: unknown outcome {outcome!r}")
    if row.get("warranty") not in WARRANTIES:
        raise PricingDataError(f"{where}: warranty must be one of {', '.join(WARRANTIES)}")
    lines = []
    for item, spec in _mapping(row.get("lines"), f"{where} lines").items():
        item = _enum(CostItem, item, where)
        spec = _mapping(spec, f"{where} {item}")
        payer = _enum(Payer, spec.get("payer"), f"{where} {item}")
        pricing = spec.get("pricing")
        if item not in PRICINGS.get(pricing, ()):
            raise PricingDataError(f"{where} {item}: unknown pricing {pricing!r} for this item")
        lines.append(RuleLine(item, payer, pricing))
        if item is CostItem.RETURN_TRANSPORT and determination is not Determination.OBVIOUS_MISUSE \
                and payer is not Payer.COMPANY:
            raise PricingDataError(f"{where}: the return to the company is always the company's (§5.5.3⑵)")
    return CostRule(row["id"], row["rule"], determination, misuse, outcome and str(outcome),
                    row["warranty"], tuple(lines))


def _cases() -> Iterable[tuple[tuple[Determination, MisuseResolution | None, str | None], bool]]:
    for within in (True, False):
        yield (Determination.OBVIOUS_QUALITY_DEFECT, None, None), within
        for resolution in MisuseResolution:
            yield (Determination.OBVIOUS_MISUSE, resolution, None), within
        for outcome in (PENDING, Determination.OBVIOUS_QUALITY_DEFECT.value, Determination.OBVIOUS_MISUSE.value):
            yield (Determination.CANNOT_BE_DETERMINED, None, outcome), within


def load_rules(path: Path = RULES_PATH) -> CostRules:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    version = _version(data, path)
    rows = data.get("rows")
    if not isinstance(rows, list) or not rows:
        raise PricingDataError(f"{path}: `rows` must be a non-empty list")
    rules = tuple(_rule(row, index, path) for index, row in enumerate(rows))
    ids = [rule.id for rule in rules]
    if len(set(ids)) != len(ids):
        raise PricingDataError(f"{path}: row ids must be unique: {ids}")
    for key, within in _cases():
        matched = [rule.id for rule in rules if rule.applies(key, within)]
        if len(matched) != 1:
            case = ", ".join(str(part) for part in key if part) + (", within" if within else ", outside")
            raise PricingDataError(f"{path}: case ({case} warranty) needs exactly one row, has {matched}")
    return CostRules(version, rules)


@functools.cache
def default_prices() -> PriceList:
    return load_prices()


@functools.cache
def default_rules() -> CostRules:
    return load_rules()


# --- pricing a case ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PricedLine:
    item: CostItem
    payer: Payer
    amount: Decimal
    rule_id: str
    price_list_version: str
    source_document: str | None = None
    basis: str | None = None

    def to_cost_line(self) -> CostLine:
        return CostLine(item=self.item, payer=self.payer, amount=self.amount, note=self.basis)


@dataclass(frozen=True)
class Priced:
    rule_id: str
    rule: str
    rules_version: str
    price_list_version: str
    lines: tuple[PricedLine, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    def by_payer(self) -> dict[Payer, Decimal]:
        out: dict[Payer, Decimal] = {}
        for line in self.lines:
            out[line.payer] = out.get(line.payer, ZERO) + line.amount
        return out


def _count(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PricingError(field, f"must be a whole number of at least 1, not {value!r}")
    return value


def _non_negative(value: Any, field: str) -> Decimal:
    try:
        amount = cny(value)
    except (TypeError, ValueError) as error:
        raise PricingError(field, str(error)) from None
    if amount < 0:
        raise PricingError(field, f"must not be negative, not {value!r}")
    return amount


def _hours(value: Any) -> Decimal:
    if isinstance(value, (bool, float)) or not isinstance(value, (Decimal, int, str)):
        raise PricingError("labour_hours", f"must be a Decimal, never {type(value).__name__}: {value!r}")
    _non_negative(value, "labour_hours")
    return Decimal(value)


def _given(kind: type, value: Any, field: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise PricingError(field, f"unknown {kind.__name__} {value!r}") from None


def _transport_kind(kind: Any) -> CostItem:
    if kind not in {item.value for item in TRANSPORT}:
        raise PricingError("transport_incurred", f"{kind!r} is not transport: one of {', '.join(TRANSPORT)}")
    return CostItem(kind)


def _case(determination: Any, misuse_resolution: Any, quality_outcome: Any
          ) -> tuple[Determination, MisuseResolution | None, str | None]:
    determination = _given(Determination, determination, "determination")
    if determination is Determination.OBVIOUS_MISUSE:
        if misuse_resolution is None:
            raise PricingError("misuse_resolution", "required for obvious misuse")
        resolution = _given(MisuseResolution, misuse_resolution, "misuse_resolution")
    elif misuse_resolution is not None:
        raise PricingError("misuse_resolution", "only for obvious misuse")
    else:
        resolution = None
    if determination is not Determination.CANNOT_BE_DETERMINED:
        if quality_outcome is not None:
            raise PricingError("quality_outcome", "only when the case could not be determined on site")
        return determination, resolution, None
    if quality_outcome is None:
        return determination, None, PENDING
    outcome = _given(Determination, quality_outcome, "quality_outcome")
    if outcome is Determination.CANNOT_BE_DETERMINED:
        raise PricingError("quality_outcome", "the quality department decides: defect or misuse")
    return determination, None, outcome.value


def price(determination: Determination | str, misuse_resolution: MisuseResolution | str | None,
          within_warranty: bool, model: str | None = None, quantity: int = 1,
          parts: Iterable[tuple[str, int]] = (), labour_hours: Decimal | int | str = 0,
          transport_incurred: Iterable[tuple[CostItem | str, Decimal | int | str, str]] = (), *,
          quality_outcome: Determination | str | None = None,
          prices: PriceList | None = None, rules: CostRules | None = None) -> Priced:
    """Every cost of the case priced and given to exactly one payer by the one §5.5 row that applies.

    `quality_outcome` is the quality department's decision on a case that could not be determined
    on site (None: not decided yet). A cost with nowhere to go in the row (parts, labour or
    transport the row does not cover) is refused rather than dropped.
    """
    prices = prices or default_prices()
    rules = rules or default_rules()
    if not isinstance(within_warranty, bool):
        raise PricingError("within_warranty", f"must be true or false, not {within_warranty!r}")
    key = _case(determination, misuse_resolution, quality_outcome)
    (rule,) = [row for row in rules.rows if row.applies(key, within_warranty)]
    parts = [(part_no, _count(qty, f"parts[{part_no}]")) for part_no, qty in parts]
    hours = _hours(labour_hours)
    transport = [(_transport_kind(kind), _non_negative(amount, f"transport_incurred[{reference!r}]"), reference)
                 for kind, amount, reference in transport_incurred]
    covered = {line.item for line in rule.lines}
    for item, given in ((CostItem.PARTS, parts), (CostItem.REPAIR_LABOUR, hours),
                        *((kind, [t for t in transport if t[0] is kind]) for kind in TRANSPORT)):
        if given and item not in covered:
            raise PricingError(str(item), f"row {rule.id!r} has no {item} cost to bear it")
    for _, _, reference in transport:
        if not isinstance(reference, str) or not reference.strip():
            raise PricingError("transport_incurred", "every transport cost needs its invoice or waybill reference")

    def line(spec: RuleLine, amount: Decimal, basis: str | None, document: str | None = None) -> PricedLine:
        return PricedLine(spec.item, spec.payer, cny(amount), rule.id, prices.version, document, basis)

    out: list[PricedLine] = []
    for spec in rule.lines:
        if spec.pricing == "waived":
            out.append(line(spec, ZERO, "waived"))
        elif spec.pricing == "unit_price_x_quantity":
            if model not in prices.products:
                raise PricingError("model", f"{model!r} is not in price list {prices.version}")
            qty = _count(quantity, "quantity")
            out.append(line(spec, prices.products[model] * qty, f"{qty} x {model} at {prices.products[model]}"))
        elif spec.pricing == "parts_at_cost":
            for part_no, qty in parts:
                if part_no not in prices.parts:
                    raise PricingError("parts", f"{part_no!r} is not in price list {prices.version}")
                out.append(line(spec, prices.parts[part_no] * qty, f"{qty} x {part_no} at cost {prices.parts[part_no]}"))
            if not parts:
                out.append(line(spec, ZERO, "no parts"))
        elif spec.pricing == "labour_hours_x_rate":
            rate = prices.labour[LABOUR_RATE]
            out.append(line(spec, hours * rate, f"{hours} h at {rate}/h"))
        else:  # as_incurred
            incurred = [t for t in transport if t[0] is spec.item]
            out.extend(line(spec, amount, "as incurred", reference) for _, amount, reference in incurred)
            if not incurred:
                out.append(line(spec, ZERO, "none incurred yet"))
    return Priced(rule.id, rule.rule, rules.version, prices.version, tuple(out))


def salesperson_penalty(transit_transport: Decimal | int | str, rate_percent: Decimal | int | str) -> Decimal:
    """§5.5.3⑶: the salesperson bears `rate_percent` (30-60 %, set by the approver) of the transit
    transport actually incurred, half-up to the fen. A rate outside the range is refused."""
    transit = _non_negative(transit_transport, "transit_transport")
    if isinstance(rate_percent, (bool, float)) or not isinstance(rate_percent, (Decimal, int, str)):
        raise PenaltyRateError("penalty_percent", f"must be a Decimal, never {type(rate_percent).__name__}")
    try:
        rate = Decimal(rate_percent)
    except ArithmeticError:
        raise PenaltyRateError("penalty_percent", f"not a percentage: {rate_percent!r}") from None
    if not rate.is_finite() or not PENALTY_PERCENT_MIN <= rate <= PENALTY_PERCENT_MAX:
        raise PenaltyRateError("penalty_percent", f"{rate_percent} % is outside the allowed "
                               f"{PENALTY_PERCENT_MIN}-{PENALTY_PERCENT_MAX} % (§5.5.3⑶)")
    return cny(transit * rate / 100)
