"""Quality's reactions to upstream events."""

from __future__ import annotations

from contracts.analytics import BatchDefectAlertRaised
from contracts.envelope import Actor, Envelope, ServiceName
from contracts.quality import Determination, QualityAdjudicationRecorded
from contracts.routing import ComplaintRouted, Destination, DisputeRuled
from services.common.consumer import UnitOfWork
from services.common.domain import EventMeta
from services.quality.domain.corrective import CorrectiveAction, action_id_for_adjudication, action_id_for_alert
from services.quality.domain.investigation import QualityInvestigation

QUALITY = Actor.system(ServiceName.QUALITY)


def quality_policy(event: Envelope, uow: UnitOfWork) -> None:
    if isinstance(event, ComplaintRouted) and event.destination is Destination.QUALITY_DEPARTMENT:
        if uow.get(event.complaint_id) is None:
            uow.add(QualityInvestigation(meta=EventMeta.from_upstream(event, QUALITY),
                                         product=event.product, description=event.description,
                                         severity=event.severity.value))
    elif isinstance(event, DisputeRuled) and event.determination is not None:
        investigation = uow.get(event.complaint_id)
        if isinstance(investigation, QualityInvestigation):
            investigation.rule_determination(
                EventMeta.from_upstream(event, QUALITY), event.dispute_id, event.determination.value,
                event.misuse_resolution.value if event.misuse_resolution else None,
                event.responsible_party.value if event.responsible_party else None, event.ruled_by)
    corrective_policy(event, uow)



def corrective_policy(event: Envelope, uow: UnitOfWork) -> None:
    """An adjudication that finds a quality defect, and analytics' batch-defect alert, each raise their
    corrective action (state raised, owned by the quality department): once per adjudication or alert,
    however often the event arrives (an alert's action is the one the HTTP route would raise)."""
    if isinstance(event, QualityAdjudicationRecorded) and event.determination == Determination.OBVIOUS_QUALITY_DEFECT:
        if uow.get(action_id_for_adjudication(event.adjudication_id)) is None:
            uow.add(CorrectiveAction.from_adjudication(EventMeta.from_upstream(event, QUALITY), event.adjudication_id,
                                                       event.root_cause, event.product))
    elif isinstance(event, BatchDefectAlertRaised):
        if uow.get(action_id_for_alert(event.alert_id)) is None:
            uow.add(CorrectiveAction.from_alert(EventMeta.from_upstream(event, QUALITY), event.alert_id, event.model,
                                                event.batch_number))
