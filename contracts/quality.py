"""On-site determination, the defective-product form, the return, adjudication and the remedy
(§5.3.3, §5.4, §5.7): quality's messages. (Corrective actions are in `contracts/corrective.py`.)

Each human step has a `...Step` model (its own fields: the HTTP body adds only `command_id`) and
a command that is the step plus the command envelope (the acting user is the bearer token's)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, StrictBool, model_validator

from contracts.envelope import (
    ATTACHMENTS_MAX, PHOTOS_MAX, REF_MAX, SHORT_TEXT_PATTERN, Attachments, ComplaintCommand, DecimalText, Envelope,
    Frozen, Money, NonEmptyStr, Role, Rules, ServiceName, ShortStr, describe, whole_match,
)
from contracts.registration import ProductDetails


class Determination(StrEnum):
    """§5.3.3⑸: the manager classifies the problem as exactly one of these."""

    OBVIOUS_QUALITY_DEFECT = "obvious_quality_defect"
    OBVIOUS_MISUSE = "obvious_misuse"
    CANNOT_BE_DETERMINED = "cannot_be_determined"


#: Determinations that put the cause on the company's side (or leave it open): they need photos (§5.4).
COMPANY_SIDE = frozenset({Determination.OBVIOUS_QUALITY_DEFECT, Determination.CANNOT_BE_DETERMINED})


class MisuseResolution(StrEnum):
    """§5.5: how obvious misuse is resolved, which decides who pays what."""

    FIXED_ON_SITE = "fixed_on_site"
    COMPLEX_NEEDS_PARTS = "complex_needs_parts"
    SIMPLE_PART_SWAP = "simple_part_swap"


PhotoRef = Annotated[str, Field(min_length=1, max_length=REF_MAX, pattern=SHORT_TEXT_PATTERN,
                                description="Reference to a stored photo"),
                     whole_match(SHORT_TEXT_PATTERN)]
PhotoRefs = Annotated[list[PhotoRef], Field(min_length=1, max_length=PHOTOS_MAX)]

SHA256_PATTERN = r"^[0-9a-f]{64}$"
#: A stored evidence file (photo or scan) by the SHA-256 of its bytes (`POST /evidence` answers it).
EvidenceHash = Annotated[
    str, Field(min_length=64, max_length=64, pattern=SHA256_PATTERN,
               description="SHA-256 of a stored evidence file (POST /evidence), 64 lower-case hex digits"),
    whole_match(SHA256_PATTERN),
]
EvidenceHashes = Annotated[list[EvidenceHash], Field(max_length=PHOTOS_MAX)]
#: Units of a product, or of a part.
Quantity = Annotated[int, Field(ge=1, le=100_000)]
#: Labour in hours, two places; a decimal string on the wire (like Money).
HOURS_PATTERN = r"^[0-9]{1,4}(\.[0-9]{1,2})?$"
LabourHours = Annotated[Decimal, Field(ge=0, max_digits=6, decimal_places=2), DecimalText(HOURS_PATTERN, 7)]


class PartUsed(Frozen):
    """A part swapped or to be supplied (priced by billing from its price list)."""

    part_no: ShortStr
    quantity: Quantity = 1


PartsUsed = Annotated[list[PartUsed], Field(max_length=ATTACHMENTS_MAX)]
SamplesTaken = Annotated[list[ShortStr], Field(max_length=ATTACHMENTS_MAX)]


class OnSiteFindings(Frozen):
    """What the regional manager records on site (the v1 fields)."""

    determination: Determination
    misuse_resolution: MisuseResolution | None = None
    photo_refs: PhotoRefs = Field(description="Photos of the defect (§5.4): their references (names, captions)")
    memo: NonEmptyStr = Field(description="Memo stating the determination (§5.4)")
    customer_agrees: StrictBool = Field(description="Whether the customer agreed on the cause")
    within_warranty: StrictBool = True

    @model_validator(mode="after")
    def _misuse_needs_resolution(self) -> OnSiteFindings:
        _misuse_rules(Rules(self), self.determination, self.misuse_resolution).check()
        return self


class InspectionRecord(OnSiteFindings):
    """The on-site inspection record (§5.3.3⑸, §5.4) as published (v2 of the determination)."""

    visited_at: AwareDatetime = Field(description="When the regional manager was on site")
    samples_taken: SamplesTaken = Field(default_factory=list, description="Samples taken on site")
    cause: NonEmptyStr = Field(description="The cause found on site")
    customer_opinion: NonEmptyStr | None = Field(default=None, description="The customer's opinion of the result")
    written_feedback: NonEmptyStr | None = Field(
        default=None, description="Written feedback of the result of an on-site fix (§5.5.2⑴)")
    quantity: Quantity = Field(default=1, description="Units concerned")
    parts_used: PartsUsed = Field(default_factory=list, description="Parts swapped or to be supplied")
    salesperson: ShortStr | None = Field(default=None, description="Who handled it on site")
    evidence: EvidenceHashes = Field(default_factory=list, description="Stored photos and scans, by SHA-256")


class QualityInvestigationOpened(Envelope):
    """Quality opened an investigation for a complaint routed to it."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["QualityInvestigationOpened"] = "QualityInvestigationOpened"
    schema_version: Literal[1] = 1
    product: ProductDetails | None = None
    description: NonEmptyStr


