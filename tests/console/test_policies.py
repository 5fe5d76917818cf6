"""Which steps a user may take on a complaint now (services/console/policies.py): the awaited steps of HQ's
complaint row that name the user's role and, when they name a person, the user (case-insensitively); every
form that takes such a step (triage: a dispatch or a direct answer) with a corrective action's or notice's id
as target; then the optional steps of the states the complaint is in; never a form whose actions the role
lacks in access.yaml. `find_offer` finds one of them by its address, or None."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.access import rules
from services.common.auth import Principal
from services.console.catalog import Catalogue, load_catalogue
from services.console.policies import Offer, find_offer, in_state, may_take, offers

NOTICE = "9a8b7c6d-2222-4333-8444-555566667777"
ACTION = "3f1c2b4a-1111-4222-8333-444455556666"
CLERK = Principal("clerk-li", "branch_clerk", "SH01")
HQ = Principal("hq-clerk-xu", "hq_clerk")
RM = Principal("rm-wang", "regional_manager", None, "EAST")
QD = Principal("qd-lin", "quality_department")
SALES = Principal("sales-zhao", "salesperson", None, "EAST")


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def item(step: str, role: str | None, assignee: str | None = None, source: str = "routing",
         **more: Any) -> dict[str, Any]:
    return {"step": step, "role": role, "assignee": assignee, "source": source, "due_at": None,
            "deadline_kind": None, "detail": None, **more}


def complaint(*items: dict[str, Any], case_state: str = "awaiting_customer_reply", subject: str = "policy_service",
              **more: Any) -> dict[str, Any]:
    return {"complaint_id": "c-1", "form_number": "SH01-2026-0001", "branch": "SH01", "subject": subject,
            "case_state": case_state, "quality_stage": None, "closed_at": None, "awaited_actions": list(items),
            **more}


def refs(found: list[Offer], awaited: bool | None = None) -> list[str]:
    return [o.ref for o in found if awaited is None or o.awaited is awaited]


def test_a_clerk_sees_the_customer_reply_awaited_of_their_role(catalogue: Catalogue) -> None:
    row = complaint(item("customer-reply", "branch_clerk", due_at="2026-03-04T10:00:00Z",
                         deadline_kind="customer_reply"))
    found = offers(CLERK, row, catalogue)
    assert found[0].ref == "routing/customer-reply" and found[0].awaited
    assert (found[0].due_at, found[0].deadline_kind, found[0].target) == ("2026-03-04T10:00:00Z", "customer_reply",
                                                                          None)


def test_another_roles_step_is_not_offered(catalogue: Catalogue) -> None:
    row = complaint(item("customer-reply", "branch_clerk"))
    assert "routing/customer-reply" not in refs(offers(HQ, row, catalogue), awaited=True)
    assert refs(offers(RM, row, catalogue), awaited=True) == []


def test_a_step_assigned_to_someone_else_is_not_offered(catalogue: Catalogue) -> None:
    row = complaint(item("cause-and-solution", "regional_manager", assignee="rm-zhang"), case_state="awaiting_memo")
    assert refs(offers(RM, row, catalogue), awaited=True) == []
    mine = complaint(item("cause-and-solution", "regional_manager", assignee="RM-Wang"), case_state="awaiting_memo")
    assert refs(offers(RM, mine, catalogue), awaited=True) == ["routing/cause-and-solution"]


def test_a_notice_to_acknowledge_is_offered_to_its_recipient_with_its_id(catalogue: Catalogue) -> None:
    row = complaint(item("acknowledge", "hq_clerk", assignee="hq-clerk-xu", source=f"notify:{NOTICE}",
                         detail="Serious complaint"))
    (offer,) = [o for o in offers(HQ, row, catalogue) if o.awaited]
    assert offer.form.key == "notify/acknowledgement" and offer.target == NOTICE
    assert offer.ref == f"notify/acknowledgement/{NOTICE}" and offer.detail == "Serious complaint"
    assert offer.form.url_path("c-1", offer.target) == f"/inbox/{NOTICE}/acknowledgement"
    assert refs(offers(Principal("hq-clerk-ma", "hq_clerk"), row, catalogue), awaited=True) == []


def test_a_notice_naming_only_a_person_is_theirs(catalogue: Catalogue) -> None:
    row = complaint(item("acknowledge", None, assignee="hq-clerk-xu", source=f"notify:{NOTICE}"))
    assert refs(offers(HQ, row, catalogue), awaited=True) == [f"notify/acknowledgement/{NOTICE}"]
    nobody = complaint(item("acknowledge", None, source=f"notify:{NOTICE}"))
    assert refs(offers(HQ, nobody, catalogue), awaited=True) == []


def test_the_hq_clerk_triages_by_a_dispatch_or_a_direct_answer(catalogue: Catalogue) -> None:
    row = complaint(item("triage", "hq_clerk"), case_state="awaiting_triage")
    assert refs(offers(HQ, row, catalogue), awaited=True) == ["routing/on-site-dispatch", "routing/direct-answer"]


def test_a_corrective_actions_step_names_the_action(catalogue: Catalogue) -> None:
    row = complaint(item("proposal", "quality_department", source=f"capa:{ACTION}"), case_state="closed")
    (offer,) = [o for o in offers(QD, row, catalogue) if o.awaited]
    assert offer.ref == f"capa/proposal/{ACTION}"
    assert offer.form.url_path("c-1", offer.target) == f"/corrective-actions/{ACTION}/proposal"


def test_a_quality_remedy_goes_to_the_quality_department(catalogue: Catalogue) -> None:
    row = complaint(item("remedy", "quality_department"), case_state="awaiting_remedy", subject="product_quality")
    assert refs(offers(QD, row, catalogue), awaited=True) == ["quality/quality-remedy"]


def test_a_disputed_product_complaints_remedy_is_offered_to_the_regional_manager(catalogue: Catalogue) -> None:
    row = complaint(item("remedy", "regional_manager"), case_state="awaiting_remedy", subject="product_quality")
    assert refs(offers(RM, row, catalogue), awaited=True) == ["routing/remedy"]


@pytest.mark.parametrize("approver", ["management_representative", "general_manager"])
def test_a_corrective_action_is_approved_by_its_approvers(catalogue: Catalogue, approver: str) -> None:
    row = complaint(item("approval", approver, source=f"capa:{ACTION}"), case_state="closed")
    assert refs(offers(Principal("boss", approver), row, catalogue), awaited=True) == [f"capa/approval/{ACTION}"]


def test_the_same_form_is_offered_once(catalogue: Catalogue) -> None:
    row = complaint(item("handler", "hq_clerk"), item("handler", "hq_clerk"), case_state="awaiting_triage")
    assert refs(offers(HQ, row, catalogue)).count("routing/handler") == 1


def test_awaited_steps_come_before_optional_ones(catalogue: Catalogue) -> None:
    row = complaint(item("follow-up", "branch_clerk"), case_state="awaiting_follow_up")
    found = offers(CLERK, row, catalogue)
    assert found[0].ref == "routing/follow-up" and found[0].awaited
    assert all(not o.awaited for o in found[1:]) and len(found) > 1


@pytest.mark.parametrize(("case_state", "offered"), [
    ("awaiting_triage", False), ("awaiting_customer_reply", False), ("awaiting_remedy", True),
    ("awaiting_follow_up", True), ("ready_to_close", True), ("closed", True), ("disputed", False)])
def test_a_dispute_is_offered_only_once_there_is_a_reply_to_dispute(catalogue: Catalogue, case_state: str,
                                                                      offered: bool) -> None:
    row = complaint(case_state=case_state)
    assert ("routing/dispute" in refs(offers(CLERK, row, catalogue), awaited=False)) is offered


def test_open_steps_need_a_routed_complaint_that_is_not_closed(catalogue: Catalogue) -> None:
    assert "intake/withdrawal" in refs(offers(CLERK, complaint(case_state="awaiting_triage"), catalogue))
    assert "intake/withdrawal" not in refs(offers(CLERK, complaint(case_state="closed"), catalogue))
    assert "intake/withdrawal" not in refs(offers(CLERK, complaint(case_state=None), catalogue))
    closed = complaint(case_state="awaiting_follow_up", closed_at="2026-03-01T00:00:00Z")
    assert "intake/withdrawal" not in refs(offers(CLERK, closed, catalogue))


def test_costs_are_not_for_a_branch_clerk(catalogue: Catalogue) -> None:
    row = complaint(case_state="awaiting_remedy")
    assert "billing.cost.record" not in rules().roles["branch_clerk"].actions
    assert "billing/costs" not in refs(offers(CLERK, row, catalogue, ledger()))
    assert "billing/costs" in refs(offers(HQ, row, catalogue, ledger()), awaited=False)


def test_billing_steps_wait_for_billing_to_open_the_ledger(catalogue: Catalogue) -> None:
    """Routed at HQ but not yet at billing (each follows the topics on its own): no billing button yet,
    rather than a form billing would refuse for a ledger it does not have."""
    row = complaint(case_state="awaiting_triage")
    for key in ("billing/costs", "billing/compensation"):
        assert key not in refs(offers(HQ, row, catalogue))
        assert key not in refs(offers(HQ, row, catalogue, {"ledger": None}))
        assert key in refs(offers(HQ, row, catalogue, ledger()), awaited=False)


def test_quality_stage_states(catalogue: Catalogue) -> None:
    row = complaint(case_state="with_quality", subject="product_quality", quality_stage="determined")
    assert "quality/on-site-determination-correction" in refs(offers(RM, row, catalogue), awaited=False)
    row["quality_stage"] = "form_filed"
    assert "quality/on-site-determination-correction" not in refs(offers(RM, row, catalogue))
    assert in_state({"quality_stage": "adjudicated"}, ["quality:adjudicated"])
    assert in_state({"stage": "awaiting_memo"}, ["awaiting_memo"])     # HQ's `stage` when no case state
    assert not in_state({}, ["open", "closed", "quality:determined"])


def test_a_salesperson_is_offered_nothing_of_a_case(catalogue: Catalogue) -> None:
    every_step = [item(step, "salesperson") for step in
                  ("triage", "customer-reply", "remedy", "follow-up", "memo", "approval", "closure")]
    assert offers(SALES, complaint(*every_step, case_state="awaiting_remedy"), catalogue) == []


STATES = ("awaiting_triage", "awaiting_memo", "memo_filed", "with_department", "awaiting_approval",
          "awaiting_customer_reply", "awaiting_remedy", "awaiting_follow_up", "ready_to_close", "disputed", "closed")


@pytest.mark.parametrize("role", sorted(rules().roles))
def test_no_role_is_offered_a_form_its_actions_do_not_allow(catalogue: Catalogue, role: str) -> None:
    granted = rules().roles[role].actions
    who = Principal(f"someone-{role}", role, "SH01" if rules().roles[role].scope == "branch" else None)
    steps = {*catalogue.awaited, "customer-reply", "remedy", "follow-up", "closure", "memo", "ruling",
             "proposal", "implementation", "verification"}
    for case_state in STATES:
        row = complaint(*[item(s.split("@")[0], role) for s in steps],
                        *[item(s, role, source=f"capa:{ACTION}") for s in ("proposal", "implementation")],
                        case_state=case_state, subject="product_quality", quality_stage="determined")
        for offer in offers(who, row, catalogue):
            assert set(offer.form.actions) & granted, (role, case_state, offer.ref)
            assert may_take(who, offer.form)


def test_find_offer_finds_an_offer_by_its_address(catalogue: Catalogue) -> None:
    row = complaint(item("triage", "hq_clerk"), item("acknowledge", "hq_clerk", assignee="hq-clerk-xu",
                                                     source=f"notify:{NOTICE}"), case_state="awaiting_triage")
    direct = find_offer(HQ, row, catalogue, "routing/direct-answer", None)
    assert direct is not None and direct.awaited and direct.form.key == "routing/direct-answer"
    ack = find_offer(HQ, row, catalogue, "notify/acknowledgement", NOTICE)
    assert ack is not None and ack.target == NOTICE


def test_find_offer_gives_none_for_a_step_not_offered(catalogue: Catalogue) -> None:
    row = complaint(item("triage", "hq_clerk"), item("acknowledge", "hq_clerk", assignee="hq-clerk-xu",
                                                     source=f"notify:{NOTICE}"), case_state="awaiting_triage")
    assert find_offer(HQ, row, catalogue, "routing/closure", None) is None
    assert find_offer(CLERK, row, catalogue, "routing/direct-answer", None) is None
    assert find_offer(HQ, row, catalogue, "notify/acknowledgement", ACTION) is None       # another notice
    assert find_offer(HQ, row, catalogue, "notify/acknowledgement", None) is None
    assert find_offer(HQ, row, catalogue, "routing/direct-answer", "") is not None      # empty target: none


def test_a_row_without_awaited_actions(catalogue: Catalogue) -> None:
    row = complaint(case_state="awaiting_triage")
    row["awaited_actions"] = None
    assert refs(offers(HQ, row, catalogue), awaited=True) == []


# --- pending items: a proposed compensation waits for an approver ---------------------------------

COMPENSATION = "7c6b5a49-3333-4444-8555-666677778888"
DIRECTOR = Principal("md-huang", "marketing_director")


def ledger(*compensations: dict[str, Any]) -> dict[str, Any]:
    return {"ledger": {"compensations": list(compensations)}}


def proposed(approved_by: str | None = None) -> dict[str, Any]:
    return {"compensation_id": COMPENSATION, "amount": "500.00", "reason": "goodwill", "proposed_by": "rm-wang",
            "approved_by": approved_by}


def test_a_proposed_compensation_is_offered_to_the_roles_that_approve_it(catalogue: Catalogue) -> None:
    for principal in (DIRECTOR, RM):
        found = [o for o in offers(principal, complaint(), catalogue, ledger(proposed()))
                 if o.form.key == "billing/compensation-approval"]
        assert [(o.target, o.awaited, o.detail) for o in found] == [(COMPENSATION, False, "500.00 · goodwill")]
        assert find_offer(principal, complaint(), catalogue, "billing/compensation-approval", COMPENSATION,
                          ledger(proposed())) is not None
    assert find_offer(DIRECTOR, complaint(), catalogue, "billing/compensation-approval", ACTION,
                      ledger(proposed())) is None


def test_an_approved_compensation_or_a_role_without_the_action_gets_no_approval(catalogue: Catalogue) -> None:
    assert not [o for o in offers(DIRECTOR, complaint(), catalogue, ledger(proposed("gm-chen")))
                if o.form.key == "billing/compensation-approval"]
    assert not [o for o in offers(CLERK, complaint(), catalogue, ledger(proposed()))
                if o.form.key == "billing/compensation-approval"]
    closed = complaint(case_state="closed", closed_at="2026-03-04T10:00:00Z")
    assert not [o for o in offers(DIRECTOR, closed, catalogue, ledger(proposed()))
                if o.form.key == "billing/compensation-approval"]
