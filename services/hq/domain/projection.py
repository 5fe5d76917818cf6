"""From every service's events to HQ's rows: the complaint list, the unified inbox, the timeline.

Pure apart from the rows it reads and writes through the unit of work (`get`, `put`, `delete`).
Each handler changes only what its event says; derived values (`stage`, the next deadline) are
recomputed from the stored parts, so the result does not depend on which topic delivered first.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from pydantic_core import to_jsonable_python

from contracts.envelope import Envelope, branch_of
from services.common.readmodel import time_text
from services.common.search import document
from services.hq.domain.model import COMPLAINTS, next_deadline, stage_of

#: Characters of one text value kept in the timeline's `changes`, and items of one list.
CHANGE_TEXT_MAX = 300
CHANGE_LIST_MAX = 20
SUMMARY_MAX = 300


class Rows(Protocol):
    def get(self, table: str, key: Any) -> dict[str, Any] | None: ...
    def put(self, table: str, row: dict[str, Any]) -> None: ...
    def delete(self, table: str, key: Any) -> None: ...


class Projector:
    """Applies one event to HQ's rows. `region_of` maps a branch to its region (organisation.yaml)."""

    def __init__(self, region_of: Callable[[str], str | None]):
        self.region_of = region_of

    def __call__(self, event: Envelope, rows: Rows) -> None:
        cid = str(event.complaint_id)
        complaint = rows.get("complaints", cid) or self._new(event)
        _count(complaint, event)
        handler = _HANDLERS.get(event.event_type)
        if handler is not None:
            handler(event, complaint, rows)
        complaint["stage"] = stage_of(complaint)
        complaint["missed_open"] = sum(1 for d in (complaint["open_deadlines"] or {}).values() if d.get("missed"))
        complaint["next_due_at"], complaint["next_due_kind"], complaint["next_due_role"] = next_deadline(
            complaint["open_deadlines"] or {})
        rows.put("complaints", complaint)
        _timeline(event, rows)

    def _new(self, event: Envelope) -> dict[str, Any]:
        branch = branch_of(event.form_number)
        row: dict[str, Any] = {c: None for c in COMPLAINTS.names}
        row |= {"complaint_id": str(event.complaint_id), "form_number": event.form_number, "branch": branch,
                "region": self.region_of(branch), "open_deadlines": {}, "corrective_actions": {}, "repeats": [],
                "awaited": {}, "events": 0, "notices": 0, "missed_open": 0, "deadlines_missed": 0,
                "serious": False, "disputed": False, "archived": False}
        return row


def _count(row: dict[str, Any], event: Envelope) -> None:
    row["events"] += 1
    at = event.occurred_at
    if row["first_event_at"] is None or at < row["first_event_at"]:
        row["first_event_at"] = at
    if row["last_event_at"] is None or at > row["last_event_at"]:
        row["last_event_at"] = at


# --- intake ---------------------------------------------------------------------------------------

def _form(event: Any, row: dict[str, Any], _: Rows) -> None:
    """The registration form, as registered or corrected."""
    product = event.product
    row.update(kind=event.kind.value, subject=event.subject.value, severity=event.severity.value,
               channel=event.channel.value, customer_name=event.customer.name, customer_phone=event.customer.phone,
               customer_contact=event.customer.contact_person, description=event.description, demand=event.demand,
               product_model=product.model if product else None,
               batch_number=product.batch_number if product else None, order_number=event.order_number,
               complained_about=event.complained_about, received_at=event.received_at)
    if event.severity.value == "serious":
        row["serious"] = True
    row["search_tokens"] = document([
        event.form_number, event.customer.name, event.customer.contact_person, event.customer.phone,
        event.description, event.demand, product.model if product else None,
        product.batch_number if product else None, event.order_number])


def _registered(event: Any, row: dict[str, Any], rows: Rows) -> None:
    _form(event, row, rows)
    row["registered_at"] = event.occurred_at
    if row["intake_state"] not in ("closed_at_intake", "withdrawn"):
        row["intake_state"] = "awaiting_read_back" if event.read_back_not_possible else "registered"


def _closed_at_intake(event: Any, row: dict[str, Any], rows: Rows) -> None:
    _form(event, row, rows)
    row.update(registered_at=event.occurred_at, intake_state="closed_at_intake", closed_at=event.occurred_at,
               closure_outcome="resolved_on_the_spot", satisfaction="satisfied" if event.customer_satisfied else None)


def _corrected(event: Any, row: dict[str, Any], rows: Rows) -> None:
    _form(event, row, rows)