class OnSiteDeterminationRecorded(Envelope, InspectionRecord):
    """The regional manager's on-site inspection record and determination, with evidence.

    v2 added the visit time, samples, cause, the customer's opinion, the written feedback, the
    quantity, the parts used, the salesperson and the evidence hashes (v1 is read with defaults)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["OnSiteDeterminationRecorded"] = "OnSiteDeterminationRecorded"
    schema_version: Literal[2] = 2
    inspector: ShortStr
    product: ProductDetails | None = None


class OnSiteDeterminationCorrected(Envelope):
    """The inspector corrected the on-site determination, with a reason, before it was approved."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["OnSiteDeterminationCorrected"] = "OnSiteDeterminationCorrected"
    schema_version: Literal[1] = 1
    previous_determination: Determination
    determination: Determination
    misuse_resolution: MisuseResolution | None = None
    within_warranty: StrictBool
    quantity: Quantity = 1
    parts_used: PartsUsed = Field(default_factory=list)
    reason: NonEmptyStr
    corrected_by: ShortStr
    customer_agrees: StrictBool = Field(description="Whether the customer agrees with the corrected determination")
    evidence: EvidenceHashes = Field(default_factory=list)
    product: ProductDetails | None = None

    @model_validator(mode="after")
    def _misuse(self) -> OnSiteDeterminationCorrected:
        _misuse_rules(Rules(self), self.determination, self.misuse_resolution).check()
        return self


# --- value types ------------------------------------------------------------------------------


class ResponsibleParty(StrEnum):
    """Who is found responsible for the problem, which decides who pays (§5.5.3⑴)."""

    COMPANY = "company"
    CUSTOMER = "customer"
    SALESPERSON = "salesperson"


class ResponsibilityDegree(StrEnum):
    """How far a salesperson is to blame for sending back a determinable case (§5.4.6, §5.5.3⑶).

    Billing turns it into a share of 30-60 % of the transit transport cost.
    """

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class FormApprovalStage(StrEnum):
    """The approvals of the defective-product form before it reaches quality (§5.7.1⑵⑶)."""

    MARKETING_DIRECTOR = "marketing_director"
    HQ_REGIONAL_MANAGER = "hq_regional_manager"


#: Who approves at each stage: its own approver, or the general manager above them (escalated).
FORM_APPROVER_ROLES: dict[FormApprovalStage, frozenset[Role]] = {
    FormApprovalStage.MARKETING_DIRECTOR: frozenset({Role.MARKETING_DIRECTOR, Role.GENERAL_MANAGER}),
    FormApprovalStage.HQ_REGIONAL_MANAGER: frozenset({Role.HQ_REGIONAL_MANAGER, Role.GENERAL_MANAGER}),
}
#: Who gives the second approval of a quality decision (§5.7.2⑷), and above them when escalated.
DECISION_APPROVER_ROLES = frozenset({Role.HQ_REGIONAL_MANAGER, Role.MARKETING_DIRECTOR, Role.GENERAL_MANAGER})


