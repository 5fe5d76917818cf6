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