def _read_back(event: Any, row: dict[str, Any], _: Rows) -> None:
    if row["intake_state"] in (None, "awaiting_read_back"):
        row["intake_state"] = "registered"


def _withdrawn(event: Any, row: dict[str, Any], _: Rows) -> None:
    row["intake_state"] = "withdrawn"


def _answered(state: str) -> Callable[[Any, dict[str, Any], Rows], None]:
    def handle(event: Any, row: dict[str, Any], _: Rows) -> None:
        row["intake_state"] = state
    return handle


# --- routing --------------------------------------------------------------------------------------

def _classified(event: Any, row: dict[str, Any], _: Rows) -> None:
    row.update(track=event.track.value, region=event.region or row["region"])


def _routed(event: Any, row: dict[str, Any], _: Rows) -> None:
    row["destination"] = event.destination.value


def _handler(event: Any, row: dict[str, Any], _: Rows) -> None:
    row.update(handler=event.handler, handler_role=event.handler_role.value)


def _cause(event: Any, row: dict[str, Any], _: Rows) -> None:
    row.update(valid=event.valid, cause_category=event.cause_category.value)


def _staff(event: Any, row: dict[str, Any], _: Rows) -> None:
    row["valid"] = event.substantiated
    if event.substantiated:
        row["cause_category"] = "people"


def _serious(event: Any, row: dict[str, Any], _: Rows) -> None:
    row["serious"] = True


def _awaited(event: Any, row: dict[str, Any], rows: Rows) -> None:
    row["case_state"] = event.state.value
    actions = [to_jsonable_python(a) for a in event.actions]
    row["awaited"]["routing_steps"] = [
        {"step": a["step"], "role": a["role"], "assignee": a["assignee"], "due_at": a["due_at"],
         "deadline_kind": a["deadline_kind"], "hidden_from": event.hidden_from, "since": time_text(event.occurred_at),
         "detail": None} for a in actions]
    _routing_items(row, rows)


#: Quality's stages by which the on-site determination is done (routing still names it while the case is
#: with quality: quality's own steps replace it in the inbox).
_DETERMINED = frozenset({"determined", "form_filed", "form_approved", "form_rejected", "form_forwarded",
                         "return_requested", "return_shipped", "return_received", "adjudicated",
                         "adjudication_rejected", "decision_approved", "remedy_delivered"})


def _routing_items(row: dict[str, Any], rows: Rows) -> None:
    steps = row["awaited"].get("routing_steps", [])
    if row["quality_stage"] in _DETERMINED:
        steps = [s for s in steps if s["step"] != "on-site-determination"]
    _replace_items(row, rows, "routing", steps)


def _deadline_key(deadline: Any) -> str:
    return str(deadline.deadline_id)


def _open_deadline(row: dict[str, Any], d: Any) -> None:
    """An open deadline (an escalation re-opens a missed one at the next level: still overdue)."""
    missed = bool(row["open_deadlines"].get(_deadline_key(d), {}).get("missed"))
    row["open_deadlines"][_deadline_key(d)] = {"kind": d.kind.value, "due_at": time_text(d.due_at),
                                               "role": d.responsible_role.value, "responsible": d.responsible,
                                               "level": d.escalation_level, "paused": False, "missed": missed}


def _deadline_open(event: Any, row: dict[str, Any], _: Rows) -> None:
    _open_deadline(row, event.deadline)


def _deadline_closed(event: Any, row: dict[str, Any], _: Rows) -> None:
    row["open_deadlines"].pop(_deadline_key(event.deadline), None)


def _deadline_missed(event: Any, row: dict[str, Any], _: Rows) -> None:
    row["deadlines_missed"] += 1
    d = row["open_deadlines"].get(_deadline_key(event.deadline))
    if d is not None:
        d["missed"] = True


def _deadline_paused(paused: bool) -> Callable[[Any, dict[str, Any], Rows], None]:
    def handle(event: Any, row: dict[str, Any], _: Rows) -> None:
        d = row["open_deadlines"].get(_deadline_key(event.deadline))
        if d is not None:
            d["paused"] = paused
            d["due_at"] = time_text(event.deadline.due_at)
    return handle


def _escalated(event: Any, row: dict[str, Any], _: Rows) -> None:
    if event.new_deadline is not None:
        _open_deadline(row, event.new_deadline)


def _replied(event: Any, row: dict[str, Any], _: Rows) -> None:
    if row["replied_at"] is None:
        row["replied_at"] = event.occurred_at


