"""Quality (§5.3.3⑸, §5.4): investigations opened from routing, and the on-site determination."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from contracts.envelope import Actor, ServiceName
from contracts.quality import (
    Determination, MisuseResolution, OnSiteDeterminationRecorded, OnSiteFindings, QualityInvestigationOpened,
    RecordOnSiteDetermination,
)
from contracts.registry import parse_event, serialize_event
from contracts.routing import ComplaintRouted, Destination
from services.common.domain import DomainError, NotFound
from services.quality.application import QualityApplication
from services.quality.domain.investigation import QualityInvestigation
from services.quality.policies import quality_policy
from tests.common.builders import (
    MANAGER, PHOTO_SHA, complaint_registered, complaint_routed, findings, in_memory, product, published, react,
)
from tests.quality.chain import PNG


def record(app: QualityApplication, complaint_id: UUID, recorded: OnSiteFindings, inspector: str, actor: Actor,
           command_id: UUID) -> QualityInvestigation:
    """Send the RecordOnSiteDetermination command, as the HTTP edge does."""
    command = RecordOnSiteDetermination(complaint_id=complaint_id, command_id=command_id, actor=actor,
                                        inspector=inspector, **recorded.model_dump())
    return app.record_on_site_determination(command)


class OnePhoto:
    """An evidence store holding one photo under `PHOTO_SHA` (the hash `findings()` names)."""

    def info(self, sha256: str) -> object | None:
        from services.common.evidence import StoredEvidence
        return StoredEvidence(sha256=PHOTO_SHA, size=len(PNG), content_type="image/png", kind="photo") \
            if sha256 == PHOTO_SHA else None


@pytest.fixture
def app() -> QualityApplication:
    app = in_memory(QualityApplication)
    app.evidence = OnePhoto()
    return app


@pytest.fixture
def routed(app: QualityApplication) -> ComplaintRouted:
    event = complaint_routed(Destination.QUALITY_DEPARTMENT)
    react(app, quality_policy, event)
    return event


def test_routing_to_quality_opens_an_investigation(app: QualityApplication) -> None:
    routed = complaint_routed(Destination.QUALITY_DEPARTMENT)
    assert react(app, quality_policy, routed) == 1

    [opened] = published(app)
    assert isinstance(opened, QualityInvestigationOpened)
    assert opened.complaint_id == routed.complaint_id
    assert opened.form_number == routed.form_number
    assert opened.product == routed.product == product()
    assert opened.description == routed.description
    assert opened.causation_id == routed.event_id
    assert opened.correlation_id == routed.correlation_id
    assert opened.actor == Actor.system(ServiceName.QUALITY)


@pytest.mark.parametrize("destination", [d for d in Destination if d is not Destination.QUALITY_DEPARTMENT])
def test_routing_elsewhere_opens_nothing(app: QualityApplication, destination: Destination) -> None:
    assert react(app, quality_policy, complaint_routed(destination)) == 0
    with pytest.raises(NotFound):
        app.investigation(UUID(int=0))
    assert published(app) == []


def test_other_upstream_events_open_nothing(app: QualityApplication) -> None:
    assert react(app, quality_policy, complaint_registered()) == 0


def test_second_routing_delivery_opens_nothing_more(app: QualityApplication, routed: ComplaintRouted) -> None:
    assert react(app, quality_policy, routed, position=99) == 0
    assert len(published(app)) == 1


def test_determination_on_unknown_complaint_is_not_found(app: QualityApplication) -> None:
    with pytest.raises(NotFound) as missing:
        record(app, uuid4(), findings(), "rm-wang", MANAGER, uuid4())
    assert missing.value.status == 404
    assert isinstance(missing.value, DomainError)
    assert published(app) == []


def test_determination_is_published_with_its_evidence(app: QualityApplication, routed: ComplaintRouted) -> None:
    command_id = uuid4()
    recorded = findings(photo_refs=["photos/a.jpg", "photos/b.jpg", "photos/c.jpg"],
                        memo="Crack starts at a casting pore; not handling damage.", customer_agrees=False,
                        within_warranty=False)

    record(app, routed.complaint_id, recorded, "rm-wang", MANAGER, command_id)

    opened, determination = published(app)
    assert isinstance(determination, OnSiteDeterminationRecorded)
    assert determination.determination is Determination.OBVIOUS_QUALITY_DEFECT
    assert determination.misuse_resolution is None
    assert determination.photo_refs == ["photos/a.jpg", "photos/b.jpg", "photos/c.jpg"]
    assert determination.memo == "Crack starts at a casting pore; not handling damage."
    assert determination.inspector == "rm-wang"
    assert determination.customer_agrees is False
    assert determination.within_warranty is False
    assert determination.product == routed.product
    assert determination.causation_id == command_id
    assert determination.correlation_id == routed.correlation_id
    assert determination.actor == MANAGER
    assert determination.form_number == routed.form_number
    assert determination.event_id != opened.event_id
    assert determination.notification_id > opened.notification_id
    assert parse_event(serialize_event(determination)) == determination


def test_misuse_resolution_is_published(app: QualityApplication, routed: ComplaintRouted) -> None:
    recorded = findings(determination="obvious_misuse", misuse_resolution="simple_part_swap", evidence=[])
    record(app, routed.complaint_id, recorded, "rm-wang", MANAGER, uuid4())
    determination = published(app)[-1]
    assert determination.determination is Determination.OBVIOUS_MISUSE
    assert determination.misuse_resolution is MisuseResolution.SIMPLE_PART_SWAP


def test_second_determination_is_refused(app: QualityApplication, routed: ComplaintRouted) -> None:
    record(app, routed.complaint_id, findings(), "rm-wang", MANAGER, uuid4())
    stored = app.recorder.max_notification_id()

    with pytest.raises(DomainError) as refused:
        record(app, routed.complaint_id, findings(determination="cannot_be_determined"),
                                         "rm-li", MANAGER, uuid4())

    assert refused.value.field == "determination"
    assert "rm-wang" in str(refused.value)
    assert app.recorder.max_notification_id() == stored
    investigation = app.investigation(routed.complaint_id)
    assert investigation.findings.determination is Determination.OBVIOUS_QUALITY_DEFECT
    assert investigation.inspector == "rm-wang"


def test_second_determination_is_refused_on_the_aggregate(app: QualityApplication, routed: ComplaintRouted) -> None:
    investigation: QualityInvestigation = app.investigation(routed.complaint_id)
    kinds = {PHOTO_SHA: "photo"}
    investigation.record_on_site_determination(investigation.meta, findings(), "rm-wang", evidence_kinds=kinds)
    with pytest.raises(DomainError) as refused:
        investigation.record_on_site_determination(investigation.meta, findings(), "rm-wang", evidence_kinds=kinds)
    assert refused.value.field == "determination"
    assert len(investigation.pending_events) == 1


def test_a_retried_determination_command_returns_the_first_result(app: QualityApplication,
                                                                   routed: ComplaintRouted) -> None:
    command_id = uuid4()
    record(app, routed.complaint_id, findings(), "rm-wang", MANAGER, command_id)
    stored = app.recorder.max_notification_id()

    again = record(app, routed.complaint_id, findings(), "rm-wang", MANAGER, command_id)

    assert app.recorder.max_notification_id() == stored, "a retry stores nothing"
    assert again.findings.determination is Determination.OBVIOUS_QUALITY_DEFECT


def test_a_complaint_outside_the_caller_s_scope_is_not_found_like_a_missing_one(
        app: QualityApplication, routed: ComplaintRouted) -> None:
    stored = app.recorder.max_notification_id()
    command = RecordOnSiteDetermination(complaint_id=routed.complaint_id, command_id=uuid4(), actor=MANAGER,
                                        inspector="rm-li", **findings().model_dump())
    seen: list[str] = []
    with pytest.raises(NotFound) as hidden:
        app.record_on_site_determination(command, in_scope=lambda branch: seen.append(branch) or False)
    with pytest.raises(NotFound) as missing:
        app.record_on_site_determination(command.model_copy(update={"complaint_id": UUID(int=7)}))
    assert seen == ["SH01"], "scope is judged by the complaint's branch, from its form number"
    assert str(hidden.value).replace(str(routed.complaint_id), "X") == str(missing.value).replace(str(UUID(int=7)), "X")
    assert app.recorder.max_notification_id() == stored
