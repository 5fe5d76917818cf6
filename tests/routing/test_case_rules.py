"""Rules of the case found by the HTTP fuzz run: a reused command id, who may handle or negotiate,
the handler recognised whatever the case of the id, the cause's category against its validity,
and an archive that always fits one message."""

from __future__ import annotations

from uuid import uuid4

import pytest

from contracts import routing as c
from services.common.domain import DomainError
from contracts.registry import serialize_event
from tests.routing.test_case import CLERK, GM, HQ, RM, Journey


def test_a_command_id_used_for_another_step_is_refused_naming_it() -> None:
    j = Journey(subject="policy_service", product=None)
    command_id = uuid4()
    j.app.handle(c.AssignHandler(complaint_id=j.cid, actor=HQ, command_id=command_id, handler="rm-wang",
                                 handler_role="regional_manager"))
    again = j.app.handle(c.AssignHandler(complaint_id=j.cid, actor=HQ, command_id=command_id, handler="rm-wang",
                                         handler_role="regional_manager"))
    assert not again.created
    before = j.case.version
    with pytest.raises(DomainError) as refused:
        j.app.handle(c.FileInternalMemo(complaint_id=j.cid, actor=RM, command_id=command_id, memo_id=uuid4(),
                                        addressed_to="hq_clerk", description="Late deliveries",
                                        requested_reply_by="2099-01-01T00:00:00+08:00"))
    assert (refused.value.status, refused.value.field) == (409, "command_id")
    assert j.case.version == before


@pytest.mark.parametrize("role", ["customer", "system", "salesperson"])
def test_a_handler_must_hold_a_role_that_can_give_the_cause(role: str) -> None:
    j = Journey(subject="policy_service", product=None)
    error = j.refused(HQ, c.AssignHandler, handler="someone", handler_role=role)
    assert (error.status, error.field) == (422, "handler_role")


def test_the_named_handler_is_recognised_whatever_the_case_of_the_user_id() -> None:
    j = Journey(subject="policy_service", product=None)
    j.act(HQ, c.AssignHandler, handler="RM-Wang", handler_role="regional_manager")
    j.act(RM, c.ProposeCauseAndSolution, cause="Late delivery", cause_category="transport", valid=True,
          proposed_solution="Refund shipping")
    assert j.state is c.CaseState.AWAITING_APPROVAL


def test_a_negotiator_must_be_staff() -> None:
    j = Journey(subject="policy_service", product=None, severity="serious", serious_reasons=["media"])
    error = j.refused(GM, c.NameNegotiator, negotiator="Mr Zhao", negotiator_role="customer")
    assert (error.status, error.field) == (422, "negotiator_role")


@pytest.mark.parametrize(("category", "valid"), [("misunderstanding", True), ("transport", False)])
def test_a_misunderstanding_is_exactly_the_invalid_complaint(category: str, valid: bool) -> None:
    with pytest.raises(ValueError, match="valid"):
        c.ProposeCauseAndSolutionStep(cause="x", cause_category=category, valid=valid, proposed_solution="y")


def test_the_archive_of_a_long_case_still_fits_one_message() -> None:
    j = Journey(subject="policy_service", product=None)
    j.handler()
    long = "长" * 1900
    for _ in range(60):
        j.act(CLERK, c.RecordUnreasonableDemand, demand=long, call_recording_ref="rec/1.wav",
              company_position=long, customer_accepted_position=True)
    j.propose()
    j.approve(RM, compensation="500.00")
    j.reply()
    j.remedy()
    j.follow_up()
    j.close()
    [archived] = j.of(c.ComplaintArchived)
    assert len(archived.decision_trail) > 60
    assert all(len(entry.summary) <= c.TRAIL_SUMMARY_MAX for entry in archived.decision_trail)
    assert len(serialize_event(archived)) < j.app.max_message_bytes / 2, "room left for the documents"
