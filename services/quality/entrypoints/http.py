"""Quality's HTTP edge: one endpoint per human step of the investigation (`POST /complaints/{id}/<step>`,
each with the client's `command_id`: a repeat answers 200 and writes nothing), and the investigation as
it stands (`GET /complaints/{id}/investigation`). The acting user is the bearer token's; a complaint
outside the caller's scope is a 404 exactly like one quality never received; a step the investigation
is not ready for is a 409 naming `state`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contracts import quality as q
from contracts.envelope import ComplaintCommand
from contracts.quality import Determination, MisuseResolution
from services.common.access import Forbidden, authorize, rules
from services.common.auth import CurrentPrincipal, Principal
from services.common.domain import InvalidCommand
from services.common.http import error_responses, runtime_of

router = APIRouter()

RECORD = "quality.on_site_determination.record"


def _findings_rules(schema: dict[str, Any]) -> None:
    """§5.5: `misuse_resolution` is given exactly when the determination is obvious misuse; a misuse
    fixed on site carries the written feedback and the customer's opinion; a simple part swap its parts."""
    others = [d.value for d in Determination if d is not Determination.OBVIOUS_MISUSE]
    text = {"type": "string"}
    schema["anyOf"] = [
        {"required": ["determination", "misuse_resolution", "written_feedback", "customer_opinion"],
         "properties": {"determination": {"const": Determination.OBVIOUS_MISUSE.value},
                        "misuse_resolution": {"const": MisuseResolution.FIXED_ON_SITE.value},
                        "written_feedback": text, "customer_opinion": text}},
        {"required": ["determination", "misuse_resolution", "parts_used"],
         "properties": {"determination": {"const": Determination.OBVIOUS_MISUSE.value},
                        "misuse_resolution": {"const": MisuseResolution.SIMPLE_PART_SWAP.value},
                        "parts_used": {"type": "array", "minItems": 1}}},
        {"required": ["determination", "misuse_resolution"],
         "properties": {"determination": {"const": Determination.OBVIOUS_MISUSE.value},
                        "misuse_resolution": {"const": MisuseResolution.COMPLEX_NEEDS_PARTS.value}}},
        {"properties": {"determination": {"enum": others}, "misuse_resolution": {"type": "null"}}},
    ]


def _misuse_rule(schema: dict[str, Any]) -> None:
    others = [d.value for d in Determination if d is not Determination.OBVIOUS_MISUSE]
    schema["anyOf"] = [
        {"required": ["determination", "misuse_resolution"],
         "properties": {"determination": {"const": Determination.OBVIOUS_MISUSE.value},
                        "misuse_resolution": {"type": "string"}}},
        {"properties": {"determination": {"enum": others}, "misuse_resolution": {"type": "null"}}},
    ]


