from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from contracts.envelope import ServiceName, branch_of
from contracts.quality import OnSiteFindings, RecordOnSiteDetermination
from contracts.registration import ProductDetails
from services.common.domain import EventMeta, NotFound
from services.common.store import ServiceApplication
from services.quality.domain.investigation import QualityInvestigation


class QualityApplication(ServiceApplication):
    SERVICE = ServiceName.QUALITY
    VALUE_TYPES = (EventMeta, ProductDetails)

    @staticmethod
    def missing(complaint_id: UUID) -> NotFound:
        return NotFound(f"no quality investigation for complaint {complaint_id}: "
                        "it has not been routed to quality")

    def investigation(self, complaint_id: UUID) -> QualityInvestigation:
        try:
            return self.repository.get(complaint_id)
        except AggregateNotFoundError:
            raise self.missing(complaint_id) from None

    def record_on_site_determination(self, command: RecordOnSiteDetermination,
                                     in_scope: Callable[[str], bool] = lambda branch: True) -> QualityInvestigation:
        """`in_scope(branch)`: whether the caller may act on a complaint of that branch; one it may
        not is not found, exactly like a complaint quality never received."""
        investigation = self.investigation(command.complaint_id)
        if not in_scope(branch_of(investigation.meta.form_number)):
            raise self.missing(command.complaint_id)
        if investigation.determination_command_id == command.command_id:
            return investigation  # the same command again (a client retry): already done
        meta = investigation.meta.caused_by(command.command_id, command.actor)
        findings = OnSiteFindings(**command.model_dump(include=set(OnSiteFindings.model_fields)))
        investigation.record_on_site_determination(meta, findings, command.inspector)
        self.save(investigation)
        return investigation
