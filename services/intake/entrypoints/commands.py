"""Registrations straight from a branch system over Kafka.

Branch systems publish `RegisterComplaint` commands on `complaints.intake.commands` (keyed by the
command id). Intake consumes them in its own consumer group (`complaints-intake-commands`), one
partition batch at a time, committing the offsets only after every command of the batch has an
outcome; a crash before the commit redelivers them, and the command id makes the redelivery
harmless (the same command registers the same complaint once).

Who sends a command is never read from its body (architecture rule 11): each message carries the
branch system's signed token in its `authorization` header (`Bearer <JWT>`), verified exactly as the
HTTP edge verifies one (the same identity provider, issuer, audience and claims). A body that names
an `actor` other than the token's is refused. Then each command is checked exactly as the HTTP edge
checks a registration (`admit_registration` below, shared with `POST /complaints`): the contract,
the token's role may register for the form's branch (a branch clerk's token: its own branch only),
a known branch, then the application's own checks (the received_at window, who may backdate, a
command id reused for another form).

Each outcome goes to `complaints.intake.command-results`, keyed by the command id, as a
`RegistrationCommandResult`:

- registered, from the store: `results_sink` is a relay over intake's own log (the outbox), so a
  registration whose result was not yet published is published after a crash. It answers every
  `ComplaintRegistered` that a registration command caused (the complaint id is derived from the
  command id), whichever edge the command came by: HTTP registrations get a result there too.
- registered, directly: a repeated command (nothing new is stored; the result is the first one's,
  so a command sent twice gets two identical results), and a record taken without
  `read_back_confirmed` (not published until its read-back, so the log has nothing to relay).
- refused, directly (nothing is stored): the field at fault, the reason and the HTTP status the
  same refusal has at the edge (`authorization` and 401 for a missing, expired or foreign token). A message that is not JSON, or not a command, is refused the same
  way when a command id can be read from it or from its key; otherwise it is logged and skipped.
  No command stops the consumer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaProducer
from eventsourcing.persistence import IntegrityError
from pydantic import ValidationError

from contracts.envelope import Envelope
from contracts.registration import (
    CommandOutcome, ComplaintRegistered, IntakeState, RegisterComplaint, RegistrationCommandResult,
)
from contracts.topics import INTAKE_COMMAND_RESULTS_TOPIC, INTAKE_COMMANDS_GROUP, INTAKE_COMMANDS_TOPIC
from services.common.access import authorize, known_branch, may
from services.common.auth import IdentityProviderUnavailable, Principal, TokenVerifier, Unauthenticated
from services.common.bus import Bus, close_producer
from services.common.domain import DomainError, InvalidCommand
from services.intake.domain.registration import complaint_id_for

log = logging.getLogger(__name__)

REGISTER = "complaint.register"
BACKDATE = "complaint.register.backdate"
#: The Kafka message header that carries the sender's token, as over HTTP: `Bearer <JWT>`.
AUTHORIZATION_HEADER = "authorization"


def _unsigned(reason: str) -> Unauthenticated:
    error = Unauthenticated(reason)
    error.field = AUTHORIZATION_HEADER
    return error


def admit_registration(branch: str, authorize_branch: Callable[[str], None]) -> None:
    """The edge's checks of a registration, shared by `POST /complaints` and the commands topic, in
    this order: the caller may register for the branch (`authorize_branch` raises 403), and the
    branch is one of the organisation (422, `branch`)."""
    authorize_branch(branch)
    if not known_branch(branch):
        raise InvalidCommand(f"branch {branch} is not a branch of the organisation", field="branch")


def result_key(command_id: UUID | None) -> bytes | None:
    return str(command_id).encode() if command_id is not None else None


def encode(result: RegistrationCommandResult) -> bytes:
    return result.model_dump_json().encode()


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value)) if value is not None else None
    except ValueError:
        return None


class ResultsPublisher:
    """One producer for the results topic, started on first use."""

    def __init__(self, bus: Bus):
        self.bus = bus
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def producer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = self.bus.producer()
                await producer.start()
                self._producer = producer
            return self._producer

    async def publish(self, results: list[RegistrationCommandResult]) -> None:
        producer = await self.producer()
        sent = [await producer.send(INTAKE_COMMAND_RESULTS_TOPIC, key=result_key(r.command_id), value=encode(r))
                for r in results]
        for future in sent:
            await future

    async def close(self) -> None:
        if self._producer is not None:
            await close_producer(self._producer)
            self._producer = None


def registered_result(event: Envelope) -> RegistrationCommandResult | None:
    """The result a stored `ComplaintRegistered` answers its registering command with, or None."""
    if not isinstance(event, ComplaintRegistered) or event.causation_id is None:
        return None
    if complaint_id_for(event.causation_id) != event.complaint_id:
        return None  # registered after its read-back: caused by the read-back command, answered before
    state = IntakeState.CLOSED_AT_INTAKE if event.resolved_on_the_spot is not None else IntakeState.REGISTERED
    return RegistrationCommandResult(command_id=event.causation_id, outcome=CommandOutcome.REGISTERED,
                                     complaint_id=event.complaint_id, form_number=event.form_number, state=state)


def results_sink(publisher: ResultsPublisher) -> Callable[[list[Envelope]], Awaitable[None]]:
    """`deliver` of the relay over intake's log that publishes the "registered" results."""
    async def deliver(events: list[Envelope]) -> None:
        results = [r for r in (registered_result(e) for e in events) if r is not None]
        if results:
            await publisher.publish(results)
    return deliver


