"""Intake's commands and queries over its event store."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from contracts.envelope import ServiceName
from contracts.registration import Customer, ProductDetails, RegisterComplaint
from services.common.domain import EventMeta
from services.common.store import ServiceApplication
from services.intake.domain.form_numbers import FormNumberSequence, business_day, sequence_id
from services.intake.domain.registration import ComplaintRegistration, complaint_id_for


@dataclass(frozen=True)
class Registered:
    complaint_id: UUID
    form_number: str
    created: bool


class IntakeApplication(ServiceApplication):
    SERVICE = ServiceName.INTAKE
    VALUE_TYPES = (EventMeta, Customer, ProductDetails)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._sequence_locks: defaultdict[UUID, threading.RLock] = defaultdict(threading.RLock)

    def register_complaint(self, command: RegisterComplaint) -> Registered:
        """Registrations at one branch and day take turns within this process; between
        processes the store's optimistic concurrency decides, and the loser retries."""
        with self._sequence_locks[sequence_id(command.branch, business_day(command.received_at))]:
            return self._register(command)

    def _register(self, command: RegisterComplaint) -> Registered:
        complaint_id = complaint_id_for(command.command_id)
        try:
            existing: ComplaintRegistration = self.repository.get(complaint_id)
            return Registered(complaint_id, existing.form_number, created=False)
        except AggregateNotFoundError:
            pass
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
        return Registered(complaint_id, number, created=True)

    def get_registration(self, complaint_id: UUID) -> ComplaintRegistration:
        return self.repository.get(complaint_id)
