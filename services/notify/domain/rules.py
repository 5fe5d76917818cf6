"""Who must be told what (§4.6, §5.3, §5.7.2⑸), as a pure function of a business fact."""

from __future__ import annotations

from dataclasses import dataclass, replace

from contracts.billing import CostAllocated, CustomerChargesStated, Payer
from contracts.envelope import SHORT_TEXT_MAX, Envelope, Role, branch_of
from contracts.notify import NotificationChannel
from contracts.quality import QualityDecisionApproved
from contracts.routing import (
    OverdueHandlingEscalated, ProgressMilestoneReached, SeriousComplaintEscalated, StaffComplaintInvestigated,
)


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
    #: Addressed through the customer's contact (intake's `ComplaintRegistered`): recorded only
    #: once the contact is known, whichever topic delivered first (architecture rule 8).
    needs_contact: bool = False
    #: Tells apart several notices to one role about one fact (e.g. the head of each department).
    key: str | None = None


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


def addressed(spec: NoticeSpec, contact: Contact) -> NoticeSpec:
    """The spec with its recipient named from the customer's contact (unchanged if it needs none)."""
    if not spec.needs_contact:
        return spec
    via = f" ({contact.phone}), via branch {contact.branch} clerk"
    return replace(spec, recipient=_clip(contact.customer_name, RECIPIENT_MAX - len(via)) + via)


ROLE_TITLES = {Role.GENERAL_MANAGER: "general manager", Role.MANAGEMENT_REPRESENTATIVE: "management representative",
               Role.MARKETING_DIRECTOR: "marketing director"}


def serious_complaint(event: SeriousComplaintEscalated) -> list[NoticeSpec]:
    """Serious complaints call in the department heads and the general manager at once (96233 §3.1.2)."""
    reasons = ", ".join(r.value.replace("_", " ") for r in event.reasons)
    claim = f" Claim: {event.claim_amount} CNY." if event.claim_amount is not None else ""
    subject = _clip(f"SERIOUS complaint {event.form_number}: {reasons}", RECIPIENT_MAX)
    body = (f"{event.form_number} ({event.subject.value.replace('_', ' ')}) is serious: {reasons}.{claim} "
            f"Customer: {event.customer.name}. {event.description} Called in: "
            f"{', '.join(event.departments)}; an urgent meeting and a named negotiator are needed.")
    specs = [NoticeSpec(role, ROLE_TITLES.get(role, role.value.replace("_", " ")), NotificationChannel.INTERNAL,
                        subject, body) for role in event.notified_roles if role is not Role.CUSTOMER]
    specs += [NoticeSpec(Role.RESPONSIBLE_DEPARTMENT, _clip(f"head of {department}", RECIPIENT_MAX),
                         NotificationChannel.INTERNAL, subject, body, key=department)
              for department in event.departments]
    return specs


def overdue_escalated(event: OverdueHandlingEscalated) -> list[NoticeSpec]:
    """A missed deadline went one level up: the next authority learns it must act, and by when."""
    missed, new = event.missed, event.new_deadline
    step = missed.kind.value.replace("_", " ")
    role = Role(event.escalated_to_role)
    due = f" New due time: {new.due_at.isoformat()}." if new is not None else ""
    body = (f"{event.form_number}: the {step} due {missed.due_at.isoformat()} was missed; {event.reason}.{due}")
    return [NoticeSpec(role, event.escalated_to or ROLE_TITLES.get(role, role.value.replace("_", " ")),
                       NotificationChannel.INTERNAL,
                       _clip(f"Overdue {step} of {event.form_number} escalated to you", RECIPIENT_MAX), body)]


def progress(event: ProgressMilestoneReached) -> list[NoticeSpec]:
    """The customer is told of progress, not only of the result (§5.2): through the branch clerk."""
    recipient = addressed(NoticeSpec(Role.CUSTOMER, "", NotificationChannel.PHONE, "", "", needs_contact=True),
                          Contact(event.customer.name, event.customer.phone, branch_of(event.form_number), ""))
    step = event.milestone.value.replace("_", " ")
    return [replace(recipient, subject=_clip(f"Your complaint {event.form_number}: {step}", RECIPIENT_MAX),
                    body=f"{event.form_number}: {event.message}", needs_contact=False, key=event.milestone.value)]


