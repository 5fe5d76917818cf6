"""Intake's commands and queries over its event store."""

from __future__ import annotations

import threading
from decimal import Decimal
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from contracts.envelope import Actor, ServiceName, utc_now
from contracts.registration import (
    Channel, Customer, IntakeState, ProductDetails, ReadBackImpossibleReason, RegisterComplaint, RegistrationForm,
)
from services.common.domain import DomainError, EventMeta, NotFound
from services.common.store import ServiceApplication
from services.intake.domain.form_numbers import FormNumberSequence, business_day, sequence_id
from services.intake.domain.registration import (
    with_large_claim,
    ComplaintRegistration, check_received_at, complaint_id_for, form_fingerprint, step_meta,
)


class CommandIdReused(DomainError):
    """The command id was used before for a different registration form."""

    status = 409


@dataclass(frozen=True)
class Registered:
    complaint_id: UUID
    form_number: str
    created: bool
    state: IntakeState = IntakeState.REGISTERED


@dataclass(frozen=True)
class StepDone:
    """A step's answer: where the complaint stands after it; `created` false for a repeated command."""

    complaint_id: UUID
    form_number: str
    state: IntakeState
    version: int
    created: bool


class IntakeApplication(ServiceApplication):
    SERVICE = ServiceName.INTAKE
    VALUE_TYPES = (EventMeta, Customer, ProductDetails)

    def __init__(self, *args: Any, clock: Callable[[], datetime] = utc_now,
                 received_at_max_skew: timedelta = timedelta(minutes=5),
                 received_at_window: timedelta = timedelta(days=7),
                 large_claim_threshold: Decimal | None = Decimal("50000"), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.large_claim_threshold = large_claim_threshold
        self.clock = clock
        self.received_at_max_skew = received_at_max_skew
        self.received_at_window = received_at_window
        self._sequence_locks: defaultdict[UUID, threading.RLock] = defaultdict(threading.RLock)

    def register_complaint(self, command: RegisterComplaint, may_backdate: bool = False) -> Registered:
        """Register the complaint, or return the one this command id registered before.

        A repeated command id with another form is refused (409, `command_id`); a new
        registration's `received_at` must lie within the window (422, `received_at`).
        Registrations at one branch and day take turns within this process; between
        processes the store's optimistic concurrency decides, and the loser retries."""
        command = with_large_claim(command, self.large_claim_threshold)
        existing = self._existing(command)
        if existing is not None:
            return existing
        check_received_at(command.received_at, self.clock(), self.received_at_max_skew,
                          self.received_at_window, may_backdate)
        with self._sequence_locks[sequence_id(command.branch, business_day(command.received_at))]:
            return self._register(command)

    def _existing(self, command: RegisterComplaint) -> Registered | None:
        complaint_id = complaint_id_for(command.command_id)
        try:
            existing: ComplaintRegistration = self.repository.get(complaint_id)
        except AggregateNotFoundError:
            return None
        stored = getattr(existing, "form_fingerprint", None)  # None: registered before fingerprints
        if stored is not None and stored != form_fingerprint(command):
            raise CommandIdReused(f"command_id {command.command_id} was already used for another registration "
                                  f"({existing.form_number}); send a new command_id", field="command_id")
        return Registered(complaint_id, existing.form_number, created=False, state=existing.state)

    def _register(self, command: RegisterComplaint) -> Registered:
        complaint_id = complaint_id_for(command.command_id)
        existing = self._existing(command)
        if existing is not None:
            return existing
        day = business_day(command.received_at)
        try:
            sequence: FormNumberSequence = self.repository.get(sequence_id(command.branch, day))
        except AggregateNotFoundError:
            sequence = FormNumberSequence(command.branch, day)
        number = sequence.issue()
        meta = EventMeta(
            complaint_id=complaint_id,
            form_number=number,
            correlation_id=command.correlation_id or command.command_id,
            causation_id=command.command_id,
            actor=command.actor,
        )
        registration = ComplaintRegistration.register(meta, command.command_id, command)
        # One transaction: the number and the complaint, or neither. A concurrent
        # registration at the same branch and day makes this raise IntegrityError.
        self.save(sequence, registration)
        return Registered(complaint_id, number, created=True, state=registration.state)

    def get_registration(self, complaint_id: UUID) -> ComplaintRegistration:
        return self.repository.get(complaint_id)

    def find_registration(self, complaint_id: UUID) -> ComplaintRegistration:
        """The complaint at intake, or `NotFound` (the edge checks the caller's scope on its branch)."""
        try:
            registration = self.repository.get(complaint_id)
        except AggregateNotFoundError:
            raise NotFound(f"intake has no complaint {complaint_id}") from None
        if not isinstance(registration, ComplaintRegistration):
            raise NotFound(f"intake has no complaint {complaint_id}")
        return registration

    # --- the steps after registration ------------------------------------------------------------

    def _step(self, complaint_id: UUID, command_id: UUID, actor: Actor,
              act: Callable[[ComplaintRegistration, EventMeta], object]) -> StepDone:
        registration = self.find_registration(complaint_id)
        if registration.repeated(command_id):
            return StepDone(complaint_id, registration.form_number, registration.state, registration.version,
                            created=False)
        act(registration, step_meta(registration, command_id, actor))
        self.save(registration)
        return StepDone(complaint_id, registration.form_number, registration.state, registration.version,
                        created=True)

    def correct_registration(self, complaint_id: UUID, command_id: UUID, actor: Actor, form: RegistrationForm,
                             reason: str) -> StepDone:
        return self._step(complaint_id, command_id, actor, lambda r, meta: r.correct(meta, form, reason))

    def confirm_read_back(self, complaint_id: UUID, command_id: UUID, actor: Actor, record_revision: int,
                          confirmed_by: str, attempts: int = 1) -> StepDone:
        return self._step(complaint_id, command_id, actor, lambda r, meta: r.confirm_read_back(
            meta, record_revision, actor.user_id, confirmed_by, attempts))

    def record_read_back_not_possible(self, complaint_id: UUID, command_id: UUID, actor: Actor,
                                      record_revision: int, reason: ReadBackImpossibleReason,
                                      explanation: str) -> StepDone:
        return self._step(complaint_id, command_id, actor, lambda r, meta: r.read_back_not_possible_because(
            meta, record_revision, reason, explanation, actor.user_id))

    def withdraw(self, complaint_id: UUID, command_id: UUID, actor: Actor, reason: str,
                 requested_by: str | None = None) -> StepDone:
        return self._step(complaint_id, command_id, actor, lambda r, meta: r.withdraw(
            meta, reason, actor.user_id, requested_by))

    def answer_inquiry(self, complaint_id: UUID, command_id: UUID, actor: Actor, answer: str,
                       channel: Channel) -> StepDone:
        return self._step(complaint_id, command_id, actor, lambda r, meta: r.answer_inquiry(
            meta, answer, channel, actor.user_id, self.clock()))

    def promise_suggestion_reply(self, complaint_id: UUID, command_id: UUID, actor: Actor,
                                 reply_by: date) -> StepDone:
        return self._step(complaint_id, command_id, actor, lambda r, meta: r.promise_reply(
            meta, reply_by, actor.user_id, business_day(self.clock())))

    def answer_suggestion(self, complaint_id: UUID, command_id: UUID, actor: Actor, adopted: bool, answer: str,
                          channel: Channel) -> StepDone:
        return self._step(complaint_id, command_id, actor, lambda r, meta: r.answer_suggestion(
            meta, adopted, answer, channel, actor.user_id, self.clock()))
