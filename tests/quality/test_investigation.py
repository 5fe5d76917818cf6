"""The quality investigation step by step (§5.3.3⑸, §5.4, §5.7) over the in-memory store: who may take
each step, in which state, with what evidence and within which authority; every refusal names its
field and writes nothing; the published facts carry what billing and routing read."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from contracts import quality as q
from contracts.registry import parse_event, serialize_event
from services.common.access import Forbidden
from services.common.authority import BeyondAuthority
from services.common.domain import DomainError, InvalidCommand, NotFound
from services.quality.domain.investigation import QualityInvestigation, WrongState, check_evidence
from tests.common.builders import MANAGER
from tests.quality.chain import CLERK, GM, HQ, HQRM, MD, NOW, OTHER_MANAGER, QA, Chain


@pytest.fixture
def chain() -> Chain:
    return Chain()


def refused(chain: Chain, step: Callable[[], Any], error: type[Exception], field: str | None) -> DomainError:
    """The step is refused with `error` naming `field`, and nothing is stored."""
    before = chain.stored()
    with pytest.raises(error) as caught:
        step()
    assert chain.stored() == before, "a refused step writes nothing"
    if field is not None:
        assert caught.value.field == field, caught.value
    return caught.value


# --- the on-site determination: who records it ----------------------------------------------------------


def test_a_branch_clerk_may_not_record_the_determination_nor_block_the_manager_s(chain: Chain) -> None:
    """The defect of issue 8: any role could record it, and a clerk's determination then blocked the
    manager's. (Reproduced against the code before the fix: the clerk's command was accepted.)"""
    refusal = refused(chain, lambda: chain.determine(CLERK, determination="obvious_misuse",
                                                     misuse_resolution="fixed_on_site"), Forbidden, "actor")
    assert refusal.status == 403 and "regional_manager" in str(refusal)
    chain.determine(MANAGER)
    assert chain.investigation.inspector == MANAGER.user_id
    assert chain.investigation.determination == "obvious_quality_defect"


@pytest.mark.parametrize("actor", [HQ, QA, MD, HQRM, GM])
def test_no_other_role_records_the_determination(chain: Chain, actor: Any) -> None:
    refused(chain, lambda: chain.determine(actor), Forbidden, "actor")


def test_a_manager_outside_the_complaint_s_region_finds_no_investigation(chain: Chain) -> None:
    command = q.RecordOnSiteDetermination(complaint_id=chain.id, actor=OTHER_MANAGER, inspector="rm-li",
                                          **_record(chain))
    before = chain.stored()
    with pytest.raises(NotFound):
        chain.app.handle(command, in_scope=lambda branch: branch != "SH01")
    assert chain.stored() == before


def _record(chain: Chain, **overrides: Any) -> dict[str, Any]:
    from tests.quality.chain import record_fields
    return record_fields(**({"evidence": [chain.photo]} | overrides))


# --- evidence -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("determination", ["obvious_quality_defect", "cannot_be_determined"])
def test_a_company_side_determination_without_a_photo_is_refused(chain: Chain, determination: str) -> None:
    refused(chain, lambda: chain.determine(determination=determination, evidence=[]), InvalidCommand, "evidence")
    refusal = refused(chain, lambda: chain.determine(determination=determination, evidence=[chain.scan]),
                      InvalidCommand, "evidence")
    assert "photo" in str(refusal), "a scan is not a photo of the defect"
    chain.determine(determination=determination, evidence=[chain.scan, chain.photo])
    assert chain.investigation.evidence == {chain.scan: "scan", chain.photo: "photo"}


def test_an_unknown_evidence_hash_is_refused_naming_the_field(chain: Chain) -> None:
    refusal = refused(chain, lambda: chain.determine(evidence=[chain.photo, "f" * 64]), InvalidCommand, "evidence")
    assert refusal.status == 422 and "f" * 64 in str(refusal)


def test_misuse_needs_no_photo(chain: Chain) -> None:
    chain.determine(determination="obvious_misuse", misuse_resolution="complex_needs_parts", evidence=[])
    assert chain.investigation.determination == "obvious_misuse"


def test_check_evidence_is_pure_and_names_its_field() -> None:
    assert check_evidence([], {}, need_photo=False) == {}
    assert check_evidence(["a"], {"a": "scan"}, need_photo=True, earlier={"b": "photo"}) == {"a": "scan"}
    with pytest.raises(InvalidCommand) as caught:
        check_evidence(["a"], {"a": "scan"}, need_photo=True, field="photos")
    assert caught.value.field == "photos"


def test_a_visit_in_the_future_is_refused(chain: Chain) -> None:
    refused(chain, lambda: chain.determine(visited_at=NOW + timedelta(hours=2)), InvalidCommand, "visited_at")


@pytest.mark.parametrize(("overrides", "field"), [
    ({"misuse_resolution": "fixed_on_site", "written_feedback": None}, "written_feedback"),
    ({"misuse_resolution": "fixed_on_site", "customer_opinion": None}, "customer_opinion"),
    ({"misuse_resolution": "simple_part_swap", "parts_used": []}, "parts_used"),
])
def test_misuse_resolutions_carry_their_details(overrides: dict[str, Any], field: str) -> None:
    from tests.quality.chain import record_fields
    values = record_fields(determination="obvious_misuse", misuse_resolution=overrides["misuse_resolution"],
                           evidence=[]) | overrides
    with pytest.raises(ValidationError) as caught:
        q.RecordOnSiteDetermination(complaint_id=uuid4(), actor=MANAGER, inspector="rm-wang", **values)
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]


def test_the_inspection_record_is_published_whole(chain: Chain) -> None:
    chain.determine(determination="obvious_misuse", misuse_resolution="simple_part_swap", evidence=[chain.photo],
                    parts_used=[{"part_no": "SEAL-40", "quantity": 2}], quantity=2, salesperson="Sales Wu",
                    customer_opinion="Fine")
    event = chain.last()
    assert isinstance(event, q.OnSiteDeterminationRecorded) and event.schema_version == 2
    assert (event.determination, event.misuse_resolution) == ("obvious_misuse", "simple_part_swap")
    assert event.parts_used == [q.PartUsed(part_no="SEAL-40", quantity=2)] and event.quantity == 2
    assert event.visited_at == NOW - timedelta(hours=2)
    assert (event.cause, event.salesperson, event.evidence) == ("Casting pore at the seam", "Sales Wu", [chain.photo])
    assert event.samples_taken == ["housing fragment"] and event.inspector == MANAGER.user_id
    assert parse_event(serialize_event(event)) == event


# --- corrections -----------------------------------------------------------------------------------------


def test_the_inspector_corrects_the_determination_with_a_reason(chain: Chain) -> None:
    chain.determine(determination="obvious_misuse", misuse_resolution="complex_needs_parts", evidence=[],
                    customer_agrees=False)
    chain.correct(determination="cannot_be_determined", evidence=[chain.photo], reason="Pore visible under light")
    event = chain.last()
    assert isinstance(event, q.OnSiteDeterminationCorrected)
    assert (event.previous_determination, event.determination) == ("obvious_misuse", "cannot_be_determined")
    assert (event.reason, event.corrected_by, event.evidence) == ("Pore visible under light", "rm-wang", [chain.photo])
    investigation = chain.investigation
    assert investigation.determination == "cannot_be_determined" and investigation.misuse_resolution is None
    assert [c["previous_determination"] for c in investigation.corrections] == ["obvious_misuse"]


def test_a_correction_to_a_defect_needs_a_photo_somewhere_in_the_investigation(chain: Chain) -> None:
    chain.determine(determination="obvious_misuse", misuse_resolution="complex_needs_parts", evidence=[],
                    customer_agrees=False)
    refused(chain, lambda: chain.correct(determination="obvious_quality_defect"), InvalidCommand, "evidence")
    chain.correct(determination="obvious_quality_defect", evidence=[chain.photo])
    chain.correct(determination="cannot_be_determined")  # the photo named before counts
    assert chain.investigation.determination == "cannot_be_determined"


def test_the_customers_agreement_follows_the_correction_and_settles_a_misuse(chain: Chain) -> None:
    """Unset, the agreement recorded on site stands; a correction into misuse the customer agrees to
    settles the case on site (then final), one the customer does not agree to does not."""
    chain.determine(determination="cannot_be_determined", customer_agrees=False)
    chain.correct(determination="obvious_misuse", misuse_resolution="simple_part_swap", reason="Seal reversed")
    assert chain.last().customer_agrees is False and not chain.investigation.settled_on_site
    chain.correct(determination="obvious_misuse", misuse_resolution="simple_part_swap", customer_agrees=True,
                  reason="The customer agreed once shown the seal")
    assert chain.last().customer_agrees is True and chain.investigation.settled_on_site
    refused(chain, lambda: chain.correct(determination="cannot_be_determined"), WrongState, "state")


def test_only_the_inspector_corrects(chain: Chain) -> None:
    chain.determine()
    refused(chain, lambda: chain.correct(OTHER_MANAGER, determination="cannot_be_determined"), Forbidden, "actor")
    refused(chain, lambda: chain.correct(CLERK, determination="cannot_be_determined"), Forbidden, "actor")


def test_a_correction_that_changes_nothing_is_refused(chain: Chain) -> None:
    chain.determine()
    refused(chain, lambda: chain.correct(determination="obvious_quality_defect"), DomainError, "determination")


def test_after_the_form_s_first_approval_only_adjudication_changes_the_determination(chain: Chain) -> None:
    chain.determine(determination="cannot_be_determined")
    chain.file()
    chain.correct(determination="obvious_quality_defect")  # filed, not yet approved: still correctable
    chain.reject_form(MD)
    chain.file(determination="obvious_quality_defect")
    chain.approve_form(MD, "marketing_director")
    refusal = refused(chain, lambda: chain.correct(determination="cannot_be_determined"), WrongState, "state")
    assert refusal.status == 409 and "marketing_approved" in str(refusal)


def test_a_misuse_settled_on_site_is_final(chain: Chain) -> None:
    chain.determine(determination="obvious_misuse", misuse_resolution="fixed_on_site", evidence=[])
    assert chain.investigation.settled_on_site and chain.investigation.determination_approved
    refused(chain, lambda: chain.correct(determination="cannot_be_determined", evidence=[chain.photo]),
            WrongState, "state")


def test_nothing_to_correct_before_a_determination(chain: Chain) -> None:
    refused(chain, lambda: chain.correct(determination="cannot_be_determined"), WrongState, "state")


# --- the defective-product form ------------------------------------------------------------------------------


def test_the_form_goes_through_both_approvals_and_is_forwarded(chain: Chain) -> None:
    chain.determine(determination="cannot_be_determined")
    chain.file()
    filed = chain.last()
    assert isinstance(filed, q.DefectiveProductFormFiled)
    assert (filed.revision, filed.estimated_company_cost, filed.evidence) == (1, Decimal("1800.00"), [chain.photo])
    chain.approve_form(MD, "marketing_director")
    first = chain.last()
    assert (first.stage, first.approver_role, first.product_return) == ("marketing_director", "marketing_director",
                                                                       None)
    assert first.authority_level == "marketing_director" and first.authority_matrix_version
    chain.approve_form(HQRM, "hq_regional_manager", product_return=True)
    second = chain.last()
    assert (second.stage, second.product_return, second.authority_level) == ("hq_regional_manager", True,
                                                                            "hq_regional")
    chain.forward()
    forwarded = chain.last()
    assert isinstance(forwarded, q.DefectiveProductFormForwarded)
    assert (forwarded.product_return, forwarded.determination, forwarded.forwarded_by) == (
        True, "cannot_be_determined", HQ.user_id)
    assert chain.investigation.stage == "form_forwarded"


def test_a_form_for_another_determination_than_the_on_site_one_is_refused(chain: Chain) -> None:
    chain.determine(determination="cannot_be_determined")
    refused(chain, lambda: chain.file(determination="obvious_quality_defect"), DomainError, "determination")


def test_a_form_without_a_photo_is_refused(chain: Chain) -> None:
    chain.determine()
    refused(chain, lambda: chain.file(evidence=[chain.scan]), InvalidCommand, "evidence")
    refused(chain, lambda: chain.file(evidence=["e" * 64]), InvalidCommand, "evidence")


def test_the_form_is_not_for_misuse() -> None:
    with pytest.raises(ValidationError) as caught:
        q.FileDefectiveProductForm(complaint_id=uuid4(), actor=MANAGER, defect_form_id=uuid4(),
                                   determination="obvious_misuse", defect_description="x", memo="x",
                                   evidence=["a" * 64], return_proposed=False, estimated_company_cost="1.00")
    assert [e["loc"] for e in caught.value.errors()] == [("determination",)]


def test_the_marketing_director_s_limit_is_the_matrix_s_and_the_general_manager_approves_above_it(chain: Chain) -> None:
    chain.determine()
    chain.file(estimated_company_cost="150000.00")
    refusal = refused(chain, lambda: chain.approve_form(MD, "marketing_director"), BeyondAuthority, "company_cost")
    assert refusal.status == 403
    assert chain.app.authority.version in str(refusal) and "general_manager" in str(refusal)
    chain.approve_form(GM, "marketing_director")
    assert chain.last().authority_level == "general_manager"


def test_the_hq_regional_manager_s_limit_is_the_matrix_s(chain: Chain) -> None:
    chain.determine()
    chain.file(estimated_company_cost="25000.00")
    chain.approve_form(MD, "marketing_director")
    refusal = refused(chain, lambda: chain.approve_form(HQRM, "hq_regional_manager"), BeyondAuthority, "company_cost")
    assert "marketing_director" in str(refusal), "names the level to escalate to"
    chain.approve_form(GM, "hq_regional_manager")
    assert chain.investigation.form["state"] == "approved"


def test_a_serious_complaint_gets_the_serious_limit(chain: Chain) -> None:
    serious = Chain(severity="serious")
    serious.determine()
    serious.file(estimated_company_cost="6000.00")
    serious.approve_form(MD, "marketing_director")
    refused(serious, lambda: serious.approve_form(HQRM, "hq_regional_manager"), BeyondAuthority, "company_cost")


def test_approvals_come_in_their_order(chain: Chain) -> None:
    chain.determine()
    refused(chain, lambda: chain.approve_form(MD, "marketing_director"), WrongState, "state")
    chain.file()
    refused(chain, lambda: chain.approve_form(HQRM, "hq_regional_manager"), WrongState, "state")
    refused(chain, chain.forward, WrongState, "state")
    chain.approve_form(MD, "marketing_director")
    refused(chain, lambda: chain.approve_form(MD, "marketing_director"), WrongState, "state")
    refused(chain, lambda: chain.reject_form(MD), Forbidden, "actor")


@pytest.mark.parametrize(("actor", "stage"), [(CLERK, "marketing_director"), (HQRM, "marketing_director"),
                                              (MD, "hq_regional_manager"), (QA, "hq_regional_manager")])
def test_a_stage_is_approved_by_its_own_approver(actor: Any, stage: str) -> None:
    with pytest.raises(ValidationError) as caught:
        q.ApproveDefectiveProductForm(complaint_id=uuid4(), actor=actor, defect_form_id=uuid4(), stage=stage,
                                      product_return=True if stage == "hq_regional_manager" else None)
    assert [e["loc"] for e in caught.value.errors()] == [("actor",)]


def test_a_rejected_form_goes_back_to_the_filer_who_refiles_it(chain: Chain) -> None:
    chain.determine()
    chain.file()
    chain.approve_form(MD, "marketing_director")
    chain.reject_form(HQRM, "The estimate leaves out the transport")
    rejected = chain.last()
    assert isinstance(rejected, q.DefectiveProductFormRejected)
    assert (rejected.rejected_by_role, rejected.reason) == ("hq_regional_manager", "The estimate leaves out the transport")
    assert chain.investigation.form["state"] == "rejected"
    refused(chain, lambda: chain.approve_form(MD, "marketing_director"), WrongState, "state")
    refused(chain, lambda: chain.file(defect_form_id=uuid4()), DomainError, "defect_form_id")
    chain.file(estimated_company_cost="2300.00")
    refiled = chain.last()
    assert (refiled.revision, refiled.estimated_company_cost) == (2, Decimal("2300.00"))
    assert chain.investigation.form["approvals"] == [], "the chain starts again"
    chain.approve_form(MD, "marketing_director")


def test_the_hq_clerk_returns_an_incomplete_form_naming_what_is_missing(chain: Chain) -> None:
    chain.determine()
    chain.file()
    chain.approve_form(MD, "marketing_director")
    chain.approve_form(HQRM, "hq_regional_manager")
    chain.return_form(["photo of the nameplate"])
    returned = chain.last()
    assert returned.missing == ["photo of the nameplate"] and returned.rejected_by_role == "hq_clerk"
    assert chain.investigation.form["state"] == "returned"
    refused(chain, chain.forward, WrongState, "state")
    chain.file()
    assert chain.last().revision == 2


def test_one_form_per_complaint(chain: Chain) -> None:
    chain.determine()
    chain.file()
    refused(chain, lambda: chain.file(defect_form_id=uuid4()), DomainError, "defect_form_id")
    refused(chain, chain.file, WrongState, "state")


# --- the return -----------------------------------------------------------------------------------------------


def test_the_return_is_requested_shipped_and_received(chain: Chain) -> None:
    chain.up_to_forwarded("obvious_quality_defect")
    chain.request_return()
    requested = chain.last()
    assert isinstance(requested, q.ProductReturnRequested)
    assert (requested.reason, requested.replacement_promised) == ("quality_defect_exchange", True)
    chain.ship(carrier="Deppon", waybill="DP-778812")
    shipped = chain.last()
    assert isinstance(shipped, q.ProductReturnShipped)
    assert (shipped.carrier, shipped.waybill, shipped.shipped_by) == ("Deppon", "DP-778812", MANAGER.user_id)
    chain.receive()
    received = chain.last()
    assert isinstance(received, q.ProductReceived) and received.received_by == QA.user_id
    assert "transit_transport_cost" not in received.model_dump(), "transport is booked only in billing"


def test_the_return_follows_the_hq_regional_manager_s_decision(chain: Chain) -> None:
    chain.determine(determination="cannot_be_determined")
    chain.file()
    refused(chain, chain.request_return, WrongState, "state")
    chain.approve_form(MD, "marketing_director")
    chain.approve_form(HQRM, "hq_regional_manager", product_return=False)
    refused(chain, chain.request_return, WrongState, "state")


def test_the_return_s_reason_follows_the_determination(chain: Chain) -> None:
    chain.up_to_forwarded("cannot_be_determined")
    refused(chain, lambda: chain.request_return(reason="quality_defect_exchange"), DomainError, "reason")
    chain.request_return()
    refused(chain, chain.request_return, WrongState, "state")
    refused(chain, chain.receive, WrongState, "state")
    refused(chain, lambda: chain.ship(return_id=uuid4()), DomainError, "return_id")
    refused(chain, lambda: chain.ship(shipped_at=NOW + timedelta(days=1)), InvalidCommand, "shipped_at")
    refused(chain, lambda: chain.ship(QA), Forbidden, "actor")


# --- adjudication and the second approval ---------------------------------------------------------------------


def test_adjudication_waits_for_the_returned_product(chain: Chain) -> None:
    chain.up_to_forwarded("cannot_be_determined")
    refused(chain, chain.adjudicate, WrongState, "state")
    chain.request_return()
    chain.ship()
    refused(chain, chain.adjudicate, WrongState, "state")
    chain.receive()
    chain.adjudicate()
    assert isinstance(chain.last(), q.QualityAdjudicationRecorded)


def test_without_a_return_adjudication_follows_the_forwarding(chain: Chain) -> None:
    chain.determine(determination="cannot_be_determined")
    chain.file(return_proposed=False)
    chain.approve_form(MD, "marketing_director")
    chain.approve_form(HQRM, "hq_regional_manager", product_return=False)
    refused(chain, chain.adjudicate, WrongState, "state")
    chain.forward()
    chain.adjudicate()


def test_an_adjudication_overturning_the_on_site_determination_shows_both(chain: Chain) -> None:
    chain.up_to_received("cannot_be_determined")
    chain.adjudicate(determination="obvious_misuse", misuse_resolution="complex_needs_parts",
                     responsible_party="customer", parts_used=[{"part_no": "GEAR-7", "quantity": 1}],
                     labour_hours="3.5", salesperson="Sales Wu", salesperson_negligent=True,
                     negligence_degree="medium", negligence_finding="Overload marks were plain to see on site")
    event = chain.last()
    assert (event.on_site_determination, event.determination) == ("cannot_be_determined", "obvious_misuse")
    assert (event.salesperson, event.negligence_degree, event.labour_hours) == ("Sales Wu", "medium", Decimal("3.5"))
    assert event.production == q.ProductionTrace(production_date="2026-09-14", line_or_unit="Casting line 2",
                                                 shift="night")
    assert event.parts_used == [q.PartUsed(part_no="GEAR-7", quantity=1)] and event.adjudicated_by == QA.user_id
    assert json.loads(serialize_event(event))["labour_hours"] == "3.5"


def test_negligence_is_found_only_where_the_case_was_sent_back_undetermined(chain: Chain) -> None:
    chain.up_to_received("obvious_quality_defect")
    refused(chain, lambda: chain.adjudicate(salesperson="Sales Wu", salesperson_negligent=True,
                                            negligence_degree="high"), DomainError, "salesperson_negligent")


def test_the_second_approval_is_within_the_matrix_and_a_rejection_sends_it_back(chain: Chain) -> None:
    chain.up_to_received("cannot_be_determined")
    refused(chain, chain.approve_decision, WrongState, "state")
    chain.adjudicate()
    refused(chain, chain.adjudicate, WrongState, "state")
    refusal = refused(chain, lambda: chain.approve_decision(company_cost="25000.00"), BeyondAuthority, "company_cost")
    assert "marketing_director" in str(refusal)
    refused(chain, lambda: chain.approve_decision(adjudication_id=uuid4()), DomainError, "adjudication_id")
    chain.reject_decision()
    assert isinstance(chain.last(), q.QualityDecisionRejected)
    refused(chain, chain.approve_decision, WrongState, "state")
    refused(chain, chain.adjudicate, DomainError, "adjudication_id")  # a new adjudication needs a new id
    chain.adjudication_id = uuid4()
    chain.adjudicate(determination="obvious_misuse", misuse_resolution="simple_part_swap",
                     responsible_party="customer")
    chain.approve_decision(MD, company_cost="30000.00", decision="Swap the seal; the customer pays the part")
    approved = chain.last()
    assert isinstance(approved, q.QualityDecisionApproved)
    assert (approved.determination, approved.misuse_resolution, approved.responsible_party) == (
        "obvious_misuse", "simple_part_swap", "customer")
    assert (approved.approver_role, approved.company_cost) == ("marketing_director", Decimal("30000.00"))
    assert approved.decision == "Swap the seal; the customer pays the part"
    refused(chain, chain.approve_decision, WrongState, "state")


def test_adjudication_and_decisions_belong_to_quality_and_hq(chain: Chain) -> None:
    chain.up_to_received()
    refused(chain, lambda: chain.adjudicate(MANAGER), Forbidden, "actor")
    chain.adjudicate()
    refused(chain, lambda: chain.approve_decision(QA), Forbidden, "actor")
    refused(chain, lambda: chain.reject_decision(HQ), Forbidden, "actor")


# --- the remedy ------------------------------------------------------------------------------------------------


def test_the_remedy_follows_the_decision(chain: Chain) -> None:
    chain.up_to_received("obvious_quality_defect")
    chain.adjudicate()
    refused(chain, chain.remedy, WrongState, "state")
    chain.approve_decision()
    refused(chain, lambda: chain.remedy(remedy_kind="fixed_on_site"), DomainError, "remedy_kind")
    refused(chain, lambda: chain.remedy(delivered_at=NOW + timedelta(days=2)), InvalidCommand, "delivered_at")
    chain.remedy()
    delivered = chain.last()
    assert isinstance(delivered, q.QualityRemedyDelivered)
    assert (delivered.remedy_kind, delivered.reference, delivered.delivered_by) == (
        "replacement_shipped", "SF9876543210", QA.user_id)
    assert chain.investigation.stage == "remedy_delivered"


def test_a_misuse_settled_on_site_takes_its_remedy_without_a_decision(chain: Chain) -> None:
    chain.determine(determination="obvious_misuse", misuse_resolution="fixed_on_site", evidence=[])
    chain.remedy(remedy_kind="fixed_on_site", description="Plug tightened, oil refilled", reference="NOTE-118")
    assert chain.last().remedy_kind == "fixed_on_site"
    swap = Chain()
    swap.determine(determination="obvious_misuse", misuse_resolution="simple_part_swap", evidence=[])
    refused(swap, lambda: swap.remedy(remedy_kind="fixed_on_site"), DomainError, "remedy_kind")
    swap.remedy(remedy_kind="part_swapped", parts_used=[{"part_no": "SEAL-40", "quantity": 1}], reference="WO-9")
    assert swap.last().parts_used == [q.PartUsed(part_no="SEAL-40", quantity=1)]


def test_no_remedy_while_the_misuse_is_disputed_on_site(chain: Chain) -> None:
    chain.determine(determination="obvious_misuse", misuse_resolution="simple_part_swap", evidence=[],
                    customer_agrees=False)
    refused(chain, chain.remedy, WrongState, "state")


# --- idempotency ---------------------------------------------------------------------------------------------------


def test_a_repeated_command_answers_the_state_now_and_writes_nothing(chain: Chain) -> None:
    chain.determine()
    command_id = uuid4()
    first = chain.file(command_id=command_id)
    stored = chain.stored()
    again = chain.file(command_id=command_id)
    assert (first.created, again.created) == (True, False)
    assert chain.stored() == stored and again.version == first.version
    refused(chain, lambda: chain.file(command_id=command_id, estimated_company_cost="9.00"), DomainError, "command_id")
    refused(chain, lambda: chain.approve_form(MD, "marketing_director", command_id=command_id), DomainError,
            "command_id")


# --- stored events of earlier versions stay readable ---------------------------------------------------------------


def test_an_investigation_stored_before_the_inspection_record_still_loads_and_publishes(chain: Chain) -> None:
    """Stores already hold `Opened` and `DeterminationRecorded` with the first attribute set."""
    chain.determine()
    app = chain.app
    notifications = app.recorder.select_notifications(1, 100)
    old = []
    for n in notifications:
        state = json.loads(n.state)
        if n.topic.endswith("QualityInvestigation.Opened"):
            state.pop("severity"), state.pop("class_version")
        elif n.topic.endswith("QualityInvestigation.DeterminationRecorded"):
            for name in ("visited_at", "samples_taken", "cause", "customer_opinion", "written_feedback", "quantity",
                         "parts_used", "salesperson", "evidence", "kinds", "fingerprint", "class_version"):
                state.pop(name)
        else:
            continue
        old.append(n.__class__(**{**n.__dict__, "state": json.dumps(state).encode()}))
    from tests.common.builders import in_memory
    from services.quality.application import QualityApplication
    fresh = in_memory(QualityApplication)
    fresh.recorder.insert_events(old)
    investigation: QualityInvestigation = fresh.investigation(chain.id)
    assert investigation.severity == "general" and investigation.determination == "obvious_quality_defect"
    from tests.common.builders import published
    _, determination = published(fresh)
    assert determination.schema_version == 2 and determination.evidence == [] and determination.quantity == 1
    assert determination.cause == determination.memo and determination.visited_at == determination.occurred_at


def test_the_v1_determination_message_upcasts_with_defaults() -> None:
    from tests.common.builders import determination_recorded
    v2 = json.loads(serialize_event(determination_recorded()))
    v1 = {k: v for k, v in v2.items() if k not in {"visited_at", "samples_taken", "cause", "customer_opinion",
                                                  "written_feedback", "quantity", "parts_used", "salesperson",
                                                  "evidence"}} | {"schema_version": 1}
    event = parse_event(v1)
    assert event.schema_version == 2
    assert (event.visited_at, event.cause, event.quantity) == (event.occurred_at, event.memo, 1)
    assert (event.samples_taken, event.parts_used, event.evidence) == ([], [], [])
    assert (event.customer_opinion, event.written_feedback, event.salesperson) == (None, None, None)


# --- a dispute ruling ------------------------------------------------------------------------------------------------


def _ruled(chain: Chain, dispute_id: Any, **fields: Any) -> Any:
    from contracts.envelope import ServiceName
    from contracts.routing import DisputeRuled
    from tests.common.builders import envelope
    payload = dict(dispute_id=dispute_id, dispute_kind="quality_determination", forum="national_authority",
                   ruled_by="Provincial quality bureau", recorded_by="hq-zhao", outcome="upheld",
                   ruling="The crack is a casting flaw", final=True) | fields
    return DisputeRuled(**envelope(ServiceName.ROUTING, complaint_id=chain.id, form_number=chain.routed.form_number),
                        **payload)


def test_a_dispute_ruling_changes_the_determination_once(chain: Chain) -> None:
    from services.quality.policies import quality_policy
    from tests.common.builders import react
    chain.determine(determination="obvious_misuse", misuse_resolution="fixed_on_site", evidence=[])
    ruling = _ruled(chain, uuid4(), determination="obvious_quality_defect", responsible_party="company")
    assert react(chain.app, quality_policy, ruling) == 1
    assert react(chain.app, quality_policy, ruling, position=50) == 0, "the same ruling again changes nothing"
    investigation = chain.investigation
    assert investigation.determination == "obvious_quality_defect" and investigation.stage == "ruled"
    assert [r["previous_determination"] for r in investigation.rulings] == ["obvious_misuse"]
    refused(chain, lambda: chain.correct(determination="cannot_be_determined", evidence=[chain.photo]),
            WrongState, "state")
    refused(chain, lambda: chain.remedy(remedy_kind="fixed_on_site"), DomainError, "remedy_kind")
    chain.remedy()  # the replacement the ruling calls for
    assert chain.last().remedy_kind == "replacement_shipped"
    assert react(chain.app, quality_policy, _ruled(chain, uuid4(), determination=None)) == 0, \
        "a ruling without a determination is not quality's"