def staff_over_authority(event: StaffComplaintInvestigated) -> list[NoticeSpec]:
    """§5.3.2⑶: beyond the supervisor's authority, the person's direct superior is informed."""
    if not event.exceeds_supervisor_authority or event.direct_superior is None:
        return []
    finding = "substantiated" if event.substantiated else "not substantiated"
    return [NoticeSpec(Role.SUPERVISOR, event.direct_superior, NotificationChannel.INTERNAL,
                       _clip(f"Staff complaint {event.form_number} about {event.staff_member}", RECIPIENT_MAX),
                       f"{event.form_number}: the complaint about {event.staff_member} was found {finding} by "
                       f"{event.supervisor}; the remedy exceeds the supervisor's authority and goes to the "
                       f"marketing director. Opinion: {event.opinion}", key="direct_superior")]


def quality_decision(event: QualityDecisionApproved) -> list[NoticeSpec]:
    """§4.6, §5.7.1⑹, §5.7.2⑸: the approved decision on a product-quality complaint reaches the general
    manager and the management representative, and the branch clerk, who tells the customer."""
    found = event.determination.value.replace("_", " ")
    subject = _clip(f"Product-quality complaint {event.form_number}: decision approved", RECIPIENT_MAX)
    body = (f"{event.form_number}: quality found {found} ({event.responsible_party.value} responsible); "
            f"approved by {event.approver}. Decision: {event.decision}")
    branch = branch_of(event.form_number)
    return [
        NoticeSpec(Role.GENERAL_MANAGER, "general manager", NotificationChannel.INTERNAL, subject, body),
        NoticeSpec(Role.MANAGEMENT_REPRESENTATIVE, "management representative", NotificationChannel.INTERNAL,
                   subject, body),
        NoticeSpec(Role.BRANCH_CLERK, f"branch {branch} clerk", NotificationChannel.INTERNAL, subject,
                   body + " Tell the customer."),
    ]


def customer_statement(event: CustomerChargesStated) -> list[NoticeSpec]:
    """What the customer owes after a decision (§5.5), itemised, through the branch clerk; told again
    whenever a later decision changes it."""
    if event.amount_owed == 0:
        owed = "You owe nothing: the company bears the costs of this complaint."
    else:
        items = "; ".join(f"{line.item.value.replace('_', ' ')} {line.amount} CNY"
                          + (f" ({line.basis})" if line.basis else "")
                          + (f", document {line.source_document}" if line.source_document else "")
                          for line in event.lines)
        owed = f"You owe {event.amount_owed} CNY: {items}."
    return [NoticeSpec(Role.CUSTOMER, f"the customer of {event.form_number}", NotificationChannel.PHONE,
                       _clip(f"What you owe for complaint {event.form_number}", RECIPIENT_MAX),
                       f"{event.form_number}: {owed} (price list {event.price_list_version}, cost rules "
                       f"{event.rules_version})", needs_contact=True, key="statement")]


def who_must_know(event: Envelope, contact: Contact | None) -> list[NoticeSpec]:
    """The notices a fact calls for. Without a contact, a spec that `needs_contact` names the
    customer only through the branch of the form number; notify records it once addressed."""
    if isinstance(event, SeriousComplaintEscalated):
        return serious_complaint(event)
    if isinstance(event, OverdueHandlingEscalated):
        return overdue_escalated(event)
    if isinstance(event, ProgressMilestoneReached):
        return progress(event)
    if isinstance(event, StaffComplaintInvestigated):
        return staff_over_authority(event)
    if isinstance(event, QualityDecisionApproved):
        return quality_decision(event)
    if isinstance(event, CustomerChargesStated):
        specs = customer_statement(event)
        return [addressed(spec, contact) for spec in specs] if contact else specs
    if not isinstance(event, CostAllocated):
        return []
    determination = event.determination.value.replace("_", " ")
    decision = f"{event.form_number}: on-site determination '{determination}'; {_cost_summary(event)}."
    specs = [
        # §5.3.1: the branch clerk answers the customer.
        NoticeSpec(Role.CUSTOMER,
                   f"the customer of {event.form_number}, via branch {branch_of(event.form_number)} clerk",
                   NotificationChannel.PHONE, f"Outcome of your complaint {event.form_number}", decision,
                   needs_contact=True),
        # §4.6, §5.7.2⑸: every product-quality complaint and its decision reach the GM and the MR.
        NoticeSpec(Role.GENERAL_MANAGER, "general manager", NotificationChannel.INTERNAL,
                   f"Product-quality complaint {event.form_number}: decision", decision + f" Rule: {event.rule}"),
        NoticeSpec(Role.MANAGEMENT_REPRESENTATIVE, "management representative", NotificationChannel.INTERNAL,
                   f"Product-quality complaint {event.form_number}: decision", decision + f" Rule: {event.rule}"),
    ]
    return [addressed(spec, contact) for spec in specs] if contact else specs
