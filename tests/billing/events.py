"""Upstream events billing reacts to, built as the producers publish them (contract models)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from contracts.envelope import ServiceName
from contracts.quality import (
    OnSiteDeterminationCorrected, OnSiteDeterminationRecorded, PartUsed, QualityAdjudicationRecorded,
)
from contracts.routing import ComplaintRouted, DisputeRuled
from tests.common.builders import MANAGER, envelope, product

VISITED = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)


def parts(*pairs: tuple[str, int]) -> list[PartUsed]:
    return [PartUsed(part_no=p, quantity=q) for p, q in pairs]


def routed(complaint_id: UUID, subject: str = "product_quality", severity: str = "general",
           form_number: str = "SH01-20261125-0001") -> ComplaintRouted:
    return ComplaintRouted(**envelope(ServiceName.ROUTING, complaint_id=complaint_id, form_number=form_number),
                           destination="quality_department", reason="§5.3.3 product quality", subject=subject,
                           severity=severity, description="Gearbox housing cracked on arrival.", product=product())


def on_site(complaint_id: UUID, determination: str = "obvious_quality_defect", misuse_resolution: str | None = None,
            within_warranty: bool = True, quantity: int = 1, parts_used: list[PartUsed] | None = None,
            model: str = "GX-200", form_number: str = "SH01-20261125-0001", **env: Any) -> OnSiteDeterminationRecorded:
    feedback = {"written_feedback": "Fixed on site; works.", "customer_opinion": "Satisfied"} \
        if misuse_resolution == "fixed_on_site" else {}
    return OnSiteDeterminationRecorded(
        **envelope(ServiceName.QUALITY, complaint_id=complaint_id, form_number=form_number, actor=MANAGER, **env),
        determination=determination, misuse_resolution=misuse_resolution, photo_refs=["photos/1.jpg"],
        memo="Inspected on site.", customer_agrees=True, within_warranty=within_warranty, visited_at=VISITED,
        cause="Found on site.", quantity=quantity, parts_used=parts_used or [], inspector="rm-wang",
        product=product(model=model), **feedback)


def corrected(complaint_id: UUID, previous: str, determination: str, misuse_resolution: str | None = None,
              within_warranty: bool = True, quantity: int = 1, parts_used: list[PartUsed] | None = None,
              model: str = "GX-200") -> OnSiteDeterminationCorrected:
    return OnSiteDeterminationCorrected(
        **envelope(ServiceName.QUALITY, complaint_id=complaint_id, actor=MANAGER),
        previous_determination=previous, determination=determination, misuse_resolution=misuse_resolution,
        within_warranty=within_warranty, quantity=quantity, parts_used=parts_used or [],
        reason="Second look at the seam.", corrected_by="rm-wang", customer_agrees=True,
        product=product(model=model))


def adjudicated(complaint_id: UUID, determination: str = "obvious_misuse", misuse_resolution: str | None = None,
                on_site_determination: str = "cannot_be_determined", within_warranty: bool = True,
                quantity: int = 1, parts_used: list[PartUsed] | None = None, labour_hours: str = "0",
                negligent: bool = False, degree: str | None = None, model: str = "GX-200",
                **env: Any) -> QualityAdjudicationRecorded:
    if determination == "obvious_misuse" and misuse_resolution is None:
        misuse_resolution = "complex_needs_parts"  # the product came back: repaired, not fixed on site
    fields: dict[str, Any] = dict(
        adjudication_id=uuid4(), determination=determination, misuse_resolution=misuse_resolution,
        responsible_party="company" if determination == "obvious_quality_defect" else "customer",
        within_warranty=within_warranty, salesperson="sales-wu", salesperson_negligent=negligent,
        negligence_degree=degree if negligent else None,
        negligence_finding="Plainly determinable on site" if negligent else None,
        on_site_determination=on_site_determination, adjudicated_by="qa-lin", product=product(model=model),
        quantity=quantity, parts_used=parts_used or [], labour_hours=Decimal(labour_hours))
    fields |= {"root_cause": "Seal fitted dry", "proposed_handling": "As the cost rules say"}
    return QualityAdjudicationRecorded(
        **envelope(ServiceName.QUALITY, complaint_id=complaint_id, **env), **fields)


def ruled(complaint_id: UUID, determination: str, misuse_resolution: str | None = None,
          **env: Any) -> DisputeRuled:
    return DisputeRuled(
        **envelope(ServiceName.ROUTING, complaint_id=complaint_id, **env), dispute_id=uuid4(),
        dispute_kind="quality_determination", forum="independent_determination", ruled_by="Provincial QA bureau",
        recorded_by="hq-clerk-zhou", outcome="upheld", ruling="The determination is changed.", final=True,
        determination=determination, misuse_resolution=misuse_resolution,
        responsible_party="company" if determination == "obvious_quality_defect" else "customer")