class ReturnReason(StrEnum):
    QUALITY_DEFECT_EXCHANGE = "quality_defect_exchange"  # obvious defect: return and replace (§5.4.4)
    ADJUDICATION = "adjudication"                        # cannot be determined: quality decides (§5.4.5)


def _misuse_rules(rules: Rules, determination: Determination, resolution: MisuseResolution | None) -> Rules:
    misuse = determination is Determination.OBVIOUS_MISUSE
    return rules.require(
        not misuse or resolution is not None, "misuse_resolution",
        "required when the determination is obvious_misuse",
    ).require(
        misuse or resolution is None, "misuse_resolution", "only for an obvious_misuse determination",
    )


def _form_approver_rules(rules: Rules, stage: FormApprovalStage, role: Role, field: str) -> Rules:
    return rules.require(
        role in FORM_APPROVER_ROLES[stage], field,
        f"the {stage.value} stage is approved by {describe(FORM_APPROVER_ROLES[stage])}, not {role.value}",
    )


def _form_determination_rules(rules: Rules, determination: Determination) -> Rules:
    return rules.require(
        determination is not Determination.OBVIOUS_MISUSE, "determination",
        "the defective-product form is for an obvious quality defect or a case that cannot be "
        "determined (§5.7.1⑴), not obvious_misuse",
    )


class ProductionTrace(Frozen):
    """Where and when the product was made (production traceability, §5.7.1⑷)."""

    production_date: date
    line_or_unit: ShortStr = Field(description="Production line or unit")
    shift: ShortStr


class AdjudicationFindings(Frozen):
    """The quality department's decision on a returned product (§5.4.5, §5.7.1⑷)."""

    adjudication_id: UUID
    determination: Determination = Field(description="obvious_quality_defect or obvious_misuse, never undetermined")
    misuse_resolution: MisuseResolution | None = None
    root_cause: NonEmptyStr
    production: ProductionTrace | None = Field(default=None, description="Production traceability")
    responsible_party: ResponsibleParty
    proposed_handling: NonEmptyStr
    within_warranty: StrictBool = True
    quantity: Quantity = Field(default=1, description="Units concerned")
    parts_used: PartsUsed = Field(default_factory=list, description="Parts the handling needs")
    labour_hours: LabourHours = Field(default=Decimal("0"), description="Repair labour the handling needs, hours")
    salesperson: ShortStr | None = Field(default=None, description="The salesperson who handled the case on site")
    salesperson_negligent: StrictBool = Field(
        description="§5.4.6: the salesperson sent back, undetermined, a case that was plainly determinable"
    )
    negligence_degree: ResponsibilityDegree | None = Field(
        default=None, description="Degree of the salesperson's responsibility; set when negligent"
    )
    negligence_finding: NonEmptyStr | None = None
    inspection_records: Attachments = Field(default_factory=list)

    @model_validator(mode="after")
    def _adjudication_rules(self) -> AdjudicationFindings:
        rules = _misuse_rules(Rules(self), self.determination, self.misuse_resolution)
        rules.require(
            self.determination is not Determination.CANNOT_BE_DETERMINED, "determination",
            "quality must decide: obvious_quality_defect or obvious_misuse",
        ).require(
            self.determination is not Determination.OBVIOUS_QUALITY_DEFECT
            or self.responsible_party is not ResponsibleParty.CUSTOMER,
            "responsible_party", "a quality defect is not the customer's responsibility",
        ).require(
            self.determination is not Determination.OBVIOUS_MISUSE
            or self.responsible_party is not ResponsibleParty.COMPANY,
            "responsible_party", "misuse is not the company's responsibility",
        ).require(
            not self.salesperson_negligent or self.negligence_degree is not None, "negligence_degree",
            "required when salesperson_negligent",
        ).require(
            self.salesperson_negligent or self.negligence_degree is None, "negligence_degree",
            "only when salesperson_negligent",
        ).require(
            not (self.salesperson_negligent or self.responsible_party is ResponsibleParty.SALESPERSON)
            or self.salesperson is not None, "salesperson",
            "name the salesperson when they are negligent or responsible",
        ).check()
        return self


# --- events -----------------------------------------------------------------------------------


