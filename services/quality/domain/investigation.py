"""The quality investigation of one complaint (§5.3.3⑸, §5.4, §5.7): the on-site inspection record and
its corrections, the defective-product form and its approvals, the return shipment, the quality
department's adjudication, the second approval of the decision and the remedy delivered.

Pure: the caller passes what it looked up (the kinds of the evidence hashes, the authority matrix,
the complaint's region, the time now). Every refusal is raised before any event is triggered.
Stored events of earlier versions stay readable: `Opened` and `DeterminationRecorded` upcast their
stored state (`class_version`), every later fact is a class made from its contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import event
from pydantic_core import to_jsonable_python

from contracts import quality as q
from contracts.envelope import Actor, Role
from contracts.quality import (
    COMPANY_SIDE, DECISION_APPROVER_ROLES, FORM_APPROVER_ROLES, Determination, FormApprovalStage, MisuseResolution,
    OnSiteDeterminationRecorded, OnSiteFindings, QualityInvestigationOpened, RemedyKind, ReturnReason,
)
from contracts.registration import ProductDetails, Severity, Subject
from services.common.access import Forbidden
from services.common.authority import AuthorityMatrix, level_of
from services.common.domain import ComplaintAggregate, DomainError, EventMeta, InvalidCommand, fact_classes

#: How far ahead of the service's clock a reported visit time may be (clock skew of a phone).
VISIT_SKEW = timedelta(minutes=5)

#: Who takes each step (the HTTP edge checks access.yaml too; this holds for any caller).
STEP_ROLES: dict[str, frozenset[Role]] = {
    "record determination": frozenset({Role.REGIONAL_MANAGER}),
    "correct determination": frozenset({Role.REGIONAL_MANAGER}),
    "file the defective-product form": frozenset({Role.REGIONAL_MANAGER}),
    "approve the defective-product form": FORM_APPROVER_ROLES[FormApprovalStage.MARKETING_DIRECTOR]
    | FORM_APPROVER_ROLES[FormApprovalStage.HQ_REGIONAL_MANAGER],
    "reject the defective-product form": FORM_APPROVER_ROLES[FormApprovalStage.MARKETING_DIRECTOR]
    | FORM_APPROVER_ROLES[FormApprovalStage.HQ_REGIONAL_MANAGER],
    "return the defective-product form": frozenset({Role.HQ_CLERK}),
    "forward the defective-product form": frozenset({Role.HQ_CLERK}),
    "request the return": frozenset({Role.REGIONAL_MANAGER}),
    "ship the return": frozenset({Role.REGIONAL_MANAGER}),
    "receive the returned product": frozenset({Role.QUALITY_DEPARTMENT}),
    "adjudicate": frozenset({Role.QUALITY_DEPARTMENT}),
    "approve the quality decision": DECISION_APPROVER_ROLES,
    "reject the quality decision": DECISION_APPROVER_ROLES,
    "record the remedy": frozenset({Role.QUALITY_DEPARTMENT}),
}


class WrongState(DomainError):
    """The investigation is not where the step needs it (409, naming `state`)."""

    def __init__(self, step: str, state: str, form_number: str, needs: str):
        super().__init__(f"cannot {step}: the investigation of {form_number} is {state} (the step needs {needs})",
                         field="state")
        self.state = state


def check_evidence(hashes: list[str], kinds: Mapping[str, str | None], need_photo: bool, field: str = "evidence",
                   earlier: Mapping[str, str] | None = None) -> dict[str, str]:
    """The kinds of `hashes` (looked up in the evidence store by the caller, None: not stored).
    Unknown hashes are refused (422); `need_photo`: at least one photo among them and `earlier`."""
    unknown = [h for h in hashes if kinds.get(h) is None]
    if unknown:
        raise InvalidCommand(f"{field}: no stored evidence with SHA-256 {', '.join(unknown[:3])}; upload it first "
                             "(POST /evidence)", field=field)
    found = {h: str(kinds[h]) for h in hashes}
    if need_photo and "photo" not in found.values() and "photo" not in (earlier or {}).values():
        raise InvalidCommand(f"{field}: an obvious quality defect or a case that cannot be determined needs at "
                             "least one photo of the defect (§5.4): upload it (POST /evidence) and name its hash",
                             field=field)
    return found


def _json(value: Any) -> Any:
    return to_jsonable_python(value)


class QualityInvestigation(ComplaintAggregate):
    class Opened(ComplaintAggregate.Created):
        PUBLISHED_AS = QualityInvestigationOpened
        class_version = 2
        meta: EventMeta
        product: ProductDetails | None
        description: str
        severity: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 did not keep the severity: an investigation opened then reads as general."""
            state.setdefault("severity", Severity.GENERAL.value)

    @event(Opened)
    def __init__(self, meta: EventMeta, product: ProductDetails | None, description: str,
                 severity: str = Severity.GENERAL.value):
        self.meta = meta
        self.product = product
        self.description = description
        self.severity = severity
        self.findings: OnSiteFindings | None = None      # the on-site record as first recorded
        self.record: dict[str, Any] | None = None       # the whole inspection record (JSON)
        self.inspector: str | None = None
        self.determination_command_id: UUID | None = None
        self.determination: str | None = None           # the on-site determination now (after corrections)
        self.misuse_resolution: str | None = None
        self.within_warranty: bool = True
        self.quantity: int = 1
        self.parts_used: list[dict[str, Any]] = []
        self.determination_approved = False             # the form's first approval, or settled on site
        self.corrections: list[dict[str, Any]] = []
        self.evidence: dict[str, str] = {}              # hash -> kind, of everything named so far
        self.form: dict[str, Any] | None = None
        self.product_return: dict[str, Any] | None = None
        self.adjudication: dict[str, Any] | None = None   # the latest one
        self.adjudications: list[dict[str, Any]] = []
        self.decision: dict[str, Any] | None = None
        self.decision_rejections: list[dict[str, Any]] = []
        self.remedies: list[dict[str, Any]] = []
        self.rulings: list[dict[str, Any]] = []          # dispute rulings that changed the determination
        self.fingerprints: dict[str, str] = {}

    class DeterminationRecorded(ComplaintAggregate.Event):
        PUBLISHED_AS = OnSiteDeterminationRecorded
        class_version = 2
        meta: EventMeta
        determination: str
        misuse_resolution: str | None
        photo_refs: list[str]
        memo: str
        customer_agrees: bool
        within_warranty: bool
        inspector: str
        product: ProductDetails | None
        visited_at: datetime
        samples_taken: list[str]
        cause: str
        customer_opinion: str | None
        written_feedback: str | None
        quantity: int
        parts_used: list[dict[str, Any]]
        salesperson: str | None
        evidence: list[str]
        kinds: dict[str, str]  # the kind of each evidence hash (internal)
        fingerprint: str | None  # what the command asked (internal: a repeat of its id is recognised)

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """As the contract's upcaster: visited when recorded, the memo the cause, defaults otherwise."""
            state.setdefault("visited_at", state["timestamp"])
            state.setdefault("cause", state["memo"])
            for name in ("samples_taken", "parts_used", "evidence"):
                state.setdefault(name, [])
            for name in ("customer_opinion", "written_feedback", "salesperson"):
                state.setdefault(name, None)
            state.setdefault("quantity", 1)
            state.setdefault("kinds", {})
            state.setdefault("fingerprint", None)

        def apply(self, investigation: QualityInvestigation) -> None:
            i = investigation
            i.inspector = self.inspector
            i.determination_command_id = self.meta.causation_id
            i.findings = OnSiteFindings(
                determination=self.determination, misuse_resolution=self.misuse_resolution,
                photo_refs=self.photo_refs, memo=self.memo, customer_agrees=self.customer_agrees,
                within_warranty=self.within_warranty,
            )
            i.record = {name: _json(getattr(self, name)) for name in (
                "determination", "misuse_resolution", "photo_refs", "memo", "customer_agrees", "within_warranty",
                "inspector", "visited_at", "samples_taken", "cause", "customer_opinion", "written_feedback",
                "quantity", "parts_used", "salesperson", "evidence")}
            i.determination, i.misuse_resolution = self.determination, self.misuse_resolution
            i.within_warranty, i.quantity, i.parts_used = self.within_warranty, self.quantity, list(self.parts_used)
            i.evidence = {**i.evidence, **self.kinds}
            i.determination_approved = i.settled_on_site
            i._took(self)

    class DeterminationRuled(ComplaintAggregate.Event):
        """A dispute ruling (routing's `DisputeRuled` with a determination) changed the determination
        (internal: routing published the ruling)."""

        meta: EventMeta
        dispute_id: str
        determination: str
        misuse_resolution: str | None
        responsible_party: str | None
        ruled_by: str

        def apply(self, investigation: QualityInvestigation) -> None:
            i = investigation
            i.rulings = [*i.rulings, {"dispute_id": self.dispute_id, "previous_determination": i.determination,
                                      "determination": self.determination,
                                      "misuse_resolution": self.misuse_resolution,
                                      "responsible_party": self.responsible_party, "ruled_by": self.ruled_by,
                                      "at": _json(self.timestamp)}]
            i.determination, i.misuse_resolution = self.determination, self.misuse_resolution
            i.determination_approved = True

    def rule_determination(self, meta: EventMeta, dispute_id: UUID, determination: str,
                           misuse_resolution: str | None, responsible_party: str | None, ruled_by: str) -> None:
        """Take a dispute ruling's determination (§5.6): once per dispute, whatever the state."""
        if any(r["dispute_id"] == str(dispute_id) for r in self.rulings):
            return
        self.trigger_event(self.DeterminationRuled, meta=meta, dispute_id=str(dispute_id), determination=determination,
                           misuse_resolution=misuse_resolution, responsible_party=responsible_party, ruled_by=ruled_by)

    # --- idempotency -------------------------------------------------------------------------------
    #
    # Every step triggers exactly one fact, which keeps what its command asked (`fingerprint`), so that
    # the command id used again is recognised as a repeat, or refused for another step.

    def taking(self, fingerprint: str) -> None:
        """The fingerprint of the command whose step comes next (kept by the fact it triggers)."""
        self._taking = fingerprint

    def _took(self, fact: Any) -> None:
        fingerprint = getattr(fact, "fingerprint", None)
        if fingerprint is not None and fact.meta.causation_id is not None:
            self.fingerprints = {**self.fingerprints, str(fact.meta.causation_id): fingerprint}

    def repeated_with(self, command_id: UUID, fingerprint: str) -> bool:
        """True: the command was carried out before (a repeat). Another command under the same id is
        refused (409, `command_id`)."""
        if command_id == self.determination_command_id and str(command_id) not in self.fingerprints:
            return True  # recorded before command fingerprints were kept
        known = self.fingerprints.get(str(command_id))
        if known is None:
            return False
        if known != fingerprint:
            raise DomainError(f"command_id {command_id} was already used for another step or other fields; "
                              "send a new command_id", field="command_id")
        return True

    # --- questions -----------------------------------------------------------------------------------

    @property
    def settled_on_site(self) -> bool:
        """Obvious misuse the customer agreed to on site: decided there (§5.5.2)."""
        return self.determination == Determination.OBVIOUS_MISUSE.value and self.customer_agrees

    @property
    def customer_agrees(self) -> bool:
        """The customer's agreement with the determination as it stands (the latest correction's, else
        the inspection record's)."""
        if "agreement" in self.__dict__:
            return bool(self.__dict__["agreement"])
        return self.findings is not None and bool(self.findings.customer_agrees)

    @property
    def stage(self) -> str:
        """Where the investigation stands, in a word or two."""
        if self.remedies:
            return "remedy_delivered"
        if self.rulings:
            return "ruled"
        if self.decision is not None:
            return "decision_approved"
        if self.adjudication is not None:
            return "adjudication_rejected" if self.adjudication.get("rejected") else "adjudicated"
        if self.product_return is not None:
            return f"return_{self.product_return['state']}"
        if self.form is not None:
            return f"form_{self.form['state']}"
        if self.determination is not None:
            return "settled_on_site" if self.settled_on_site else "determined"
        return "awaiting_determination"

    def check_actor(self, step: str, actor: Actor) -> None:
        """Refuse (403, `actor`) a step by a role that does not take it."""
        roles = STEP_ROLES[step]
        if actor.role not in roles:
            raise Forbidden(f"{step} is for {', '.join(sorted(r.value for r in roles))}, not {actor.role.value}",
                            field="actor")

    def _needs(self, ok: bool, step: str, needs: str) -> None:
        if not ok:
            raise WrongState(step, self.stage, self.meta.form_number, needs)

    def _fact(self, contract: type, meta: EventMeta, **fields: Any) -> None:
        cls = FACTS[contract.__name__]
        for name, info in contract.model_fields.items():
            if name in cls.__annotations__ and name not in fields:
                fields[name] = info.get_default(call_default_factory=True)
        fields["fingerprint"] = self.__dict__.pop("_taking", None)
        self.trigger_event(cls, meta=meta, **{k: _json(v) for k, v in fields.items()})

    def _approve_within(self, matrix: AuthorityMatrix, actor: Actor, region: str | None,
                        company_cost: Decimal) -> tuple[str, str]:
        level = level_of(actor.role)
        if level is None:
            raise Forbidden(f"{actor.role.value} approves nothing", field="actor")
        matrix.check(actor.role, level, Subject.PRODUCT_QUALITY, Severity(self.severity), region,
                     compensation=None, company_cost=company_cost)
        return level.value, matrix.version

    # --- the on-site inspection record (§5.3.3⑸, §5.4) -------------------------------------------------

    def record_on_site_determination(self, meta: EventMeta, record: q.OnSiteInspectionStep, inspector: str,
                                     now: datetime | None = None,
                                     evidence_kinds: Mapping[str, str | None] | None = None) -> None:
        """Exactly one determination per complaint; a correction is a later, separate fact. A quality
        defect or an undetermined case needs a photo among the evidence (§5.4): `evidence_kinds` are the
        kinds the caller looked up for its hashes (the application always does)."""
        if self.findings is not None:
            raise DomainError(
                f"an on-site determination ({self.findings.determination}) was already recorded "
                f"by {self.inspector}", field="determination")
        kinds = {} if evidence_kinds is None else check_evidence(  # None: not looked up (a test's own event)
            list(record.evidence), evidence_kinds, record.determination in COMPANY_SIDE)
        if now is not None and record.visited_at > now + VISIT_SKEW:
            raise InvalidCommand(f"visited_at {record.visited_at.isoformat()} is in the future", field="visited_at")
        self.trigger_event(
            self.DeterminationRecorded, meta=meta, determination=record.determination.value,
            misuse_resolution=record.misuse_resolution.value if record.misuse_resolution else None,
            photo_refs=list(record.photo_refs), memo=record.memo, customer_agrees=record.customer_agrees,
            within_warranty=record.within_warranty, inspector=inspector, product=self.product,
            visited_at=record.visited_at, samples_taken=list(record.samples_taken), cause=record.cause,
            customer_opinion=record.customer_opinion, written_feedback=record.written_feedback,
            quantity=record.quantity, parts_used=[p.model_dump(mode="json") for p in record.parts_used],
            salesperson=record.salesperson, evidence=list(record.evidence), kinds=kinds,
            fingerprint=self.__dict__.pop("_taking", None),
        )

    def correct_determination(self, meta: EventMeta, step: q.CorrectOnSiteDeterminationStep,
                              evidence_kinds: Mapping[str, str | None]) -> None:
        """The inspector corrects the determination, with a reason, until it is approved (§5.3.3⑸)."""
        doing = "correct the on-site determination"
        self._needs(self.determination is not None, doing, "an on-site determination")
        if meta.actor.user_id != self.inspector:
            raise Forbidden(f"only the inspector ({self.inspector}) corrects the on-site determination",
                            field="actor")
        self._needs(not self.determination_approved and self.adjudication is None, doing,
                    "a determination not yet approved (after approval only adjudication or a dispute ruling "
                    "changes it)")
        parts = [p.model_dump(mode="json") for p in step.parts_used]
        resolution = step.misuse_resolution.value if step.misuse_resolution else None
        agrees = self.customer_agrees if step.customer_agrees is None else step.customer_agrees
        if (step.determination.value, resolution, step.within_warranty, step.quantity, parts, agrees) == (
                self.determination, self.misuse_resolution, self.within_warranty, self.quantity, self.parts_used,
                self.customer_agrees):
            raise DomainError("the correction changes nothing: the determination already reads so",
                              field="determination")
        if self.form is not None and step.determination is Determination.OBVIOUS_MISUSE:
            raise DomainError("a defective-product form was filed for this case: misuse is decided by adjudication",
                              field="determination")
        kinds = check_evidence(list(step.evidence), evidence_kinds, step.determination in COMPANY_SIDE,
                               earlier=self.evidence)
        self._fact(q.OnSiteDeterminationCorrected, meta, previous_determination=self.determination,
                   determination=step.determination, misuse_resolution=step.misuse_resolution,
                   within_warranty=step.within_warranty, quantity=step.quantity, parts_used=parts,
                   reason=step.reason, corrected_by=meta.actor.user_id, customer_agrees=agrees,
                   evidence=list(step.evidence), product=self.product, kinds=kinds)

    def _apply_OnSiteDeterminationCorrected(self, f: Any) -> None:
        self.determination, self.misuse_resolution = f.determination, f.misuse_resolution
        self.within_warranty, self.quantity, self.parts_used = f.within_warranty, f.quantity, list(f.parts_used)
        self.agreement = f.customer_agrees
        self.evidence = {**self.evidence, **f.kinds}
        self.corrections.append({"at": _json(f.timestamp), "previous_determination": f.previous_determination,
                                 "determination": f.determination, "misuse_resolution": f.misuse_resolution,
                                 "reason": f.reason, "corrected_by": f.corrected_by})
        self.determination_approved = self.settled_on_site

    # --- the defective-product form (§5.7.1) ------------------------------------------------------------

    def file_form(self, meta: EventMeta, step: q.FileDefectiveProductFormStep,
                  evidence_kinds: Mapping[str, str | None]) -> None:
        doing = "file the defective-product form"
        self._needs(self.determination is not None, doing, "an on-site determination")
        refile = self.form is not None
        if refile:
            if str(step.defect_form_id) != self.form["defect_form_id"]:
                raise DomainError(f"this complaint's defective-product form is {self.form['defect_form_id']}; "
                                  "refile that one", field="defect_form_id")
            self._needs(self.form["state"] in ("rejected", "returned"), doing,
                        "no form yet, or the form sent back to the filer")
        if step.determination.value != self.determination:
            raise DomainError(f"the on-site determination is {self.determination}; correct it first, or file the "
                              "form for it", field="determination")
        kinds = check_evidence(list(step.evidence), evidence_kinds, need_photo=True)
        self._fact(q.DefectiveProductFormFiled, meta, defect_form_id=step.defect_form_id,
                   revision=self.form["revision"] + 1 if refile else 1, filed_by=meta.actor.user_id,
                   determination=step.determination, product=self.product, defect_description=step.defect_description,
                   memo=step.memo, memo_id=step.memo_id, evidence=list(step.evidence),
                   return_proposed=step.return_proposed, estimated_company_cost=step.estimated_company_cost,
                   kinds=kinds)

    def _apply_DefectiveProductFormFiled(self, f: Any) -> None:
        self.evidence = {**self.evidence, **f.kinds}
        self.form = {"defect_form_id": str(f.defect_form_id), "revision": f.revision, "state": "filed",
                     "filed_by": f.filed_by, "determination": f.determination,
                     "defect_description": f.defect_description, "memo": f.memo, "evidence": list(f.evidence),
                     "return_proposed": f.return_proposed, "estimated_company_cost": str(f.estimated_company_cost),
                     "product_return": None, "approvals": [], "rejections": list((self.form or {}).get("rejections", []))}

    def _form_step(self, doing: str, defect_form_id: UUID, *states: str) -> dict[str, Any]:
        self._needs(self.form is not None, doing, "a filed defective-product form")
        if str(defect_form_id) != self.form["defect_form_id"]:
            raise DomainError(f"this complaint's defective-product form is {self.form['defect_form_id']}",
                              field="defect_form_id")
        self._needs(self.form["state"] in states, doing, "the form " + " or ".join(states))
        return self.form

    def approve_form(self, meta: EventMeta, step: q.ApproveDefectiveProductFormStep, matrix: AuthorityMatrix,
                     region: str | None) -> None:
        doing = f"approve the defective-product form at the {step.stage.value} stage"
        hq = step.stage is FormApprovalStage.HQ_REGIONAL_MANAGER
        form = self._form_step(doing, step.defect_form_id, "marketing_approved" if hq else "filed")
        if meta.actor.role not in FORM_APPROVER_ROLES[step.stage]:
            raise Forbidden(f"the {step.stage.value} stage is approved by "
                            f"{', '.join(sorted(r.value for r in FORM_APPROVER_ROLES[step.stage]))}, "
                            f"not {meta.actor.role.value}", field="actor")
        cost = Decimal(form["estimated_company_cost"])
        level, version = self._approve_within(matrix, meta.actor, region, cost)
        self._fact(q.DefectiveProductFormApproved, meta, defect_form_id=step.defect_form_id, stage=step.stage,
                   approver=meta.actor.user_id, approver_role=meta.actor.role, comments=step.comments,
                   product_return=step.product_return if hq else None, company_cost=cost,
                   authority_level=level, authority_matrix_version=version)

    def _apply_DefectiveProductFormApproved(self, f: Any) -> None:
        hq = f.stage == FormApprovalStage.HQ_REGIONAL_MANAGER.value
        self.form = {**self.form, "state": "approved" if hq else "marketing_approved",
                     "approvals": [*self.form["approvals"], {
                         "stage": f.stage, "approver": f.approver, "approver_role": f.approver_role,
                         "authority_level": f.authority_level, "authority_matrix_version": f.authority_matrix_version,
                         "comments": f.comments, "at": _json(f.timestamp)}]}
        if hq:
            self.form["product_return"] = f.product_return
        self.determination_approved = True

    def reject_form(self, meta: EventMeta, step: q.RejectDefectiveProductFormStep) -> None:
        doing = "reject the defective-product form"
        form = self._form_step(doing, step.defect_form_id, "filed", "marketing_approved")
        stage = FormApprovalStage.MARKETING_DIRECTOR if form["state"] == "filed" else \
            FormApprovalStage.HQ_REGIONAL_MANAGER
        if meta.actor.role not in FORM_APPROVER_ROLES[stage]:
            raise Forbidden(f"the form awaits the {stage.value} stage: "
                            f"{', '.join(sorted(r.value for r in FORM_APPROVER_ROLES[stage]))} may reject it, "
                            f"not {meta.actor.role.value}", field="actor")
        self._fact(q.DefectiveProductFormRejected, meta, defect_form_id=step.defect_form_id,
                   rejected_by=meta.actor.user_id, rejected_by_role=meta.actor.role, reason=step.reason, missing=[])

    def return_form(self, meta: EventMeta, step: q.ReturnDefectiveProductFormStep) -> None:
        self._form_step("return the defective-product form", step.defect_form_id, "approved")
        self._fact(q.DefectiveProductFormRejected, meta, defect_form_id=step.defect_form_id,
                   rejected_by=meta.actor.user_id, rejected_by_role=meta.actor.role, reason=step.reason,
                   missing=list(step.missing))

    def _apply_DefectiveProductFormRejected(self, f: Any) -> None:
        self.form = {**self.form, "state": "returned" if f.missing else "rejected",
                     "rejections": [*self.form["rejections"], {
                         "by": f.rejected_by, "role": f.rejected_by_role, "reason": f.reason,
                         "missing": list(f.missing), "at": _json(f.timestamp)}]}

    def forward_form(self, meta: EventMeta, step: q.ForwardDefectiveProductFormStep) -> None:
        form = self._form_step("forward the defective-product form", step.defect_form_id, "approved")
        self._fact(q.DefectiveProductFormForwarded, meta, defect_form_id=step.defect_form_id,
                   forwarded_by=meta.actor.user_id, determination=self.determination, product=self.product,
                   defect_description=form["defect_description"], product_return=form["product_return"],
                   evidence=form["evidence"])

    def _apply_DefectiveProductFormForwarded(self, f: Any) -> None:
        self.form = {**self.form, "state": "forwarded", "forwarded_by": f.forwarded_by}

    # --- the return shipment ----------------------------------------------------------------------------

    def request_return(self, meta: EventMeta, step: q.RequestProductReturnStep) -> None:
        doing = "request the product's return"
        self._needs(self.form is not None and self.form["state"] in ("approved", "forwarded")
                    and self.form["product_return"] is True, doing,
                    "the HQ regional manager's decision to return the product")
        self._needs(self.product_return is None, doing, "no return requested yet")
        expected = ReturnReason.QUALITY_DEFECT_EXCHANGE if self.determination == \
            Determination.OBVIOUS_QUALITY_DEFECT.value else ReturnReason.ADJUDICATION
        if step.reason is not expected:
            raise DomainError(f"the determination is {self.determination}: the return is for {expected.value}",
                              field="reason")
        self._fact(q.ProductReturnRequested, meta, return_id=step.return_id, reason=step.reason, product=self.product,
                   quantity=step.quantity, requested_by=meta.actor.user_id, pickup_address=step.pickup_address,
                   carrier=step.carrier, expected_by=step.expected_by,
                   replacement_promised=expected is ReturnReason.QUALITY_DEFECT_EXCHANGE,
                   within_warranty=self.within_warranty)

    def _apply_ProductReturnRequested(self, f: Any) -> None:
        self.product_return = {"return_id": str(f.return_id), "state": "requested", "reason": f.reason,
                               "quantity": f.quantity, "requested_by": f.requested_by}

    def _return_step(self, doing: str, return_id: UUID, state: str) -> dict[str, Any]:
        self._needs(self.product_return is not None, doing, "a requested return")
        if str(return_id) != self.product_return["return_id"]:
            raise DomainError(f"this complaint's return is {self.product_return['return_id']}", field="return_id")
        self._needs(self.product_return["state"] == state, doing, f"the return {state}")
        return self.product_return

    def ship_return(self, meta: EventMeta, step: q.ShipProductReturnStep, now: datetime) -> None:
        ret = self._return_step("record the return shipped", step.return_id, "requested")
        if step.shipped_at > now + VISIT_SKEW:
            raise InvalidCommand(f"shipped_at {step.shipped_at.isoformat()} is in the future", field="shipped_at")
        self._fact(q.ProductReturnShipped, meta, return_id=step.return_id, carrier=step.carrier, waybill=step.waybill,
                   shipped_at=step.shipped_at, shipped_by=meta.actor.user_id, quantity=ret["quantity"])

    def _apply_ProductReturnShipped(self, f: Any) -> None:
        self.product_return = {**self.product_return, "state": "shipped", "carrier": f.carrier,
                               "waybill": f.waybill, "shipped_at": _json(f.shipped_at)}

    def receive_return(self, meta: EventMeta, step: q.RecordProductReceivedStep) -> None:
        self._return_step("record the returned product received", step.return_id, "shipped")
        self._fact(q.ProductReceived, meta, return_id=step.return_id, received_by=meta.actor.user_id,
                   quantity=step.quantity, condition=step.condition)

    def _apply_ProductReceived(self, f: Any) -> None:
        self.product_return = {**self.product_return, "state": "received", "received_by": f.received_by,
                               "received_quantity": f.quantity, "condition": f.condition}

    # --- adjudication and the second approval (§5.4.5, §5.7.1⑷, §5.7.2⑷) ---------------------------------

    def adjudicate(self, meta: EventMeta, step: q.RecordQualityAdjudicationStep) -> None:
        doing = "adjudicate"
        self._needs(self.form is not None and self.form["state"] == "forwarded", doing,
                    "the defective-product form forwarded to the quality department")
        if self.form["product_return"]:
            self._needs(self.product_return is not None and self.product_return["state"] == "received", doing,
                        "the returned product received (a return was decided)")
        self._needs(self.decision is None and (self.adjudication is None or self.adjudication.get("rejected")),
                    doing, "no adjudication awaiting or past its second approval")
        if step.salesperson_negligent and self.determination != Determination.CANNOT_BE_DETERMINED.value:
            raise DomainError("a negligence finding (§5.4.6) is for a case sent back undetermined; this one was "
                              f"determined on site as {self.determination}", field="salesperson_negligent")
        if any(a["adjudication_id"] == str(step.adjudication_id) for a in self.adjudications):
            raise DomainError(f"adjudication {step.adjudication_id} was recorded already; a new one needs a new id",
                              field="adjudication_id")
        findings = step.model_dump(include=set(q.AdjudicationFindings.model_fields))
        self._fact(q.QualityAdjudicationRecorded, meta, **findings, adjudicated_by=meta.actor.user_id,
                   on_site_determination=self.determination, product=self.product)

    def _apply_QualityAdjudicationRecorded(self, f: Any) -> None:
        self.adjudication = {name: _json(getattr(f, name)) for name in (
            "adjudication_id", "determination", "misuse_resolution", "root_cause", "production",
            "responsible_party", "proposed_handling", "within_warranty", "quantity", "parts_used", "labour_hours",
            "salesperson", "salesperson_negligent", "negligence_degree", "negligence_finding",
            "adjudicated_by", "on_site_determination")} | {"rejected": False}
        self.adjudications.append(dict(self.adjudication))

    def _pending_adjudication(self, doing: str, adjudication_id: UUID) -> dict[str, Any]:
        self._needs(self.decision is None and self.adjudication is not None and not self.adjudication["rejected"],
                    doing, "an adjudication awaiting its second approval")
        if str(adjudication_id) != self.adjudication["adjudication_id"]:
            raise DomainError(f"the adjudication awaiting approval is {self.adjudication['adjudication_id']}",
                              field="adjudication_id")
        return self.adjudication

    def approve_decision(self, meta: EventMeta, step: q.ApproveQualityDecisionStep, matrix: AuthorityMatrix,
                         region: str | None) -> None:
        adjudication = self._pending_adjudication("approve the quality decision", step.adjudication_id)
        level, version = self._approve_within(matrix, meta.actor, region, step.company_cost)
        self._fact(q.QualityDecisionApproved, meta, adjudication_id=step.adjudication_id,
                   approver=meta.actor.user_id, approver_role=meta.actor.role,
                   determination=adjudication["determination"], responsible_party=adjudication["responsible_party"],
                   decision=step.decision, comments=step.comments, misuse_resolution=adjudication["misuse_resolution"],
                   company_cost=step.company_cost, authority_level=level, authority_matrix_version=version)

    def _apply_QualityDecisionApproved(self, f: Any) -> None:
        self.decision = {"adjudication_id": str(f.adjudication_id), "approver": f.approver,
                         "approver_role": f.approver_role, "decision": f.decision,
                         "determination": f.determination, "responsible_party": f.responsible_party,
                         "company_cost": str(f.company_cost), "authority_level": f.authority_level,
                         "authority_matrix_version": f.authority_matrix_version, "at": _json(f.timestamp)}

    def reject_decision(self, meta: EventMeta, step: q.RejectQualityDecisionStep) -> None:
        self._pending_adjudication("reject the quality decision", step.adjudication_id)
        self._fact(q.QualityDecisionRejected, meta, adjudication_id=step.adjudication_id,
                   approver=meta.actor.user_id, approver_role=meta.actor.role,
                   matches_service_commitment=step.matches_service_commitment,
                   matches_procedure=step.matches_procedure, reason=step.reason)

    def _apply_QualityDecisionRejected(self, f: Any) -> None:
        self.adjudication = {**self.adjudication, "rejected": True}
        self.decision_rejections.append({"adjudication_id": str(f.adjudication_id), "by": f.approver,
                                         "reason": f.reason, "at": _json(f.timestamp)})

    # --- the remedy delivered ---------------------------------------------------------------------------

    def record_remedy(self, meta: EventMeta, step: q.RecordQualityRemedyStep, now: datetime) -> None:
        doing = "record the remedy delivered"
        self._needs(self.decision is not None or self.settled_on_site or bool(self.rulings), doing,
                    "the approved quality decision, a dispute ruling, or a misuse settled on site")
        on_site_fix = self.settled_on_site and self.misuse_resolution == MisuseResolution.FIXED_ON_SITE.value
        if (step.remedy_kind is RemedyKind.FIXED_ON_SITE) != (on_site_fix and self.decision is None
                                                              and not self.rulings):
            raise DomainError("fixed_on_site is the remedy of a misuse fixed on site, and only of that",
                              field="remedy_kind")
        if step.delivered_at > now + VISIT_SKEW:
            raise InvalidCommand(f"delivered_at {step.delivered_at.isoformat()} is in the future", field="delivered_at")
        self._fact(q.QualityRemedyDelivered, meta, remedy_kind=step.remedy_kind, description=step.description,
                   delivered_by=meta.actor.user_id, delivered_at=step.delivered_at, reference=step.reference,
                   quantity=step.quantity, parts_used=list(step.parts_used))

    def _apply_QualityRemedyDelivered(self, f: Any) -> None:
        self.remedies.append({"remedy_kind": f.remedy_kind, "description": f.description,
                              "delivered_by": f.delivered_by, "delivered_at": _json(f.delivered_at),
                              "reference": f.reference, "quantity": f.quantity, "parts_used": list(f.parts_used)})

    def _on(self, fact: Any) -> None:
        getattr(self, f"_apply_{type(fact).__name__}")(fact)
        self._took(fact)


#: The published facts after the determination: each a stored event class made from its contract.
FACT_CONTRACTS = (
    q.OnSiteDeterminationCorrected, q.DefectiveProductFormFiled, q.DefectiveProductFormApproved,
    q.DefectiveProductFormRejected, q.DefectiveProductFormForwarded, q.ProductReturnRequested,
    q.ProductReturnShipped, q.ProductReceived, q.QualityAdjudicationRecorded, q.QualityDecisionApproved,
    q.QualityDecisionRejected, q.QualityRemedyDelivered,
)
#: Facts that keep something the message does not carry (the kinds of the evidence named).
_EXTRA: dict[str, dict[str, Any]] = {
    "OnSiteDeterminationCorrected": {"kinds": dict[str, str]},
    "DefectiveProductFormFiled": {"kinds": dict[str, str]},
}


FACTS: dict[str, type] = fact_classes(QualityInvestigation, FACT_CONTRACTS, _EXTRA, {"fingerprint": str | None})
