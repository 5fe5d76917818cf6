"""Who learns of a product-quality decision (§4.6, §5.7.1⑹, §5.7.2⑸): the general manager, the
management representative and the clerk of the complaint's branch, who tells the customer."""

from __future__ import annotations

from uuid import uuid4

from contracts.envelope import Role, ServiceName
from contracts.notify import NotificationRecorded
from contracts.quality import QualityDecisionApproved
from services.notify.application import NotifyApplication
from services.notify.policies import notify_policy
from tests.common.builders import envelope, in_memory, published, react


def decision(**overrides) -> QualityDecisionApproved:
    return QualityDecisionApproved(
        **envelope(ServiceName.QUALITY, **overrides), adjudication_id=uuid4(), approver="hqrm-zhou",
        approver_role=Role.HQ_REGIONAL_MANAGER, determination="obvious_quality_defect",
        responsible_party="company", decision="Replace the pump free of charge; the company pays all transport")


def test_an_approved_quality_decision_reaches_the_gm_the_mr_and_the_branch_clerk_once() -> None:
    app = in_memory(NotifyApplication)
    approved = decision()
    react(app, notify_policy, approved)
    react(app, notify_policy, approved, position=42)  # redelivered: nothing new
    notices = [e for e in published(app) if isinstance(e, NotificationRecorded)]
    assert sorted(n.recipient_role for n in notices) == sorted(
        [Role.GENERAL_MANAGER, Role.MANAGEMENT_REPRESENTATIVE, Role.BRANCH_CLERK])
    clerk = next(n for n in notices if n.recipient_role is Role.BRANCH_CLERK)
    assert clerk.recipient == "branch SH01 clerk"
    assert all("Replace the pump" in n.body and approved.form_number in n.subject for n in notices)


def charges(amount: str, lines: list[dict], **overrides) -> "CustomerChargesStated":
    from contracts.billing import CustomerChargesStated
    return CustomerChargesStated(**envelope(ServiceName.BILLING, **overrides), amount_owed=amount, lines=lines,
                                 rules_version="2026-11-25.1", price_list_version="2026-11-25.1",
                                 decision_event_id=uuid4(), decision_kind="quality_adjudication")


def test_the_customer_is_told_what_they_owe_through_the_branch_clerk_once_the_contact_is_known() -> None:
    from tests.common.builders import complaint_registered
    app = in_memory(NotifyApplication)
    stated = charges("161.00", [
        {"item": "parts", "key": "parts:GX-200-SEAL", "amount": "37.00", "basis": "2 x GX-200-SEAL at cost 18.50"},
        {"item": "delivery_transport", "key": "delivery:WB-88", "amount": "124.00", "source_document": "WB-88"}])
    react(app, notify_policy, stated)
    assert [e for e in published(app) if isinstance(e, NotificationRecorded)] == [], "waits for the contact"
    react(app, notify_policy, complaint_registered(complaint_id=stated.complaint_id, form_number=stated.form_number))
    react(app, notify_policy, stated, position=7)  # redelivered: nothing new
    [notice] = [e for e in published(app) if isinstance(e, NotificationRecorded)]
    assert notice.recipient_role is Role.CUSTOMER and "via branch SH01 clerk" in notice.recipient
    assert "161.00 CNY" in notice.body and "GX-200-SEAL" in notice.body and "WB-88" in notice.body


def test_a_customer_who_owes_nothing_is_told_so() -> None:
    app = in_memory(NotifyApplication)
    from tests.common.builders import complaint_registered
    stated = charges("0.00", [])
    react(app, notify_policy, complaint_registered(complaint_id=stated.complaint_id, form_number=stated.form_number))
    react(app, notify_policy, stated)
    [notice] = [e for e in published(app) if isinstance(e, NotificationRecorded)
                and e.about_event_type == "CustomerChargesStated"]
    assert "nothing" in notice.body
