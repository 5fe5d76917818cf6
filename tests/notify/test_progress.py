"""Progress notices (§5.2: the customer is told of progress, not only of the result) and the
direct superior of a staff complaint beyond the supervisor's authority (§5.3.2⑶)."""

from __future__ import annotations

from contracts.envelope import Role, ServiceName
from contracts.notify import NotificationRecorded
from contracts.routing import Milestone, ProgressMilestoneReached, StaffComplaintInvestigated
from services.notify.application import NotifyApplication
from services.notify.policies import notify_policy
from tests.common.builders import customer, envelope, in_memory, published, react


def milestone(kind: Milestone, message: str, **overrides) -> ProgressMilestoneReached:
    return ProgressMilestoneReached(**envelope(ServiceName.ROUTING, **overrides), milestone=kind, message=message,
                                    customer=customer())


def test_each_milestone_reaches_the_customer_by_name_through_the_branch_clerk() -> None:
    app = in_memory(NotifyApplication)
    first = milestone(Milestone.UNDER_INVESTIGATION, "The department responsible is investigating.")
    react(app, notify_policy, first)
    react(app, notify_policy, milestone(Milestone.CLOSED, "Your complaint is closed.",
                                        complaint_id=first.complaint_id, form_number=first.form_number))
    react(app, notify_policy, first, position=99)  # redelivered: nothing new
    notices = [e for e in published(app) if isinstance(e, NotificationRecorded)]
    assert [n.recipient_role for n in notices] == [Role.CUSTOMER, Role.CUSTOMER]
    assert all("Shanghai Hengda Machinery Co." in n.recipient and "+86 21 5555 0101" in n.recipient
               and "via branch SH01 clerk" in n.recipient for n in notices)
    assert "investigating" in notices[0].body and "closed" in notices[1].subject


def test_the_direct_superior_is_told_only_when_the_remedy_exceeds_the_supervisors_authority() -> None:
    app = in_memory(NotifyApplication)
    base = dict(staff_member="Sales Wu", supervisor="sup-ma", substantiated=True, findings="Rude twice",
                opinion="Apology and a 3,000 CNY goodwill credit")
    react(app, notify_policy, StaffComplaintInvestigated(**envelope(ServiceName.ROUTING), **base,
                                                         exceeds_supervisor_authority=False))
    assert published(app) == []
    react(app, notify_policy, StaffComplaintInvestigated(**envelope(ServiceName.ROUTING), **base,
                                                         exceeds_supervisor_authority=True,
                                                         direct_superior="Sales lead Ma"))
    [notice] = published(app)
    assert notice.recipient == "Sales lead Ma" and "Sales Wu" in notice.subject
    assert "marketing director" in notice.body