class OnSiteVisitArranged(Envelope):
    """The regional manager arranged the on-site visit, at a time agreed with the customer if needed
    (§4.2: within 2 working days; §5.3.3⑷: sampling 2-3 working hours after dispatch)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["OnSiteVisitArranged"] = "OnSiteVisitArranged"
    schema_version: Literal[1] = 1
    visitor: ShortStr
    visit_at: AwareDatetime
    agreed_with_customer: StrictBool = Field(description="True: a time agreed beforehand replaces the standard deadline")
    note: NonEmptyStr | None = None


class EvidenceAdded(Envelope):
    """Evidence (photos, samples, documents) was added to the complaint's investigation (§5.4.1)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["EvidenceAdded"] = "EvidenceAdded"
    schema_version: Literal[1] = 1
    evidence_id: UUID
    collected_by: ShortStr
    items: Attachments = Field(min_length=1)
    description: NonEmptyStr


class DefectiveProductFormFiled(Envelope):
    """The regional manager filed (or, after a rejection, refiled) the defective-product form
    《不良品投诉处理书》 with the memo, the photos and the estimated cost to the company (§5.7.1⑴⑵)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["DefectiveProductFormFiled"] = "DefectiveProductFormFiled"
    schema_version: Literal[1] = 1
    defect_form_id: UUID
    revision: int = Field(default=1, ge=1, description="1, then one more for each refiling after a rejection")
    filed_by: ShortStr
    determination: Determination
    product: ProductDetails | None = None
    defect_description: NonEmptyStr
    memo: NonEmptyStr = Field(description="The memo stating the determination (§5.4)")
    memo_id: UUID | None = Field(default=None, description="The internal memo 《内联单》 it goes with")
    evidence: EvidenceHashes = Field(min_length=1, description="Photos (and scans) by SHA-256")
    return_proposed: StrictBool = Field(description="Whether the filer proposes returning the product")
    estimated_company_cost: Money = Field(description="CNY the handling is estimated to cost the company")

    @model_validator(mode="after")
    def _determination(self) -> DefectiveProductFormFiled:
        _form_determination_rules(Rules(self), self.determination).check()
        return self


class DefectiveProductFormApproved(Envelope):
    """One approval of the defective-product form: the marketing director (or the general manager
    above them), then the HQ regional manager, who decides whether the product is returned
    (§5.7.1⑵⑶); each within the authority matrix."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["DefectiveProductFormApproved"] = "DefectiveProductFormApproved"
    schema_version: Literal[1] = 1
    defect_form_id: UUID
    stage: FormApprovalStage
    approver: ShortStr
    approver_role: Role
    comments: NonEmptyStr | None = None
    product_return: StrictBool | None = Field(
        default=None, description="The HQ regional manager's decision whether the product is returned"
    )
    company_cost: Money | None = Field(default=None, description="The estimate approved (CNY)")
    authority_level: ShortStr | None = Field(default=None, description="The level the approval was given at")
    authority_matrix_version: ShortStr | None = None

    @model_validator(mode="after")
    def _stage(self) -> DefectiveProductFormApproved:
        hq = self.stage is FormApprovalStage.HQ_REGIONAL_MANAGER
        _form_approver_rules(Rules(self), self.stage, self.approver_role, "approver_role").require(
            (self.product_return is not None) == hq, "product_return",
            "decided by the HQ regional manager stage, and only there",
        ).check()
        return self


class DefectiveProductFormRejected(Envelope):
    """The defective-product form was sent back to the filer: rejected at an approval, or returned
    by the HQ clerk as incomplete (naming what is missing)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["DefectiveProductFormRejected"] = "DefectiveProductFormRejected"
    schema_version: Literal[1] = 1
    defect_form_id: UUID
    rejected_by: ShortStr
    rejected_by_role: Role
    reason: NonEmptyStr
    missing: Annotated[list[ShortStr], Field(max_length=ATTACHMENTS_MAX)] = Field(
        default_factory=list, description="What the HQ clerk found missing")


class DefectiveProductFormForwarded(Envelope):
    """The HQ clerk checked the form is complete and forwarding is necessary, and routed it to the
    quality department (§5.7.1⑷, §5.7.2⑶)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["DefectiveProductFormForwarded"] = "DefectiveProductFormForwarded"
    schema_version: Literal[1] = 1
    defect_form_id: UUID
    forwarded_by: ShortStr
    determination: Determination
    product: ProductDetails | None = None
    defect_description: NonEmptyStr
    product_return: StrictBool
    evidence: EvidenceHashes = Field(default_factory=list)