class CommandConsumer:
    """Consumes `complaints.intake.commands`; `run` is a supervised background task."""

    def __init__(self, app: Any, bus: Bus, publisher: ResultsPublisher, *,
                 group_id: str = INTAKE_COMMANDS_GROUP, max_records: int = 100):
        self.app = app
        self.bus = bus
        self.publisher = publisher
        #: Verifies the tokens of commands as the HTTP edge does (set by bootstrap: the app's verifier).
        self.verifier: TokenVerifier | None = None
        self.group_id = group_id
        self.max_records = max_records
        #: Wakes the relays after a save (set by bootstrap to the runtime's `saved`).
        self.saved: Callable[[], None] = lambda: None
        self.stats: dict[str, Any] = {"registered": 0, "repeated": 0, "refused": 0, "skipped": 0,
                                      "last_error": None, "last_progress_at": None}

    async def run(self) -> None:
        consumer = self.bus.consumer(INTAKE_COMMANDS_TOPIC, group_id=self.group_id,
                                     client_id=f"{self.group_id}-consumer", enable_auto_commit=False,
                                     auto_offset_reset="earliest")
        try:  # stopped even when cancelled while starting: a consumer left running stays in the group
            await consumer.start()
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
                for tp, records in batch.items():
                    for record in records:
                        await self.handle(record.value, record.key, record.headers or ())
                    await consumer.commit({tp: records[-1].offset + 1})
                    self.stats["last_progress_at"] = time.time()
        except Exception as e:
            self.stats["last_error"] = f"{type(e).__name__}: {e}"[:600]
            raise
        finally:
            await consumer.stop()

    async def handle(self, value: bytes | None, key: bytes | None = None,
                     headers: Sequence[tuple[str, bytes]] = ()) -> RegistrationCommandResult | None:
        """One command's outcome (published unless it comes from the store's relay)."""
        result, publish = await self.outcome(value, key, headers)
        if result is None:
            self.stats["skipped"] += 1
            log.warning("unreadable command without a command id skipped (key %r)", key)
            return None
        if result.outcome is CommandOutcome.REFUSED:
            self.stats["refused"] += 1
        if publish:
            await self.publisher.publish([result])
        return result

    async def outcome(self, value: bytes | None, key: bytes | None, headers: Sequence[tuple[str, bytes]] = ()
                      ) -> tuple[RegistrationCommandResult | None, bool]:
        key_id = _uuid(key.decode(errors="replace")) if key else None
        try:
            data = json.loads(value or b"")
        except (ValueError, UnicodeDecodeError) as e:
            return self._refused(key_id, None, f"not a JSON command: {e}"[:300], 422), key_id is not None
        command_id = _uuid(data.get("command_id")) if isinstance(data, dict) else None
        command_id = command_id or key_id
        if not isinstance(data, dict):
            return self._refused(command_id, None, "not a command: a JSON object is expected", 422), \
                command_id is not None
        try:
            principal = await self._principal(headers)
            actor = principal.actor()
        except IdentityProviderUnavailable:
            raise  # not the command's fault: the batch is read again once the keys can be fetched
        except DomainError as e:
            return self._refused(command_id, e.field, str(e)[:300], e.status), command_id is not None
        if "actor" in data and data["actor"] != actor.model_dump(mode="json"):
            return self._refused(command_id, "actor", "the actor is the signer of the token in the authorization "
                                 "header; the body names another", 422), command_id is not None
        try:
            command = RegisterComplaint.model_validate(data | {"actor": actor.model_dump(mode="json")})
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or None
            return self._refused(command_id, field, first["msg"][:300], 422), command_id is not None
        try:
            admit_registration(command.branch, lambda branch: authorize(principal, REGISTER, branch))
            registered = await self._register(command, may(principal, BACKDATE))
        except DomainError as e:
            return self._refused(command.command_id, e.field, str(e)[:300], e.status), True
        result = RegistrationCommandResult(command_id=command.command_id, outcome=CommandOutcome.REGISTERED,
                                           complaint_id=registered.complaint_id,
                                           form_number=registered.form_number, state=registered.state)
        if registered.created and registered.state is not IntakeState.AWAITING_READ_BACK:
            self.stats["registered"] += 1
            return result, False  # the relay over the store publishes it
        self.stats["repeated" if not registered.created else "registered"] += 1
        return result, True

    async def _principal(self, headers: Sequence[tuple[str, bytes]]) -> Principal:
        """The verified sender, from the `authorization` header (raises `Unauthenticated`, field
        `authorization`; an identity provider that cannot be reached raises for a retry)."""
        raw = next((v for k, v in headers if isinstance(k, str) and k.lower() == AUTHORIZATION_HEADER), None)
        scheme, _, token = (raw or b"").decode("utf-8", "replace").partition(" ")
        if not token or scheme.lower() != "bearer":
            raise _unsigned("a signed token is required in the message's authorization header (Bearer <JWT>)")
        if self.verifier is None:
            raise _unsigned("intake cannot verify tokens yet")
        try:
            return await self.verifier.verify_async(token.strip())
        except Unauthenticated as e:
            raise _unsigned(str(e)) from None

    async def _register(self, command: RegisterComplaint, may_backdate: bool) -> Any:
        for attempt in range(12):
            try:
                registered = await asyncio.to_thread(self.app.register_complaint, command, may_backdate)
            except IntegrityError:
                await asyncio.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
                continue
            self.saved()
            return registered
        raise DomainError("the registration conflicted with concurrent ones; send the command again")

    @staticmethod
    def _refused(command_id: UUID | None, field: str | None, reason: str, status: int) -> RegistrationCommandResult | None:
        if command_id is None:
            return None
        try:
            return RegistrationCommandResult(command_id=command_id, outcome=CommandOutcome.REFUSED, field=field,
                                             reason=reason or "refused", status=status)
        except ValidationError:  # a reason or field that is not printable text: say less, never stop
            return RegistrationCommandResult(command_id=command_id, outcome=CommandOutcome.REFUSED,
                                             reason="refused: the command is invalid", status=status)

    def report(self) -> dict[str, Any]:
        return {"topic": INTAKE_COMMANDS_TOPIC, "results_topic": INTAKE_COMMAND_RESULTS_TOPIC,
                "group_id": self.group_id, **self.stats}
