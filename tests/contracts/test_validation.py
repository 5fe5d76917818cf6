"""Bad input is rejected with a ValidationError that names the offending field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from contracts import billing, corrective, notify, quality, registration, routing
from contracts.registry import parse_command, parse_event

T0 = "2026-11-25T09:30:00+08:00"
NAIVE = "2026-11-25T09:30:00"
EARLIER = "2026-11-25T08:00:00+08:00"
DEADLINE = {
    "deadline_id": "44444444-4444-4444-8444-444444444444", "kind": "customer_reply",
    "basis": "working_hours", "amount": 1, "started_at": T0, "due_at": "2026-11-25T10:30:00+08:00",
    "responsible_role": "branch_clerk",
}


def names_field(error: ValidationError, field: str) -> bool:
    """Some error's location names the field (cross-field rules too: they report it, not the model)."""
    return any(field in [str(part) for part in detail["loc"]] for detail in error.errors())


EVENT_CASES: list[tuple[type, dict[str, Any], str]] = [
    (routing.ComplaintClosed, {"form_number": "SH01-2026-1"}, "form_number"),
    (routing.ComplaintClosed, {"form_number": "sh01-20261125-0001"}, "form_number"),
    (routing.ComplaintClosed, {"occurred_at": NAIVE}, "occurred_at"),
    (routing.InternalMemoFiled, {"requested_reply_by": NAIVE}, "requested_reply_by"),
    (routing.InternalMemoFiled, {"requested_reply_by": EARLIER}, "requested_reply_by"),
    (routing.ComplaintClosed, {"notification_id": 0}, "notification_id"),
    (routing.ComplaintClosed, {"colour": "red"}, "colour"),
    (billing.CostRecorded, {"amount": "-1.00"}, "amount"),
    (billing.CostRecorded, {"amount": "1.234"}, "amount"),
    (billing.CostRecorded, {"currency": "USD"}, "currency"),
    (billing.SalespersonPenaltyCharged, {"penalty_percent": "70", "amount": "266.00"}, "penalty_percent"),
    (billing.SalespersonPenaltyCharged, {"penalty_percent": "29.99", "amount": "113.96"}, "penalty_percent"),
    (billing.SalespersonPenaltyCharged, {"amount": "170.00"}, "amount"),
    (billing.CostAllocationRevised,
     {"lines": [{"item": "return_transport", "payer": "customer", "amount": "380.00"}]}, "lines"),
    (billing.CostAllocationRevised, {"determination": "cannot_be_determined", "misuse_resolution": None},
     "determination"),
    (quality.OnSiteDeterminationRecorded, {"misuse_resolution": None}, "misuse_resolution"),
    (quality.OnSiteDeterminationRecorded, {"determination": "obvious_quality_defect"}, "misuse_resolution"),
    (quality.OnSiteDeterminationRecorded, {"photo_refs": []}, "photo_refs"),
    (quality.QualityAdjudicationRecorded, {"misuse_resolution": None}, "misuse_resolution"),
    (quality.QualityAdjudicationRecorded, {"determination": "cannot_be_determined", "misuse_resolution": None},
     "determination"),
    (quality.QualityAdjudicationRecorded, {"negligence_degree": None}, "negligence_degree"),
    (quality.QualityAdjudicationRecorded, {"salesperson_negligent": False}, "negligence_degree"),
    (quality.QualityAdjudicationRecorded,
     {"responsible_party": "salesperson", "salesperson": None, "salesperson_negligent": False,
      "negligence_degree": None}, "salesperson"),
    (quality.QualityAdjudicationRecorded, {"responsible_party": "company"}, "responsible_party"),
    (quality.DefectiveProductFormFiled, {"determination": "obvious_misuse"}, "determination"),
    (quality.DefectiveProductFormApproved, {"approver_role": "marketing_director"}, "approver_role"),
    (quality.DefectiveProductFormApproved, {"product_return": None}, "product_return"),
    (quality.DefectiveProductFormApproved,
     {"stage": "marketing_director", "approver_role": "marketing_director"}, "product_return"),
    (corrective.CorrectiveActionApproved, {"approver_role": "marketing_director"}, "approver_role"),
    (corrective.CorrectiveActionApproved, {"outstanding": ["management_representative"]}, "outstanding"),
    (corrective.CorrectiveActionApproved, {"fully_approved": True}, "fully_approved"),
    (corrective.CorrectiveActionRaised, {"adjudication_id": None}, "adjudication_id"),
    (corrective.CorrectiveActionRaised, {"source": "batch_alert"}, "alert"),
    (corrective.CorrectiveActionImplemented, {"evidence": ["ABC"]}, "evidence"),
    (corrective.CorrectiveActionVerified, {"closed": False}, "closed"),
    (corrective.CorrectiveActionReopened, {"round": 1}, "round"),
    (quality.QualityDecisionRejected, {"matches_service_commitment": True}, "reason"),
    (registration.ComplaintRegistered, {"product": None}, "product"),
    (registration.ComplaintRegistered, {"read_back_confirmed": False}, "read_back_confirmed"),
    (registration.ComplaintRegistered, {"product": {
        "model": "KX", "batch_number": "B1", "order_date": "2026-10-05", "shipping_date": "2026-10-01",
        "arrival_date": "2026-10-08"}}, "product"),
    (registration.MinorComplaintClosedAtIntake, {"resolved_on_the_spot": None}, "resolved_on_the_spot"),
    (registration.InquiryAnswered, {"due_at": "2026-11-27T09:30:00+08:00"}, "due_at"),
    (registration.InquiryAnswered, {"answered_at": EARLIER}, "answered_at"),
    (registration.RegistrationCorrected, {"changed_fields": ["description", "colour"]}, "changed_fields"),
    (registration.RegistrationCorrected, {"revision": 1}, "revision"),
    (routing.ReplyApproved, {"approver_role": "supervisor"}, "approver_role"),
    (routing.StaffComplaintInvestigated, {"direct_superior": None}, "direct_superior"),
    (routing.UnreasonableDemandRecorded, {"arbitration_proposed_to": None}, "arbitration_proposed_to"),
    (routing.DisputeRaised, {"authority_name": None}, "authority_name"),
    (routing.SeriousComplaintEscalated, {"notified_roles": ["quality_department"]}, "notified_roles"),
    (routing.SeriousComplaintEscalated, {"reasons": []}, "reasons"),
    (routing.DeadlineSet, {"deadline": {**DEADLINE, "due_at": EARLIER}}, "due_at"),
    (routing.DeadlineSet, {"deadline": {**DEADLINE, "basis": "agreed_time"}}, "amount"),
    (routing.DeadlineSet, {"deadline": {**DEADLINE, "amount": None}}, "amount"),
    (routing.DeadlineSet, {"deadline": {**DEADLINE, "due_at": NAIVE}}, "due_at"),
    (routing.DisputeRaised, {"dispute_kind": "policy_service"}, "forum"),
    (routing.DisputeRaised, {"forum": "headquarters"}, "forum"),
    (routing.DisputeRuled, {"dispute_kind": "staff", "forum": "headquarters", "final": False,
                            "determination": None}, "final"),
    (routing.DisputeRuled, {"dispute_kind": "staff", "forum": "headquarters"}, "determination"),
    (routing.SatisfactionFollowUpRecorded, {"reached_customer": False}, "satisfaction"),
    (notify.NotificationDeliveryFailed, {"retry_at": EARLIER}, "retry_at"),
    (notify.NotificationDelivered, {"attempt": 0}, "attempt"),
]