def _follow_up(event: Any, row: dict[str, Any], _: Rows) -> None:
    row["follow_up_outcome"] = event.outcome.value
    if event.satisfaction is not None:
        row["satisfaction"] = event.satisfaction.value


def _dispute(raised: bool) -> Callable[[Any, dict[str, Any], Rows], None]:
    def handle(event: Any, row: dict[str, Any], _: Rows) -> None:
        row["disputed"] = raised
        if raised:
            row["closed_at"] = None
            row["closure_outcome"] = None
        elif getattr(event, "determination", None) is not None:
            row["determination"] = event.determination.value
    return handle


def _closed(event: Any, row: dict[str, Any], _: Rows) -> None:
    row.update(closed_at=event.occurred_at, closure_outcome=event.outcome.value)


def _archived(event: Any, row: dict[str, Any], _: Rows) -> None:
    row["archived"] = True


def _repeat(event: Any, row: dict[str, Any], _: Rows) -> None:
    links = [r for r in row["repeats"] if r["complaint_id"] != str(event.linked_to)]
    state = {"RepeatComplaintLinked": "proposed", "RepeatLinkConfirmed": "confirmed"}.get(event.event_type)
    if state is not None:
        links.append({"complaint_id": str(event.linked_to), "form_number": event.linked_form_number, "state": state})
    row["repeats"] = sorted(links, key=lambda r: r["form_number"])


# --- quality --------------------------------------------------------------------------------------

#: Where the quality investigation stands after each of its events.
QUALITY_STAGES = {
    "QualityInvestigationOpened": "awaiting_determination", "OnSiteVisitArranged": "visit_arranged",
    "OnSiteDeterminationRecorded": "determined", "OnSiteDeterminationCorrected": "determined",
    "DefectiveProductFormFiled": "form_filed", "DefectiveProductFormApproved": "form_approved",
    "DefectiveProductFormRejected": "form_rejected", "DefectiveProductFormForwarded": "form_forwarded",
    "ProductReturnRequested": "return_requested", "ProductReturnShipped": "return_shipped",
    "ProductReceived": "return_received", "QualityAdjudicationRecorded": "adjudicated",
    "QualityDecisionRejected": "adjudication_rejected", "QualityDecisionApproved": "decision_approved",
    "QualityRemedyDelivered": "remedy_delivered",
}


def _quality_step(event: Any) -> list[tuple[str, str]]:
    """Who takes quality's next step after this event (§5.7), as (step, role); none while routing has
    the move (the dispatch before, the reply and the remedy after the approved decision)."""
    name = event.event_type
    if name in ("OnSiteDeterminationRecorded", "OnSiteDeterminationCorrected"):
        settled = event.determination.value == "obvious_misuse" and event.customer_agrees
        return [] if settled else [("defective-product-form", "regional_manager")]
    if name == "DefectiveProductFormApproved":
        return ([("defective-product-form-approval", "hq_regional_manager")]
                if event.stage.value == "marketing_director" else [("defective-product-form-forwarding", "hq_clerk")])
    if name == "DefectiveProductFormForwarded":
        return [("product-return", "regional_manager")] if event.product_return else [("adjudication",
                                                                                       "quality_department")]
    return list(_QUALITY_NEXT.get(name, ()))


_QUALITY_NEXT: dict[str, tuple[tuple[str, str], ...]] = {
    "DefectiveProductFormFiled": (("defective-product-form-approval", "marketing_director"),),
    "DefectiveProductFormRejected": (("defective-product-form", "regional_manager"),),
    "ProductReturnRequested": (("product-return-shipment", "regional_manager"),),
    "ProductReturnShipped": (("product-receipt", "quality_department"),),
    "ProductReceived": (("adjudication", "quality_department"),),
    "QualityAdjudicationRecorded": (("quality-decision-approval", "hq_regional_manager"),),
    "QualityDecisionRejected": (("adjudication", "quality_department"),),
}


def _quality(event: Any, row: dict[str, Any], rows: Rows) -> None:
    row["quality_stage"] = QUALITY_STAGES[event.event_type]
    if event.event_type not in ("QualityInvestigationOpened", "OnSiteVisitArranged"):
        _replace_items(row, rows, "quality", [
            {"step": step, "role": role, "assignee": None, "due_at": None, "deadline_kind": None, "hidden_from": None,
             "since": event.occurred_at, "detail": None} for step, role in _quality_step(event)])
        _routing_items(row, rows)
    determination = getattr(event, "determination", None)
    if determination is not None:
        row["determination"] = determination.value
    party = getattr(event, "responsible_party", None)
    if party is not None:
        row["responsible_party"] = party.value


