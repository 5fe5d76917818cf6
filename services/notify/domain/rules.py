"""Who must be told what (§4.6, §5.3, §5.7.2⑸), as a pure function of a business fact."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.billing import CostAllocated, Payer
from contracts.envelope import SHORT_TEXT_MAX, Envelope, Role, branch_of
from contracts.notify import NotificationChannel


@dataclass(frozen=True)
class Contact:
    customer_name: str
    phone: str
    branch: str
    subject: str


@dataclass(frozen=True)
class NoticeSpec:
    recipient_role: Role
    recipient: str
    channel: NotificationChannel
    subject: str
    body: str


RECIPIENT_MAX = SHORT_TEXT_MAX  # NotificationRecorded.recipient is a ShortStr


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cost_summary(event: CostAllocated) -> str:
    company = [line.item.value for line in event.lines if line.payer is Payer.COMPANY]
    customer = [line.item.value for line in event.lines if line.payer is Payer.CUSTOMER]
    parts = []
    if company:
        parts.append("the company pays " + ", ".join(company))
    if customer:
        parts.append("the customer pays " + ", ".join(customer))
    return "; ".join(parts) or "costs follow the quality department's decision"


def who_must_know(event: Envelope, contact: Contact | None) -> list[NoticeSpec]:
    if not isinstance(event, CostAllocated):
        return []
    determination = event.determination.value.replace("_", " ")
    decision = f"{event.form_number}: on-site determination '{determination}'; {_cost_summary(event)}."
    branch = contact.branch if contact else branch_of(event.form_number)
    if contact:
        via = f" ({contact.phone}), via branch {branch} clerk"
        customer = _clip(contact.customer_name, RECIPIENT_MAX - len(via)) + via
    else:
        customer = f"the customer of {event.form_number}, via branch {branch} clerk"
    return [
        # §5.3.1: the branch clerk answers the customer.
        NoticeSpec(Role.CUSTOMER, customer, NotificationChannel.PHONE,
                   f"Outcome of your complaint {event.form_number}", decision),
        # §4.6, §5.7.2⑸: every product-quality complaint and its decision reach the GM and the MR.
        NoticeSpec(Role.GENERAL_MANAGER, "general manager", NotificationChannel.INTERNAL,
                   f"Product-quality complaint {event.form_number}: decision", decision + f" Rule: {event.rule}"),
        NoticeSpec(Role.MANAGEMENT_REPRESENTATIVE, "management representative", NotificationChannel.INTERNAL,
                   f"Product-quality complaint {event.form_number}: decision", decision + f" Rule: {event.rule}"),
    ]