@pytest.mark.parametrize(("cls", "overrides", "field"), EVENT_CASES,
                         ids=[f"{c.__name__}-{f}-{i}" for i, (c, _, f) in enumerate(EVENT_CASES)])
def test_bad_event_names_the_field(cls: type, overrides: dict[str, Any], field: str, event_json) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_event(event_json(cls, **overrides))
    assert names_field(caught.value, field), caught.value.errors()


COMMAND_CASES: list[tuple[type, dict[str, Any], str]] = [
    (registration.RegisterComplaint, {"read_back_confirmed": False}, "read_back_confirmed"),
    (registration.RegisterComplaint, {"product": None}, "product"),
    (registration.RegisterComplaint, {"received_at": NAIVE}, "received_at"),
    (registration.RegisterComplaint, {"resolved_on_the_spot": "Explained"}, "resolved_on_the_spot"),
    (registration.CorrectRegistration, {"read_back_confirmed": False}, "read_back_confirmed"),
    (registration.ConfirmReadBack, {"complaint_id": "not-a-uuid"}, "complaint_id"),
    (quality.RecordOnSiteDetermination, {"misuse_resolution": None}, "misuse_resolution"),
    (quality.RecordOnSiteDetermination, {"inspector": ""}, "inspector"),
    (quality.FileDefectiveProductForm, {"determination": "obvious_misuse"}, "determination"),
    (quality.ApproveDefectiveProductForm, {"actor": {"user_id": "c", "role": "branch_clerk"}}, "actor"),
    (corrective.ApproveCorrectiveAction, {"actor": {"user_id": "md", "role": "marketing_director"}}, "actor"),
    (corrective.VerifyCorrectiveAction, {"actions": None}, "actions"),
    (corrective.VerifyCorrectiveAction, {"due_at": None}, "due_at"),
    (corrective.VerifyCorrectiveAction, {"effective": True}, "effective"),
    (corrective.IssueExceptionReport, {"no_loss": False}, "no_loss"),
    (corrective.ProposeCorrectiveAction, {"actions": []}, "actions"),
    (quality.RecordQualityAdjudication, {"negligence_degree": None}, "negligence_degree"),
    (billing.ChargeSalespersonPenalty, {"penalty_percent": "70"}, "penalty_percent"),
    (billing.RecordCost, {"amount": "-5.00"}, "amount"),
    (routing.RecordSatisfactionFollowUp, {"satisfaction": "satisfied"}, "satisfaction"),
    (routing.RecordUnreasonableDemand, {"customer_accepted_position": False}, "arbitration_proposed_to"),
    (routing.DecideRepeatLink, {"confirmed": False}, "reason"),
    (routing.ApproveReply, {"compensation": "-1.00"}, "compensation"),
]


