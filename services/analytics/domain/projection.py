"""From every service's events to analytics' facts: the register, deadlines, costs, corrective actions
and alerts. Pure apart from the rows it reads and writes through the unit of work.

Months are the company's (the calendar's default zone); handling time is working time on the
branch's calendar, from receipt to closure, computed from the closure event alone (it carries when
the complaint was received), so it does not matter which topic delivered first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from contracts.envelope import Envelope, branch_of
from services.common.calendar import CalendarSet
from services.analytics.domain.model import CAPA, COSTS, DEADLINES, REGISTER


class Rows(Protocol):
    def get(self, table: str, key: Any) -> dict[str, Any] | None: ...
    def put(self, table: str, row: dict[str, Any]) -> None: ...
    def delete(self, table: str, key: Any) -> None: ...


_DIGITS = re.compile(r"\D+")


def customer_key(name: str, phone: str | None) -> str:
    """The same customer however the clerk typed the number: its last eleven digits, else the name."""
    digits = _DIGITS.sub("", phone or "")
    return digits[-11:] if len(digits) >= 7 else " ".join(name.split()).casefold()


class Projector:
    def __init__(self, calendars: CalendarSet, region_of: Callable[[str], str | None]):
        self.calendars = calendars
        self.region_of = region_of
        self.zone = calendars.default().zone

    def month(self, at: datetime) -> str:
        return at.astimezone(self.zone).strftime("%Y-%m")

    def __call__(self, event: Envelope, rows: Rows) -> None:
        handler = getattr(self, f"_on_{event.event_type}", None)
        if handler is None:
            handler = _GROUPS.get(event.event_type)
            if handler is None:
                return
            handler = getattr(self, handler)
        handler(event, rows)

    # --- the register ------------------------------------------------------------------------

    def _register(self, event: Envelope, rows: Rows) -> dict[str, Any]:
        row = rows.get("register", str(event.complaint_id))
        if row is None:
            branch = branch_of(event.form_number)
            row = {c: None for c in REGISTER.names} | {
                "complaint_id": str(event.complaint_id), "form_number": event.form_number, "branch": branch,
                "region": self.region_of(branch), "serious": False, "disputed": False, "repeat_confirmed": False,
                "withdrawn": False}
        return row

    def _form(self, event: Any, rows: Rows, **extra: Any) -> None:
        row = self._register(event, rows)
        product = event.product
        row.update(kind=event.kind.value, subject=event.subject.value, severity=event.severity.value,
                   channel=event.channel.value, customer_name=event.customer.name,
                   customer_key=customer_key(event.customer.name, event.customer.phone),
                   product_model=product.model if product else None,
                   batch_number=product.batch_number if product else None, received_at=event.received_at,
                   month=self.month(event.received_at), **extra)
        if event.severity.value == "serious":
            row["serious"] = True
        rows.put("register", row)

    def _on_ComplaintRegistered(self, event: Any, rows: Rows) -> None:
        row = self._register(event, rows)
        state = row["intake_state"] if row["intake_state"] in ("closed_at_intake", "withdrawn") else "registered"
        self._form(event, rows, intake_state=state)

    def _on_RegistrationCorrected(self, event: Any, rows: Rows) -> None:
        self._form(event, rows)

    def _on_MinorComplaintClosedAtIntake(self, event: Any, rows: Rows) -> None:
        closed = event.occurred_at
        hours = self._hours(event.form_number, event.received_at, closed)
        self._form(event, rows, intake_state="closed_at_intake", closed_at=closed, closed_month=self.month(closed),
                   closure_outcome="resolved_on_the_spot", handling_hours=hours,
                   satisfaction="satisfied" if event.customer_satisfied else None)

    def _on_ComplaintWithdrawn(self, event: Any, rows: Rows) -> None:
        row = self._register(event, rows)
        row.update(intake_state="withdrawn", withdrawn=True)
        rows.put("register", row)

    def _hours(self, form_number: str, start: datetime, end: datetime) -> float:
        calendar = self.calendars.for_branch(branch_of(form_number))
        return round(calendar.working_time_between(start, end).total_seconds() / 3600, 4)

    def _on_CauseAndSolutionProposed(self, event: Any, rows: Rows) -> None:
        self._set(event, rows, valid=event.valid, cause_category=event.cause_category.value)

    def _on_StaffComplaintInvestigated(self, event: Any, rows: Rows) -> None:
        self._set(event, rows, valid=event.substantiated, **({"cause_category": "people"} if event.substantiated else {}))

    def _on_SeriousComplaintEscalated(self, event: Any, rows: Rows) -> None:
        self._set(event, rows, serious=True)

    def _on_CustomerReplied(self, event: Any, rows: Rows) -> None:
        row = self._register(event, rows)
        if row["first_reply_at"] is None:
            row["first_reply_at"] = event.occurred_at
        rows.put("register", row)

    def _on_SatisfactionFollowUpRecorded(self, event: Any, rows: Rows) -> None:
        values: dict[str, Any] = {"follow_up_outcome": event.outcome.value,
                                  "follow_up_month": self.month(event.occurred_at)}
        if event.satisfaction is not None:
            values["satisfaction"] = event.satisfaction.value
        self._set(event, rows, **values)

    def _on_DisputeRaised(self, event: Any, rows: Rows) -> None:
        self._set(event, rows, disputed=True)

    def _on_ComplaintClosed(self, event: Any, rows: Rows) -> None:
        closed = event.occurred_at
        self._set(event, rows, closed_at=closed, closed_month=self.month(closed), closure_outcome=event.outcome.value,
                  handling_hours=self._hours(event.form_number, event.received_at, closed))

    def _on_RepeatLinkConfirmed(self, event: Any, rows: Rows) -> None:
        self._set(event, rows, repeat_confirmed=True)

    def _determination(self, event: Any, rows: Rows) -> None:
        if getattr(event, "determination", None) is not None:
            self._set(event, rows, determination=event.determination.value)

    def _set(self, event: Any, rows: Rows, **values: Any) -> None:
        row = self._register(event, rows)
        row.update(values)
        rows.put("register", row)

    # --- deadlines ---------------------------------------------------------------------------

    def _deadline(self, event: Any, rows: Rows, d: Any) -> dict[str, Any]:
        row = rows.get("deadlines", str(d.deadline_id))
        if row is None:
            row = {c: None for c in DEADLINES.names} | {
                "deadline_id": str(d.deadline_id), "complaint_id": str(event.complaint_id),
                "branch": branch_of(event.form_number), "kind": d.kind.value, "role": d.responsible_role.value,
                "started_at": d.started_at, "first_due_at": d.due_at, "due_month": self.month(d.due_at),
                "state": "open", "missed": False, "escalations": 0}
        return row

    def _on_DeadlineSet(self, event: Any, rows: Rows) -> None:
        row = self._deadline(event, rows, event.deadline)
        row["due_at"] = event.deadline.due_at
        rows.put("deadlines", row)

    def _on_DeadlineMet(self, event: Any, rows: Rows) -> None:
        row = self._deadline(event, rows, event.deadline)
        row.update(state="met", completed_at=event.completed_at, due_at=row["due_at"] or event.deadline.due_at)
        rows.put("deadlines", row)

    def _on_DeadlineMissed(self, event: Any, rows: Rows) -> None:
        row = self._deadline(event, rows, event.deadline)
        row.update(state="missed", missed=True, due_at=row["due_at"] or event.deadline.due_at)
        rows.put("deadlines", row)

    def _on_DeadlineCancelled(self, event: Any, rows: Rows) -> None:
        row = self._deadline(event, rows, event.deadline)
        row["state"] = "cancelled"
        rows.put("deadlines", row)

    def _replanned(self, event: Any, rows: Rows) -> None:
        row = self._deadline(event, rows, event.deadline)
        row["due_at"] = event.deadline.due_at
        rows.put("deadlines", row)

    def _on_OverdueHandlingEscalated(self, event: Any, rows: Rows) -> None:
        row = self._deadline(event, rows, event.missed)
        row["escalations"] += 1
        if event.new_deadline is not None:
            row.update(state="open", due_at=event.new_deadline.due_at)
        rows.put("deadlines", row)

    # --- costs, corrective actions, alerts ---------------------------------------------------

    def _on_CostEntriesBooked(self, event: Any, rows: Rows) -> None:
        month, cid = self.month(event.occurred_at), str(event.complaint_id)
        for entry in event.entries:
            key = (cid, entry.payer.value, entry.item.value, month)
            row = rows.get("costs", key) or {c: None for c in COSTS.names} | {
                "complaint_id": cid, "payer": entry.payer.value, "item": entry.item.value, "month": month,
                "branch": branch_of(event.form_number), "amount": Decimal("0.00"), "entries": 0}
            row["amount"] = Decimal(row["amount"]) + entry.amount
            row["entries"] += 1
            rows.put("costs", row)

    def _capa(self, event: Any, rows: Rows, **values: Any) -> None:
        row = rows.get("capa", str(event.action_id)) or {c: None for c in CAPA.names} | {
            "action_id": str(event.action_id), "complaint_id": str(event.complaint_id),
            "branch": branch_of(event.form_number), "rounds": 0}
        row.update(values)
        rows.put("capa", row)

    def _on_CorrectiveActionRaised(self, event: Any, rows: Rows) -> None:
        about = event.alert or event.product
        row = rows.get("capa", str(event.action_id))
        state = row["state"] if row and row["state"] else "raised"  # a later step may have arrived first
        self._capa(event, rows, source=event.source.value, raised_at=event.occurred_at, state=state,
                   model=about.model if about else None, batch_number=about.batch_number if about else None)

    def _on_CorrectiveActionProposed(self, event: Any, rows: Rows) -> None:
        self._capa(event, rows, state="proposed", due_at=event.due_at, rounds=event.round)

    def _on_CorrectiveActionApproved(self, event: Any, rows: Rows) -> None:
        if event.fully_approved:
            self._capa(event, rows, state="approved", due_at=event.due_at)

    def _on_CorrectiveActionImplemented(self, event: Any, rows: Rows) -> None:
        self._capa(event, rows, state="implemented", implemented_at=event.occurred_at)

    def _on_CorrectiveActionVerified(self, event: Any, rows: Rows) -> None:
        if event.closed:
            self._capa(event, rows, state="closed", closed_at=event.occurred_at)

    def _on_CorrectiveActionReopened(self, event: Any, rows: Rows) -> None:
        self._capa(event, rows, state="proposed", due_at=event.due_at, rounds=event.round, implemented_at=None)

    def _on_CorrectiveActionSuperseded(self, event: Any, rows: Rows) -> None:
        self._capa(event, rows, state="superseded", closed_at=event.occurred_at)

    def _on_BatchDefectAlertRaised(self, event: Any, rows: Rows) -> None:
        rows.put("alerts", {
            "alert_id": str(event.alert_id), "model": event.model, "batch_number": event.batch_number,
            "window_start": event.window_start, "window_end": event.window_end, "threshold": event.threshold,
            "count": event.count, "raised_at": event.occurred_at, "month": self.month(event.occurred_at),
            "form_number": event.form_number, "branch": branch_of(event.form_number),
            "complaints": [c.model_dump(mode="json") for c in event.complaints], "rules_version": event.rules_version})


#: Events handled alike: the event type -> the projector's method.
_GROUPS = {
    "DeadlineReplanned": "_replanned", "DeadlinePaused": "_replanned", "DeadlineResumed": "_replanned",
    "OnSiteDeterminationRecorded": "_determination", "OnSiteDeterminationCorrected": "_determination",
    "QualityAdjudicationRecorded": "_determination", "DisputeRuled": "_determination",
}
