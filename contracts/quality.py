"""On-site determination, adjudication and corrective actions (§5.3.3, §5.4, §5.7): quality's messages."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, StrictBool, model_validator

from contracts.envelope import (
    APPROVALS_MAX, PHOTOS_MAX, REF_MAX, SHORT_TEXT_PATTERN, Attachments, ComplaintCommand, Envelope,
    Frozen, Money, NonEmptyStr, Role, Rules, ServiceName, ShortStr, Signature, describe, whole_match,
)
from contracts.registration import ProductDetails


class Determination(StrEnum):
    """§5.3.3⑸: the manager classifies the problem as exactly one of these."""

    OBVIOUS_QUALITY_DEFECT = "obvious_quality_defect"
    OBVIOUS_MISUSE = "obvious_misuse"
    CANNOT_BE_DETERMINED = "cannot_be_determined"


class MisuseResolution(StrEnum):
    """§5.5: how obvious misuse is resolved, which decides who pays what."""

    FIXED_ON_SITE = "fixed_on_site"
    COMPLEX_NEEDS_PARTS = "complex_needs_parts"
    SIMPLE_PART_SWAP = "simple_part_swap"


PhotoRef = Annotated[str, Field(min_length=1, max_length=REF_MAX, pattern=SHORT_TEXT_PATTERN,
                                description="Reference to a stored photo"),
                     whole_match(SHORT_TEXT_PATTERN)]
PhotoRefs = Annotated[list[PhotoRef], Field(min_length=1, max_length=PHOTOS_MAX)]


class OnSiteFindings(Frozen):
    """What the regional manager records on site."""

    determination: Determination
    misuse_resolution: MisuseResolution | None = None
    photo_refs: PhotoRefs = Field(description="Photos of the defect (§5.4)")
    memo: NonEmptyStr = Field(description="Memo stating the determination (§5.4)")
    customer_agrees: StrictBool = Field(description="Whether the customer agreed on the cause")
    within_warranty: StrictBool = True

    @model_validator(mode="after")
    def _misuse_needs_resolution(self) -> OnSiteFindings:
        _misuse_rules(Rules(self), self.determination, self.misuse_resolution).check()
        return self


class QualityInvestigationOpened(Envelope):
    """Quality opened an investigation for a complaint routed to it."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["QualityInvestigationOpened"] = "QualityInvestigationOpened"
    schema_version: Literal[1] = 1
    product: ProductDetails | None = None
    description: NonEmptyStr


class OnSiteDeterminationRecorded(Envelope, OnSiteFindings):
    """The regional manager's on-site determination, with evidence."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["OnSiteDeterminationRecorded"] = "OnSiteDeterminationRecorded"
    schema_version: Literal[1] = 1
    inspector: ShortStr
    product: ProductDetails | None = None


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


FORM_APPROVER_ROLE: dict[FormApprovalStage, Role] = {
    FormApprovalStage.MARKETING_DIRECTOR: Role.MARKETING_DIRECTOR,
    FormApprovalStage.HQ_REGIONAL_MANAGER: Role.HQ_REGIONAL_MANAGER,
}


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
        role is FORM_APPROVER_ROLE[stage], field,
        f"the {stage.value} stage is approved by {FORM_APPROVER_ROLE[stage].value}, not {role.value}",
    )


def _form_determination_rules(rules: Rules, determination: Determination) -> Rules:
    return rules.require(
        determination is not Determination.OBVIOUS_MISUSE, "determination",
        "the defective-product form is for an obvious quality defect or a case that cannot be "
        "determined (§5.7.1⑴), not obvious_misuse",
    )


class AdjudicationFindings(Frozen):
    """The quality department's decision on a returned product (§5.4.5, §5.7.1⑷)."""

    adjudication_id: UUID
    determination: Determination = Field(description="obvious_quality_defect or obvious_misuse, never undetermined")
    misuse_resolution: MisuseResolution | None = None
    root_cause: NonEmptyStr
    responsible_party: ResponsibleParty
    proposed_handling: NonEmptyStr
    within_warranty: StrictBool = True
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
    """The regional manager filed the defective-product form 《不良品投诉处理书》 with the memo,
    evidence and photos (§5.7.1⑴⑵)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["DefectiveProductFormFiled"] = "DefectiveProductFormFiled"
    schema_version: Literal[1] = 1
    defect_form_id: UUID
    filed_by: ShortStr
    determination: Determination
    product: ProductDetails
    defect_description: NonEmptyStr
    memo_id: UUID | None = Field(default=None, description="The internal memo 《内联单》 it goes with")
    photo_refs: PhotoRefs
    evidence: Attachments = Field(default_factory=list)
    return_proposed: StrictBool = Field(description="Whether the filer proposes returning the product")

    @model_validator(mode="after")
    def _determination(self) -> DefectiveProductFormFiled:
        _form_determination_rules(Rules(self), self.determination).check()
        return self


class DefectiveProductFormApproved(Envelope):
    """One approval of the defective-product form: the marketing director, then the HQ regional
    manager, who decides whether the product is returned (§5.7.1⑵⑶)."""

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

    @model_validator(mode="after")
    def _stage(self) -> DefectiveProductFormApproved:
        hq = self.stage is FormApprovalStage.HQ_REGIONAL_MANAGER
        _form_approver_rules(Rules(self), self.stage, self.approver_role, "approver_role").require(
            (self.product_return is not None) == hq, "product_return",
            "decided by the HQ regional manager stage, and only there",
        ).check()
        return self


class DefectiveProductFormRejected(Envelope):
    """The defective-product form was sent back for rework at a stage of the chain."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["DefectiveProductFormRejected"] = "DefectiveProductFormRejected"
    schema_version: Literal[1] = 1
    defect_form_id: UUID
    rejected_by: ShortStr
    rejected_by_role: Role
    reason: NonEmptyStr


