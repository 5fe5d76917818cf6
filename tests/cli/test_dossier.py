"""The archive dossier of one complaint (§5.8): its sections from a merged history, JSON and PDF."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.cli.dossier import SECTIONS, build_dossier, render_html, write_json, write_pdf

COMPLAINT_ID = "0c1f5d8e-6a3b-4c2d-9e1f-7a8b9c0d1e2f"
CORRELATION_ID = "5b6c7d8e-1f20-4a3b-8c4d-5e6f7a8b9c0d"
FORM_NUMBER = "SH01-20260302-0007"
H1 = "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea"  # photo of the crack
H2 = "a1c2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f80912"  # scanned memo
ADJUDICATION_ID = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
DEFECT_FORM_ID = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
ACTION_ID = "aa11bb22-cc33-4d44-8e55-ff6677889900"
T0 = datetime(2026, 3, 2, 9, 15, tzinfo=timezone(timedelta(hours=8)))

PRODUCT = {"model": "HP-200 液压泵", "batch_number": "B2602-17", "order_date": "2026-02-10",
           "shipping_date": "2026-02-12", "arrival_date": "2026-02-15", "quantity": 2}
CUSTOMER = {"name": "上海恒达机械有限公司", "contact_person": "张伟", "phone": "021-5555 1234",
            "address": "上海市闵行区莘庄工业区申富路 88 号", "email": None, "language": "zh"}
FORM = {
    "branch": "SH01", "channel": "phone", "kind": "complaint", "subject": "product_quality", "severity": "general",
    "customer": CUSTOMER, "description": "液压泵运行三天后漏油。", "product": PRODUCT,
    "received_at": T0.isoformat(), "read_back_confirmed": False, "resolved_on_the_spot": None,
    "complained_about": "HP-200 液压泵", "demand": "更换新泵，并由公司承担运费", "order_number": "PO-88123",
    "external_body": None, "serious_reasons": [], "claim_amount": None,
}
CORRECTED_DESCRIPTION = "液压泵运行三天后漏油，泵体外壳有一条约 3 厘米的裂纹。"


class History:
    """Builds a merged history by hand: one record per stored event, as `Stored.record()` gives it."""

    def __init__(self, complaint_id: str = COMPLAINT_ID, form_number: str = FORM_NUMBER) -> None:
        self.complaint_id = complaint_id
        self.form_number = form_number
        self.events: list[dict[str, Any]] = []
        self.positions: dict[str, int] = {}
        self.versions: dict[str, int] = {}
        self.minutes = 0

    def add(self, service: str, event_type: str, published_as: str | None, data: dict[str, Any], *,
            user: str, role: str, aggregate: str = "Case", aggregate_id: str | None = None,
            minutes: int = 30) -> dict[str, Any]:
        self.minutes += minutes
        self.positions[service] = self.positions.get(service, 0) + 1
        aggregate_id = aggregate_id or self.complaint_id
        self.versions[aggregate_id] = self.versions.get(aggregate_id, 0) + 1
        cause = self.events[-1]["event_id"] if self.events else None
        record = {
            "service": service, "notification_id": self.positions[service],
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{service}/{aggregate_id}/{self.versions[aggregate_id]}")),
            "event_type": event_type, "published_as": published_as, "aggregate": aggregate,
            "aggregate_id": aggregate_id, "version": self.versions[aggregate_id],
            "occurred_at": (T0 + timedelta(minutes=self.minutes)).isoformat(),
            "meta": {"complaint_id": self.complaint_id, "form_number": self.form_number,
                     "correlation_id": CORRELATION_ID, "causation_id": cause,
                     "actor": {"user_id": user, "role": role, "branch": "SH01" if role == "branch_clerk" else None}},
            "data": data,
        }
        self.events.append(record)
        return record


def quality_case() -> list[dict[str, Any]]:
    """A product-quality complaint from registration to archive."""
    h = History()
    clerk, rm, md, hqrm, hq = ("clerk.liu", "branch_clerk"), ("rm.li", "regional_manager"), \
        ("md.wang", "marketing_director"), ("hqrm.zhao", "hq_regional_manager"), ("hq.sun", "hq_clerk")
    qa, mr, system = ("qa.chen", "quality_department"), ("mr.zhou", "management_representative"), \
        ("system:routing", "system")

    def by(actor: tuple[str, str]) -> dict[str, str]:
        return {"user": actor[0], "role": actor[1]}

    # intake: taken, corrected before the read-back, read back, registered
    h.add("intake", "Taken", None, {**FORM, "command_id": str(uuid.uuid4()), "form_fingerprint": "sha256:" + "0" * 64},
          aggregate="ComplaintRegistration", **by(clerk))
    corrected = {k: v for k, v in FORM.items() if k != "read_back_confirmed"}
    corrected.update(description=CORRECTED_DESCRIPTION, product={**PRODUCT, "quantity": 1})
    h.add("intake", "Corrected", None, {"revision": 2, "changed_fields": ["description", "product"],
                                        "reason": "客户补充：外壳有裂纹，实际只有一台", "record": corrected},
          aggregate="ComplaintRegistration", **by(clerk))
    h.add("intake", "ReadBackConfirmed", "ReadBackConfirmed",
          {"record_revision": 2, "read_back_by": "clerk.liu", "confirmed_by": "张伟", "attempts": 1},
          aggregate="ComplaintRegistration", **by(clerk))
    h.add("intake", "Released", "ComplaintRegistered",
          {**corrected, "read_back_confirmed": True, "read_back_not_possible": None},
          aggregate="ComplaintRegistration", **by(clerk))
    # routing: classified, handler, triage, routed to quality
    h.add("routing", "ComplaintClassified", "ComplaintClassified",
          {"subject": "product_quality", "severity": "general", "kind": "complaint", "channel": "phone",
           "track": "quality", "crosses_departments": False, "rationale": None, "customer": CUSTOMER,
           "product": {**PRODUCT, "quantity": 1}, "branch": "SH01", "region": "east", "fingerprint": None},
          **by(system))
    h.add("routing", "HandlerAssigned", "HandlerAssigned",
          {"handler": "rm.li", "handler_role": "regional_manager", "assigned_by": "hq.sun"}, **by(hq))
    h.add("routing", "QualityCaseTriaged", "QualityCaseTriaged",
          {"triaged_by": "hq.sun", "answered_directly": False, "regional_manager": "rm.li",
           "note": "请区域经理到现场取样"}, **by(hq))
    h.add("routing", "Routed", "ComplaintRouted",
          {"destination": "quality_department", "reason": "质量投诉：现场判定", "subject": "product_quality",
           "severity": "general", "description": CORRECTED_DESCRIPTION, "product": {**PRODUCT, "quantity": 1}},
          **by(hq))
    h.add("routing", "ActionsAwaited", "ActionsAwaited", {"state": "with_quality", "actions": [], "hidden_from": None},
          **by(system), minutes=0)
    # quality: on site, two evidence files
    h.add("quality", "Opened", "QualityInvestigationOpened",
          {"product": {**PRODUCT, "quantity": 1}, "description": CORRECTED_DESCRIPTION},
          aggregate="QualityInvestigation", **by(("system:quality", "system")))
    h.add("quality", "DeterminationRecorded", "OnSiteDeterminationRecorded",
          {"determination": "obvious_quality_defect", "misuse_resolution": None,
           "photo_refs": ["泵体裂纹正面", "泵体裂纹侧面"], "memo": "泵体铸件裂纹，属明显质量问题", "customer_agrees": True,
           "within_warranty": True, "inspector": "rm.li", "product": {**PRODUCT, "quantity": 1},
           "visited_at": (T0 + timedelta(hours=4)).isoformat(), "samples_taken": ["漏油油样"],
           "cause": "泵体铸件气孔导致裂纹", "customer_opinion": "同意", "written_feedback": None, "quantity": 1,
           "parts_used": [], "salesperson": None, "evidence": [H1, H2], "kinds": {H1: "photo", H2: "scan"},
           "fingerprint": "sha256:" + "1" * 64},
          aggregate="QualityInvestigation", **by(rm))
    # billing: the on-site determination priced
    h.add("billing", "EntriesBooked", "CostEntriesBooked",
          {"decision_event_id": h.events[-1]["event_id"], "decision_kind": "on_site_determination",
           "determination": "obvious_quality_defect", "rule_id": "quality_defect", "rules_version": "2026.1",
           "price_list_version": "2026-02", "unpriced": [],
           "entries": [
               {"entry_id": "e0000000-0000-4000-8000-000000000001", "item": "replacement", "key": "HP-200",
                "payer": "company", "amount": "1200.00", "reverses": None, "rule_id": "quality_defect",
                "rules_version": "2026.1", "price_list_version": "2026-02", "source_document": None,
                "basis": "1 x 1200.00", "decision_event_id": h.events[-1]["event_id"],
                "decision_kind": "on_site_determination"},
               {"entry_id": "e0000000-0000-4000-8000-000000000002", "item": "return_transport", "key": "return",
                "payer": "company", "amount": "80.00", "reverses": None, "rule_id": "quality_defect",
                "rules_version": "2026.1", "price_list_version": "2026-02", "source_document": None,
                "basis": "flat rate", "decision_event_id": h.events[-1]["event_id"],
                "decision_kind": "on_site_determination"}],
           "ledger_total": "1280.00", "by_payer": [{"payer": "company", "amount": "1280.00"}]},
          aggregate="CostLedger", **by(("system:billing", "system")))
    # quality: the defective-product form, approved twice, forwarded
    h.add("quality", "DefectiveProductFormFiled", "DefectiveProductFormFiled",
          {"defect_form_id": DEFECT_FORM_ID, "revision": 1, "filed_by": "rm.li",
           "determination": "obvious_quality_defect", "product": {**PRODUCT, "quantity": 1},
           "defect_description": "泵体铸件裂纹，漏油", "memo": "泵体铸件裂纹，属明显质量问题", "memo_id": None,
           "evidence": [H1, H2], "return_proposed": True, "estimated_company_cost": "1280.00",
           "kinds": {H1: "photo", H2: "scan"}, "fingerprint": None},
          aggregate="QualityInvestigation", **by(rm))
    h.add("quality", "DefectiveProductFormApproved", "DefectiveProductFormApproved",
          {"defect_form_id": DEFECT_FORM_ID, "stage": "marketing_director", "approver": "md.wang",
           "approver_role": "marketing_director", "comments": "同意更换", "product_return": None,
           "company_cost": "1280.00", "authority_level": "marketing_director",
           "authority_matrix_version": "2026.1", "fingerprint": None},
          aggregate="QualityInvestigation", **by(md))
    h.add("quality", "DefectiveProductFormApproved", "DefectiveProductFormApproved",
          {"defect_form_id": DEFECT_FORM_ID, "stage": "hq_regional_manager", "approver": "hqrm.zhao",
           "approver_role": "hq_regional_manager", "comments": "退回品管部判定", "product_return": True,
           "company_cost": "1280.00", "authority_level": "hq_regional", "authority_matrix_version": "2026.1",
           "fingerprint": None},
          aggregate="QualityInvestigation", **by(hqrm))
    h.add("quality", "DefectiveProductFormForwarded", "DefectiveProductFormForwarded",
          {"defect_form_id": DEFECT_FORM_ID, "forwarded_by": "hq.sun", "determination": "obvious_quality_defect",
           "product": {**PRODUCT, "quantity": 1}, "defect_description": "泵体铸件裂纹，漏油",
           "product_return": True, "evidence": [H1, H2], "fingerprint": None},
          aggregate="QualityInvestigation", **by(hq))
    h.add("quality", "QualityAdjudicationRecorded", "QualityAdjudicationRecorded",
          {"adjudication_id": ADJUDICATION_ID, "determination": "obvious_quality_defect", "misuse_resolution": None,
           "root_cause": "铸造工序气孔未检出", "production": {"production_date": "2026-01-20",
                                                          "line_or_unit": "铸造二线", "shift": "夜班"},
           "responsible_party": "company", "proposed_handling": "免费更换新泵，公司承担全部运费",
           "within_warranty": True, "quantity": 1, "parts_used": [], "labour_hours": "0", "salesperson": None,
           "salesperson_negligent": False, "negligence_degree": None, "negligence_finding": None,
           "inspection_records": [], "adjudicated_by": "qa.chen", "on_site_determination": "obvious_quality_defect",
           "product": {**PRODUCT, "quantity": 1}, "fingerprint": None},
          aggregate="QualityInvestigation", **by(qa))
    h.add("quality", "QualityDecisionApproved", "QualityDecisionApproved",
          {"adjudication_id": ADJUDICATION_ID, "approver": "hqrm.zhao", "approver_role": "hq_regional_manager",
           "determination": "obvious_quality_defect", "responsible_party": "company",
           "decision": "免费更换 HP-200 液压泵一台，运费由公司承担", "comments": None, "misuse_resolution": None,
           "company_cost": "1340.00", "authority_level": "hq_regional", "authority_matrix_version": "2026.1",
           "fingerprint": None},
          aggregate="QualityInvestigation", **by(hqrm))
    # billing: the adjudication priced; what the customer owes
    h.add("billing", "EntriesBooked", "CostEntriesBooked",
          {"decision_event_id": h.events[-2]["event_id"], "decision_kind": "quality_adjudication",
           "determination": "obvious_quality_defect", "rule_id": "quality_defect", "rules_version": "2026.1",
           "price_list_version": "2026-02", "unpriced": [],
           "entries": [{"entry_id": "e0000000-0000-4000-8000-000000000003", "item": "delivery_transport",
                        "key": "delivery", "payer": "company", "amount": "60.00", "reverses": None,
                        "rule_id": "quality_defect", "rules_version": "2026.1", "price_list_version": "2026-02",
                        "source_document": "SF1234567890", "basis": "waybill",
                        "decision_event_id": h.events[-2]["event_id"], "decision_kind": "quality_adjudication"}],
           "ledger_total": "1340.00",
           "by_payer": [{"payer": "company", "amount": "1340.00"}, {"payer": "customer", "amount": "0.00"}]},
          aggregate="CostLedger", **by(("system:billing", "system")))
    h.add("billing", "ChargesStated", "CustomerChargesStated",
          {"amount_owed": "0.00", "lines": [], "rules_version": "2026.1", "price_list_version": "2026-02",
           "decision_event_id": h.events[-3]["event_id"], "decision_kind": "quality_adjudication"},
          aggregate="CostLedger", **by(("system:billing", "system")), minutes=0)
    # quality: the corrective action, approved by the management representative (the GM's outstanding)
    h.add("quality", "Raised", "CorrectiveActionRaised",
          {"action_id": ACTION_ID, "source": "adjudication", "adjudication_id": ADJUDICATION_ID, "alert": None,
           "root_cause": "铸造工序气孔未检出", "product": {**PRODUCT, "quantity": 1}, "owner": "qa.chen",
           "raised_by": "system:quality"},
          aggregate="CorrectiveAction", aggregate_id=ACTION_ID, **by(("system:quality", "system")))
    h.add("quality", "Proposed", "CorrectiveActionProposed",
          {"action_id": ACTION_ID, "round": 1, "proposed_by": "qa.chen", "owner": "qa.chen",
           "root_cause": "铸造工序气孔未检出", "actions": ["铸件增加 X 光探伤", "夜班增加抽检频次"],
           "preventive": True, "responsible_department": "铸造车间", "due_at": "2026-04-15T18:00:00+08:00",
           "due_in_working_days": 30},
          aggregate="CorrectiveAction", aggregate_id=ACTION_ID, **by(qa))
    h.add("quality", "Approved", "CorrectiveActionApproved",
          {"action_id": ACTION_ID, "round": 1, "approver": "mr.zhou", "approver_role": "management_representative",
           "outstanding": ["general_manager"], "fully_approved": False, "responsible_department": "铸造车间",
           "due_at": "2026-04-15T18:00:00+08:00"},
          aggregate="CorrectiveAction", aggregate_id=ACTION_ID, **by(mr))
    h.add("quality", "QualityRemedyDelivered", "QualityRemedyDelivered",
          {"remedy_kind": "replacement_shipped", "description": "新泵已发货", "delivered_by": "qa.chen",
           "delivered_at": (T0 + timedelta(hours=10)).isoformat(), "reference": "SF1234567890", "quantity": 1,
           "parts_used": [], "fingerprint": None},
          aggregate="QualityInvestigation", **by(qa))
    # routing: reply, follow-up, closure and archive
    h.add("routing", "CustomerReplied", "CustomerReplied",
          {"replied_by": "clerk.liu", "channel": "phone", "reply": "经品管部判定为质量问题，为您免费更换新泵，运费由我司承担。",
           "remedy": "免费更换", "compensation": None, "approved_by": "hqrm.zhao", "customer": CUSTOMER,
           "remedy_pending": False}, **by(clerk))
    h.add("routing", "SatisfactionFollowUpRecorded", "SatisfactionFollowUpRecorded",
          {"contacted_by": "clerk.liu", "channel": "phone", "attempt": 1, "max_attempts": 3,
           "reached_customer": True, "satisfaction": "satisfied", "outcome": "satisfied", "reopen_offered": False,
           "comments": "新泵运行正常"}, **by(clerk))
    h.add("routing", "Closed", "ComplaintClosed",
          {"outcome": "resolved", "resolution_summary": "免费更换新泵，客户满意", "subject": "product_quality",
           "severity": "general", "kind": "complaint", "received_at": T0.isoformat(), "customer_agrees": True},
          **by(hq))
    h.add("routing", "ComplaintArchived", "ComplaintArchived",
          {"archived_by": "hq.sun", "category": "product_quality", "archive_ref": f"ARCH-product_quality-{FORM_NUMBER}",
           "documents": [{"kind": "photo", "ref": H1, "description": "泵体裂纹"}],
           "decision_trail": [
               {"at": (T0 + timedelta(hours=1)).isoformat(), "step": "ComplaintClassified", "by": "system:routing",
                "role": "system", "summary": "ComplaintClassified"},
               {"at": (T0 + timedelta(hours=2)).isoformat(), "step": "HandlerAssigned", "by": "hq.sun",
                "role": "hq_clerk", "summary": "HandlerAssigned: rm.li"},
               {"at": (T0 + timedelta(hours=11, minutes=30)).isoformat(), "step": "CustomerReplied", "by": "clerk.liu",
                "role": "branch_clerk", "summary": "CustomerReplied: 免费更换"}]},
          **by(hq), minutes=0)
    # notify: three notices, one delivered and acknowledged
    h.add("notify", "Recorded", "NotificationRecorded",
          {"notice_id": "11111111-1111-4111-8111-111111111111", "rule": "customer_registered",
           "rules_version": "3", "recipient_role": "customer", "recipient": "张伟", "recipient_user_id": None,
           "language": "zh", "targets": [{"channel": "phone_task", "address": "clerk.liu"}],
           "subject": "您的投诉已受理", "body": "您的投诉已受理，单号 SH01-20260302-0007。",
           "about_event_type": "ComplaintRegistered", "mandatory": False, "urgent": False,
           "send_at": T0.isoformat(), "acknowledge_by": None},
          aggregate="Notification", aggregate_id="11111111-1111-4111-8111-111111111111",
          **by(("system:notify", "system")))
    h.add("notify", "Recorded", "NotificationRecorded",
          {"notice_id": "22222222-2222-4222-8222-222222222222", "rule": "quality_decision_gm",
           "rules_version": "3", "recipient_role": "general_manager", "recipient": "总经理 钱明",
           "recipient_user_id": "gm.qian", "language": "zh",
           "targets": [{"channel": "email", "address": "gm@example.com"}, {"channel": "inbox", "address": "gm.qian"}],
           "subject": "品质处理决定：SH01-20260302-0007", "body": "免费更换 HP-200 液压泵一台。",
           "about_event_type": "QualityDecisionApproved", "mandatory": True, "urgent": False,
           "send_at": T0.isoformat(), "acknowledge_by": (T0 + timedelta(days=3)).isoformat()},
          aggregate="Notification", aggregate_id="22222222-2222-4222-8222-222222222222",
          **by(("system:notify", "system")))
    h.add("notify", "Delivered", "NotificationDelivered",
          {"key": "email:gm@example.com", "notice_id": "22222222-2222-4222-8222-222222222222",
           "recipient_role": "general_manager", "recipient": "总经理 钱明", "channel": "email",
           "address": "gm@example.com", "attempt": 1, "provider_ref": "<abc@mail>"},
          aggregate="Notification", aggregate_id="22222222-2222-4222-8222-222222222222",
          **by(("system:notify", "system")))
    h.add("notify", "Acknowledged", "ReceiptAcknowledged",
          {"notice_id": "22222222-2222-4222-8222-222222222222", "acknowledged_by": "gm.qian",
           "recipient_role": "general_manager", "via": "link", "late": False},
          aggregate="Notification", aggregate_id="22222222-2222-4222-8222-222222222222", **by(("gm.qian", "general_manager")))
    h.add("notify", "Recorded", "NotificationRecorded",
          {"notice_id": "33333333-3333-4333-8333-333333333333", "rule": "quality_decision_mr",
           "rules_version": "3", "recipient_role": "management_representative", "recipient": "管理者代表 周强",
           "recipient_user_id": "mr.zhou", "language": "zh",
           "targets": [{"channel": "email", "address": "mr@example.com"}],
           "subject": "品质处理决定：SH01-20260302-0007", "body": "免费更换 HP-200 液压泵一台。",
           "about_event_type": "QualityDecisionApproved", "mandatory": True, "urgent": False,
           "send_at": T0.isoformat(), "acknowledge_by": (T0 + timedelta(days=3)).isoformat()},
          aggregate="Notification", aggregate_id="33333333-3333-4333-8333-333333333333",
          **by(("system:notify", "system")))
    h.add("notify", "DeliveryFailed", "NotificationDeliveryFailed",
          {"key": "email:mr@example.com", "notice_id": "33333333-3333-4333-8333-333333333333",
           "recipient_role": "management_representative", "recipient": "管理者代表 周强", "channel": "email",
           "address": "mr@example.com", "attempt": 1, "error": "451 try again later", "permanent": False,
           "retry_at": (T0 + timedelta(days=7)).isoformat()},
          aggregate="Notification", aggregate_id="33333333-3333-4333-8333-333333333333",
          **by(("system:notify", "system")))
    return h.events


def script_case() -> list[dict[str, Any]]:
    """A complaint just registered, by a customer whose name is markup."""
    h = History("7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9", "BJ02-20260303-0001")
    h.add("intake", "Registered", "ComplaintRegistered",
          {**FORM, "branch": "BJ02", "subject": "policy_service", "product": None, "read_back_confirmed": True,
           "customer": {**CUSTOMER, "name": "<script>x</script>", "contact_person": "O'Brien & \"Sons\""},
           "description": "</style><b>bold</b>", "command_id": str(uuid.uuid4()), "form_fingerprint": None},
          aggregate="ComplaintRegistration", user="clerk.ma", role="branch_clerk")
    return h.events


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return quality_case()


@pytest.fixture(scope="module")
def dossier(events: list[dict[str, Any]]) -> dict[str, Any]:
    return build_dossier(events)


def names(items: list[dict[str, Any]]) -> list[str]:
    return [i["event"] for i in items]


# --- the sections ------------------------------------------------------------------------------------


def test_sections_in_the_order_of_5_8(dossier: dict[str, Any]) -> None:
    assert tuple(dossier) == SECTIONS
    assert SECTIONS[0] == "complaint" and SECTIONS[-1] == "history"


def test_complaint_is_the_registration_form_as_last_corrected(dossier: dict[str, Any]) -> None:
    c = dossier["complaint"]
    assert c["form_number"] == FORM_NUMBER
    assert c["complaint_id"] == COMPLAINT_ID
    assert c["branch"] == "SH01"
    assert c["received_at"] == T0.isoformat()
    assert c["revision"] == 2
    assert c["description"] == CORRECTED_DESCRIPTION
    assert c["product"] == {**PRODUCT, "quantity": 1}
    assert c["customer"]["name"] == "上海恒达机械有限公司" and c["customer"]["contact_person"] == "张伟"
    assert (c["subject"], c["severity"], c["channel"], c["kind"]) == ("product_quality", "general", "phone",
                                                                      "complaint")
    assert c["demand"] == "更换新泵，并由公司承担运费"
    assert c["order_number"] == "PO-88123"
    assert c["read_back_confirmed"] is True


def test_registration_holds_the_record_its_correction_and_the_read_back(dossier: dict[str, Any]) -> None:
    reg = dossier["registration"]
    assert names(reg) == ["Taken", "Corrected", "ReadBackConfirmed", "ComplaintRegistered"]
    correction = reg[1]["details"]
    assert correction["revision"] == 2
    assert correction["changed_fields"] == ["description", "product"]
    assert correction["changes"]["description"] == CORRECTED_DESCRIPTION
    assert correction["changes"]["product"]["quantity"] == 1
    assert reg[2]["details"] == {"record_revision": 2, "read_back_by": "clerk.liu", "confirmed_by": "张伟",
                                 "attempts": 1}
    assert reg[3]["details"]["read_back_confirmed"] is True
    assert all(i["by"] == "clerk.liu" and i["role"] == "branch_clerk" for i in reg)
    assert not any("form_fingerprint" in i["details"] or "command_id" in i["details"] for i in reg)


def test_routing_holds_classification_routing_and_handler(dossier: dict[str, Any]) -> None:
    routing = dossier["routing"]
    assert names(routing) == ["ComplaintClassified", "HandlerAssigned", "QualityCaseTriaged", "ComplaintRouted"]
    assert routing[0]["details"]["track"] == "quality"
    assert "fingerprint" not in routing[0]["details"]
    assert routing[1]["details"]["handler"] == "rm.li"
    assert routing[3]["details"]["destination"] == "quality_department"


def test_approvals_are_every_sign_off_in_order_with_approver_roles(dossier: dict[str, Any]) -> None:
    approvals = dossier["approvals"]
    assert [(a["of"], a["action"], a["approver"], a["approver_role"]) for a in approvals] == [
        ("defective_product_form", "approved", "md.wang", "marketing_director"),
        ("defective_product_form", "approved", "hqrm.zhao", "hq_regional_manager"),
        ("quality_decision", "approved", "hqrm.zhao", "hq_regional_manager"),
        ("corrective_action", "approved", "mr.zhou", "management_representative"),
    ]
    assert [a["level"] for a in approvals] == ["marketing_director", "hq_regional_manager", "hq_regional", None]
    assert approvals[2]["text"] == "免费更换 HP-200 液压泵一台，运费由公司承担"
    assert approvals[1]["details"]["product_return"] is True
    assert approvals[3]["details"]["outstanding"] == ["general_manager"]
    assert [a["at"] for a in approvals] == sorted(a["at"] for a in approvals)


def test_determination_with_its_evidence_hashes(dossier: dict[str, Any]) -> None:
    (determination,) = dossier["determination"]
    assert determination["event"] == "OnSiteDeterminationRecorded"
    assert determination["by"] == "rm.li" and determination["role"] == "regional_manager"
    assert determination["details"]["determination"] == "obvious_quality_defect"
    assert determination["details"]["evidence"] == [H1, H2]
    assert "kinds" not in determination["details"] and "fingerprint" not in determination["details"]


def test_evidence_lists_every_hash_with_where_it_is_named(dossier: dict[str, Any]) -> None:
    evidence = dossier["evidence"]
    assert [e["sha256"] for e in evidence] == [H1, H2]
    assert [e["kind"] for e in evidence] == ["photo", "scan"]
    assert [(w["event"], w["field"]) for w in evidence[0]["named_in"]] == [
        ("OnSiteDeterminationRecorded", "evidence[0]"),
        ("DefectiveProductFormFiled", "evidence[0]"),
        ("DefectiveProductFormForwarded", "evidence[0]"),
        ("ComplaintArchived", "documents[0].ref"),
    ]
    assert [(w["event"], w["field"]) for w in evidence[1]["named_in"]] == [
        ("OnSiteDeterminationRecorded", "evidence[1]"),
        ("DefectiveProductFormFiled", "evidence[1]"),
        ("DefectiveProductFormForwarded", "evidence[1]"),
    ]
    # a command fingerprint ("sha256:" + 64 hex digits of the form) is no evidence
    assert "0" * 64 not in [e["sha256"] for e in evidence]


def test_quality_holds_the_form_its_approvals_adjudication_decision_and_remedy(dossier: dict[str, Any]) -> None:
    assert names(dossier["quality"]) == [
        "QualityInvestigationOpened", "DefectiveProductFormFiled", "DefectiveProductFormApproved",
        "DefectiveProductFormApproved", "DefectiveProductFormForwarded", "QualityAdjudicationRecorded",
        "QualityDecisionApproved", "QualityRemedyDelivered",
    ]
    adjudication = dossier["quality"][5]["details"]
    assert adjudication["root_cause"] == "铸造工序气孔未检出"
    assert adjudication["production"]["line_or_unit"] == "铸造二线"


def test_corrective_actions(dossier: dict[str, Any]) -> None:
    actions = dossier["corrective_actions"]
    assert names(actions) == ["CorrectiveActionRaised", "CorrectiveActionProposed", "CorrectiveActionApproved"]
    assert actions[1]["details"]["actions"] == ["铸件增加 X 光探伤", "夜班增加抽检频次"]


def test_ledger_every_entry_and_the_totals_of_the_last_booking(events: list[dict[str, Any]],
                                                                dossier: dict[str, Any]) -> None:
    ledger = dossier["ledger"]
    assert [(e["item"], e["payer"], e["amount"]) for e in ledger["entries"]] == [
        ("replacement", "company", "1200.00"), ("return_transport", "company", "80.00"),
        ("delivery_transport", "company", "60.00")]
    last = [e for e in events if e["published_as"] == "CostEntriesBooked"][-1]["data"]
    assert ledger["totals_by_payer"] == {p["payer"]: p["amount"] for p in last["by_payer"]}
    assert ledger["totals_by_payer"] == {"company": "1340.00", "customer": "0.00"}
    assert ledger["ledger_total"] == "1340.00"
    assert ledger["customer_owes"] == "0.00"
    assert [b["details"]["decision_kind"] for b in ledger["bookings"]] == ["on_site_determination",
                                                                            "quality_adjudication"]
    amounts = [e["amount"] for e in ledger["entries"]] + list(ledger["totals_by_payer"].values())
    assert all(isinstance(a, str) for a in amounts)


def test_reply_remedy_follow_up_and_the_empty_sections(dossier: dict[str, Any]) -> None:
    assert names(dossier["customer_reply"]) == ["CustomerReplied"]
    assert dossier["customer_reply"][0]["details"]["approved_by"] == "hqrm.zhao"
    assert names(dossier["remedy"]) == ["QualityRemedyDelivered"]
    assert dossier["remedy"][0]["details"]["reference"] == "SF1234567890"
    assert names(dossier["follow_up"]) == ["SatisfactionFollowUpRecorded"]
    assert dossier["follow_up"][0]["details"]["satisfaction"] == "satisfied"
    assert dossier["memos"] == [] and dossier["disputes"] == []


def test_notifications_who_was_told_what_delivered_and_acknowledged(dossier: dict[str, Any]) -> None:
    notices = dossier["notifications"]
    assert [(n["recipient"], n["recipient_role"], n["delivered"], n["acknowledged"] is not None)
            for n in notices] == [("张伟", "customer", False, False),
                                  ("总经理 钱明", "general_manager", True, True),
                                  ("管理者代表 周强", "management_representative", False, False)]
    gm = notices[1]
    assert gm["subject"] == "品质处理决定：SH01-20260302-0007" and gm["mandatory"] is True
    assert gm["acknowledged"]["by"] == "gm.qian" and gm["acknowledged"]["via"] == "link"
    assert [d["channel"] for d in gm["deliveries"]] == ["email"]
    assert notices[2]["failures"][0]["error"] == "451 try again later"


def test_closure_closed_archived_and_the_decision_trail(dossier: dict[str, Any]) -> None:
    closure = dossier["closure"]
    assert names(closure["events"]) == ["ComplaintClosed", "ComplaintArchived"]
    assert closure["outcome"] == "resolved"
    assert closure["archive_ref"] == f"ARCH-product_quality-{FORM_NUMBER}"
    assert [s["step"] for s in closure["decision_trail"]] == ["ComplaintClassified", "HandlerAssigned",
                                                              "CustomerReplied"]
    assert closure["documents"] == [{"kind": "photo", "ref": H1, "description": "泵体裂纹"}]
    assert "decision_trail" not in closure["events"][1]["details"]


def test_history_is_every_event_with_time_service_name_and_actor(events: list[dict[str, Any]],
                                                                  dossier: dict[str, Any]) -> None:
    history = dossier["history"]
    assert len(history) == len(events)
    assert [(h["at"], h["service"], h["event"], h["by"], h["role"]) for h in history] == [
        (e["occurred_at"], e["service"], e["published_as"] or e["event_type"], e["meta"]["actor"]["user_id"],
         e["meta"]["actor"]["role"]) for e in events]
    assert history[0]["event"] == "Taken" and history[0]["published"] is False
    assert "ActionsAwaited" in [h["event"] for h in history]  # in the history, in no other section


def test_an_empty_history_gives_every_section_empty() -> None:
    d = build_dossier([])
    assert tuple(d) == SECTIONS
    assert d["complaint"] == {}
    for name in SECTIONS:
        if name not in ("complaint", "ledger", "closure"):
            assert d[name] == [], name
    assert d["ledger"]["entries"] == [] and d["ledger"]["totals_by_payer"] == {}
    assert d["ledger"]["ledger_total"] is None and d["ledger"]["customer_owes"] is None
    assert d["closure"]["events"] == [] and d["closure"]["decision_trail"] == []


# --- determinism, money, JSON -------------------------------------------------------------------------


def test_deterministic_and_the_events_are_not_changed(events: list[dict[str, Any]]) -> None:
    before = copy.deepcopy(events)
    first = build_dossier(events)
    second = build_dossier(copy.deepcopy(events))
    assert first == second
    assert events == before
    first["complaint"]["customer"]["name"] = "changed"
    assert events == before


def test_money_stays_decimal_text(events: list[dict[str, Any]]) -> None:
    changed = copy.deepcopy(events)
    booked = [e for e in changed if e["published_as"] == "CostEntriesBooked"][-1]["data"]
    booked["ledger_total"] = Decimal("1340.00")
    booked["by_payer"] = [{"payer": "company", "amount": Decimal("1340.00")}]
    ledger = build_dossier(changed)["ledger"]
    assert ledger["ledger_total"] == "1340.00"
    assert ledger["totals_by_payer"] == {"company": "1340.00"}


def test_json_round_trips(tmp_path: Path, dossier: dict[str, Any]) -> None:
    path = write_json(dossier, tmp_path / "out" / "dossier.json")
    assert json.loads(path.read_text(encoding="utf-8")) == dossier
    assert "上海恒达机械有限公司" in path.read_text(encoding="utf-8")  # not \u escapes
    assert sorted(p.name for p in path.parent.iterdir()) == ["dossier.json"]  # no temporary left


# --- the HTML and the PDF -----------------------------------------------------------------------------


def test_html_is_escaped() -> None:
    d = build_dossier(script_case())
    html = render_html(d, "zh")
    assert "BJ02-20260303-0001" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "&lt;/style&gt;&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert "O&#39;Brien &amp; &#34;Sons&#34;" in html


def test_html_in_chinese_and_in_english(dossier: dict[str, Any]) -> None:
    zh = render_html(dossier, "zh")
    en = render_html(dossier, "en")
    assert "投诉档案" in zh and "一、投诉登记表" in zh and "十七、完整记录" in zh
    assert "Complaint dossier" in en and "1. Registration form" in en and "17. Full history" in en
    for html in (zh, en):
        assert FORM_NUMBER in html
        assert "上海恒达机械有限公司" in html
        assert H1 in html and H2 in html
        assert "1340.00" in html
        assert 'font-family: "Noto Sans CJK SC", "Noto Sans CJK JP", sans-serif' in html
        assert "size: A4" in html and "counter(page)" in html
    assert "营销总监" in zh and "marketing director" in en
    assert "不良品投诉处理书已批准" in zh and "Defective product form approved" in en
    with pytest.raises(ValueError):
        render_html(dossier, "fr")


def test_rendering_leaves_the_dossier_as_it_was(tmp_path: Path, events: list[dict[str, Any]]) -> None:
    d = build_dossier(events)
    snapshot = copy.deepcopy(d)
    assert render_html(d, "zh") == render_html(d, "zh")
    write_pdf(d, tmp_path / "dossier.pdf", language="en")
    assert d == snapshot == build_dossier(events)


def test_pdf(tmp_path: Path, dossier: dict[str, Any]) -> None:
    path = write_pdf(dossier, tmp_path / "dossier.pdf")
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(data) > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dossier.pdf"]  # no temporary left


def test_pdf_of_a_dossier_with_markup_and_empty_sections(tmp_path: Path) -> None:
    path = write_pdf(build_dossier(script_case()), tmp_path / "script.pdf")
    assert path.read_bytes().startswith(b"%PDF")
