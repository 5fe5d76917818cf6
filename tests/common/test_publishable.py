"""An event that would not satisfy its contract refuses the command: nothing is stored."""

from __future__ import annotations

import pytest

from services.common.publishing import UnpublishableEvent
from services.quality.application import QualityApplication
from services.quality.domain.investigation import QualityInvestigation
from services.quality.policies import quality_policy
from tests.common.builders import complaint_routed, findings, in_memory, react


def test_an_event_breaking_its_contract_is_refused_before_it_is_stored() -> None:
    app = in_memory(QualityApplication)
    routed = complaint_routed()
    react(app, quality_policy, routed)
    investigation: QualityInvestigation = app.investigation(routed.complaint_id)
    before = app.recorder.max_notification_id()

    # The aggregate accepts an inspector name longer than the contract allows (ShortStr).
    investigation.record_on_site_determination(investigation.meta, findings(), "x" * 201)
    with pytest.raises(UnpublishableEvent) as refused:
        app.save(investigation)

    assert refused.value.field == "inspector"
    assert refused.value.status == 422
    assert app.recorder.max_notification_id() == before
    assert app.investigation(routed.complaint_id).findings is None