def _return_at_hq(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [
        {"required": ["stage", "product_return"],
         "properties": {"stage": {"const": q.FormApprovalStage.HQ_REGIONAL_MANAGER.value},
                        "product_return": {"type": "boolean"}}},
        {"properties": {"stage": {"const": q.FormApprovalStage.MARKETING_DIRECTOR.value},
                        "product_return": {"type": "null"}}},
    ]


def _not_both_matching(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [{"properties": {"matches_service_commitment": {"const": False}}},
                       {"properties": {"matches_procedure": {"const": False}}}]


def _not_misuse(schema: dict[str, Any]) -> None:
    schema.setdefault("properties", {}).setdefault("determination", {})["enum"] = [
        d.value for d in Determination if d is not Determination.OBVIOUS_MISUSE]


def _adjudication_rules(schema: dict[str, Any]) -> None:
    """Quality decides (never undetermined); misuse names its resolution; negligence its degree."""
    schema["allOf"] = [
        {"anyOf": [
            {"required": ["determination", "misuse_resolution"],
             "properties": {"determination": {"const": Determination.OBVIOUS_MISUSE.value},
                            "misuse_resolution": {"type": "string"},
                            "responsible_party": {"enum": [q.ResponsibleParty.CUSTOMER.value,
                                                           q.ResponsibleParty.SALESPERSON.value]}}},
            {"required": ["determination"],
             "properties": {"determination": {"const": Determination.OBVIOUS_QUALITY_DEFECT.value},
                            "misuse_resolution": {"type": "null"},
                            "responsible_party": {"enum": [q.ResponsibleParty.COMPANY.value,
                                                           q.ResponsibleParty.SALESPERSON.value]}}}]},
        {"anyOf": [
            {"required": ["salesperson_negligent", "negligence_degree", "salesperson"],
             "properties": {"salesperson_negligent": {"const": True}, "negligence_degree": {"type": "string"},
                            "salesperson": {"type": "string"}}},
            {"required": ["salesperson_negligent"],
             "properties": {"salesperson_negligent": {"const": False}, "negligence_degree": {"type": "null"}}}]},
        {"anyOf": [
            {"properties": {"responsible_party": {"enum": [q.ResponsibleParty.COMPANY.value,
                                                           q.ResponsibleParty.CUSTOMER.value]}}},
            {"required": ["salesperson"], "properties": {"salesperson": {"type": "string"}}}]},
    ]


#: Money and hours in the bodies: decimal strings only (a JSON number would pass through binary floating
#: point; FastAPI validates a parsed body in Python mode, where the contracts' own check does not see it).
DECIMAL_TEXT_FIELDS = ("estimated_company_cost", "company_cost", "labour_hours")


def _text_only(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError('send the amount as a decimal string, e.g. "1280.50", never a JSON number')
    return value


def step_body(step: type[BaseModel], rule: Callable[[dict[str, Any]], None] | None = None,
              name: str | None = None, path_complaint: bool = False) -> type[BaseModel]:
    """The HTTP body of a step: the step's own fields and the client's `command_id` (no actor: the
    bearer token's user acts), unknown fields refused; `rule` states its cross-field rules."""
    name = name or step.__name__.removesuffix("Step") + "Body"
    config = ConfigDict(extra="forbid", frozen=True, title=name, json_schema_extra=rule)
    annotations: dict[str, Any] = {"command_id": UUID}
    namespace: dict[str, Any] = {
        "__module__": __name__, "__qualname__": name, "__doc__": step.__doc__,
        "command_id": Field(description="Client-chosen id; the same id again returns the first result (200) "
                                        "and writes nothing"),
        "model_config": config,
    }
    decimals = [field for field in DECIMAL_TEXT_FIELDS if field in step.model_fields]
    if decimals:
        namespace["_decimal_text"] = field_validator(*decimals, mode="before")(_text_only)
    if path_complaint:
        annotations["complaint_id"] = UUID | None
        namespace["complaint_id"] = Field(default=None, description="If given, must be the complaint in the path")
    namespace["__annotations__"] = annotations
    return type(name, (step,), namespace)


@dataclass(frozen=True)
class QualityStep:
    """One human step's endpoint: `POST /complaints/{id}/{segment}` carries out `command`."""

    segment: str
    command: type[ComplaintCommand]
    step: type[BaseModel]
    action: str
    roles: str                # who may call it (for the 403's description)
    summary: str
    states: str               # what the step needs, for the 409's description
    refused: str = ""         # the step's own 422 rules beyond the schema
    forbidden: str = ""       # the step's own 403 beyond the role
    rule: Callable[[dict[str, Any]], None] | None = None
    body_name: str | None = None
    fields: Callable[[Principal], dict[str, Any]] = lambda principal: {}


QUALITY_STEPS: tuple[QualityStep, ...] = (
    QualityStep("on-site-determination", q.RecordOnSiteDetermination, q.OnSiteInspectionStep, RECORD,
                "the regional manager of the complaint's region",
                "Record the on-site inspection and determination (§5.3.3⑸, §5.4)",
                "no determination recorded yet",
                refused="an obvious quality defect or undetermined case without a photo among `evidence`, a hash "
                        "not stored (`evidence`), or `visited_at` in the future",
                rule=_findings_rules, body_name="OnSiteDeterminationBody",
                fields=lambda principal: {"inspector": principal.user_id}),
    QualityStep("on-site-determination-correction", q.CorrectOnSiteDetermination, q.CorrectOnSiteDeterminationStep,
                "quality.on_site_determination.correct", "the regional manager who inspected",
                "Correct the on-site determination, with a reason (§5.3.3⑸)",
                "a determination not yet approved (the form's first approval, or a misuse settled on site)",
                refused="a defect or undetermined case without a photo in the investigation, or a hash not stored",
                forbidden="the caller is not the inspector", rule=_misuse_rule),
    QualityStep("defective-product-form", q.FileDefectiveProductForm, q.FileDefectiveProductFormStep,
                "quality.defect_form.file", "the regional manager of the complaint's region",
                "File (or refile after a rejection) the defective-product form (§5.7.1⑴)",
                "the on-site determination (the same as the form's), and no form yet or the form sent back",
                refused="no photo among `evidence`, or a hash not stored", rule=_not_misuse),
    QualityStep("defective-product-form-approval", q.ApproveDefectiveProductForm, q.ApproveDefectiveProductFormStep,
                "quality.defect_form.approve", "the marketing director or general manager (marketing_director "
                "stage); the HQ regional manager or general manager (hq_regional_manager stage)",
                "Approve the defective-product form at one's stage (§5.7.1⑵⑶)",
                "the form filed (marketing_director stage) or approved by the marketing director (hq stage)",
                forbidden="the caller's role does not approve the stage (`actor`), or the estimated company "
                          "cost exceeds the approver's authority (`company_cost`: names the limit, the matrix "
                          "version and the level to escalate to)", rule=_return_at_hq),
    QualityStep("defective-product-form-rejection", q.RejectDefectiveProductForm, q.RejectDefectiveProductFormStep,
                "quality.defect_form.approve", "the approver of the stage the form awaits",
                "Send the defective-product form back to the filer (§5.7.1)",
                "the form awaiting an approval", forbidden="the caller does not approve the stage the form awaits"),
    QualityStep("defective-product-form-return", q.ReturnDefectiveProductForm, q.ReturnDefectiveProductFormStep,
                "quality.defect_form.forward", "the HQ clerk",
                "Return an incomplete defective-product form to the filer, naming what is missing (§5.7.2⑶)",
                "the form approved by the HQ regional manager"),
    QualityStep("defective-product-form-forwarding", q.ForwardDefectiveProductForm,
                q.ForwardDefectiveProductFormStep, "quality.defect_form.forward", "the HQ clerk",
                "Forward the complete defective-product form to the quality department (§5.7.1⑷)",
                "the form approved by the HQ regional manager"),
    QualityStep("product-return", q.RequestProductReturn, q.RequestProductReturnStep, "quality.return.arrange",
                "the regional manager of the complaint's region", "Request the product's return (§5.4.4, §5.4.5)",
                "the HQ regional manager's decision to return the product, no return requested yet; the reason "
                "matches the determination"),
    QualityStep("product-return-shipment", q.ShipProductReturn, q.ShipProductReturnStep, "quality.return.arrange",
                "the regional manager of the complaint's region",
                "Record the return shipped: carrier and waybill", "the return requested",
                refused="`shipped_at` in the future"),
    QualityStep("product-receipt", q.RecordProductReceived, q.RecordProductReceivedStep, "quality.return.receive",
                "the quality department", "Record the returned product received", "the return shipped"),
    QualityStep("adjudication", q.RecordQualityAdjudication, q.RecordQualityAdjudicationStep,
                "quality.adjudicate", "the quality department",
                "Record the quality department's adjudication (§5.4.5, §5.4.6, §5.7.1⑷)",
                "the form forwarded and, when a return was decided, the product received; no adjudication "
                "awaiting approval; a negligence finding only for a case sent back undetermined",
                rule=_adjudication_rules),
    QualityStep("quality-decision-approval", q.ApproveQualityDecision, q.ApproveQualityDecisionStep,
                "quality.decision.approve", "the HQ regional manager (the marketing director or general manager "
                "above their authority)",
                "Second approval of the quality decision (§5.7.2⑷): the decision goes to routing for the reply",
                "an adjudication awaiting its second approval",
                forbidden="the company cost exceeds the approver's authority (names the limit, the matrix version "
                          "and the level to escalate to)"),
    QualityStep("quality-decision-rejection", q.RejectQualityDecision, q.RejectQualityDecisionStep,
                "quality.decision.approve", "the HQ regional manager (or above)",
                "Refuse the quality decision at the second approval: quality adjudicates again",
                "an adjudication awaiting its second approval", rule=_not_both_matching),
    QualityStep("quality-remedy", q.RecordQualityRemedy, q.RecordQualityRemedyStep, "quality.remedy.record",
                "the quality department",
                "Record the remedy delivered: replacement shipped, repair done, part swapped, fixed on site",
                "the approved decision, or a misuse settled on site (fixed_on_site only for a misuse fixed on site)",
                refused="`delivered_at` in the future"),
)

_BODIES: dict[str, type[BaseModel]] = {
    spec.segment: step_body(spec.step, spec.rule, spec.body_name, path_complaint=spec.segment == "on-site-determination")
    for spec in QUALITY_STEPS}
OnSiteDeterminationBody = _BODIES["on-site-determination"]


class InvestigationReceipt(BaseModel):
    complaint_id: UUID
    form_number: str
    stage: str = Field(description="Where the investigation stands after the step")
    determination: Determination | None = Field(description="The on-site determination now (after corrections)")
    version: int = Field(description="The investigation's version after this step")
    created: bool = Field(description="False when this command id had done the step before (nothing written)")


#: Kept for clients of the first version of the determination endpoint.
DeterminationReceipt = InvestigationReceipt


def _scope(principal: Principal) -> Callable[[str], bool]:
    access = rules()
    return lambda branch: access.sees(principal, branch)


def _responses(spec: QualityStep) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"model": InvestigationReceipt,
              "description": "This command id did the step before: the investigation now, nothing written"},
        **error_responses(
            403, 404, 409, 422,
            _403=f"Only {spec.roles} (`{spec.action}`)" + (f"; or {spec.forbidden}" if spec.forbidden else ""),
            _404="Quality has no investigation for this complaint, or it is outside the caller's scope (the same "
                 "answer each way)",
            _409=f"The investigation is not ready: the step needs {spec.states} (`state`); or the command id was "
                 "used for another command (`command_id`), or the step contradicts the investigation (the answer "
                 "names the field), or a concurrent update",
            _422="Invalid body (`loc` names the field), or the body names another complaint"
                 + (f"; or {spec.refused}" if spec.refused else "")),
    }


def _command(spec: QualityStep, command_id: UUID, complaint_id: UUID, principal: Principal,
             fields: dict[str, Any]) -> ComplaintCommand:
    """The step's command; a rule on the acting user (a stage approved by another role) is a 403 naming
    `actor`, any other rule the body breaks only with the caller's identity a 422 naming its field."""
    try:
        return spec.command(command_id=command_id, complaint_id=complaint_id, actor=principal.actor(), **fields,
                            **spec.fields(principal))
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        if field == "actor":
            raise Forbidden(str(first["msg"]).removeprefix("actor: "), field="actor") from None
        raise InvalidCommand(str(first["msg"]), field=field) from None


def _register(spec: QualityStep) -> None:
    async def step_endpoint(complaint_id: UUID, body: Any, request: Request, response: Response,
                            principal: CurrentPrincipal) -> InvestigationReceipt:
        authorize(principal, spec.action)
        if getattr(body, "complaint_id", None) not in (None, complaint_id):
            raise InvalidCommand("complaint_id in the body is not the complaint in the path", field="complaint_id")
        runtime = runtime_of(request)
        fields = {name: getattr(body, name) for name in spec.step.model_fields}
        command = _command(spec, body.command_id, complaint_id, principal, fields)
        done = await runtime.execute(runtime.app.handle, command, _scope(principal))
        if not done.created:
            response.status_code = status.HTTP_200_OK
        return InvestigationReceipt(complaint_id=done.complaint_id, form_number=done.form_number, stage=done.stage,
                                    determination=done.determination, version=done.version, created=done.created)

    step_endpoint.__annotations__["body"] = _BODIES[spec.segment]
    step_endpoint.__name__ = step_endpoint.__qualname__ = "quality_" + spec.segment.replace("-", "_")
    router.post(f"/complaints/{{complaint_id}}/{spec.segment}", status_code=status.HTTP_201_CREATED,
                response_model=InvestigationReceipt, summary=spec.summary, description=spec.step.__doc__,
                response_description="Done: where the investigation stands now",
                responses=_responses(spec))(step_endpoint)


for _spec in QUALITY_STEPS:
    _register(_spec)


class InvestigationView(BaseModel):
    """The investigation as it stands."""

    complaint_id: UUID
    form_number: str
    stage: str
    determination: Determination | None = Field(description="The on-site determination now (after corrections)")
    determination_approved: bool = Field(description="True: only adjudication or a dispute ruling changes it")
    settled_on_site: bool
    inspection: dict[str, Any] | None = Field(description="The on-site inspection record as recorded")
    corrections: list[dict[str, Any]]
    form: dict[str, Any] | None = Field(description="The defective-product form, its approvals and rejections")
    product_return: dict[str, Any] | None
    adjudication: dict[str, Any] | None = Field(description="The latest adjudication")
    adjudications: list[dict[str, Any]]
    decision: dict[str, Any] | None = Field(description="The approved decision")
    decision_rejections: list[dict[str, Any]]
    remedies: list[dict[str, Any]]
    rulings: list[dict[str, Any]] = Field(description="Dispute rulings that changed the determination (§5.6)")
    evidence: list[str] = Field(description="Every evidence hash the investigation names")


@router.get("/complaints/{complaint_id}/investigation", response_model=InvestigationView,
            summary="The quality investigation as it stands",
            responses=error_responses(404, 422, _404="Quality has no investigation for this complaint, or it is "
                                                     "outside the caller's scope (the same answer each way)"))
async def investigation_view(complaint_id: UUID, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """The determination and its corrections, the form and its approvals, the return, the adjudications,
    the decision, the remedies and the evidence hashes."""
    authorize(principal, "quality.investigation.read")
    runtime = runtime_of(request)
    i = await asyncio.to_thread(runtime.app.visible, complaint_id, _scope(principal))
    return {"complaint_id": i.id, "form_number": i.meta.form_number, "stage": i.stage,
            "determination": i.determination, "determination_approved": i.determination_approved,
            "settled_on_site": i.settled_on_site, "inspection": i.record, "corrections": list(i.corrections),
            "form": i.form, "product_return": i.product_return, "adjudication": i.adjudication,
            "adjudications": list(i.adjudications), "decision": i.decision,
            "decision_rejections": list(i.decision_rejections), "remedies": list(i.remedies),
            "rulings": list(i.rulings),
            "evidence": sorted(i.evidence)}