class ProductReturnRequested(Envelope):
    """The product is to be shipped back to the company; the company pays this transport (§5.4.4, §5.5.3⑵)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["ProductReturnRequested"] = "ProductReturnRequested"
    schema_version: Literal[1] = 1
    return_id: UUID
    reason: ReturnReason
    product: ProductDetails | None = None
    quantity: Quantity
    requested_by: ShortStr | None = None
    pickup_address: NonEmptyStr | None = None
    carrier: ShortStr | None = None
    expected_by: AwareDatetime | None = None
    replacement_promised: StrictBool = Field(description="Unconditional replacement promised (obvious defect, §5.4.4)")
    within_warranty: StrictBool = True


class ProductReturnShipped(Envelope):
    """The product left the customer for the company: carrier and waybill (billing books the transport
    itself, with its waybill, from the costs recorded there)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["ProductReturnShipped"] = "ProductReturnShipped"
    schema_version: Literal[1] = 1
    return_id: UUID
    carrier: ShortStr
    waybill: ShortStr
    shipped_at: AwareDatetime
    shipped_by: ShortStr
    quantity: Quantity


class ProductReceived(Envelope):
    """The returned product arrived at the company."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["ProductReceived"] = "ProductReceived"
    schema_version: Literal[1] = 1
    return_id: UUID
    received_by: ShortStr
    quantity: Quantity
    condition: NonEmptyStr


class QualityAdjudicationRecorded(Envelope, AdjudicationFindings):
    """The quality department determined the cause of the returned product and who is responsible,
    and proposed handling (§5.4.5, §5.5.3, §5.7.1⑷⑸). `on_site_determination` against
    `determination` shows whether it overturned the manager's."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["QualityAdjudicationRecorded"] = "QualityAdjudicationRecorded"
    schema_version: Literal[1] = 1
    adjudicated_by: ShortStr
    on_site_determination: Determination = Field(description="What the manager determined on site")
    product: ProductDetails | None = None


class QualityDecisionApproved(Envelope):
    """Second approval: the decision matches the service commitment and the procedure (§5.7).
    The general manager and management representative are informed next."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["QualityDecisionApproved"] = "QualityDecisionApproved"
    schema_version: Literal[1] = 1
    adjudication_id: UUID
    approver: ShortStr
    approver_role: Role
    determination: Determination
    responsible_party: ResponsibleParty
    decision: NonEmptyStr = Field(description="The handling decided, to be told to the customer")
    comments: NonEmptyStr | None = None
    misuse_resolution: MisuseResolution | None = None
    company_cost: Money | None = Field(default=None, description="What the decided handling costs the company (CNY)")
    authority_level: ShortStr | None = None
    authority_matrix_version: ShortStr | None = None


class RemedyKind(StrEnum):
    """How a quality case's remedy was delivered (§4.4, §5.5)."""

    REPLACEMENT_SHIPPED = "replacement_shipped"
    REPAIR_DONE = "repair_done"
    PART_SWAPPED = "part_swapped"
    FIXED_ON_SITE = "fixed_on_site"


class QualityRemedyDelivered(Envelope):
    """The decided remedy reached the customer: replacement shipped, repair done or part swapped.
    Routing's closure of a quality case waits for it."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["QualityRemedyDelivered"] = "QualityRemedyDelivered"
    schema_version: Literal[1] = 1
    remedy_kind: RemedyKind
    description: NonEmptyStr
    delivered_by: ShortStr
    delivered_at: AwareDatetime
    reference: ShortStr | None = Field(default=None, description="Waybill, work order or signed note")
    quantity: Quantity = 1
    parts_used: PartsUsed = Field(default_factory=list)


class QualityDecisionRejected(Envelope):
    """Second approval refused: the decision does not match the service commitment or procedure;
    the quality department adjudicates again."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["QualityDecisionRejected"] = "QualityDecisionRejected"
    schema_version: Literal[1] = 1
    adjudication_id: UUID
    approver: ShortStr
    approver_role: Role
    matches_service_commitment: StrictBool
    matches_procedure: StrictBool
    reason: NonEmptyStr

    @model_validator(mode="after")
    def _some_mismatch(self) -> QualityDecisionRejected:
        Rules(self).require(
            not (self.matches_service_commitment and self.matches_procedure), "reason",
            "a rejected decision fails the service commitment or the procedure",
        ).check()
        return self