def _corrective(event: Any, row: dict[str, Any], rows: Rows) -> None:
    state = {"CorrectiveActionRaised": "raised", "CorrectiveActionProposed": "proposed",
             "CorrectiveActionApproved": "approved" if getattr(event, "fully_approved", False) else "proposed",
             "CorrectiveActionImplemented": "implemented", "CorrectiveActionReopened": "proposed",
             "CorrectiveActionSuperseded": "superseded"}.get(event.event_type)
    if event.event_type == "CorrectiveActionVerified":
        state = "closed" if event.closed else "reopened"
    action = row["corrective_actions"].setdefault(str(event.action_id), {})
    action["state"] = state
    due = getattr(event, "due_at", None)
    if due is not None:
        action["due_at"] = time_text(due)
    _replace_items(row, rows, f"capa:{event.action_id}", [
        {"step": step, "role": role, "assignee": None, "due_at": due if step == "implementation" else None,
         "deadline_kind": "corrective_action" if step == "implementation" else None, "hidden_from": None,
         "since": event.occurred_at, "detail": f"corrective action {event.action_id}"}
        for step, role in _capa_steps(event)])


def _capa_steps(event: Any) -> list[tuple[str, str]]:
    """Who takes a corrective action's next step (§4.5, §5.7.1⑸), as (step, role)."""
    name = event.event_type
    if name in ("CorrectiveActionProposed", "CorrectiveActionReopened"):
        return [("approval", "management_representative"), ("approval", "general_manager")]
    if name == "CorrectiveActionApproved":
        return ([("implementation", "responsible_department")] if event.fully_approved
                else [("approval", role.value) for role in event.outstanding])
    if name == "CorrectiveActionVerified":
        return [] if event.closed else [("proposal", "quality_department")]
    return {"CorrectiveActionRaised": [("proposal", "quality_department")],
            "CorrectiveActionImplemented": [("verification", "quality_department")]}.get(name, [])


# --- billing --------------------------------------------------------------------------------------

_PAYER_COLUMNS = {"company": "cost_company", "customer": "cost_customer", "salesperson": "cost_salesperson",
                  "to_be_decided": "cost_to_be_decided"}


def _booked(event: Any, row: dict[str, Any], _: Rows) -> None:
    totals = {t.payer.value: t.amount for t in event.by_payer}
    for payer, column in _PAYER_COLUMNS.items():
        row[column] = totals.get(payer, Decimal("0.00"))
    row["ledger_total"] = event.ledger_total


def _charges(event: Any, row: dict[str, Any], _: Rows) -> None:
    row["amount_owed"] = event.amount_owed


# --- notify ---------------------------------------------------------------------------------------

def _notice(event: Any, row: dict[str, Any], rows: Rows) -> None:
    row["notices"] += 1
    items = []
    for target in event.targets:
        if target.channel.value == "phone_task":
            items.append({"step": "phone-customer", "role": "branch_clerk", "assignee": target.address,
                          "due_at": event.send_at or event.occurred_at, "deadline_kind": None, "hidden_from": None,
                          "since": event.occurred_at, "detail": event.subject})
    if event.mandatory and event.acknowledge_by is not None and event.recipient_user_id:
        items.append({"step": "acknowledge", "role": event.recipient_role.value if event.recipient_role else None,
                      "assignee": event.recipient_user_id, "due_at": event.acknowledge_by, "deadline_kind": None,
                      "hidden_from": None, "since": event.occurred_at, "detail": event.subject})
    if items:
        _replace_items(row, rows, f"notify:{event.notice_id}", items)


def _receipt(event: Any, row: dict[str, Any], rows: Rows) -> None:
    _replace_items(row, rows, f"notify:{event.notice_id}", [])


# --- the inbox and the timeline -------------------------------------------------------------------

def _replace_items(row: dict[str, Any], rows: Rows, source: str, items: list[dict[str, Any]]) -> None:
    """Make `source`'s inbox items of the complaint exactly `items` (the complaint row remembers how
    many each source has, so the ones no longer awaited are deleted)."""
    cid = row["complaint_id"]
    before = int(row["awaited"].get(source, 0))
    for idx, item in enumerate(items):
        rows.put("inbox", {"complaint_id": cid, "source": source, "idx": idx, "form_number": row["form_number"],
                           "branch": row["branch"], "region": row["region"], **item})
    for idx in range(len(items), before):
        rows.delete("inbox", (cid, source, idx))
    if items:
        row["awaited"][source] = len(items)
    else:
        row["awaited"].pop(source, None)