class DefectiveProductFormForwarded(Envelope):
    """The HQ clerk checked the form is complete and forwarding is necessary, and routed it to the
    quality department (§5.7.1⑷, §5.7.2⑶)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["DefectiveProductFormForwarded"] = "DefectiveProductFormForwarded"
    schema_version: Literal[1] = 1
    defect_form_id: UUID
    forwarded_by: ShortStr
    determination: Determination
    product: ProductDetails
    defect_description: NonEmptyStr
    product_return: StrictBool
    photo_refs: PhotoRefs
    evidence: Attachments = Field(default_factory=list)


class ProductReturnRequested(Envelope):
    """The product is to be shipped back to the company; the company pays this transport (§5.4.4, §5.5.3⑵)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["ProductReturnRequested"] = "ProductReturnRequested"
    schema_version: Literal[1] = 1
    return_id: UUID
    reason: ReturnReason
    product: ProductDetails
    quantity: int = Field(ge=1)
    pickup_address: NonEmptyStr | None = None
    carrier: ShortStr | None = None
    expected_by: AwareDatetime | None = None
    replacement_promised: StrictBool = Field(description="Unconditional replacement promised (obvious defect, §5.4.4)")
    within_warranty: StrictBool = True


class ProductReceived(Envelope):
    """The returned product arrived at the company."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.QUALITY
    event_type: Literal["ProductReceived"] = "ProductReceived"
    schema_version: Literal[1] = 1
    return_id: UUID
    received_by: ShortStr
    quantity: int = Field(ge=1)
    condition: NonEmptyStr
    transit_transport_cost: Money | None = Field(
        default=None, description="CNY the return transport actually cost, if known"
    )


class QualityAdjudicationRecorded(Envelope, AdjudicationFindings):
    """The quality department determined the cause of the returned product and who is responsible,
    and proposed handling (§5.4.5, §5.5.3, §5.7.1⑷⑸)."""

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


class QualityDecisionRejected(Envelope):
    """Second approval refused: the decision does not match the service commitment or procedure."""

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






# --- commands ---------------------------------------------------------------------------------


class ArrangeOnSiteVisit(ComplaintCommand):
    """Command: the regional manager arranges the on-site visit."""

    command_type: Literal["ArrangeOnSiteVisit"] = "ArrangeOnSiteVisit"
    schema_version: Literal[1] = 1
    visit_at: AwareDatetime
    agreed_with_customer: StrictBool
    note: NonEmptyStr | None = None


class RecordOnSiteDetermination(ComplaintCommand, OnSiteFindings):
    """Command: the regional manager records the on-site determination, with evidence."""

    command_type: Literal["RecordOnSiteDetermination"] = "RecordOnSiteDetermination"
    schema_version: Literal[1] = 1
    inspector: ShortStr


class AddEvidence(ComplaintCommand):
    """Command: add photos, samples or documents."""

    command_type: Literal["AddEvidence"] = "AddEvidence"
    schema_version: Literal[1] = 1
    evidence_id: UUID
    items: Attachments = Field(min_length=1)
    description: NonEmptyStr


class FileDefectiveProductForm(ComplaintCommand):
    """Command: file the defective-product form 《不良品投诉处理书》."""

    command_type: Literal["FileDefectiveProductForm"] = "FileDefectiveProductForm"
    schema_version: Literal[1] = 1
    defect_form_id: UUID
    determination: Determination
    defect_description: NonEmptyStr
    memo_id: UUID | None = None
    photo_refs: PhotoRefs
    evidence: Attachments = Field(default_factory=list)
    return_proposed: StrictBool

    @model_validator(mode="after")
    def _determination(self) -> FileDefectiveProductForm:
        _form_determination_rules(Rules(self), self.determination).check()
        return self


class ApproveDefectiveProductForm(ComplaintCommand):
    """Command: the acting user approves the form at their stage of the §5.7 chain."""

    command_type: Literal["ApproveDefectiveProductForm"] = "ApproveDefectiveProductForm"
    schema_version: Literal[1] = 1
    defect_form_id: UUID
    stage: FormApprovalStage
    comments: NonEmptyStr | None = None
    product_return: StrictBool | None = None

    @model_validator(mode="after")
    def _stage(self) -> ApproveDefectiveProductForm:
        hq = self.stage is FormApprovalStage.HQ_REGIONAL_MANAGER
        _form_approver_rules(Rules(self), self.stage, self.actor.role, "actor").require(
            (self.product_return is not None) == hq, "product_return",
            "decided by the HQ regional manager stage, and only there",
        ).check()
        return self


class RejectDefectiveProductForm(ComplaintCommand):
    """Command: send the form back for rework."""

    command_type: Literal["RejectDefectiveProductForm"] = "RejectDefectiveProductForm"
    schema_version: Literal[1] = 1
    defect_form_id: UUID
    reason: NonEmptyStr


class ForwardDefectiveProductForm(ComplaintCommand):
    """Command: the HQ clerk forwards the complete form to the quality department."""

    command_type: Literal["ForwardDefectiveProductForm"] = "ForwardDefectiveProductForm"
    schema_version: Literal[1] = 1
    defect_form_id: UUID


class RequestProductReturn(ComplaintCommand):
    """Command: ask for the product to be shipped back to the company."""

    command_type: Literal["RequestProductReturn"] = "RequestProductReturn"
    schema_version: Literal[1] = 1
    return_id: UUID
    reason: ReturnReason
    quantity: int = Field(ge=1)
    pickup_address: NonEmptyStr | None = None
    carrier: ShortStr | None = None
    expected_by: AwareDatetime | None = None


class RecordProductReceived(ComplaintCommand):
    """Command: the returned product arrived."""

    command_type: Literal["RecordProductReceived"] = "RecordProductReceived"
    schema_version: Literal[1] = 1
    return_id: UUID
    quantity: int = Field(ge=1)
    condition: NonEmptyStr
    transit_transport_cost: Money | None = None


class RecordQualityAdjudication(ComplaintCommand, AdjudicationFindings):
    """Command: the quality department records its adjudication."""

    command_type: Literal["RecordQualityAdjudication"] = "RecordQualityAdjudication"
    schema_version: Literal[1] = 1


class ApproveQualityDecision(ComplaintCommand):
    """Command: second approval of the quality decision."""

    command_type: Literal["ApproveQualityDecision"] = "ApproveQualityDecision"
    schema_version: Literal[1] = 1
    adjudication_id: UUID
    decision: NonEmptyStr
    comments: NonEmptyStr | None = None


class RejectQualityDecision(ComplaintCommand):
    """Command: refuse the quality decision at second approval."""

    command_type: Literal["RejectQualityDecision"] = "RejectQualityDecision"
    schema_version: Literal[1] = 1
    adjudication_id: UUID
    matches_service_commitment: StrictBool
    matches_procedure: StrictBool
    reason: NonEmptyStr

    @model_validator(mode="after")
    def _some_mismatch(self) -> RejectQualityDecision:
        Rules(self).require(
            not (self.matches_service_commitment and self.matches_procedure), "reason",
            "a rejected decision fails the service commitment or the procedure",
        ).check()
        return self



