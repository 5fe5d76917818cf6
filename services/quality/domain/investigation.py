"""The quality investigation of one complaint (§5.3.3⑸, §5.4)."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from contracts.quality import OnSiteDeterminationRecorded, OnSiteFindings, QualityInvestigationOpened
from contracts.registration import ProductDetails
from services.common.domain import ComplaintAggregate, DomainError, EventMeta


class QualityInvestigation(ComplaintAggregate):
    class Opened(ComplaintAggregate.Created):
        PUBLISHED_AS = QualityInvestigationOpened
        meta: EventMeta
        product: ProductDetails | None
        description: str

    @event(Opened)
    def __init__(self, meta: EventMeta, product: ProductDetails | None, description: str):
        self.meta = meta
        self.product = product
        self.description = description
        self.findings: OnSiteFindings | None = None
        self.inspector: str | None = None
        self.determination_command_id: UUID | None = None

    class DeterminationRecorded(ComplaintAggregate.Event):
        PUBLISHED_AS = OnSiteDeterminationRecorded
        meta: EventMeta
        determination: str
        misuse_resolution: str | None
        photo_refs: list[str]
        memo: str
        customer_agrees: bool
        within_warranty: bool
        inspector: str
        product: ProductDetails | None

        def apply(self, investigation: QualityInvestigation) -> None:
            investigation.inspector = self.inspector
            investigation.determination_command_id = self.meta.causation_id
            investigation.findings = OnSiteFindings(
                determination=self.determination, misuse_resolution=self.misuse_resolution,
                photo_refs=self.photo_refs, memo=self.memo, customer_agrees=self.customer_agrees,
                within_warranty=self.within_warranty,
            )

    @event(DeterminationRecorded)
    def _determination_recorded(self, meta: EventMeta, determination: str, misuse_resolution: str | None,
                                photo_refs: list[str], memo: str, customer_agrees: bool,
                                within_warranty: bool, inspector: str, product: ProductDetails | None) -> None:
        pass

    def record_on_site_determination(self, meta: EventMeta, findings: OnSiteFindings, inspector: str) -> None:
        """Exactly one determination per complaint; a correction is a later, separate fact."""
        if self.findings is not None:
            raise DomainError(
                f"an on-site determination ({self.findings.determination}) was already recorded "
                f"by {self.inspector}", field="determination")
        self._determination_recorded(
            meta=meta, determination=findings.determination.value,
            misuse_resolution=findings.misuse_resolution.value if findings.misuse_resolution else None,
            photo_refs=list(findings.photo_refs), memo=findings.memo, customer_agrees=findings.customer_agrees,
            within_warranty=findings.within_warranty, inspector=inspector, product=self.product,
        )