_ENVELOPE = set(Envelope.model_fields)
_SUMMARY_FIELDS = ("state", "step", "destination", "handler", "determination", "decision", "approved_reply", "reply",
                   "ruling", "outcome", "reason", "opinion", "proposed_solution", "root_cause", "remedy",
                   "description", "subject", "milestone", "note", "summary", "findings", "cause", "condition",
                   "amount_owed", "ledger_total", "recipient")


def summary(event: Envelope) -> str:
    """One line saying what the event did: its type and its most telling field."""
    for name in _SUMMARY_FIELDS:
        value = getattr(event, name, None)
        if value is None or isinstance(value, (list, dict)):
            continue
        text = str(getattr(value, "value", value)).strip()
        if text:
            line = f"{event.event_type}: {name.replace('_', ' ')} {text}"
            return line if len(line) <= SUMMARY_MAX else line[: SUMMARY_MAX - 1] + "…"
    return event.event_type


def changes(event: Envelope) -> dict[str, Any]:
    """The event's own fields (not the envelope's), texts and lists cut to a bounded size."""
    return _bounded(event.model_dump(mode="json", exclude=_ENVELOPE))


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= CHANGE_TEXT_MAX else value[: CHANGE_TEXT_MAX - 1] + "…"
    if isinstance(value, list):
        return [_bounded(v) for v in value[:CHANGE_LIST_MAX]] + (["…"] if len(value) > CHANGE_LIST_MAX else [])
    if isinstance(value, dict):
        return {k: _bounded(v) for k, v in value.items()}
    return value


def _timeline(event: Envelope, rows: Rows) -> None:
    rows.put("timeline", {
        "event_id": str(event.event_id), "complaint_id": str(event.complaint_id), "service": event.producer.value,
        "notification_id": event.notification_id, "event_type": event.event_type,
        "schema_version": event.schema_version, "occurred_at": event.occurred_at, "actor_user": event.actor.user_id,
        "actor_role": event.actor.role.value,
        "causation_id": str(event.causation_id) if event.causation_id else None,
        "correlation_id": str(event.correlation_id), "summary": summary(event), "changes": changes(event)})


_HANDLERS: dict[str, Callable[[Any, dict[str, Any], Rows], None]] = {
    "ComplaintRegistered": _registered, "MinorComplaintClosedAtIntake": _closed_at_intake,
    "RegistrationCorrected": _corrected, "ReadBackConfirmed": _read_back, "ComplaintWithdrawn": _withdrawn,
    "SuggestionReplyPromised": _answered("reply_promised"), "SuggestionAnswered": _answered("suggestion_answered"),
    "InquiryAnswered": _answered("inquiry_answered"),
    "ComplaintClassified": _classified, "ComplaintRouted": _routed, "HandlerAssigned": _handler,
    "CauseAndSolutionProposed": _cause, "StaffComplaintInvestigated": _staff, "SeriousComplaintEscalated": _serious,
    "ActionsAwaited": _awaited, "DeadlineSet": _deadline_open, "DeadlineMet": _deadline_closed,
    "DeadlineMissed": _deadline_missed, "DeadlineCancelled": _deadline_closed,
    "DeadlinePaused": _deadline_paused(True), "DeadlineResumed": _deadline_paused(False),
    "DeadlineReplanned": _deadline_paused(False), "OverdueHandlingEscalated": _escalated,
    "CustomerReplied": _replied, "SatisfactionFollowUpRecorded": _follow_up, "DisputeRaised": _dispute(True),
    "DisputeRuled": _dispute(False), "ComplaintClosed": _closed, "ComplaintArchived": _archived,
    "RepeatComplaintLinked": _repeat, "RepeatLinkConfirmed": _repeat, "RepeatLinkRejected": _repeat,
    **{name: _quality for name in QUALITY_STAGES},
    **{name: _corrective for name in ("CorrectiveActionRaised", "CorrectiveActionProposed", "CorrectiveActionApproved",
                                      "CorrectiveActionImplemented", "CorrectiveActionVerified",
                                      "CorrectiveActionReopened", "CorrectiveActionSuperseded")},
    "CostEntriesBooked": _booked, "CustomerChargesStated": _charges,
    "NotificationRecorded": _notice, "ReceiptAcknowledged": _receipt,
}


def handled_types() -> frozenset[str]:
    return frozenset(_HANDLERS)


__all__ = ["Projector", "QUALITY_STAGES", "changes", "handled_types", "summary"]
