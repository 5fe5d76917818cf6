"""Who pays what (§5.5), as a pure function of the on-site determination."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.billing import CostItem, CostLine, Payer
from contracts.quality import Determination, MisuseResolution


@dataclass(frozen=True)
class Allocation:
    rule: str
    lines: tuple[CostLine, ...]


def _line(item: CostItem, payer: Payer, note: str | None = None) -> CostLine:
    return CostLine(item=item, payer=payer, note=note)


def allocate(determination: Determination | str, misuse_resolution: MisuseResolution | str | None = None,
             within_warranty: bool = True) -> Allocation:
    determination = Determination(determination)
    if determination is Determination.OBVIOUS_QUALITY_DEFECT:
        return Allocation(
            "§5.5 obvious quality defect: unconditional free replacement; the company pays all transport",
            (_line(CostItem.REPLACEMENT, Payer.COMPANY),
             _line(CostItem.RETURN_TRANSPORT, Payer.COMPANY, "the customer helps ship the product back"),
             _line(CostItem.DELIVERY_TRANSPORT, Payer.COMPANY)),
        )
    if determination is Determination.OBVIOUS_MISUSE:
        if misuse_resolution is None:
            raise ValueError("misuse_resolution: required for obvious misuse")
        resolution = MisuseResolution(misuse_resolution)
        if resolution is MisuseResolution.FIXED_ON_SITE:
            return Allocation(
                "§5.5 obvious misuse, fixed simply on site: the salesperson fixes it on site and "
                "gives written feedback of the result and the customer's opinion",
                (_line(CostItem.ON_SITE_SERVICE, Payer.COMPANY, "salesperson's visit, no charge"),),
            )
        if resolution is MisuseResolution.COMPLEX_NEEDS_PARTS:
            return Allocation(
                "§5.5 obvious misuse, complex or needing parts: the company waives labour; the "
                "customer pays parts and transit transport",
                (_line(CostItem.REPAIR_LABOUR, Payer.COMPANY, "waived"),
                 _line(CostItem.PARTS, Payer.CUSTOMER),
                 _line(CostItem.RETURN_TRANSPORT, Payer.CUSTOMER),
                 _line(CostItem.DELIVERY_TRANSPORT, Payer.CUSTOMER)),
            )
        return Allocation(
            "§5.5 obvious misuse, simple part swap: the customer pays the part; the salesperson "
            "swaps it on site",
            (_line(CostItem.PARTS, Payer.CUSTOMER),
             _line(CostItem.ON_SITE_SERVICE, Payer.COMPANY, "salesperson swaps the part on site")),
        )
    labour_payer = Payer.COMPANY if within_warranty else Payer.TO_BE_DECIDED
    return Allocation(
        "§5.5 cannot be determined: the company pays the return to the company; other costs "
        "follow the quality department's decision (§5.4.5: within warranty labour is free, "
        "parts at cost)",
        (_line(CostItem.RETURN_TRANSPORT, Payer.COMPANY, "always the company's"),
         _line(CostItem.REPAIR_LABOUR, labour_payer, "free within warranty" if within_warranty else None),
         _line(CostItem.PARTS, Payer.TO_BE_DECIDED, "at cost, by the party found responsible"),
         _line(CostItem.DELIVERY_TRANSPORT, Payer.TO_BE_DECIDED)),
    )