@pytest.mark.parametrize(("cls", "overrides", "field"), COMMAND_CASES,
                         ids=[f"{c.__name__}-{f}-{i}" for i, (c, _, f) in enumerate(COMMAND_CASES)])
def test_bad_command_names_the_field(cls: type, overrides: dict[str, Any], field: str, command_json) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_command(command_json(cls, **overrides))
    assert names_field(caught.value, field), caught.value.errors()


def test_penalty_boundaries_are_accepted(make_event) -> None:
    low = make_event(billing.SalespersonPenaltyCharged, penalty_percent="30", amount="114.00")
    high = make_event(billing.SalespersonPenaltyCharged, penalty_percent="60", amount="228.00")
    assert (low.amount, high.amount) == (billing.penalty_amount(low.transit_transport_cost, low.penalty_percent),
                                         billing.penalty_amount(high.transit_transport_cost, high.penalty_percent))


def test_rule_errors_point_at_the_field_not_the_model(event_json) -> None:
    with pytest.raises(ValidationError) as caught:
        routing.ReplyApproved.model_validate(event_json(routing.ReplyApproved, approver_role="supervisor"))
    [detail] = caught.value.errors()
    assert detail["loc"] == ("approver_role",)
    assert "marketing_director" in detail["msg"]


BAD_DATES = {"model": "KX", "batch_number": "B1", "order_date": "2026-10-05", "shipping_date": "2026-10-01",
             "arrival_date": "2026-10-08"}


@pytest.mark.parametrize(("cls", "overrides", "loc"), [
    (registration.RegisterComplaint, {"product": BAD_DATES}, ("product", "shipping_date")),
    (registration.RegisterComplaint, {"product": {**BAD_DATES, "shipping_date": "2026-10-09"}},
     ("product", "arrival_date")),
    (registration.RegisterComplaint, {"subject": "product_quality", "product": None}, ("product",)),
    (registration.RegisterComplaint, {"severity": "general", "resolved_on_the_spot": "Explained"},
     ("resolved_on_the_spot",)),
    (registration.RegisterComplaint, {"read_back_confirmed": False}, ("read_back_confirmed",)),
    (quality.RecordOnSiteDetermination, {"misuse_resolution": None}, ("misuse_resolution",)),
    (quality.RecordOnSiteDetermination, {"determination": "obvious_quality_defect"}, ("misuse_resolution",)),
])
def test_cross_field_rules_report_the_full_path(cls: type, overrides: dict[str, Any], loc: tuple[str, ...],
                                                command_json) -> None:
    with pytest.raises(ValidationError) as caught:
        cls.model_validate(command_json(cls, **overrides))
    assert [e["loc"] for e in caught.value.errors()] == [loc]
    with pytest.raises(ValidationError) as caught:
        parse_command(command_json(cls, **overrides))
    assert [e["loc"] for e in caught.value.errors()] == [(cls.__name__, *loc)]


def test_a_nested_rule_reports_the_path_in_an_event(event_json) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_event(event_json(quality.OnSiteDeterminationRecorded, product=BAD_DATES))
    assert [e["loc"] for e in caught.value.errors()] == [("OnSiteDeterminationRecorded", "product", "shipping_date")]


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "1", None, 1.0])
def test_read_back_confirmed_is_exactly_true(value: Any, command_json, event_json) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_command(command_json(registration.RegisterComplaint, read_back_confirmed=value))
    assert [e["loc"] for e in caught.value.errors()] == [("RegisterComplaint", "read_back_confirmed")]
    with pytest.raises(ValidationError):
        parse_event(event_json(registration.ComplaintRegistered, read_back_confirmed=value))


def test_read_back_confirmed_says_so_in_the_schema() -> None:
    for cls in (registration.RegisterComplaint, registration.ComplaintRegistered):
        field = cls.model_json_schema()["properties"]["read_back_confirmed"]
        assert field["const"] is True and field["type"] == "boolean" and field["description"]


@pytest.mark.parametrize(("cls", "field"), [
    (quality.RecordOnSiteDetermination, "customer_agrees"), (quality.RecordOnSiteDetermination, "within_warranty"),
    (routing.RecordSatisfactionFollowUp, "reached_customer"), (routing.RecordStaffInvestigation, "substantiated"),
])
@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "false", 1.0])
def test_booleans_accept_only_true_or_false(cls: type, field: str, value: Any, command_json) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_command(command_json(cls, **{field: value}))
    assert [e["loc"] for e in caught.value.errors()] == [(cls.__name__, field)]


def test_events_are_immutable(make_event) -> None:
    event = make_event(routing.ComplaintClosed)
    with pytest.raises(ValidationError):
        event.outcome = routing.ClosureOutcome.WITHDRAWN  # type: ignore[misc]


def test_inquiry_deadline_is_24_hours(make_event) -> None:
    event = make_event(registration.InquiryAnswered)
    assert event.due_at - event.received_at == timedelta(hours=24)
    assert event.answered_in_time