# --- the steps: what each human step asks (the HTTP body is the step plus `command_id`) ---------


class OnSiteInspectionStep(OnSiteFindings):
    """The regional manager's on-site inspection record (§5.3.3⑸, §5.4): exactly one determination,
    the cause, whether the customer agrees; for misuse how it was resolved. An obvious quality defect
    or a case that cannot be determined needs at least one photo among `evidence` (uploaded first
    with `POST /evidence`). A misuse fixed on site needs the written feedback and the customer's
    opinion (§5.5.2⑴); a simple part swap names the parts swapped."""

    visited_at: AwareDatetime = Field(description="When the regional manager was on site (not in the future)")
    samples_taken: SamplesTaken = Field(default_factory=list, description="Samples taken on site")
    cause: NonEmptyStr = Field(description="The cause found on site")
    customer_opinion: NonEmptyStr | None = Field(default=None, description="The customer's opinion of the result")
    written_feedback: NonEmptyStr | None = Field(default=None, description="Written feedback of an on-site fix")
    quantity: Quantity = Field(default=1, description="Units concerned")
    parts_used: PartsUsed = Field(default_factory=list, description="Parts swapped or to be supplied")
    salesperson: ShortStr | None = Field(default=None, description="Who handled it on site")
    evidence: EvidenceHashes = Field(default_factory=list, description="Stored photos and scans, by SHA-256")

    @model_validator(mode="after")
    def _resolution_details(self) -> OnSiteInspectionStep:
        on_site = self.misuse_resolution is MisuseResolution.FIXED_ON_SITE
        Rules(self).require(
            not on_site or self.written_feedback is not None, "written_feedback",
            "required when the misuse was fixed on site (§5.5.2⑴)",
        ).require(
            not on_site or self.customer_opinion is not None, "customer_opinion",
            "required when the misuse was fixed on site (§5.5.2⑴)",
        ).require(
            self.misuse_resolution is not MisuseResolution.SIMPLE_PART_SWAP or bool(self.parts_used), "parts_used",
            "name the parts swapped in a simple part swap",
        ).check()
        return self


class CorrectOnSiteDeterminationStep(Frozen):
    """The inspector corrects the on-site determination, with a reason, until it is approved (the
    form's first approval, or a misuse settled on site). A correction to a quality defect or an
    undetermined case needs a photo among the investigation's evidence (this step's or earlier)."""

    determination: Determination
    misuse_resolution: MisuseResolution | None = None
    within_warranty: StrictBool = True
    quantity: Quantity = 1
    parts_used: PartsUsed = Field(default_factory=list)
    reason: NonEmptyStr
    customer_agrees: StrictBool | None = Field(
        default=None, description="Whether the customer agrees with the corrected determination (unset: as "
                                  "recorded on site); misuse the customer agrees to is settled on site")
    evidence: EvidenceHashes = Field(default_factory=list)

    @model_validator(mode="after")
    def _misuse(self) -> CorrectOnSiteDeterminationStep:
        _misuse_rules(Rules(self), self.determination, self.misuse_resolution).check()
        return self


class FileDefectiveProductFormStep(Frozen):
    """The regional manager files the defective-product form 《不良品投诉处理书》 (§5.7.1⑴): an obvious
    quality defect or a case that cannot be determined, with the memo, photos (by hash, at least
    one a photo), whether a return is proposed and the estimated cost to the company. After a
    rejection the same form (`defect_form_id`) is refiled, amended."""

    defect_form_id: UUID
    determination: Determination
    defect_description: NonEmptyStr
    memo: NonEmptyStr = Field(description="The memo stating the determination (§5.4)")
    memo_id: UUID | None = None
    evidence: Annotated[list[EvidenceHash], Field(min_length=1, max_length=PHOTOS_MAX)] = Field(
        description="Photos (and scans) by SHA-256; at least one a photo")
    return_proposed: StrictBool
    estimated_company_cost: Money = Field(description="CNY the handling is estimated to cost the company")

    @model_validator(mode="after")
    def _determination(self) -> FileDefectiveProductFormStep:
        _form_determination_rules(Rules(self), self.determination).check()
        return self


