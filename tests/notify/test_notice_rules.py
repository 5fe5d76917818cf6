"""Who must be told what (issue 9): the rules table and the directory resolve each trigger of the
procedure to exactly the people it names (§4.6, §5.3.1⑹, §5.3.2⑶, §5.7.1⑹, §5.7.2⑸, 96233 §3.1.2),
the customer is told at registration, of progress and of the result, and the person complained
about in a staff case never learns who complained (§5.3.2⑴). Pure: no service, no broker."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from uuid import uuid4

import pytest
import yaml

from contracts.billing import CustomerChargesStated
from contracts.corrective import CorrectiveActionApproved, CorrectiveActionProposed
from contracts.envelope import Role, ServiceName
from contracts.quality import QualityDecisionApproved
from contracts.routing import (
    Deadline, DeadlineMissed, OverdueHandlingEscalated, ProgressMilestoneReached, ReplyApproved,
    SeriousComplaintEscalated, StaffComplaintInvestigated,
)
from contracts.registry import EVENT_TYPES
from services.notify.domain.notice_rules import (
    DEFAULT_DIRECTORY, DEFAULT_ORGANISATION, DEFAULT_RULES, NoticeChannel, NoticeRulesError, Recipient,
    load_notice_rules, notice_rules, recipients,
)
from tests.common.builders import complaint_registered, customer, envelope

AT = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)


def who(found: list[Recipient]) -> set[tuple[str | None, str | None]]:
    """(user id, role) of each recipient; the customer is (None, "customer")."""
    return {(r.user_id, r.role.value if r.role else None) for r in found}


def deadline(**overrides) -> Deadline:
    values = dict(deadline_id=uuid4(), kind="on_site_visit", basis="working_days", amount=2, started_at=AT,
                  due_at=AT + timedelta(days=2), responsible_role=Role.REGIONAL_MANAGER)
    return Deadline(**(values | overrides))


def quality_decision(**overrides) -> QualityDecisionApproved:
    return QualityDecisionApproved(
        **envelope(ServiceName.QUALITY, **overrides), adjudication_id=uuid4(), approver="hqrm-zhou",
        approver_role=Role.HQ_REGIONAL_MANAGER, determination="obvious_quality_defect",
        responsible_party="company", decision="Replace the pump free of charge; the company pays all transport")


def corrective_proposed(**overrides) -> CorrectiveActionProposed:
    return CorrectiveActionProposed(
        **envelope(ServiceName.QUALITY, **overrides), action_id=uuid4(), round=1, proposed_by="qd-lin",
        owner="head-production-song", root_cause="Seam weld porosity in batch B2026-1107",
        actions=["Re-qualify the welding procedure"], preventive=True, responsible_department="Production",
        due_at=AT + timedelta(days=10))


def corrective_approved(fully: bool, **overrides) -> CorrectiveActionApproved:
    return CorrectiveActionApproved(
        **envelope(ServiceName.QUALITY, **overrides), action_id=uuid4(), round=1, approver="gm-chen",
        approver_role=Role.GENERAL_MANAGER, outstanding=[] if fully else [Role.MANAGEMENT_REPRESENTATIVE],
        fully_approved=fully, responsible_department="Production", due_at=AT + timedelta(days=10))


def serious(departments: list[str], **overrides) -> SeriousComplaintEscalated:
    return SeriousComplaintEscalated(
        **envelope(ServiceName.ROUTING, **overrides), reasons=["media"], subject="product_quality",
        description="A local newspaper is asking about the cracked gearbox", customer=customer(),
        departments=departments,
        notified_roles=[Role.GENERAL_MANAGER, Role.MANAGEMENT_REPRESENTATIVE, Role.MARKETING_DIRECTOR])


def staff_investigated(exceeds: bool, **overrides) -> StaffComplaintInvestigated:
    return StaffComplaintInvestigated(
        **envelope(ServiceName.ROUTING, **overrides), staff_member="sales-east", supervisor="sup-xie",
        substantiated=True, findings="The salesperson was rude on the phone", opinion="Apologise and compensate",
        compensation="5000.00" if exceeds else None, exceeds_supervisor_authority=exceeds,
        direct_superior="sup-zheng" if exceeds else None)


def reply_approved(final: bool, **overrides) -> ReplyApproved:
    return ReplyApproved(
        **envelope(ServiceName.ROUTING, **overrides), approver="md-huang", approver_role=Role.MARKETING_DIRECTOR,
        authority_level="marketing_director", authority_version="2026-11-25.1",
        approved_reply="We will replace the unit and refund the transport", final=final)


# --- product-quality complaints: the general manager and the management representative (§4.6, §5.7.2⑸) --

def test_a_product_quality_complaint_reaches_the_gm_and_the_mr_and_the_customer_is_acknowledged() -> None:
    registered = complaint_registered()
    found = recipients(registered)
    assert who(found) == {(None, "customer"), ("gm-chen", "general_manager"),
                          ("mr-sun", "management_representative")}
    ack = next(r for r in found if r.is_customer)
    assert ack.template == "customer_acknowledgement" and ack.mandatory
    assert ack.channels == (NoticeChannel.PHONE_TASK,), "no e-mail address on the record: the clerk calls"
    assert ack.via == ("clerk-li",) and ack.phone == registered.customer.phone and ack.language == "zh"


def test_a_policy_complaint_does_not_reach_the_gm_only_the_customer_is_acknowledged() -> None:
    found = recipients(complaint_registered(subject="policy_service", product=None))
    assert who(found) == {(None, "customer")}


def test_an_approved_quality_decision_reaches_the_gm_the_mr_the_branch_head_and_clerk_of_its_branch() -> None:
    found = recipients(quality_decision(form_number="HZ05-20261125-0007"))
    assert who(found) == {("gm-chen", "general_manager"), ("mr-sun", "management_representative"),
                          ("head-hz05", None), ("clerk-hz05", "branch_clerk")}
    head = next(r for r in found if r.user_id == "head-hz05")
    assert head.title == "branch_head" and head.rule == "quality_decision_to_branch" and head.mandatory
    assert all(not r.urgent for r in found)
    qms = next(r for r in found if r.user_id == "gm-chen")
    assert NoticeChannel.WEBHOOK not in qms.channels


def test_corrective_actions_reach_the_mr_and_gm_when_proposed_and_when_fully_approved_only() -> None:
    assert who(recipients(corrective_proposed())) == {("mr-sun", "management_representative"),
                                                       ("gm-chen", "general_manager")}
    assert recipients(corrective_approved(fully=False)) == []
    found = recipients(corrective_approved(fully=True))
    assert who(found) == {("mr-sun", "management_representative"), ("gm-chen", "general_manager"),
                          ("qd-lin", "quality_department"), ("head-quality-ma", "quality_department")}
    qms = next(r for r in found if r.user_id == "qd-lin")
    assert NoticeChannel.WEBHOOK in qms.channels
    assert [h.secret for h in qms.webhooks] == ["NOTIFY_WEBHOOK_SECRET_QMS"]


# --- the approved decision: the branch head and clerk (§5.3.1⑹, §5.7.1⑹) -----------------------

def test_the_final_approved_reply_reaches_the_branch_head_and_clerk_of_the_complaints_branch_only() -> None:
    found = recipients(reply_approved(final=True, form_number="BJ02-20261125-0003"))
    assert who(found) == {("head-bj02", None), ("clerk-bj02", "branch_clerk")}
    assert all(r.mandatory and NoticeChannel.EMAIL in r.channels for r in found)
    assert recipients(reply_approved(final=False)) == [], "an intermediate approval goes on up, not out"


# --- staff cases: the direct superior (§5.3.2⑶) -----------------------------------------------

def test_a_staff_remedy_beyond_the_supervisor_reaches_the_direct_superior_md_and_hq_clerk() -> None:
    found = recipients(staff_investigated(exceeds=True))
    assert who(found) == {("sup-zheng", "supervisor"), ("md-huang", "marketing_director"),
                          ("hq-clerk-xu", "hq_clerk")}
    assert recipients(staff_investigated(exceeds=False)) == []


def test_the_person_complained_about_is_never_told_who_complained() -> None:
    about_the_manager = complaint_registered(subject="staff", product=None, complained_about="rm-wang",
                                             description="The regional manager shouted at us")
    assert who(recipients(about_the_manager)) == {(None, "customer")}, "rm-wang reviews staff memos of EAST"
    about_a_salesperson = complaint_registered(subject="staff", product=None, complained_about="sales-east",
                                               description="The salesperson was rude")
    assert who(recipients(about_a_salesperson)) == {(None, "customer"), ("rm-wang", "regional_manager")}
    # Later events do not carry the registration: the caller passes who it is about.
    escalated = OverdueHandlingEscalated(
        **envelope(ServiceName.ROUTING), missed=deadline(), escalation_level=1,
        escalated_to_role=Role.REGIONAL_MANAGER, escalated_to="rm-wang", reason="on-site visit overdue")
    assert who(recipients(escalated)) == {("rm-wang", "regional_manager")}
    assert recipients(escalated, complained_about="rm-wang") == []


# --- serious complaints: department heads and the GM, at once -----------------------------------

def test_a_serious_complaint_calls_in_the_heads_of_its_departments_and_the_gm_at_once() -> None:
    found = recipients(serious(["Quality department", "Production", "Sales"]))
    assert who(found) == {("head-quality-ma", None), ("head-production-song", None), ("head-sales-guo", None),
                          ("gm-chen", "general_manager"), ("mr-sun", "management_representative"),
                          ("md-huang", "marketing_director")}
    assert all(r.urgent and r.mandatory for r in found)
    gm = next(r for r in found if r.user_id == "gm-chen")
    assert NoticeChannel.WEBHOOK in gm.channels and gm.webhooks[0].secret == "NOTIFY_WEBHOOK_SECRET_GM_DESK"
    heads = {r.user_id for r in found if r.title == "department_head"}
    assert heads == {"head-quality-ma", "head-production-song", "head-sales-guo"}


def test_department_names_match_the_directory_whatever_their_case_and_spacing() -> None:
    found = recipients(serious(["logistics ", "AFTER-SALES SERVICE"]))
    heads = {r.user_id for r in found if r.title == "department_head"}
    assert heads == {"head-logistics-liang", "head-aftersales-he"}


# --- missed deadlines: the next authority ------------------------------------------------------

def test_a_missed_deadline_reaches_the_next_authority_named_or_by_role_in_the_complaints_region() -> None:
    named = OverdueHandlingEscalated(
        **envelope(ServiceName.ROUTING), missed=deadline(), escalation_level=1,
        escalated_to_role=Role.MARKETING_DIRECTOR, escalated_to="md-huang", reason="on-site visit overdue")
    [md] = recipients(named)
    assert (md.user_id, md.role, md.mandatory) == ("md-huang", Role.MARKETING_DIRECTOR, True)
    by_role = OverdueHandlingEscalated(
        **envelope(ServiceName.ROUTING, form_number="GZ03-20261125-0002"), missed=deadline(), escalation_level=1,
        escalated_to_role=Role.REGIONAL_MANAGER, reason="cause and solution overdue")
    assert who(recipients(by_role)) == {("rm-liu", "regional_manager")}, "SOUTH's manager, not the others"


def test_the_one_who_missed_a_deadline_is_told_too() -> None:
    missed = DeadlineMissed(**envelope(ServiceName.ROUTING, form_number="CD09-20261125-0001"),
                            deadline=deadline(), missed_at=AT + timedelta(days=3))
    [rm] = recipients(missed)
    assert (rm.user_id, rm.role, rm.rule) == ("rm-yang", Role.REGIONAL_MANAGER, "missed_deadline_to_responsible")


# --- the customer: progress and result ----------------------------------------------------------

def test_the_customer_is_told_of_progress_and_of_the_result_through_the_branch_clerk() -> None:
    progress = ProgressMilestoneReached(
        **envelope(ServiceName.ROUTING, form_number="XM12-20261125-0001"), milestone="under_investigation",
        message="Your complaint is being investigated", customer=customer())
    [told] = recipients(progress)
    assert told.is_customer and told.template == "customer_progress" and told.via == ("clerk-xm12",)
    charges = CustomerChargesStated(
        **envelope(ServiceName.BILLING), amount_owed="0.00", lines=[], rules_version="2026-11-25.1",
        price_list_version="2026-11-25.1", decision_event_id=uuid4(), decision_kind="quality_adjudication")
    [result] = recipients(charges)
    assert result.is_customer and result.template == "customer_result" and result.mandatory
    assert result.channels == (NoticeChannel.PHONE_TASK,) and result.via == ("clerk-li",)


def test_an_event_no_row_names_has_no_recipients() -> None:
    from tests.common.builders import complaint_routed
    assert recipients(complaint_routed()) == []


# --- the files ------------------------------------------------------------------------------------

def test_the_shipped_files_cover_every_branch_and_every_role() -> None:
    rules = notice_rules()
    people = rules.directory.people
    for branch in rules.directory.regions:
        assert any(p.branch == branch and "branch_head" in p.titles for p in people), branch
        assert any(p.branch == branch and Role.BRANCH_CLERK in p.roles for p in people), branch
    for region in set(rules.directory.regions.values()):
        assert any(p.region == region and Role.REGIONAL_MANAGER in p.roles for p in people), region
    present = {role for p in people for role in p.roles}
    assert present == set(Role) - {Role.CUSTOMER, Role.SYSTEM}
    assert rules.events() <= set(EVENT_TYPES)
    assert {"SeriousComplaintEscalated", "OverdueHandlingEscalated", "QualityDecisionApproved",
            "CorrectiveActionApproved", "CorrectiveActionProposed", "StaffComplaintInvestigated", "ReplyApproved",
            "ComplaintRegistered", "ProgressMilestoneReached", "CustomerChargesStated",
            "DeadlineMissed"} <= rules.events()


def _write(tmp_path: Path, rules: dict | None = None, directory: dict | None = None) -> tuple[Path, Path]:
    rules_file, directory_file = tmp_path / "notice_rules.yaml", tmp_path / "directory.yaml"
    rules_file.write_text(yaml.safe_dump(rules or yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8")),
                                         allow_unicode=True), encoding="utf-8")
    directory_file.write_text(
        yaml.safe_dump(directory or yaml.safe_load(DEFAULT_DIRECTORY.read_text(encoding="utf-8")),
                       allow_unicode=True), encoding="utf-8")
    return rules_file, directory_file


def _rules_with(index: int, **changes) -> dict:
    data = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    data["rules"][index].update(changes)
    return data


@pytest.mark.parametrize(("changes", "message"), [
    ({"event": "ComplaintFiled"}, r"rules\[1\] \(quality_complaint_to_management\)\.event: 'ComplaintFiled' is not"),
    ({"when": {"topic": "product_quality"}}, r"rules\[1\] \(quality_complaint_to_management\)\.when: "
                                             r"ComplaintRegistered has no field topic"),
    ({"when": {"subject": "quality"}}, r"rules\[1\] \(quality_complaint_to_management\)\.when\.subject: 'quality'"),
    ({"to": [{"role": "branch_head"}]}, r"rules\[1\] \(quality_complaint_to_management\)\.to\[0\]\.role"),
    ({"to": [{"person_field": "approver"}]}, r"rules\[1\] \(quality_complaint_to_management\)\.to\[0\]\.person_field: "
                                             r"ComplaintRegistered has no field approver"),
    ({"to": [{"role_field": "subject"}]}, r"rules\[1\] \(quality_complaint_to_management\)\.to\[0\]\.role_field: "
                                          r"ComplaintRegistered\.subject does not hold a Role"),
    ({"channels": ["email", "fax"]}, r"rules\[1\] \(quality_complaint_to_management\)\.channels: 'fax'"),
    ({"mandatory": "yes"}, r"rules\[1\] \(quality_complaint_to_management\)\.mandatory: must be true or false"),
    ({"template": None}, r"rules\[1\] \(quality_complaint_to_management\)\.template"),
    ({"name": "customer_acknowledgement"},
     r"rules \(customer_acknowledgement\): the name is used by more than one row"),
])
def test_a_wrong_rules_file_is_refused_naming_the_row_and_field(tmp_path: Path, changes: dict, message: str) -> None:
    rules_file, directory_file = _write(tmp_path, rules=_rules_with(1, **changes))
    with pytest.raises(NoticeRulesError, match=r"^notice_rules\.yaml: " + message):
        load_notice_rules(rules_file, directory_file, DEFAULT_ORGANISATION)


def test_a_customer_row_without_a_customer_channel_is_refused(tmp_path: Path) -> None:
    rules_file, directory_file = _write(tmp_path, rules=_rules_with(0, channels=["inbox"]))
    with pytest.raises(NoticeRulesError, match=r"rules\[0\] \(customer_acknowledgement\)\.channels"):
        load_notice_rules(rules_file, directory_file, DEFAULT_ORGANISATION)


@pytest.mark.parametrize(("changes", "message"), [
    ({"branch": "XX99"}, r"users\[0\] \(gm-chen\)\.branch: XX99 is not a branch of organisation\.yaml"),
    ({"roles": ["boss"]}, r"users\[0\] \(gm-chen\)\.roles: 'boss' is not a valid Role"),
    ({"roles": ["customer"]}, r"users\[0\] \(gm-chen\)\.roles: customer and system"),
    ({"email": "not-an-address"}, r"users\[0\] \(gm-chen\)\.email"),
    ({"language": "fr"}, r"users\[0\] \(gm-chen\)\.language"),
    ({"webhooks": [{"url": "https://x.example.com/h", "events": ["SeriousComplaintEscalated"],
                    "secret": "s3cr3t-value"}]}, r"users\[0\] \(gm-chen\)\.webhooks\[0\]\.secret: the NAME"),
    ({"webhooks": [{"url": "https://x.example.com/h", "events": ["Nope"], "secret": "A_SECRET"}]},
     r"users\[0\] \(gm-chen\)\.webhooks\[0\]\.events"),
    ({"user_id": "mr-sun"}, r"users\[1\] \(mr-sun\)\.user_id: listed twice"),
])
def test_a_wrong_directory_is_refused_naming_the_user_and_field(tmp_path: Path, changes: dict, message: str) -> None:
    data = yaml.safe_load(DEFAULT_DIRECTORY.read_text(encoding="utf-8"))
    data["users"][0].update(changes)
    rules_file, directory_file = _write(tmp_path, directory=data)
    with pytest.raises(NoticeRulesError, match=r"^directory\.yaml: " + message):
        load_notice_rules(rules_file, directory_file, DEFAULT_ORGANISATION)
