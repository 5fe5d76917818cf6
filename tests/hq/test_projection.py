"""HQ's projection, pure (rows in memory): what each fact does to the complaint, its inbox and its
timeline, and that the rows do not depend on which service's topic delivered first (rule 8)."""

from __future__ import annotations

import copy
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.envelope import Envelope
from contracts.registry import EVENT_TYPES
from services.common.access import rules
from services.hq.domain.model import SCHEMA
from services.hq.domain.projection import Projector
from tests.contracts.conftest import DEADLINE, LATER, T0, event_data

TABLES = {t.name: t for t in SCHEMA.tables}


class MemoryRows:
    """The unit of work's three calls over dicts (what RowWork does over a database)."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)

    def get(self, table: str, key: Any) -> dict[str, Any] | None:
        row = self.tables[table].get(key if isinstance(key, tuple) else (key,))
        return copy.deepcopy(row)

    def put(self, table: str, row: dict[str, Any]) -> None:
        assert set(row) <= set(TABLES[table].names), set(row) - set(TABLES[table].names)
        self.tables[table][tuple(row[c] for c in TABLES[table].key)] = copy.deepcopy(row)

    def delete(self, table: str, key: Any) -> None:
        self.tables[table].pop(key if isinstance(key, tuple) else (key,), None)

    def complaint(self) -> dict[str, Any]:
        [row] = self.tables["complaints"].values()
        return row


PROJECT = Projector(rules().region_of)
_counter = iter(range(1, 10**6))


def event(name: str, **overrides: Any) -> Envelope:
    n = next(_counter)
    data = event_data(EVENT_TYPES[name], event_id=f"55555555-5555-4555-8555-{n:012d}", **overrides)
    data.setdefault("notification_id", n)
    return EVENT_TYPES[name].model_validate(data | {"notification_id": overrides.get("notification_id", n)})


def run(*events: Envelope) -> MemoryRows:
    rows = MemoryRows()
    for e in events:
        PROJECT(e, rows)
    return rows


def test_every_event_of_every_service_projects_and_lands_on_the_timeline_once() -> None:
    events = [event(name) for name in sorted(EVENT_TYPES)]
    rows = run(*events, *events)  # each twice: the timeline is keyed by event id
    assert len(rows.tables["timeline"]) == len(EVENT_TYPES)
    assert rows.complaint()["form_number"] == "SH01-20261125-0001" and rows.complaint()["region"] == "EAST"


def test_a_registration_fills_the_row_and_its_search_tokens() -> None:
    row = run(event("ComplaintRegistered")).complaint()
    assert (row["subject"], row["stage"], row["branch"], row["customer_name"]) == (
        "product_quality", "registered", "SH01", "华东机械有限公司")
    assert "华东" in row["search_tokens"].split() and "kx" in row["search_tokens"].split()


def test_withdrawal_at_intake_wins_over_what_routing_says_whichever_arrives_first() -> None:
    awaited = event("ActionsAwaited")
    withdrawn = event("ComplaintWithdrawn")
    assert run(awaited, withdrawn).complaint()["stage"] == "withdrawn"
    assert run(withdrawn, awaited).complaint()["stage"] == "withdrawn"


def test_the_inbox_holds_exactly_the_steps_routing_awaits_now() -> None:
    two = event("ActionsAwaited", actions=[
        {"step": "memo-dispatch", "role": "hq_clerk", "due_at": LATER, "deadline_kind": "memo_dispatch"},
        {"step": "handler", "role": "hq_clerk"}])
    one = event("ActionsAwaited", state="awaiting_approval", actions=[{"step": "approval", "role": "supervisor"}])
    rows = run(two)
    assert sorted(i["step"] for i in rows.tables["inbox"].values()) == ["handler", "memo-dispatch"]
    for e in (one,):
        PROJECT(e, rows)
    assert [i["step"] for i in rows.tables["inbox"].values()] == ["approval"]
    assert rows.complaint()["stage"] == "awaiting_approval"
    PROJECT(event("ActionsAwaited", state="closed", actions=[]), rows)
    assert rows.tables["inbox"] == {}


def test_a_missed_deadline_is_overdue_until_met_and_the_next_one_is_the_earliest_open() -> None:
    rows = run(event("DeadlineSet"), event("DeadlineMissed"))
    row = rows.complaint()
    assert row["missed_open"] == 1 and row["deadlines_missed"] == 1 and row["next_due_kind"] == DEADLINE["kind"]
    PROJECT(event("DeadlineMet", deadline=DEADLINE, completed_at=LATER), rows)
    row = rows.complaint()
    assert (row["missed_open"], row["next_due_at"], row["open_deadlines"]) == (0, None, {})


def test_costs_are_billing_s_totals_by_payer_and_the_customer_owes_what_billing_states() -> None:
    row = run(event("CostEntriesBooked"), event("CustomerChargesStated")).complaint()
    booked = EVENT_TYPES["CostEntriesBooked"].model_validate(event_data(EVENT_TYPES["CostEntriesBooked"]))
    totals = {t.payer.value: t.amount for t in booked.by_payer}
    assert row["cost_company"] == totals.get("company", Decimal("0.00"))
    assert row["cost_customer"] == totals.get("customer", Decimal("0.00"))
    assert row["amount_owed"] == EVENT_TYPES["CustomerChargesStated"].model_validate(
        event_data(EVENT_TYPES["CustomerChargesStated"])).amount_owed


def test_a_phone_task_waits_in_the_clerk_s_inbox_until_acknowledged() -> None:
    notice = event("NotificationRecorded", targets=[{"channel": "phone_task", "address": "clerk-li"}],
                   mandatory=False, acknowledge_by=None)
    rows = run(notice)
    [task] = rows.tables["inbox"].values()
    assert (task["step"], task["assignee"], task["role"]) == ("phone-customer", "clerk-li", "branch_clerk")
    PROJECT(event("ReceiptAcknowledged"), rows)
    assert rows.tables["inbox"] == {} and rows.complaint()["notices"] == 1


# --- order independence ------------------------------------------------------------------------------

def _journey() -> dict[str, list[Envelope]]:
    """One complaint's facts, per producing service, each service's in its own order."""
    later = (T0 + timedelta(hours=5)).isoformat()
    return {
        "intake": [event("ComplaintRegistered"), event("ReadBackConfirmed")],
        "routing": [
            event("ComplaintClassified"), event("ActionsAwaited"), event("DeadlineSet"), event("DeadlineMissed"),
            event("OverdueHandlingEscalated"), event("HandlerAssigned"),
            event("ActionsAwaited", state="awaiting_customer_reply",
                  actions=[{"step": "customer-reply", "role": "branch_clerk", "branch": "SH01"}]),
            event("DeadlineMet", deadline=DEADLINE, completed_at=later), event("CustomerReplied"),
            event("SatisfactionFollowUpRecorded"), event("ComplaintClosed"),
            event("ActionsAwaited", state="closed", actions=[])],
        "quality": [event("QualityInvestigationOpened"), event("OnSiteDeterminationRecorded")],
        "billing": [event("CostEntriesBooked"), event("CustomerChargesStated")],
        "notify": [event("NotificationRecorded", targets=[{"channel": "phone_task", "address": "clerk-li"}]),
                   event("ReceiptAcknowledged")],
    }


JOURNEY = _journey()
REFERENCE = run(*[e for service in JOURNEY.values() for e in service]).tables


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(JOURNEY)), min_size=sum(map(len, JOURNEY.values())),
                max_size=sum(map(len, JOURNEY.values()))))
def test_any_interleaving_of_the_services_topics_gives_the_same_rows(order: list[str]) -> None:
    queues = {service: list(events) for service, events in JOURNEY.items()}
    sequence: list[Envelope] = []
    for service in order:  # take the next event of that service, or of the first that has one left
        source = service if queues[service] else next(s for s in sorted(queues) if queues[s])
        sequence.append(queues[source].pop(0))
    assert run(*sequence).tables == REFERENCE
    row = next(iter(REFERENCE["complaints"].values()))
    assert row["stage"] == "closed" and row["missed_open"] == 0 and REFERENCE["inbox"] == {}


def _inbox(rows: MemoryRows) -> list[tuple[str, str, str]]:
    return sorted((i["source"].split(":")[0], i["step"], i["role"]) for i in rows.tables["inbox"].values())


def test_quality_s_steps_follow_its_chain_and_replace_routing_s_placeholder() -> None:
    with_quality = event("ActionsAwaited", state="with_quality", actions=[
        {"step": "on-site-determination", "role": "regional_manager", "region": "EAST"},
        {"step": "handler", "role": "hq_clerk"}])
    rows = run(with_quality, event("QualityInvestigationOpened"))
    assert ("routing", "on-site-determination", "regional_manager") in _inbox(rows)
    steps = [
        (event("OnSiteDeterminationRecorded", determination="obvious_quality_defect", misuse_resolution=None),
         ("quality", "defective-product-form", "regional_manager")),
        (event("DefectiveProductFormFiled"), ("quality", "defective-product-form-approval", "marketing_director")),
        (event("DefectiveProductFormApproved", stage="marketing_director", approver="MD Sun",
               approver_role="marketing_director", product_return=None),
         ("quality", "defective-product-form-approval", "hq_regional_manager")),
        (event("DefectiveProductFormApproved", stage="hq_regional_manager"),
         ("quality", "defective-product-form-forwarding", "hq_clerk")),
        (event("DefectiveProductFormForwarded", product_return=True), ("quality", "product-return", "regional_manager")),
        (event("ProductReturnRequested"), ("quality", "product-return-shipment", "regional_manager")),
        (event("ProductReturnShipped"), ("quality", "product-receipt", "quality_department")),
        (event("ProductReceived"), ("quality", "adjudication", "quality_department")),
        (event("QualityAdjudicationRecorded"), ("quality", "quality-decision-approval", "hq_regional_manager")),
        (event("QualityDecisionRejected"), ("quality", "adjudication", "quality_department")),
    ]
    for e, expected in steps:
        PROJECT(e, rows)
        assert _inbox(rows) == sorted([("routing", "handler", "hq_clerk"), expected]), e.event_type
    PROJECT(event("QualityDecisionApproved"), rows)
    assert _inbox(rows) == [("routing", "handler", "hq_clerk")]


def test_misuse_settled_on_site_awaits_nothing_from_quality() -> None:
    rows = run(event("OnSiteDeterminationRecorded", determination="obvious_misuse", misuse_resolution="fixed_on_site",
                     customer_agrees=True, written_feedback="Refilled", customer_opinion="Fine"))
    assert _inbox(rows) == []


def test_a_corrective_action_awaits_its_proposal_both_approvals_implementation_and_verification() -> None:
    rows = run(event("CorrectiveActionRaised"))
    assert _inbox(rows) == [("capa", "proposal", "quality_department")]
    PROJECT(event("CorrectiveActionProposed"), rows)
    assert _inbox(rows) == [("capa", "approval", "general_manager"), ("capa", "approval", "management_representative")]
    PROJECT(event("CorrectiveActionApproved", outstanding=["general_manager"], fully_approved=False), rows)
    assert _inbox(rows) == [("capa", "approval", "general_manager")]
    PROJECT(event("CorrectiveActionApproved", approver="GM He", approver_role="general_manager", outstanding=[],
                  fully_approved=True), rows)
    [item] = rows.tables["inbox"].values()
    assert (item["step"], item["role"], item["deadline_kind"]) == ("implementation", "responsible_department",
                                                                   "corrective_action")
    assert item["due_at"] is not None
    PROJECT(event("CorrectiveActionImplemented"), rows)
    assert _inbox(rows) == [("capa", "verification", "quality_department")]
    PROJECT(event("CorrectiveActionVerified", effective=True, closed=True), rows)
    assert _inbox(rows) == []