class ApproveDefectiveProductFormStep(Frozen):
    """An approval of the form at the caller's stage (§5.7.1⑵⑶), within the authority matrix for
    the estimated company cost: the marketing director (or the general manager above them), then
    the HQ regional manager, who decides `product_return` (given at that stage, and only there)."""

    defect_form_id: UUID
    stage: FormApprovalStage
    comments: NonEmptyStr | None = None
    product_return: StrictBool | None = None

    @model_validator(mode="after")
    def _return_at_hq(self) -> ApproveDefectiveProductFormStep:
        hq = self.stage is FormApprovalStage.HQ_REGIONAL_MANAGER
        Rules(self).require(
            (self.product_return is not None) == hq, "product_return",
            "decided by the HQ regional manager stage, and only there",
        ).check()
        return self


class RejectDefectiveProductFormStep(Frozen):
    """An approver sends the form back to the filer, saying why."""

    defect_form_id: UUID
    reason: NonEmptyStr


class ReturnDefectiveProductFormStep(Frozen):
    """The HQ clerk returns an incomplete form to the filer, naming what is missing (§5.7.2⑶)."""

    defect_form_id: UUID
    missing: Annotated[list[ShortStr], Field(min_length=1, max_length=ATTACHMENTS_MAX)]
    reason: NonEmptyStr


class ForwardDefectiveProductFormStep(Frozen):
    """The HQ clerk checks the approved form is complete and forwards it to the quality department."""

    defect_form_id: UUID


class RequestProductReturnStep(Frozen):
    """The regional manager asks for the product to be shipped back, once the HQ regional manager
    decided on a return (§5.4.4, §5.4.5)."""

    return_id: UUID
    reason: ReturnReason
    quantity: Quantity
    pickup_address: NonEmptyStr | None = None
    carrier: ShortStr | None = None
    expected_by: AwareDatetime | None = None


class ShipProductReturnStep(Frozen):
    """The product left the customer: the carrier and the waybill."""

    return_id: UUID
    carrier: ShortStr
    waybill: ShortStr
    shipped_at: AwareDatetime


class RecordProductReceivedStep(Frozen):
    """The quality department received the returned product, in what condition."""

    return_id: UUID
    quantity: Quantity
    condition: NonEmptyStr


class RecordQualityAdjudicationStep(AdjudicationFindings):
    """The quality department's adjudication (§5.4.5, §5.7.1⑷): after the product arrived when a return
    was decided, else after the form was forwarded. A negligence finding (§5.4.6) only where the
    case was sent back undetermined."""


class ApproveQualityDecisionStep(Frozen):
    """The HQ regional manager's second approval (§5.7.2⑷): the decision matches the service
    commitment and the procedure, within the authority matrix for what it costs the company."""

    adjudication_id: UUID
    decision: NonEmptyStr = Field(description="The handling decided, to be told to the customer")
    company_cost: Money = Field(description="What the decided handling costs the company (CNY)")
    comments: NonEmptyStr | None = None


class RejectQualityDecisionStep(Frozen):
    """Second approval refused: the quality department adjudicates again."""

    adjudication_id: UUID
    matches_service_commitment: StrictBool
    matches_procedure: StrictBool
    reason: NonEmptyStr

    @model_validator(mode="after")
    def _some_mismatch(self) -> RejectQualityDecisionStep:
        Rules(self).require(
            not (self.matches_service_commitment and self.matches_procedure), "reason",
            "a rejected decision fails the service commitment or the procedure",
        ).check()
        return self


class RecordQualityRemedyStep(Frozen):
    """The quality department records the remedy delivered (§4.4, §5.5), with its reference (waybill,
    work order, signed note): after the approved decision, or after a misuse settled on site."""

    remedy_kind: RemedyKind
    description: NonEmptyStr
    delivered_at: AwareDatetime
    reference: ShortStr = Field(description="Waybill, work order or signed note")
    quantity: Quantity = 1
    parts_used: PartsUsed = Field(default_factory=list)


