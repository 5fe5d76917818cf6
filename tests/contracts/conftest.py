"""Valid sample values for every event and command, as fixtures.

`make_event(cls, **overrides)` / `make_command(cls, **overrides)` build a valid message of any
registered class; a test overrides one field to make it invalid.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from contracts.envelope import CommandEnvelope, Envelope

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 25, 9, 30, tzinfo=CST)
COMPLAINT_ID = UUID("11111111-1111-4111-8111-111111111111")
CORRELATION_ID = UUID("22222222-2222-4222-8222-222222222222")
MEMO_ID = UUID("33333333-3333-4333-8333-333333333333")
OTHER_ID = UUID("44444444-4444-4444-8444-444444444444")
FORM_NUMBER = "SH01-20261125-0001"

CLERK = {"user_id": "clerk-li", "role": "branch_clerk", "branch": "SH01"}
CUSTOMER = {"name": "华东机械有限公司", "contact_person": "王经理", "phone": "+86 21 5555 0101",
            "address": "上海市浦东新区 1 号"}
PRODUCT = {"model": "KX-200", "batch_number": "B2026-11-03", "order_date": "2026-10-01",
           "shipping_date": "2026-10-05", "arrival_date": "2026-10-08", "quantity": 2}
PHOTO = {"kind": "photo", "ref": "s3://evidence/defect-1.jpg", "description": "cracked housing"}
FAX = {"kind": "fax", "ref": "fax/2026-11-25/001.pdf"}
SIGNATURE = {"name": "张部长", "role": "responsible_department", "signed_at": T0.isoformat()}

FORM = {
    "branch": "SH01", "channel": "phone", "kind": "complaint", "subject": "product_quality",
    "severity": "general", "customer": CUSTOMER, "description": "外壳开裂, 漏油", "product": PRODUCT,
    "received_at": T0.isoformat(), "read_back_confirmed": True,
}
DEADLINE = {
    "deadline_id": str(OTHER_ID), "kind": "memo_dispatch", "basis": "working_hours", "amount": 2,
    "started_at": T0.isoformat(), "due_at": (T0 + timedelta(hours=2)).isoformat(),
    "responsible_role": "hq_clerk", "responsible": "HQ clerk Zhao", "memo_id": str(MEMO_ID),
}
FINDINGS = {
    "determination": "obvious_misuse", "misuse_resolution": "simple_part_swap",
    "photo_refs": ["s3://evidence/p1.jpg"], "memo": "Wrong oil used; seal swapped on site",
    "customer_agrees": True, "within_warranty": True,
    "visited_at": T0.isoformat(), "samples_taken": ["seal sample"], "cause": "Wrong oil for the season",
    "customer_opinion": "Agrees the oil was wrong", "quantity": 1, "parts_used": [{"part_no": "SEAL-40", "quantity": 2}],
    "salesperson": "Sales Wu", "evidence": ["a" * 64],
}
ADJUDICATION = {
    "adjudication_id": str(OTHER_ID), "determination": "obvious_misuse",
    "misuse_resolution": "complex_needs_parts", "root_cause": "Overload beyond rated pressure",
    "responsible_party": "customer", "proposed_handling": "Repair free of labour; customer pays parts",
    "within_warranty": True, "salesperson": "Sales Wu", "salesperson_negligent": True,
    "negligence_degree": "medium", "negligence_finding": "Overload marks were plainly visible on site",
    "inspection_records": [{"kind": "inspection_record", "ref": "qa/2026/117.pdf"}],
    "production": {"production_date": "2026-09-14", "line_or_unit": "Casting line 2", "shift": "night"},
    "quantity": 1, "parts_used": [{"part_no": "SEAL-40", "quantity": 1}], "labour_hours": "2.5",
}
EVIDENCE = ["b" * 64, "c" * 64]
LATER = (T0 + timedelta(days=3)).isoformat()
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

EVENT_PAYLOADS: dict[str, dict[str, Any]] = {
    # intake
    "ComplaintRegistered": FORM,
    "MinorComplaintClosedAtIntake": {
        **FORM, "severity": "minor", "subject": "policy_service", "product": None,
        "resolved_on_the_spot": "Explained the delivery schedule", "customer_satisfied": True,
    },
    "ReadBackConfirmed": {"record_revision": 1, "read_back_by": "clerk Li", "confirmed_by": "王经理",
                          "attempts": 2},
    "InquiryAnswered": {
        "customer": CUSTOMER, "question": "How often should the filter be changed?",
        "answer": "Every 500 hours", "answered_by": "clerk Li", "channel": "phone",
        "received_at": T0.isoformat(), "due_at": (T0 + timedelta(hours=24)).isoformat(),
        "answered_at": (T0 + timedelta(hours=3)).isoformat(),
    },
    "RegistrationCorrected": {**FORM, "revision": 2, "changed_fields": ["product", "description"],
                              "reason": "Customer gave the batch number wrongly"},
    "ReadBackNotPossible": {"record_revision": 1, "reason": "customer_hung_up",
                            "explanation": "Line dropped while reading back; two call-backs unanswered",
                            "recorded_by": "clerk Li"},
    "ComplaintWithdrawn": {"reason": "Settled directly with the salesperson", "requested_by": "王经理",
                           "recorded_by": "clerk Li", "state_at_withdrawal": "registered"},
    "SuggestionReplyPromised": {"reply_by": "2026-12-10", "promised_by": "clerk Li"},
    "SuggestionAnswered": {"adopted": True, "answer": "Adopted: invoices go out by e-mail from January",
                           "answered_by": "clerk Li", "channel": "phone", "reply_by": "2026-12-10",
                           "answered_at": LATER},
    # routing
    "ComplaintRouted": {"destination": "quality_department", "reason": "product quality",
                        "subject": "product_quality", "severity": "general",
                        "description": "外壳开裂", "product": PRODUCT, "respond_by": LATER},
    "ComplaintClassified": {"subject": "policy_service", "severity": "general", "kind": "complaint",
                            "channel": "phone", "track": "headquarters", "crosses_departments": True,
                            "rationale": "Involves logistics and sales", "customer": CUSTOMER,
                            "branch": "SH01", "region": "EAST"},
    "HandlerAssigned": {"handler": "rm-chen", "handler_role": "regional_manager", "assigned_by": "hq-zhao"},
    "CauseAndSolutionProposed": {"handler": "rm-chen", "cause": "Carrier delays", "cause_category": "transport",
                                 "valid": True, "responsible_person": "Logistics Liu",
                                 "proposed_solution": "Change the carrier", "compensation": "200.00"},
    "QualityCaseTriaged": {"triaged_by": "hq-zhao", "answered_directly": False, "regional_manager": "rm-chen",
                           "note": "Cracked housing needs an inspection"},
    "InternalMemoFiled": {"memo_id": str(MEMO_ID), "filed_by": "RM Chen", "filed_by_role": "regional_manager",
                          "addressed_to": "hq_clerk", "subject": "policy_service", "severity": "general",
                          "customer": CUSTOMER, "description": "Delivery repeatedly late",
                          "requested_reply_by": LATER, "urgency": "urgent", "attachments": [FAX]},
    "InternalMemoReturned": {"memo_id": str(MEMO_ID), "returned_by": "hq-zhao", "returned_to": "RM Chen",
                             "missing": ["delivery notes"], "reason": "The faxed delivery notes are missing"},
    "InternalMemoDispatched": {"memo_id": str(MEMO_ID), "dispatched_by": "HQ clerk Zhao",
                               "destination": "responsible_department", "department": "Logistics",
                               "description": "Delivery repeatedly late", "attachments": [FAX],
                               "memo_received_at": T0.isoformat(), "requested_reply_by": LATER},
    "StaffComplaintInvestigated": {"memo_id": str(MEMO_ID), "staff_member": "Sales Wu",
                                   "supervisor": "RM Chen", "substantiated": True,
                                   "findings": "Rude on the phone twice", "opinion": "Apology and training",
                                   "exceeds_supervisor_authority": True, "direct_superior": "Sales lead Ma"},
    "DepartmentReplyReceived": {"memo_id": str(MEMO_ID), "department": "Logistics",
                                "reply": "Carrier changed", "cause": "The carrier missed pick-ups",
                                "proposed_remedy": "Free express delivery", "compensation": "200.00",
                                "signed_by": SIGNATURE, "requested_reply_by": LATER},
    "ApprovalRequested": {"chain": ["supervisor", "marketing_director"], "next_level": "supervisor",
                          "proposed_reply": "We changed the carrier", "compensation": "200.00"},
    "ReplyApproved": {"memo_id": str(MEMO_ID), "approver": "Director Sun", "approver_role": "marketing_director",
                      "authority_level": "marketing_director", "authority_version": "2026-11-25.1",
                      "approved_reply": "We changed the carrier", "compensation": "200.00", "final": True},
    "ReplyRejected": {"rejected_by": "Director Sun", "rejected_by_role": "marketing_director",
                      "authority_level": "marketing_director", "reason": "Say when the new carrier starts",
                      "returned_to_role": "responsible_department"},
    "ApprovalEscalated": {"escalated_by": "rm-chen", "from_level": "regional", "to_level": "supervisor",
                          "reason": "Compensation beyond regional authority"},
    "SeriousComplaintEscalated": {"reasons": ["personal_safety", "media"], "subject": "product_quality",
                                  "description": "Hose burst, operator injured", "customer": CUSTOMER,
                                  "claim_amount": "50000.00", "departments": ["Quality", "Production"],
                                  "notified_roles": ["general_manager", "quality_department"]},
    "DeadlineSet": {"deadline": DEADLINE},
    "DeadlineMet": {"deadline": DEADLINE, "completed_at": (T0 + timedelta(hours=1)).isoformat()},
    "DeadlineMissed": {"deadline": DEADLINE, "missed_at": (T0 + timedelta(hours=2)).isoformat(),
                       "responsible_for_delay": "HQ clerk Zhao"},
    "DeadlinePaused": {"deadline": DEADLINE, "paused_at": (T0 + timedelta(hours=1)).isoformat(),
                       "remaining_seconds": 3600, "reason": "waiting on the customer's visit time"},
    "DeadlineResumed": {"deadline": DEADLINE, "resumed_at": (T0 + timedelta(hours=1)).isoformat(),
                        "reason": "the customer named a visit time"},
    "DeadlineCancelled": {"deadline": DEADLINE, "cancelled_at": (T0 + timedelta(hours=1)).isoformat(),
                          "reason": "ComplaintWithdrawn"},
    "DeadlineReplanned": {"deadline": DEADLINE, "previous_due_at": (T0 + timedelta(hours=3)).isoformat(),
                          "previous_calendar_version": "company-1/holidays-0.108",
                          "reason": "calendar 2027 loaded"},
    "OverdueHandlingEscalated": {
        "missed": DEADLINE, "escalation_level": 1, "escalated_to_role": "marketing_director",
        "escalated_to": "Director Sun", "reason": "Memo not dispatched in 2 working hours",
        "new_deadline": {**DEADLINE, "deadline_id": str(MEMO_ID), "basis": "working_hours", "amount": 1,
                         "started_at": (T0 + timedelta(hours=2)).isoformat(),
                         "due_at": (T0 + timedelta(hours=3)).isoformat()},
    },
    "CustomerReplied": {"replied_by": "clerk Li", "channel": "phone", "reply": "We changed the carrier",
                        "compensation": "200.00", "approved_by": "Director Sun", "customer": CUSTOMER,
                        "remedy": "200 CNY credit", "remedy_pending": True},
    "RemedyDelivered": {"delivered_by": "rm-chen", "remedy": "200 CNY credit note issued",
                        "delivered_at": T0.isoformat(), "compensation_paid": "200.00", "reference": "CN-2026-0042"},
    "DisputeRaised": {"dispute_id": str(OTHER_ID), "dispute_kind": "quality_determination",
                      "forum": "independent_determination", "authority_name": "SGS Shanghai",
                      "disputed_decision": "Misuse determination", "grounds": "Operated within spec",
                      "reopened": False},
    "DisputeRuled": {"dispute_id": str(OTHER_ID), "dispute_kind": "quality_determination",
                     "forum": "independent_determination", "ruled_by": "SGS Shanghai", "recorded_by": "hq-zhao",
                     "outcome": "upheld", "ruling": "Material defect", "remedy": "Free replacement", "final": True,
                     "determination": "obvious_quality_defect", "responsible_party": "company"},
    "UnreasonableDemandRecorded": {"recorded_by": "clerk Li", "demand": "Ten replacement units for one crack",
                                   "call_recording_ref": "rec/2026-11-25/0042.wav",
                                   "company_position": "One replacement under warranty",
                                   "customer_accepted_position": False,
                                   "arbitration_proposed_to": "consumer_association"},
    "UrgentMeetingHeld": {"held_at": T0.isoformat(), "chaired_by": "GM He", "attendees": ["GM He", "Director Sun"],
                          "decisions": "Replace the batch; Director Sun negotiates"},
    "NegotiatorNamed": {"negotiator": "Director Sun", "negotiator_role": "marketing_director", "named_by": "GM He"},
    "RepeatComplaintLinked": {"linked_to": str(OTHER_ID), "linked_form_number": "SH01-20261120-0003",
                              "basis": "same_customer_and_product", "window_days": 30},
    "RepeatLinkConfirmed": {"linked_to": str(OTHER_ID), "linked_form_number": "SH01-20261120-0003",
                            "confirmed_by": "hq-zhao"},
    "RepeatLinkRejected": {"linked_to": str(OTHER_ID), "rejected_by": "hq-zhao", "reason": "Another machine"},
    "ActionsAwaited": {"state": "memo_filed", "actions": [
        {"step": "memo-dispatch", "role": "hq_clerk", "due_at": LATER, "deadline_kind": "memo_dispatch"}]},
    "ProgressMilestoneReached": {"milestone": "under_investigation", "customer": CUSTOMER,
                                 "message": "The department responsible is investigating"},
    "ComplaintClosed": {"outcome": "resolved", "resolution_summary": "Carrier changed; 200 CNY credit",
                        "subject": "policy_service", "severity": "general", "kind": "complaint",
                        "received_at": T0.isoformat(), "customer_agrees": True, "follow_up_due_at": LATER},
    "SatisfactionFollowUpRecorded": {"contacted_by": "clerk Li", "channel": "phone", "attempt": 1,
                                     "max_attempts": 3, "reached_customer": True, "satisfaction": "satisfied",
                                     "outcome": "satisfied", "reopen_offered": False,
                                     "comments": "Deliveries on time now"},
    "ComplaintArchived": {"archived_by": "HQ clerk Zhao", "category": "policy_service",
                          "archive_ref": "ARCH-2026-11-0001", "documents": [FAX],
                          "decision_trail": [{"at": T0.isoformat(), "step": "ReplyApproved", "by": "Director Sun",
                                              "role": "marketing_director", "summary": "We changed the carrier"}]},
    # quality
    "QualityInvestigationOpened": {"product": PRODUCT, "description": "外壳开裂"},
    "QualityRemedyDelivered": {"remedy_kind": "replacement_shipped", "description": "Replacement KX-200 shipped",
                               "delivered_by": "Logistics Liu", "delivered_at": T0.isoformat(),
                               "reference": "SF1234567890"},
    "OnSiteDeterminationRecorded": {**FINDINGS, "inspector": "RM Chen", "product": PRODUCT},
    "OnSiteDeterminationCorrected": {"previous_determination": "obvious_misuse",
                                     "determination": "cannot_be_determined", "within_warranty": True,
                                     "quantity": 1, "parts_used": [], "reason": "Seal wear looks like a casting flaw",
                                     "corrected_by": "RM Chen", "customer_agrees": False, "evidence": EVIDENCE,
                                     "product": PRODUCT},
    "OnSiteVisitArranged": {"visitor": "RM Chen", "visit_at": LATER, "agreed_with_customer": True},
    "EvidenceAdded": {"evidence_id": str(OTHER_ID), "collected_by": "RM Chen", "items": [PHOTO],
                      "description": "Photos of the cracked housing"},
    "DefectiveProductFormFiled": {"defect_form_id": str(OTHER_ID), "filed_by": "RM Chen",
                                  "determination": "cannot_be_determined", "product": PRODUCT,
                                  "defect_description": "Crack origin unclear", "memo_id": str(MEMO_ID),
                                  "memo": "Cannot tell on site whether the crack is a casting flaw",
                                  "evidence": EVIDENCE, "return_proposed": True,
                                  "estimated_company_cost": "1800.00", "revision": 1},
    "DefectiveProductFormApproved": {"defect_form_id": str(OTHER_ID), "stage": "hq_regional_manager",
                                     "approver": "HQ RM Qian", "approver_role": "hq_regional_manager",
                                     "product_return": True},
    "DefectiveProductFormRejected": {"defect_form_id": str(OTHER_ID), "rejected_by": "HQ clerk Zhao",
                                     "rejected_by_role": "hq_clerk", "reason": "Photos missing"},
    "DefectiveProductFormForwarded": {"defect_form_id": str(OTHER_ID), "forwarded_by": "HQ clerk Zhao",
                                      "determination": "cannot_be_determined", "product": PRODUCT,
                                      "defect_description": "Crack origin unclear", "product_return": True,
                                      "evidence": EVIDENCE},
    "ProductReturnRequested": {"return_id": str(OTHER_ID), "reason": "adjudication", "product": PRODUCT,
                               "quantity": 1, "carrier": "SF Express", "expected_by": LATER,
                               "replacement_promised": False},
    "ProductReturnShipped": {"return_id": str(OTHER_ID), "carrier": "SF Express", "waybill": "SF1234567890",
                             "shipped_at": T0.isoformat(), "shipped_by": "RM Chen", "quantity": 1},
    "ProductReceived": {"return_id": str(OTHER_ID), "received_by": "QA Lin", "quantity": 1,
                        "condition": "Housing cracked, seals intact"},
    "QualityAdjudicationRecorded": {**ADJUDICATION, "adjudicated_by": "QA Lin",
                                    "on_site_determination": "cannot_be_determined", "product": PRODUCT},
    "QualityDecisionApproved": {"adjudication_id": str(OTHER_ID), "approver": "Director Sun",
                                "approver_role": "marketing_director", "determination": "obvious_misuse",
                                "responsible_party": "customer", "decision": "Repair; customer pays parts"},
    "QualityDecisionRejected": {"adjudication_id": str(OTHER_ID), "approver": "Director Sun",
                                "approver_role": "marketing_director", "matches_service_commitment": False,
                                "matches_procedure": True, "reason": "Warranty promises free labour"},
    # corrective actions (CAPA) and the exception report
    "CorrectiveActionRaised": {"action_id": str(OTHER_ID), "source": "adjudication",
                               "adjudication_id": str(MEMO_ID), "root_cause": "Mould wear", "product": PRODUCT,
                               "owner": "quality_department", "raised_by": "system:quality"},
    "CorrectiveActionProposed": {"action_id": str(OTHER_ID), "round": 1, "proposed_by": "QA Lin",
                                 "owner": "QA Lin", "root_cause": "Mould wear",
                                 "actions": ["Replace the mould", "Add a crack test"], "preventive": True,
                                 "responsible_department": "Production", "due_at": LATER,
                                 "due_in_working_days": 3},
    "CorrectiveActionApproved": {"action_id": str(OTHER_ID), "round": 1, "approver": "MR Gao",
                                 "approver_role": "management_representative", "outstanding": ["general_manager"],
                                 "fully_approved": False, "responsible_department": "Production", "due_at": LATER},
    "CorrectiveActionImplemented": {"action_id": str(OTHER_ID), "round": 1, "implemented_by": "Production Ma",
                                    "implementer_role": "responsible_department",
                                    "responsible_department": "Production", "summary": "Mould replaced",
                                    "evidence": [SHA256], "due_at": LATER, "on_time": True},
    "CorrectiveActionVerified": {"action_id": str(OTHER_ID), "round": 1, "verified_by": "QA Lin",
                                 "effective": True, "findings": "No cracks in 3 batches", "closed": True},
    "CorrectiveActionReopened": {"action_id": str(OTHER_ID), "round": 2, "reopened_by": "QA Lin",
                                 "reason": "Cracks recur", "actions": ["Change the alloy supplier"],
                                 "responsible_department": "Purchasing", "due_at": LATER},
    "CorrectiveActionSuperseded": {"action_id": str(OTHER_ID), "report_id": str(MEMO_ID), "superseded_by": "QA Lin",
                                   "unit": "Packing line 2"},
    "ExceptionReportIssued": {"report_id": str(OTHER_ID), "issued_by": "QA Lin", "unit": "Packing line 2",
                              "description": "Scratched label, no loss", "requested_response": "Check the guide rail",
                              "respond_by": LATER, "adjudication_id": str(MEMO_ID), "product": PRODUCT},
    "ExceptionReportAnswered": {"report_id": str(OTHER_ID), "unit": "Packing line 2", "answered_by": "Line Lead Xu",
                                "response": "Guide rail re-aligned"},
    # billing
    "CostAllocated": {"determination": "obvious_quality_defect", "rule": "§5.5.1 company pays",
                      "lines": [{"item": "replacement", "payer": "company", "amount": "1200.00"}]},
    "CostRecorded": {"cost_id": str(OTHER_ID), "item": "return_transport", "amount": "380.00",
                     "incurred_on": "2026-11-27", "description": "SF Express waybill",
                     "source_document": "SF1234567890", "recorded_by": "hq-clerk-zhou"},
    "CostEntriesBooked": {
        "decision_event_id": str(MEMO_ID), "decision_kind": "quality_adjudication",
        "determination": "cannot_be_determined", "rule_id": "undetermined_found_misuse_within_warranty",
        "rules_version": "2026-11-25.1", "price_list_version": "2026-11-25.1",
        "entries": [
            {"entry_id": str(OTHER_ID), "item": "parts", "key": "GX-200-SEAL", "payer": "to_be_decided",
             "amount": "-37.00", "reverses": str(COMPLAINT_ID), "rule_id": "undetermined_found_misuse_within_warranty",
             "rules_version": "2026-11-25.1", "price_list_version": "2026-11-25.1",
             "decision_event_id": str(MEMO_ID), "decision_kind": "quality_adjudication"},
            {"entry_id": str(CORRELATION_ID), "item": "parts", "key": "GX-200-SEAL", "payer": "customer",
             "amount": "37.00", "rule_id": "undetermined_found_misuse_within_warranty",
             "rules_version": "2026-11-25.1", "price_list_version": "2026-11-25.1",
             "basis": "2 x GX-200-SEAL at cost 18.50", "decision_event_id": str(MEMO_ID),
             "decision_kind": "quality_adjudication"}],
        "ledger_total": "417.00",
        "by_payer": [{"payer": "company", "amount": "380.00"}, {"payer": "customer", "amount": "37.00"}],
    },
    "CustomerChargesStated": {
        "amount_owed": "37.00", "lines": [{"item": "parts", "key": "GX-200-SEAL", "amount": "37.00",
                                           "basis": "2 x GX-200-SEAL at cost 18.50"}],
        "rules_version": "2026-11-25.1", "price_list_version": "2026-11-25.1",
        "decision_event_id": str(MEMO_ID), "decision_kind": "quality_adjudication"},
    "CompensationProposed": {"compensation_id": str(OTHER_ID), "amount": "500.00",
                             "reason": "Goodwill for the second visit", "proposed_by": "rm-wang"},
    "CompensationApproved": {"compensation_id": str(OTHER_ID), "amount": "500.00", "approver": "rm-wang",
                             "approver_role": "regional_manager", "authority_level": "regional",
                             "authority_version": "2026-11-25.2"},
    "SalespersonPenaltyCharged": {"penalty_id": str(OTHER_ID), "salesperson": "Sales Wu",
                                  "adjudication_id": str(MEMO_ID), "degree": "medium",
                                  "transit_transport_cost": "380.00", "penalty_percent": "45",
                                  "amount": "171.00", "reason": "Determinable misuse sent back (§5.4.6)",
                                  "approved_by": "md-chen"},
    "CostAllocationRevised": {
        "adjudication_id": str(OTHER_ID), "previous_determination": "cannot_be_determined",
        "determination": "obvious_misuse", "misuse_resolution": "complex_needs_parts",
        "responsible_party": "customer", "rule": "§5.5.2⑵ and §5.5.3⑵",
        "lines": [{"item": "return_transport", "payer": "company", "amount": "380.00"},
                  {"item": "parts", "payer": "customer", "amount": "150.00"},
                  {"item": "repair_labour", "payer": "company", "amount": None}],
    },
    # notify
    "NotificationRecorded": {"notice_id": str(OTHER_ID), "rule": "quality_decision_to_management",
                             "rules_version": "2026-11-25.1", "recipient_role": "general_manager",
                             "recipient": "GM He", "recipient_user_id": "gm-he", "language": "zh",
                             "targets": [{"channel": "email", "address": "gm@example.com"},
                                         {"channel": "inbox", "address": "gm-he"}],
                             "subject": "Quality decision",
                             "body": "The quality decision for SH01-20261125-0001 was approved",
                             "about_event_type": "QualityDecisionApproved", "mandatory": True,
                             "send_at": LATER, "acknowledge_by": LATER},
    "NotificationDelivered": {"notice_id": str(OTHER_ID), "recipient_role": "general_manager",
                              "recipient": "GM He", "channel": "email", "address": "gm@example.com",
                              "attempt": 1, "provider_ref": "<msg-889@example.com>"},
    "NotificationDeliveryFailed": {"notice_id": str(OTHER_ID), "recipient_role": "general_manager",
                                   "recipient": "GM He", "channel": "webhook",
                                   "address": "https://ops.example.com/hook", "attempt": 2,
                                   "error": "HTTP 503", "retry_at": LATER},
    "ReceiptAcknowledged": {"notice_id": str(OTHER_ID), "acknowledged_by": "gm-he",
                            "recipient_role": "general_manager", "via": "inbox"},
    "NotificationAcknowledgementOverdue": {"notice_id": str(OTHER_ID), "recipient": "GM He",
                                           "recipient_user_id": "gm-he", "acknowledge_by": LATER,
                                           "escalated_to": ["mr-sun"],
                                           "escalated_to_role": "management_representative"},
    # analytics
    "BatchDefectAlertRaised": {"alert_id": str(OTHER_ID), "model": "KX-200", "batch_number": "B2026-11-03",
                               "threshold": 2, "window_days": 30, "window_start": "2026-11-20",
                               "window_end": "2026-12-19", "count": 2, "rules_version": "2026-12-06.1",
                               "complaints": [
                                   {"complaint_id": str(OTHER_ID), "form_number": "SH01-20261120-0003",
                                    "received_at": "2026-11-20T10:00:00+08:00"},
                                   {"complaint_id": str(COMPLAINT_ID), "form_number": FORM_NUMBER,
                                    "received_at": T0.isoformat()}]},
}

COMMAND_PAYLOADS: dict[str, dict[str, Any]] = {
    # intake
    "RegisterComplaint": FORM,
    "ConfirmReadBack": {"record_revision": 2, "confirmed_by": "王经理"},
    "AnswerInquiry": {"answer": "Every 500 hours", "channel": "phone"},
    "CorrectRegistration": {**FORM, "reason": "Customer gave the batch number wrongly"},
    # routing
    "AnswerQualityQuestion": {"answer": "Bleed the hydraulics before first use", "channel": "phone"},
    "DispatchOnSiteVisit": {"regional_manager": "rm-chen", "note": "Cracked housing needs an inspection"},
    "AssignHandler": {"handler": "rm-chen", "handler_role": "regional_manager"},
    "ProposeCauseAndSolution": {"cause": "Carrier delays", "cause_category": "transport", "valid": True,
                                "proposed_solution": "Change the carrier", "compensation": "200.00"},
    "FileInternalMemo": {"memo_id": str(MEMO_ID), "addressed_to": "hq_clerk",
                         "description": "Delivery repeatedly late", "requested_reply_by": LATER,
                         "attachments": [FAX]},
    "DispatchInternalMemo": {"memo_id": str(MEMO_ID), "destination": "responsible_department",
                             "department": "Logistics"},
    "ReturnInternalMemo": {"memo_id": str(MEMO_ID), "missing": ["delivery notes"], "reason": "Notes missing"},
    "RecordStaffInvestigation": {"staff_member": "Sales Wu", "substantiated": False,
                                 "findings": "Misunderstanding", "opinion": "Explain to the customer",
                                 "exceeds_supervisor_authority": False},
    "RecordDepartmentReply": {"memo_id": str(MEMO_ID), "department": "Logistics", "reply": "Carrier changed",
                              "cause": "The carrier missed pick-ups", "signed_by": SIGNATURE},
    "ApproveReply": {"approved_reply": "We changed the carrier", "compensation": "200.00",
                     "actor": {"user_id": "sup-1", "role": "supervisor"}},
    "RejectReply": {"reason": "Say when the new carrier starts"},
    "EscalateApproval": {"reason": "Compensation beyond regional authority"},
    "ReplyToCustomer": {"channel": "fax", "reply": "We changed the carrier"},
    "RecordRemedy": {"remedy": "200 CNY credit note issued", "delivered_at": T0.isoformat(),
                     "compensation_paid": "200.00"},
    "RecordSatisfactionFollowUp": {"channel": "phone", "reached_customer": False},
    "RaiseDispute": {"dispute_id": str(OTHER_ID), "forum": "headquarters",
                     "disputed_decision": "Supervisor found no fault", "grounds": "Recorded call"},
    "RuleDispute": {"dispute_id": str(OTHER_ID), "ruled_by": "HQ", "outcome": "rejected",
                    "ruling": "The supervisor's finding stands"},
    "CloseComplaint": {"resolution_summary": "Carrier changed"},
    "RecordUnreasonableDemand": {"demand": "Ten units for one crack", "call_recording_ref": "rec/0042.wav",
                                 "company_position": "One replacement", "customer_accepted_position": True},
    "RecordUrgentMeeting": {"held_at": T0.isoformat(), "chaired_by": "GM He", "attendees": ["GM He"],
                            "decisions": "Replace the batch"},
    "NameNegotiator": {"negotiator": "Director Sun", "negotiator_role": "marketing_director"},
    "DecideRepeatLink": {"confirmed": True},
    # quality
    "ArrangeOnSiteVisit": {"visit_at": LATER, "agreed_with_customer": False},
    "RecordOnSiteDetermination": {**FINDINGS, "inspector": "RM Chen"},
    "CorrectOnSiteDetermination": {"determination": "cannot_be_determined", "reason": "Looks like a casting flaw",
                                   "evidence": EVIDENCE},
    "AddEvidence": {"evidence_id": str(OTHER_ID), "items": [PHOTO], "description": "Crack photos"},
    "FileDefectiveProductForm": {"defect_form_id": str(OTHER_ID), "determination": "obvious_quality_defect",
                                 "defect_description": "Cracked housing", "memo": "Casting flaw at the seam",
                                 "evidence": EVIDENCE, "return_proposed": True,
                                 "estimated_company_cost": "1800.00"},
    "ApproveDefectiveProductForm": {"defect_form_id": str(OTHER_ID), "stage": "marketing_director",
                                    "actor": {"user_id": "md-sun", "role": "marketing_director"}},
    "RejectDefectiveProductForm": {"defect_form_id": str(OTHER_ID), "reason": "Photos missing"},
    "ForwardDefectiveProductForm": {"defect_form_id": str(OTHER_ID)},
    "ReturnDefectiveProductForm": {"defect_form_id": str(OTHER_ID), "missing": ["photos of the seam"],
                                   "reason": "No photo shows the seam"},
    "RequestProductReturn": {"return_id": str(OTHER_ID), "reason": "quality_defect_exchange", "quantity": 1},
    "ShipProductReturn": {"return_id": str(OTHER_ID), "carrier": "SF Express", "waybill": "SF1234567890",
                          "shipped_at": T0.isoformat()},
    "RecordProductReceived": {"return_id": str(OTHER_ID), "quantity": 1, "condition": "as described"},
    "RecordQualityAdjudication": ADJUDICATION,
    "ApproveQualityDecision": {"adjudication_id": str(OTHER_ID), "decision": "Repair; customer pays parts",
                               "company_cost": "0.00"},
    "RejectQualityDecision": {"adjudication_id": str(OTHER_ID), "matches_service_commitment": True,
                              "matches_procedure": False, "reason": "Second approval skipped"},
    "RecordQualityRemedy": {"remedy_kind": "part_swapped", "description": "Seal swapped", "delivered_at": T0.isoformat(),
                            "reference": "WO-2026-0117", "parts_used": [{"part_no": "SEAL-40", "quantity": 1}]},
    "RaiseCorrectiveActionFromAlert": {"alert": {"alert_id": str(MEMO_ID), "model": "KX-200",
                                                 "batch_number": "B2026-11-03"},
                                       "actor": {"user_id": "qa-lin", "role": "quality_department"}},
    "ProposeCorrectiveAction": {"action_id": str(OTHER_ID), "root_cause": "Mould wear",
                                "actions": ["Replace the mould"], "responsible_department": "Production",
                                "due_at": LATER, "due_in_working_days": 3},
    "ApproveCorrectiveAction": {"action_id": str(OTHER_ID),
                                "actor": {"user_id": "gm-he", "role": "general_manager"}},
    "RecordCorrectiveActionImplemented": {"action_id": str(OTHER_ID), "summary": "Mould replaced",
                                          "evidence": [SHA256]},
    "VerifyCorrectiveAction": {"action_id": str(OTHER_ID), "effective": False, "findings": "Cracks recur",
                               "actions": ["Change the alloy supplier"], "due_at": LATER},
    "IssueExceptionReport": {"report_id": str(OTHER_ID), "no_loss": True, "unit": "Packing line 2",
                             "description": "Scratched label", "requested_response": "Check the guide rail"},
    "AnswerExceptionReport": {"report_id": str(OTHER_ID), "response": "Guide rail re-aligned"},
    # billing
    "RecordCost": {"cost_id": str(OTHER_ID), "item": "delivery_transport", "amount": "150.00",
                   "incurred_on": "2026-11-28", "source_document": "SF1234567891", "recorded_by": "hq-clerk-zhou"},
    "ChargeSalespersonPenalty": {"penalty_percent": "60", "reason": "Determinable case sent back",
                                 "approved_by": "md-chen"},
    "ProposeCompensation": {"compensation_id": str(OTHER_ID), "amount": "500.00",
                            "reason": "Goodwill for the second visit", "proposed_by": "rm-wang"},
    "ApproveCompensation": {"compensation_id": str(OTHER_ID), "approver": "rm-wang",
                            "approver_role": "regional_manager"},
}


def event_data(cls: type[Envelope], **overrides: Any) -> dict[str, Any]:
    """JSON-ready data of a valid `cls` event, with overrides."""
    data = {
        "event_id": "55555555-5555-4555-8555-555555555555",
        "event_type": cls.__name__,
        "schema_version": cls.model_fields["schema_version"].default,
        "complaint_id": str(COMPLAINT_ID),
        "form_number": FORM_NUMBER,
        "occurred_at": T0.isoformat(),
        "producer": cls.PRODUCER.value,
        "notification_id": 7,
        "correlation_id": str(CORRELATION_ID),
        "causation_id": None,
        "actor": CLERK,
        **EVENT_PAYLOADS[cls.__name__],
    }
    data.update(overrides)
    return data


def command_data(cls: type[CommandEnvelope], **overrides: Any) -> dict[str, Any]:
    data = {
        "command_id": "66666666-6666-4666-8666-666666666666",
        "command_type": cls.__name__,
        "schema_version": cls.model_fields["schema_version"].default,
        "issued_at": T0.isoformat(),
        "actor": CLERK,
        "correlation_id": str(CORRELATION_ID),
        **({"complaint_id": str(COMPLAINT_ID)} if "complaint_id" in cls.model_fields else {}),
        **COMMAND_PAYLOADS[cls.__name__],
    }
    data.update(overrides)
    return data


@pytest.fixture
def event_json() -> Callable[..., dict[str, Any]]:
    """`event_json(cls, **overrides)`: JSON-ready data of a valid event."""
    return event_data


@pytest.fixture
def command_json() -> Callable[..., dict[str, Any]]:
    """`command_json(cls, **overrides)`: JSON-ready data of a valid command."""
    return command_data


@pytest.fixture
def make_event() -> Callable[..., Envelope]:
    def make(cls: type[Envelope], **overrides: Any) -> Envelope:
        return cls.model_validate(event_data(cls, **overrides))
    return make


@pytest.fixture
def make_command() -> Callable[..., CommandEnvelope]:
    def make(cls: type[CommandEnvelope], **overrides: Any) -> CommandEnvelope:
        return cls.model_validate(command_data(cls, **overrides))
    return make


@pytest.fixture
def sampled_event_types() -> set[str]:
    return set(EVENT_PAYLOADS)


@pytest.fixture
def sampled_command_types() -> set[str]:
    return set(COMMAND_PAYLOADS)
