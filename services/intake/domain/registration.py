"""A complaint at intake (§5.2): taken, read back, corrected, registered, withdrawn, closed.

One aggregate per complaint (its id is derived from the registering command's id). Its states
are `IntakeState`:

    awaiting_read_back --confirm / not possible--> registered --(suggestion) promise--> reply_promised
           |  ^ correct                                 |  --> inquiry_answered / suggestion_answered
           |__|                                         |
    any open state --withdraw--> withdrawn        (minor, resolved on the spot) closed_at_intake

Design: what routing consumes, `ComplaintRegistered`, is published only once the read-back step
is over, so "routed only after the customer confirmed the record, or the clerk recorded why not"
holds without routing knowing about read-backs.

- A registration with `read_back_confirmed: true` (the clerk confirmed on the phone) stores
  `Registered` at once, as before: published as `ComplaintRegistered`.
- Without it, `Taken` is stored (the same fields, `read_back_confirmed` false; kept to intake).
  Corrections before confirmation are `Corrected` events (the whole corrected record, kept to
  intake: nobody downstream has seen the record yet). Then either `ReadBackConfirmed` (published)
  or `ReadBackImpossible` (published as `ReadBackNotPossible`), followed in the same transaction
  by `Released`, published as `ComplaintRegistered` with the record as it then stands.
- A minor complaint resolved on the spot is registered as usual (routing ignores a
  `ComplaintRegistered` with `resolved_on_the_spot`; notify learns the contact from it) and
  closed in the same transaction by `ClosedAtIntake` (`MinorComplaintClosedAtIntake`): a
  complaint only counts as resolved on the spot when the customer accepted the solution, so
  `customer_satisfied` is true.
- `Withdrawn` (`ComplaintWithdrawn`) closes any open case; inquiries close with `InquiryAnswered`,
  suggestions with `SuggestionAnswered` after an optional `SuggestionReplyPromised`.

Every step names the command that caused it (`meta.causation_id`); a step command repeated with
the same id changes nothing and answers as the first time did.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from contracts.envelope import COMPLAINTS_NAMESPACE, Actor
from contracts.registration import (
    INQUIRY_ANSWER_WITHIN, Channel, ComplaintRegistered, ComplaintWithdrawn, Customer, IntakeState,
    MinorComplaintClosedAtIntake, ProductDetails, ReadBackConfirmed, ReadBackImpossibleReason,
    ReadBackNotPossible, RegistrationForm, RequestKind, SeriousReason, Severity, SuggestionAnswered,
    SuggestionReplyPromised, InquiryAnswered,
)
from services.common.domain import ComplaintAggregate, DomainError, EventMeta, InvalidCommand


def with_large_claim(form: Any, threshold: Decimal | None) -> Any:
    """A claim at or above the threshold makes the complaint serious (96233 §3.1.2: "a large
    claim"; the amount is the company's setting). The same form in, the same form out, so a
    retried command compares equal to the first."""
    if threshold is None or form.claim_amount is None or form.claim_amount < threshold \
            or form.resolved_on_the_spot is not None:
        return form
    reasons = list(form.serious_reasons)
    if SeriousReason.LARGE_CLAIM not in reasons:
        reasons.append(SeriousReason.LARGE_CLAIM)
    return form.model_copy(update={"severity": Severity.SERIOUS, "serious_reasons": reasons})


def complaint_id_for(command_id: UUID) -> UUID:
    """The same registration command always names the same complaint (safe client retries)."""
    return uuid5(COMPLAINTS_NAMESPACE, f"complaint:{command_id}")


def form_fingerprint(form: RegistrationForm) -> str:
    """A digest of the registration form's fields (canonical JSON): tells a retried command from
    another form sent under the same command id. Fields left at their defaults are left out, so
    a field added to the form later (with a default) does not change old fingerprints."""
    fields = form.model_dump(mode="json", include=set(RegistrationForm.model_fields), exclude_defaults=True)
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def check_received_at(received_at: datetime, now: datetime, max_skew: timedelta, window: timedelta,
                      may_backdate: bool) -> None:
    """`received_at` lies within [now - window, now + max_skew]; a role that may backdate skips the window."""
    if received_at > now + max_skew:
        raise InvalidCommand(f"received_at {received_at.isoformat()} is in the future "
                             f"(more than {max_skew} ahead of {now.isoformat()})", field="received_at")
    if received_at < now - window and not may_backdate:
        raise InvalidCommand(f"received_at {received_at.isoformat()} is more than {window} ago; "
                             "registering it needs a role that may backdate (complaint.register.backdate)",
                             field="received_at")



#: The form's fields, in the order of the form.
FORM_FIELDS = tuple(RegistrationForm.model_fields)
#: States in which nothing more happens at intake.
CLOSED_STATES = frozenset({IntakeState.CLOSED_AT_INTAKE, IntakeState.WITHDRAWN, IntakeState.INQUIRY_ANSWERED,
                           IntakeState.SUGGESTION_ANSWERED})


class WrongState(DomainError):
    """The complaint is not in a state that allows the step (409, naming the state)."""

    status = 409

    def __init__(self, step: str, state: IntakeState, form_number: str, field: str | None = None):
        super().__init__(f"cannot {step}: complaint {form_number} is {state.value}", field=field)
        self.state = state


class ComplaintRegistration(ComplaintAggregate):
    class RecordEvent(ComplaintAggregate.Event):
        """The registration record's fields, carried whole by the events below (never stored itself)."""

        meta: EventMeta
        branch: str
        channel: str
        kind: str
        subject: str
        severity: str
        customer: Customer
        description: str
        product: ProductDetails | None
        received_at: datetime
        read_back_confirmed: bool
        resolved_on_the_spot: str | None
        complained_about: str | None
        demand: str | None
        order_number: str | None
        external_body: str | None
        serious_reasons: list[str]
        claim_amount: Decimal | None

    class Registered(RecordEvent, ComplaintAggregate.Created):
        PUBLISHED_AS = ComplaintRegistered
        command_id: UUID
        #: `form_fingerprint(form)`; not published. Events stored before it existed lack it.
        form_fingerprint: str | None

    class Taken(RecordEvent, ComplaintAggregate.Created):
        """The record was taken; its read-back is pending (`read_back_confirmed` false). Not published."""

        command_id: UUID
        form_fingerprint: str | None

    @event(Registered)
    def __init__(self, meta: EventMeta, command_id: UUID, branch: str, channel: str, kind: str,
                 subject: str, severity: str, customer: Customer, description: str,
                 product: ProductDetails | None, received_at: datetime, read_back_confirmed: bool,
                 resolved_on_the_spot: str | None, form_fingerprint: str | None = None,
                 complained_about: str | None = None, demand: str | None = None, order_number: str | None = None,
                 external_body: str | None = None, serious_reasons: list[str] | None = None,
                 claim_amount: Decimal | None = None):
        self.meta = meta
        self.form_fingerprint = form_fingerprint
        self.form_number = meta.form_number
        self.command_id = command_id
        self.revision = 1
        self._set_record(branch=branch, channel=channel, kind=kind, subject=subject, severity=severity,
                         customer=customer, description=description, product=product, received_at=received_at,
                         resolved_on_the_spot=resolved_on_the_spot, complained_about=complained_about,
                         demand=demand, order_number=order_number, external_body=external_body,
                         serious_reasons=serious_reasons, claim_amount=claim_amount)
        self.state = IntakeState.REGISTERED if read_back_confirmed else IntakeState.AWAITING_READ_BACK
        self.read_back_not_possible: str | None = None
        self.reply_by: date | None = None
        #: Step commands handled, by command id: the state they left (a repeat answers the same).
        self.handled: dict[UUID, str] = {}
        self.closed_at_intake = False

    def _set_record(self, **fields: Any) -> None:
        self.branch = fields["branch"]
        self.channel = fields["channel"]
        self.kind = fields["kind"]
        self.subject = fields["subject"]
        self.severity = fields["severity"]
        self.customer = fields["customer"]
        self.description = fields["description"]
        self.product = fields["product"]
        self.received_at = fields["received_at"]
        self.resolved_on_the_spot = fields["resolved_on_the_spot"]
        # Added in ComplaintRegistered v2: records stored before have none of them.
        self.complained_about = fields.get("complained_about")
        self.demand = fields.get("demand")
        self.order_number = fields.get("order_number")
        self.external_body = fields.get("external_body")
        self.serious_reasons = list(fields.get("serious_reasons") or [])
        self.claim_amount = fields.get("claim_amount")

    def record(self) -> dict[str, Any]:
        """The registration record as it stands (the form's fields; read back or not)."""
        return {"branch": self.branch, "channel": self.channel, "kind": self.kind, "subject": self.subject,
                "severity": self.severity, "customer": self.customer, "description": self.description,
                "product": self.product, "received_at": self.received_at,
                "resolved_on_the_spot": self.resolved_on_the_spot, "complained_about": self.complained_about,
                "demand": self.demand, "order_number": self.order_number, "external_body": self.external_body,
                "serious_reasons": list(self.serious_reasons), "claim_amount": self.claim_amount}

    # --- creation ----------------------------------------------------------------------------

    @classmethod
    def register(cls, meta: EventMeta, command_id: UUID, form: RegistrationForm) -> ComplaintRegistration:
        """Register from the form: at once when read back and confirmed, else taken, awaiting its read-back."""
        fields = {name: getattr(form, name) for name in FORM_FIELDS}
        if fields["read_back_confirmed"] is True:
            registration = cls(meta=meta, command_id=command_id, form_fingerprint=form_fingerprint(form), **fields)
            registration._close_if_resolved(meta)
            return registration
        fields["read_back_confirmed"] = False
        return cls._create(cls.Taken, id=meta.complaint_id, meta=meta, command_id=command_id,
                           form_fingerprint=form_fingerprint(form), **fields)

    # --- the steps ---------------------------------------------------------------------------

    def repeated(self, command_id: UUID) -> bool:
        return command_id in self.handled

    def _require(self, step: str, *allowed: IntakeState, field: str | None = None) -> None:
        if self.state not in allowed:
            raise WrongState(step, self.state, self.form_number, field)

    def _require_kind(self, step: str, kind: RequestKind) -> None:
        if self.kind != kind:
            raise WrongState(f"{step} (only for a {kind.value}; this is a {self.kind})", self.state,
                             self.form_number, field="kind")

    class Corrected(ComplaintAggregate.Event):
        """The record was corrected before its read-back was confirmed: the whole corrected record."""

        meta: EventMeta
        revision: int
        changed_fields: list[str]
        reason: str
        record: dict[str, Any]

    @event(Corrected)
    def _corrected(self, meta: EventMeta, revision: int, changed_fields: list[str], reason: str,
                   record: dict[str, Any]) -> None:
        self.revision = revision
        self._set_record(**record)
        self.handled[meta.causation_id] = "corrected"  # type: ignore[index]

    def correct(self, meta: EventMeta, form: RegistrationForm, reason: str) -> list[str]:
        """Replace the record with the corrected one; the branch (and so the form number) stays."""
        self._require("correct the record", IntakeState.AWAITING_READ_BACK)
        if form.branch != self.branch:
            raise InvalidCommand(f"the branch of {self.form_number} is {self.branch}; a correction cannot move "
                                 "it to another branch (register it there instead)", field="branch")
        new = {name: getattr(form, name) for name in FORM_FIELDS if name != "read_back_confirmed"}
        changed = [name for name in new if _comparable(new[name]) != _comparable(getattr(self, name))]
        if not changed:
            raise InvalidCommand("the correction changes nothing in the record", field="description")
        self._corrected(meta=meta, revision=self.revision + 1, changed_fields=changed, reason=reason, record=new)
        return changed

    class ReadBackConfirmed(ComplaintAggregate.Event):
        PUBLISHED_AS = ReadBackConfirmed
        meta: EventMeta
        record_revision: int
        read_back_by: str
        confirmed_by: str
        attempts: int

    @event(ReadBackConfirmed)
    def _read_back_confirmed(self, meta: EventMeta, record_revision: int, read_back_by: str, confirmed_by: str,
                             attempts: int) -> None:
        self.handled[meta.causation_id] = "confirmed"  # type: ignore[index]

    class ReadBackImpossible(ComplaintAggregate.Event):
        PUBLISHED_AS = ReadBackNotPossible
        meta: EventMeta
        record_revision: int
        reason: str
        explanation: str
        recorded_by: str

    @event(ReadBackImpossible)
    def _read_back_impossible(self, meta: EventMeta, record_revision: int, reason: str, explanation: str,
                              recorded_by: str) -> None:
        self.read_back_not_possible = reason
        self.handled[meta.causation_id] = "read_back_not_possible"  # type: ignore[index]

    class Released(RecordEvent):
        """The read-back step is over: the record is registered (published as `ComplaintRegistered`)."""

        PUBLISHED_AS = ComplaintRegistered
        read_back_not_possible: str | None

    @event(Released)
    def _released(self, meta: EventMeta, read_back_confirmed: bool, read_back_not_possible: str | None,
                  branch: str, channel: str, kind: str, subject: str, severity: str,
                  customer: Customer, description: str, product: ProductDetails | None, received_at: datetime,
                  resolved_on_the_spot: str | None, complained_about: str | None = None, demand: str | None = None,
                  order_number: str | None = None, external_body: str | None = None,
                  serious_reasons: list[str] | None = None, claim_amount: Decimal | None = None) -> None:
        self.state = IntakeState.REGISTERED

    def _release(self, meta: EventMeta) -> None:
        self._released(meta=meta, read_back_confirmed=True, read_back_not_possible=self.read_back_not_possible,
                       **self.record())
        self._close_if_resolved(meta)

    def confirm_read_back(self, meta: EventMeta, record_revision: int, read_back_by: str, confirmed_by: str,
                          attempts: int = 1) -> None:
        """The customer confirmed the record read back to them: registered (and routed)."""
        self._require("confirm the read-back", IntakeState.AWAITING_READ_BACK)
        self._check_revision(record_revision)
        self._read_back_confirmed(meta=meta, record_revision=record_revision, read_back_by=read_back_by,
                                  confirmed_by=confirmed_by, attempts=attempts)
        self._release(meta)

    def read_back_not_possible_because(self, meta: EventMeta, record_revision: int,
                                       reason: ReadBackImpossibleReason, explanation: str, recorded_by: str) -> None:
        """The clerk records why the customer could not confirm: registered (and routed) as it stands."""
        self._require("record why the read-back is impossible", IntakeState.AWAITING_READ_BACK)
        self._check_revision(record_revision)
        self._read_back_impossible(meta=meta, record_revision=record_revision, reason=reason,
                                   explanation=explanation, recorded_by=recorded_by)
        self._release(meta)

    def _check_revision(self, record_revision: int) -> None:
        if record_revision != self.revision:
            raise InvalidCommand(f"the record of {self.form_number} is at revision {self.revision}, not "
                                 f"{record_revision}: read the current record back", field="record_revision")

    class ClosedAtIntake(RecordEvent):
        PUBLISHED_AS = MinorComplaintClosedAtIntake
        customer_satisfied: bool

    @event(ClosedAtIntake)
    def _closed_at_intake(self, meta: EventMeta, read_back_confirmed: bool, customer_satisfied: bool,
                          branch: str, channel: str, kind: str, subject: str, severity: str,
                          customer: Customer, description: str, product: ProductDetails | None,
                          received_at: datetime, resolved_on_the_spot: str | None,
                          complained_about: str | None = None, demand: str | None = None,
                          order_number: str | None = None, external_body: str | None = None,
                          serious_reasons: list[str] | None = None, claim_amount: Decimal | None = None) -> None:
        self.state = IntakeState.CLOSED_AT_INTAKE
        self.closed_at_intake = True

    def _close_if_resolved(self, meta: EventMeta) -> None:
        if self.resolved_on_the_spot is not None and self.state is IntakeState.REGISTERED:
            self._closed_at_intake(meta=meta, read_back_confirmed=True, customer_satisfied=True, **self.record())

    class Withdrawn(ComplaintAggregate.Event):
        PUBLISHED_AS = ComplaintWithdrawn
        meta: EventMeta
        reason: str
        requested_by: str | None
        recorded_by: str
        state_at_withdrawal: str

    @event(Withdrawn)
    def _withdrawn(self, meta: EventMeta, reason: str, requested_by: str | None, recorded_by: str,
                   state_at_withdrawal: str) -> None:
        self.state = IntakeState.WITHDRAWN
        self.handled[meta.causation_id] = "withdrawn"  # type: ignore[index]

    def withdraw(self, meta: EventMeta, reason: str, recorded_by: str, requested_by: str | None = None) -> None:
        """The customer withdraws: closed with the reason, nothing deleted."""
        self._require("withdraw", IntakeState.AWAITING_READ_BACK, IntakeState.REGISTERED, IntakeState.REPLY_PROMISED)
        self._withdrawn(meta=meta, reason=reason, requested_by=requested_by, recorded_by=recorded_by,
                        state_at_withdrawal=self.state)

    class InquiryAnswered(ComplaintAggregate.Event):
        PUBLISHED_AS = InquiryAnswered
        meta: EventMeta
        customer: Customer
        question: str
        answer: str
        answered_by: str
        channel: str
        received_at: datetime
        due_at: datetime
        answered_at: datetime

    @event(InquiryAnswered)
    def _inquiry_answered(self, meta: EventMeta, customer: Customer, question: str, answer: str, answered_by: str,
                          channel: str, received_at: datetime, due_at: datetime, answered_at: datetime) -> None:
        self.state = IntakeState.INQUIRY_ANSWERED
        self.handled[meta.causation_id] = "answered"  # type: ignore[index]

    def answer_inquiry(self, meta: EventMeta, answer: str, channel: Channel, answered_by: str,
                       answered_at: datetime) -> None:
        """Answer a registered inquiry: at once or within 24 hours of its receipt (a later answer is
        recorded too, and shows as late: `answered_at` after `due_at`)."""
        self._require_kind("answer an inquiry", RequestKind.INQUIRY)
        self._require("answer the inquiry", IntakeState.REGISTERED)
        self._inquiry_answered(meta=meta, customer=self.customer, question=self.description, answer=answer,
                               answered_by=answered_by, channel=channel, received_at=self.received_at,
                               due_at=self.received_at + INQUIRY_ANSWER_WITHIN,
                               answered_at=max(answered_at, self.received_at))

    class ReplyPromised(ComplaintAggregate.Event):
        PUBLISHED_AS = SuggestionReplyPromised
        meta: EventMeta
        reply_by: date
        promised_by: str

    @event(ReplyPromised)
    def _reply_promised(self, meta: EventMeta, reply_by: date, promised_by: str) -> None:
        self.state = IntakeState.REPLY_PROMISED
        self.reply_by = reply_by
        self.handled[meta.causation_id] = "reply_promised"  # type: ignore[index]

    def promise_reply(self, meta: EventMeta, reply_by: date, promised_by: str, today: date) -> None:
        self._require_kind("promise a reply", RequestKind.SUGGESTION)
        self._require("promise a reply", IntakeState.REGISTERED)
        if reply_by < today:
            raise InvalidCommand(f"reply_by {reply_by.isoformat()} is in the past", field="reply_by")
        self._reply_promised(meta=meta, reply_by=reply_by, promised_by=promised_by)

    class SuggestionAnswered(ComplaintAggregate.Event):
        PUBLISHED_AS = SuggestionAnswered
        meta: EventMeta
        adopted: bool
        answer: str
        answered_by: str
        channel: str
        reply_by: date | None
        answered_at: datetime

    @event(SuggestionAnswered)
    def _suggestion_answered(self, meta: EventMeta, adopted: bool, answer: str, answered_by: str, channel: str,
                             reply_by: date | None, answered_at: datetime) -> None:
        self.state = IntakeState.SUGGESTION_ANSWERED
        self.handled[meta.causation_id] = "answered"  # type: ignore[index]

    def answer_suggestion(self, meta: EventMeta, adopted: bool, answer: str, channel: Channel, answered_by: str,
                          answered_at: datetime) -> None:
        """Tell the customer whether the suggestion was adopted (after a promised reply date, or without one)."""
        self._require_kind("answer a suggestion", RequestKind.SUGGESTION)
        self._require("answer the suggestion", IntakeState.REGISTERED, IntakeState.REPLY_PROMISED)
        self._suggestion_answered(meta=meta, adopted=adopted, answer=answer, answered_by=answered_by,
                                  channel=channel, reply_by=self.reply_by, answered_at=answered_at)


def _comparable(value: Any) -> Any:
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def step_meta(registration: ComplaintRegistration, command_id: UUID, actor: Actor) -> EventMeta:
    """The meta of a step's events: the complaint's, caused by the step's command and its actor."""
    return registration.meta.caused_by(command_id, actor)