# --- commands ---------------------------------------------------------------------------------


class ArrangeOnSiteVisit(ComplaintCommand):
    """Command: the regional manager arranges the on-site visit."""

    command_type: Literal["ArrangeOnSiteVisit"] = "ArrangeOnSiteVisit"
    schema_version: Literal[1] = 1
    visit_at: AwareDatetime
    agreed_with_customer: StrictBool
    note: NonEmptyStr | None = None


class RecordOnSiteDetermination(ComplaintCommand, OnSiteInspectionStep):
    """Command: the regional manager records the on-site inspection and determination."""

    command_type: Literal["RecordOnSiteDetermination"] = "RecordOnSiteDetermination"
    schema_version: Literal[2] = 2
    inspector: ShortStr


class CorrectOnSiteDetermination(ComplaintCommand, CorrectOnSiteDeterminationStep):
    command_type: Literal["CorrectOnSiteDetermination"] = "CorrectOnSiteDetermination"
    schema_version: Literal[1] = 1


class AddEvidence(ComplaintCommand):
    """Command: add photos, samples or documents."""

    command_type: Literal["AddEvidence"] = "AddEvidence"
    schema_version: Literal[1] = 1
    evidence_id: UUID
    items: Attachments = Field(min_length=1)
    description: NonEmptyStr


class FileDefectiveProductForm(ComplaintCommand, FileDefectiveProductFormStep):
    command_type: Literal["FileDefectiveProductForm"] = "FileDefectiveProductForm"
    schema_version: Literal[1] = 1


class ApproveDefectiveProductForm(ComplaintCommand, ApproveDefectiveProductFormStep):
    """Command: the acting user approves the form at their stage of the §5.7 chain."""

    command_type: Literal["ApproveDefectiveProductForm"] = "ApproveDefectiveProductForm"
    schema_version: Literal[1] = 1

    @model_validator(mode="after")
    def _stage(self) -> ApproveDefectiveProductForm:
        _form_approver_rules(Rules(self), self.stage, self.actor.role, "actor").check()
        return self


class RejectDefectiveProductForm(ComplaintCommand, RejectDefectiveProductFormStep):
    command_type: Literal["RejectDefectiveProductForm"] = "RejectDefectiveProductForm"
    schema_version: Literal[1] = 1


class ReturnDefectiveProductForm(ComplaintCommand, ReturnDefectiveProductFormStep):
    command_type: Literal["ReturnDefectiveProductForm"] = "ReturnDefectiveProductForm"
    schema_version: Literal[1] = 1


class ForwardDefectiveProductForm(ComplaintCommand, ForwardDefectiveProductFormStep):
    command_type: Literal["ForwardDefectiveProductForm"] = "ForwardDefectiveProductForm"
    schema_version: Literal[1] = 1


class RequestProductReturn(ComplaintCommand, RequestProductReturnStep):
    command_type: Literal["RequestProductReturn"] = "RequestProductReturn"
    schema_version: Literal[1] = 1


class ShipProductReturn(ComplaintCommand, ShipProductReturnStep):
    command_type: Literal["ShipProductReturn"] = "ShipProductReturn"
    schema_version: Literal[1] = 1


class RecordProductReceived(ComplaintCommand, RecordProductReceivedStep):
    command_type: Literal["RecordProductReceived"] = "RecordProductReceived"
    schema_version: Literal[1] = 1


class RecordQualityAdjudication(ComplaintCommand, RecordQualityAdjudicationStep):
    command_type: Literal["RecordQualityAdjudication"] = "RecordQualityAdjudication"
    schema_version: Literal[1] = 1


class ApproveQualityDecision(ComplaintCommand, ApproveQualityDecisionStep):
    command_type: Literal["ApproveQualityDecision"] = "ApproveQualityDecision"
    schema_version: Literal[1] = 1


class RejectQualityDecision(ComplaintCommand, RejectQualityDecisionStep):
    command_type: Literal["RejectQualityDecision"] = "RejectQualityDecision"
    schema_version: Literal[1] = 1


class RecordQualityRemedy(ComplaintCommand, RecordQualityRemedyStep):
    command_type: Literal["RecordQualityRemedy"] = "RecordQualityRemedy"
    schema_version: Literal[1] = 1
