"""Driving one quality investigation through its steps over the in-memory store (test helper)."""

from __future__ import annotations

import base64
from datetime import date, datetime, timezone
from typing import Any
from uuid import UUID, uuid4

from contracts import quality as q
from contracts.envelope import Actor, Envelope, Role
from services.quality.application import QualityApplication, StepDone
from services.quality.domain.investigation import QualityInvestigation
from services.quality.policies import quality_policy
from tests.common.builders import MANAGER, complaint_routed, findings, in_memory, published, react

MD = Actor(user_id="md-sun", role=Role.MARKETING_DIRECTOR)
GM = Actor(user_id="gm-he", role=Role.GENERAL_MANAGER)
HQRM = Actor(user_id="hqrm-qian", role=Role.HQ_REGIONAL_MANAGER)
HQ = Actor(user_id="hq-zhao", role=Role.HQ_CLERK)
QA = Actor(user_id="qa-lin", role=Role.QUALITY_DEPARTMENT)
CLERK = Actor(user_id="clerk-li", role=Role.BRANCH_CLERK, branch="SH01")
OTHER_MANAGER = Actor(user_id="rm-li", role=Role.REGIONAL_MANAGER, branch="SH01")

#: A 1x1 PNG (a photo) and a minimal PDF (a scan), stored by the tests that need them.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)


def record_fields(**overrides: Any) -> dict[str, Any]:
    return findings(**overrides).model_dump()


class Chain:
    """One complaint routed to quality; each method takes one step as the person who takes it."""

    def __init__(self, app: QualityApplication | None = None, **routed: Any):
        self.app = app or in_memory(QualityApplication)
        self.app.clock = lambda: NOW
        self.routed = complaint_routed(**routed)
        react(self.app, quality_policy, self.routed)
        self.id = self.routed.complaint_id
        self.photo = self.app.evidence.put(PNG).sha256
        self.scan = self.app.evidence.put(PDF).sha256
        self.form_id = uuid4()
        self.return_id = uuid4()
        self.adjudication_id = uuid4()

    # --- plumbing -----------------------------------------------------------------------------------

    def do(self, command_cls: type, actor: Actor, command_id: UUID | None = None, **fields: Any) -> StepDone:
        command = command_cls(complaint_id=self.id, command_id=command_id or uuid4(), actor=actor, **fields)
        return self.app.handle(command)

    @property
    def investigation(self) -> QualityInvestigation:
        return self.app.investigation(self.id)

    def published(self) -> list[Envelope]:
        return published(self.app)

    def last(self) -> Envelope:
        return self.published()[-1]

    def stored(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    # --- the steps -------------------------------------------------------------------------------------

    def determine(self, actor: Actor = MANAGER, **overrides: Any) -> StepDone:
        fields = record_fields(**({"evidence": [self.photo]} | overrides))
        return self.do(q.RecordOnSiteDetermination, actor, inspector=actor.user_id, **fields)

    def correct(self, actor: Actor = MANAGER, **fields: Any) -> StepDone:
        return self.do(q.CorrectOnSiteDetermination, actor, **({"reason": "Second look at the seam"} | fields))

    def file(self, actor: Actor = MANAGER, **overrides: Any) -> StepDone:
        fields = dict(defect_form_id=self.form_id, determination=self.investigation.determination,
                      defect_description="Crack along the housing seam", memo="Casting flaw or impact: see photos",
                      evidence=[self.photo], return_proposed=True, estimated_company_cost="1800.00")
        return self.do(q.FileDefectiveProductForm, actor, **(fields | overrides))

    def approve_form(self, actor: Actor, stage: str, **overrides: Any) -> StepDone:
        fields = dict(defect_form_id=self.form_id, stage=stage,
                      product_return=True if stage == "hq_regional_manager" else None)
        return self.do(q.ApproveDefectiveProductForm, actor, **(fields | overrides))

    def reject_form(self, actor: Actor, reason: str = "Say where the crack starts") -> StepDone:
        return self.do(q.RejectDefectiveProductForm, actor, defect_form_id=self.form_id, reason=reason)

    def return_form(self, missing: list[str], actor: Actor = HQ) -> StepDone:
        return self.do(q.ReturnDefectiveProductForm, actor, defect_form_id=self.form_id, missing=missing,
                       reason="Incomplete")

    def forward(self, actor: Actor = HQ) -> StepDone:
        return self.do(q.ForwardDefectiveProductForm, actor, defect_form_id=self.form_id)

    def request_return(self, actor: Actor = MANAGER, **overrides: Any) -> StepDone:
        reason = "quality_defect_exchange" if self.investigation.determination == "obvious_quality_defect" \
            else "adjudication"
        fields = dict(return_id=self.return_id, reason=reason, quantity=1, carrier="SF Express")
        return self.do(q.RequestProductReturn, actor, **(fields | overrides))

    def ship(self, actor: Actor = MANAGER, **overrides: Any) -> StepDone:
        fields = dict(return_id=self.return_id, carrier="SF Express", waybill="SF1234567890", shipped_at=NOW)
        return self.do(q.ShipProductReturn, actor, **(fields | overrides))

    def receive(self, actor: Actor = QA, **overrides: Any) -> StepDone:
        fields = dict(return_id=self.return_id, quantity=1, condition="Housing cracked, seals intact")
        return self.do(q.RecordProductReceived, actor, **(fields | overrides))

    def adjudicate(self, actor: Actor = QA, **overrides: Any) -> StepDone:
        fields: dict[str, Any] = dict(
            adjudication_id=self.adjudication_id, determination="obvious_quality_defect",
            root_cause="Casting pore at the seam", responsible_party="company",
            proposed_handling="Replace the gearbox", salesperson_negligent=False,
            production={"production_date": date(2026, 9, 14), "line_or_unit": "Casting line 2", "shift": "night"},
            quantity=1, parts_used=[], labour_hours="0")
        return self.do(q.RecordQualityAdjudication, actor, **(fields | overrides))

    def approve_decision(self, actor: Actor = HQRM, **overrides: Any) -> StepDone:
        fields = dict(adjudication_id=self.adjudication_id, decision="Replace the gearbox free of charge",
                      company_cost="2600.00")
        return self.do(q.ApproveQualityDecision, actor, **(fields | overrides))

    def reject_decision(self, actor: Actor = HQRM, **overrides: Any) -> StepDone:
        fields = dict(adjudication_id=self.adjudication_id, matches_service_commitment=False,
                      matches_procedure=True, reason="The commitment promises free labour in warranty")
        return self.do(q.RejectQualityDecision, actor, **(fields | overrides))

    def remedy(self, actor: Actor = QA, **overrides: Any) -> StepDone:
        fields = dict(remedy_kind="replacement_shipped", description="Replacement GX-200 shipped",
                      delivered_at=NOW, reference="SF9876543210")
        return self.do(q.RecordQualityRemedy, actor, **(fields | overrides))

    # --- whole stretches ----------------------------------------------------------------------------------

    def up_to_forwarded(self, determination: str = "cannot_be_determined", product_return: bool = True) -> None:
        self.determine(determination=determination)
        self.file()
        self.approve_form(MD, "marketing_director")
        self.approve_form(HQRM, "hq_regional_manager", product_return=product_return)
        self.forward()

    def up_to_received(self, determination: str = "cannot_be_determined") -> None:
        self.up_to_forwarded(determination)
        self.request_return()
        self.ship()
        self.receive()
