from __future__ import annotations

from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from contracts.envelope import Actor, ServiceName
from contracts.quality import OnSiteFindings
from contracts.registration import ProductDetails
from services.common.domain import EventMeta, NotFound
from services.common.store import ServiceApplication
from services.quality.domain.investigation import QualityInvestigation


class QualityApplication(ServiceApplication):
    SERVICE = ServiceName.QUALITY
    VALUE_TYPES = (EventMeta, ProductDetails)

    def investigation(self, complaint_id: UUID) -> QualityInvestigation:
        try:
            return self.repository.get(complaint_id)
        except AggregateNotFoundError:
            raise NotFound(f"no quality investigation for complaint {complaint_id}: "
                           "it has not been routed to quality") from None

    def record_on_site_determination(self, complaint_id: UUID, findings: OnSiteFindings, inspector: str,
                                     actor: Actor, command_id: UUID) -> QualityInvestigation:
        investigation = self.investigation(complaint_id)
        if investigation.determination_command_id == command_id:
            return investigation  # the same command again (a client retry): already done
        meta = investigation.meta.caused_by(command_id, actor)
        investigation.record_on_site_determination(meta, findings, inspector)
        self.save(investigation)
        return investigation
