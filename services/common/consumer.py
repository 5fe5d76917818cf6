"""Tracking consumer: upstream integration events in, new events plus position saved together.

A loop of its own on aiokafka (no framework subscriber), because what it must do is
per partition: read each batch, decide every message from its headers, save the policy's
new events and the upstream position in one transaction, commit exactly the offsets it
handled, rewind a partition that hit a transient failure, stop one that met a newer
schema version, and report all of it to health.

Each partition of an upstream topic is a chain: every message carries its notification id
in the producer's store and the id of the message published before it on that partition.
The tracked position of (upstream, partition) is the last notification id processed.

- id at or below the position: a duplicate (redelivered or republished): skipped.
- previous id equal to the position: the next one: processed, and the position moves on.
- previous id above the position: a gap (something before it has not arrived, e.g. the
  broker lost it and the relay is republishing): not processed and not skipped over; the
  partition is read again from the beginning once, and health reports the gap until the
  missing messages arrive (architecture rule 9).

A message that can never be processed (unreadable, wrong producer, refused by the domain,
a policy that raises, an event that would break its contract) goes to the consumer's own
dead-letter topic (`complaints.<consumer>.dlq`) with the reason and counts as handled; consumption goes on (rules 5 and 10). Only transient
failures (database, broker) are retried, with backoff. A schema version newer than this
code knows stops its partition where it is, reported by health, until the service is
upgraded: it is never dead-lettered or skipped.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, Tracking

from contracts.envelope import Envelope, ServiceName
from contracts.registry import NewerSchemaVersion, parse_event
from contracts.topics import dead_letter_topic, events_topic
from services.common.broker import NOTIFICATION_ID_HEADER, PREVIOUS_HEADER, PRODUCER_HEADER
from services.common.bus import Bus
from services.common.logs import log_context
from services.common.publishing import check_publishable
from services.common.store import ServiceApplication
from services.common.supervisor import describe_error, iso_time

try:  # psycopg_pool is present with the postgres extra
    from psycopg_pool import PoolTimeout
except ImportError:  # pragma: no cover
    PoolTimeout = TimeoutError  # type: ignore[misc, assignment]

log = logging.getLogger(__name__)

MAX_CONFLICT_RETRIES = 8
#: Claims (unreadable messages) the chain walks through per partition, waiting for a readable one to follow.
MAX_TENTATIVE = 1000

#: Failures that may pass if the same work is tried again later.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout,
    KafkaError, ConnectionError, TimeoutError,
)


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT_ERRORS)


class UnitOfWork:
    """Aggregates a batch touches: each loaded once, changed in memory, saved together."""

    def __init__(self, app: ServiceApplication):
        self.app = app
        self.aggregates: dict[UUID, Any] = {}
        #: Per aggregate, how many of its new events were checked publishable already.
        self.checked: dict[UUID, int] = {}

    def get(self, aggregate_id: UUID) -> Any | None:
        if aggregate_id not in self.aggregates:
            try:
                self.aggregates[aggregate_id] = self.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        return self.aggregates[aggregate_id]

    def add(self, aggregate: Any) -> Any:
        self.aggregates[aggregate.id] = aggregate
        return aggregate

    def check_new_events(self, checked: dict[UUID, int] | None = None) -> None:
        """Every event added since the last check must make a publishable message."""
        checked = self.checked if checked is None else checked
        for aggregate in self.aggregates.values():
            pending = aggregate.pending_events
            for event in pending[checked.get(aggregate.id, 0):]:
                check_publishable(self.app.SERVICE, event, self.app.max_message_bytes)
            checked[aggregate.id] = len(pending)


#: A policy reacts to one upstream event by changing aggregates in the unit of work.
#: It is pure apart from loading aggregates through the unit of work.
Policy = Callable[[Envelope, UnitOfWork], None]


class Target(Protocol):
    """What a consumer feeds: a service's store (a policy makes new events) or a read model (a
    projector changes rows). Each batch of one partition is applied to a fresh unit of work and
    saved with the partition's new position in one transaction."""

    #: Who consumes: a service or read model name (logs, dead letters, the consumer group).
    name: str

    def position(self, tracking: str) -> int:
        """The last upstream notification id processed on this tracking name (0: none)."""

    def begin(self, keys: Sequence[bytes | None] = ()) -> Any:
        """A fresh unit of work for one batch (`keys`: the batch's message keys, complaint ids, for a
        target that loads what they name in one go)."""

    def apply(self, event: Envelope, work: Any) -> None:
        """Apply one event to the unit of work; raise to refuse it (it is dead-lettered)."""

    def save(self, work: Any, tracking: str, position: int, new_position: int) -> None:
        """Save the unit of work and move `tracking` from `position` to `new_position`, together;
        raise `IntegrityError` (nothing written) when someone else moved it meanwhile."""


class ServiceTarget:
    """A service's store: the policy's new events and the upstream position, saved together."""

    def __init__(self, app: ServiceApplication, policy: Policy):
        self.app = app
        self.policy = policy
        self.name = app.SERVICE.value

    def position(self, tracking: str) -> int:
        return self.app.recorder.max_tracking_id(tracking) or 0

    def begin(self, keys: Sequence[bytes | None] = ()) -> UnitOfWork:
        return UnitOfWork(self.app)

    def apply(self, event: Envelope, work: UnitOfWork) -> None:
        self.policy(event, work)
        work.check_new_events()

    def save(self, work: UnitOfWork, tracking: str, position: int, new_position: int) -> None:
        self.app.save_processed(list(work.aggregates.values()), Tracking(tracking, new_position))


class Step(enum.Enum):
    DUPLICATE = "duplicate"
    NEXT = "next"
    GAP = "gap"
    CONFLICT = "conflict"


def chain_step(position: int, notification_id: int, previous: int) -> Step:
    """Where a message stands against the tracked position of its partition."""
    if notification_id <= position:
        return Step.DUPLICATE
    if previous == position:
        return Step.NEXT
    return Step.GAP if previous > position else Step.CONFLICT


@dataclass
class Rejected:
    record: ConsumerRecord
    reason: str


@dataclass
class Inbound:
    """A record with its chain headers read (None when they are missing or malformed)."""

    record: ConsumerRecord
    producer: str | None
    notification_id: int | None
    previous: int | None

    @classmethod
    def read(cls, record: ConsumerRecord) -> Inbound:
        headers: dict[str, bytes] = {}
        for key, value in record.headers or ():
            if isinstance(key, str) and isinstance(value, bytes | bytearray):
                headers[key] = bytes(value)

        def number(name: str) -> int | None:
            raw = headers.get(name, b"")
            return int(raw) if raw.isdigit() and len(raw) < 20 else None
        producer = headers.get(PRODUCER_HEADER)
        return cls(record, producer.decode("utf-8", "replace") if producer else None,
                   number(NOTIFICATION_ID_HEADER), number(PREVIOUS_HEADER))


@dataclass
class Plan:
    """What one partition's batch comes to: the unit of work, and everything beside it."""

    uow: Any  # the target's unit of work
    position: int
    new_position: int
    processed: int = 0
    duplicates: int = 0
    dead: list[Rejected] = field(default_factory=list)
    #: Where the chain walk stands: the position, or further along claims not yet verified.
    cursor: int = 0
    #: The ids walked through tentatively (unreadable bodies, or bodies naming another id), in order, and
    #: their messages: dead-lettered, counted as seen only once a readable message follows them.
    hops: list[int] = field(default_factory=list)
    claims: list[Rejected] = field(default_factory=list)
    #: Claims shown to be a fork (a readable message followed the verified position instead): ids no
    #: relay published, a forgery or a second writer; reported in health (rule 9).
    unverified: list[Rejected] = field(default_factory=list)
    gap: str | None = None
    stop_at: tuple[int, str] | None = None  # (offset, why) of a message this code cannot read yet


class NewerVersion(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class PartitionState:
    gap: str | None = None
    gap_since: float | None = None
    rescanned: bool = False
    stopped: str | None = None
    unverified: str | None = None  # the last message that claimed an id no relay published


@dataclass
class ConsumerStats:
    processed: int = 0
    skipped_duplicates: int = 0
    dead_lettered: int = 0
    unverified: int = 0
    gaps: int = 0
    batches: int = 0
    retries: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    last_progress_at: float | None = None
    positions: dict[str, int] = field(default_factory=dict)


def tracking_name(producer: ServiceName | str, partition: int) -> str:
    return f"{getattr(producer, 'value', producer)}/p{partition}"


def _newer_version(error: BaseException) -> str | None:
    """The reason, when a parse failed because the message is newer than this code."""
    if isinstance(error, NewerSchemaVersion):
        return (f"{error.event_type} schema_version {error.version} is newer than this service "
                f"knows (up to {error.known}): upgrade the service; the partition waits here")
    return None


class ChainConsumer:
    """Reads upstream topics in a consumer group of its own and feeds a `Target`, partition by
    partition, along each partition's chain (see the module's doc)."""

    def __init__(
        self,
        target: Target,
        upstreams: Sequence[ServiceName],
        producer: AIOKafkaProducer,
        on_saved: Callable[[], None] = lambda: None,
        bus: Bus | None = None,
        max_records: int = 500,
        metadata_max_age_ms: int = 3000,
        group_id: str | None = None,
    ):
        self.target = target
        self.upstreams = list(upstreams)
        self.topics = [events_topic(s) for s in self.upstreams]
        self.producer = producer
        self.on_saved = on_saved
        self.bus = bus or Bus("127.0.0.1:9092")
        self.max_records = max_records
        self.metadata_max_age_ms = metadata_max_age_ms
        self.stats = ConsumerStats()
        self.group_id = group_id or f"complaints-{target.name}"
        self.partitions: dict[TopicPartition, PartitionState] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._backoff = 0.5
        #: (topic, partition, offset) of what this process dead-lettered lately, oldest first.
        self._dead_lettered: dict[tuple[str, int, int], None] = {}
        #: Per tracking name, claims the chain walked through that no readable message has followed yet:
        #: (the position they follow, the cursor, their ids), so the next batch can verify them.
        self._tentative: dict[str, tuple[int, int, list[int], list[Rejected]]] = {}

    # --- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        consumer = self.bus.consumer(
            group_id=self.group_id, client_id=f"{self.group_id}-consumer", enable_auto_commit=False, auto_offset_reset="earliest",
            fetch_max_wait_ms=50, metadata_max_age_ms=self.metadata_max_age_ms, request_timeout_ms=15000,
        )
        consumer.subscribe(self.topics, listener=_Listener(self))
        try:  # stopped even when cancelled while starting: a consumer left running stays in the group
            await consumer.start()
            self._consumer = consumer
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
                if not batch:
                    self.stats.last_progress_at = time.time()  # nothing waiting is progress too
                    continue
                commits: dict[TopicPartition, int] = {}
                for tp, records in batch.items():
                    offset = await self._partition(consumer, tp, records)
                    if offset is not None:
                        commits[tp] = offset
                if commits:
                    try:
                        await consumer.commit(commits)
                    except KafkaError as e:  # a rebalance or a broker away: redelivery is harmless
                        self._error(f"offset commit failed: {describe_error(e)}")
                self.stats.batches += 1
        finally:
            self._consumer = None
            await consumer.stop()

    async def _partition(self, consumer: AIOKafkaConsumer, tp: TopicPartition,
                         records: list[ConsumerRecord]) -> int | None:
        """Handle one partition's records; returns the offset to commit (None: commit nothing)."""
        state = self.partitions.setdefault(tp, PartitionState())
        try:
            plan = await self.process(tp.topic, tp.partition, records)
        except Exception as e:  # noqa: BLE001 - transient by construction: process() refuses the rest
            self.stats.retries += 1
            self._error(f"{tp.topic}[{tp.partition}]: {describe_error(e)}")
            consumer.seek(tp, records[0].offset)
            await asyncio.sleep(self._backoff * random.uniform(0.8, 1.2))
            self._backoff = min(self._backoff * 2, 10.0)
            return None
        self._backoff = 0.5
        self.stats.last_error = None
        self.stats.last_progress_at = time.time()
        if plan.new_position > plan.position:
            state.gap, state.gap_since, state.rescanned = None, None, False
        if plan.unverified:
            last = plan.unverified[-1]
            state.unverified = (f"{len(plan.unverified)} message(s) at offset {last.record.offset} claimed notification "
                                f"ids no relay published ({last.reason[:200]}); dead-lettered, not counted as seen")
            log.error("%s[%d]: %s", tp.topic, tp.partition, state.unverified)
        if plan.stop_at is not None:
            offset, reason = plan.stop_at
            consumer.seek(tp, offset)
            consumer.pause(tp)
            state.stopped = reason
            log.error("%s[%d] stopped at offset %d: %s", tp.topic, tp.partition, offset, reason)
            return offset
        if plan.gap is not None:
            if state.gap is None:
                state.gap_since = time.time()
                self.stats.gaps += 1
            state.gap = plan.gap
            if not state.rescanned:
                # The missing messages may sit earlier in the partition (the broker came back
                # empty and a republish was read from the middle): read it from the start once.
                state.rescanned = True
                log.warning("%s[%d]: %s; reading the partition again from the beginning",
                            tp.topic, tp.partition, plan.gap)
                await consumer.seek_to_beginning(tp)
                return None
            log.warning("%s[%d]: %s; waiting for the missing messages", tp.topic, tp.partition, plan.gap)
        return records[-1].offset + 1

    def _error(self, message: str) -> None:
        self.stats.last_error = message[:1000]
        self.stats.last_error_at = time.time()
        log.warning("%s consumer: %s", self.target.name, message)

    # --- one partition's batch: decide, dead-letter, save ----------------------------------------

    async def process(self, topic: str, partition: int, records: list[ConsumerRecord]) -> Plan:
        """Process one partition's records in one transaction (retried on a write conflict).

        Raises only transient errors; everything else about a message is decided in the plan.
        """
        inbound = [Inbound.read(r) for r in records]
        producer = _producer_of(topic)
        name = tracking_name(producer or "unknown", partition)
        for attempt in range(MAX_CONFLICT_RETRIES):
            plan = await asyncio.to_thread(self._plan, topic, name, inbound)
            # Dead-letter before saving: a crash in between repeats the dead letter, never loses it. A message
            # read again (a retry, a redelivery, a rescan) is not dead-lettered twice by this process.
            await self._dead_letter([r for r in plan.dead if _where(r.record) not in self._dead_lettered])
            if plan.new_position == plan.position:
                self._count(plan, name)
                return plan
            try:
                await asyncio.to_thread(self.target.save, plan.uow, name, plan.position, plan.new_position)
            except IntegrityError:
                # Another consumer took this position, or an aggregate changed under us:
                # read the position again and redo the batch against fresh aggregates.
                log.info("conflict saving %s (attempt %d); retrying", name, attempt + 1)
                await asyncio.sleep(0.05 * (attempt + 1))
                continue
            self._count(plan, name)
            self.on_saved()
            return plan
        raise OperationalError(f"could not save {name} after {MAX_CONFLICT_RETRIES} conflicts")

    def _count(self, plan: Plan, name: str) -> None:
        if len(plan.hops) > MAX_TENTATIVE:  # a flood of claims nothing follows: stop walking them
            plan.unverified.extend(plan.claims)
            plan.hops, plan.claims, plan.cursor = [], [], plan.new_position
        if plan.hops:
            self._tentative[name] = (plan.new_position, plan.cursor, list(plan.hops), list(plan.claims))
        else:
            self._tentative.pop(name, None)
        self.stats.processed += plan.processed
        self.stats.skipped_duplicates += plan.duplicates
        self.stats.positions[name] = plan.new_position
        self.stats.unverified += len(plan.unverified)

    def _plan(self, topic: str, name: str, inbound: list[Inbound]) -> Plan:
        """Decide every message against the chain and run the policy (in a worker thread).

        Messages are taken in chain order, not arrival order: a pass over the batch handles
        each message whose previous id is where the chain stands, and passes repeat while they
        make progress, so a message that arrived before its predecessor is still processed
        once the predecessor is. What is left then is a gap.

        A message whose body cannot be read (or names another id than its headers) is dead-lettered,
        but its id is only a claim: the chain walks on through it tentatively, and the position moves
        past it only when a readable message follows it in the chain (the relay that published that
        one published it). A readable message that follows the last verified id instead shows the
        claims to be a fork: they are dropped, reported as unverified, and the genuine chain goes on.
        """
        position = self.target.position(name)
        remembered = self._tentative.get(name)
        refused: dict[int, Rejected] = {}  # by offset: refused by the domain or the policy
        while True:  # start again without a refused event, so nothing half-applied stays
            plan = Plan(self.target.begin([item.record.key for item in inbound]), position, position)
            if remembered is not None and remembered[0] == position:
                plan.cursor, plan.hops, plan.claims = remembered[1], list(remembered[2]), list(remembered[3])
            else:
                plan.cursor, plan.hops = position, []
            pending: list[Inbound] = []
            for item in inbound:
                reason = self._unchained(topic, item)
                if reason:
                    plan.dead.append(Rejected(item.record, reason))
                else:
                    pending.append(item)
            restart = False
            progress = True
            while progress and pending and not restart and plan.stop_at is None:
                progress = False
                later: list[Inbound] = []
                for item in pending:
                    if restart or plan.stop_at is not None:
                        break
                    nid, previous = item.notification_id, item.previous
                    assert nid is not None and previous is not None
                    if nid <= plan.new_position or nid in plan.hops:
                        plan.duplicates += 1
                        continue
                    if previous == plan.cursor:
                        progress = True
                        restart = self._handle(item, plan, refused)
                    elif previous == plan.new_position and plan.cursor > plan.new_position:
                        progress = True
                        restart = self._handle(item, plan, refused, fork=True)
                    else:
                        later.append(item)
                pending = later
            if restart:
                continue
            if pending and plan.stop_at is None:
                first = min(pending, key=lambda i: i.notification_id)  # type: ignore[arg-type, return-value]
                step = chain_step(plan.cursor, first.notification_id, first.previous)  # type: ignore[arg-type]
                plan.gap = (f"{step.value} on {name}: processed up to notification {plan.cursor}, "
                            f"got {first.notification_id} whose previous is {first.previous}")
            return plan

    @staticmethod
    def _unchained(topic: str, item: Inbound) -> str | None:
        if item.notification_id is None or item.previous is None or item.producer is None:
            return ("unchained: no notification_id, previous_notification_id and producer headers "
                    "(not published by a relay)")
        if events_topic_or_none(item.producer) != topic:
            return f"producer: {item.producer} does not publish on {topic}"
        return None

    def _handle(self, item: Inbound, plan: Plan, refused: dict[int, Rejected], fork: bool = False) -> bool:
        """Apply the next message of the chain to the plan; True when the batch must start again.
        `fork`: it follows the last verified id while claims the chain walked through wait ahead."""
        record = item.record
        nid: int = item.notification_id  # type: ignore[assignment]
        if record.offset in refused:
            self._verified(plan, nid, fork)
            plan.dead.append(refused[record.offset])
            return False
        try:
            event = parse_event(record.value)
        except Exception as e:  # noqa: BLE001 - any parse failure is the message's, for good
            newer = _newer_version(e)
            if newer is not None:
                plan.stop_at = (record.offset, newer)
                return False
            # A relay publishes only events that satisfy their contract (it parks the others), so nothing
            # vouches yet for the id in these headers: a forged id a million ahead must not make every
            # genuine message after it a "duplicate" (rule 9).
            self._claim(plan, nid, Rejected(record, f"unreadable: {type(e).__name__}: {_short(e)}"), fork)
            return False
        if event.notification_id != nid or event.producer.value != item.producer:
            self._claim(plan, nid, Rejected(record, "headers: notification_id or producer differ from the body"),
                        fork)
            return False
        try:
            with log_context(complaint_id=event.complaint_id, form_number=event.form_number,
                             correlation_id=event.correlation_id, event_type=event.event_type):
                self.target.apply(event, plan.uow)
        except Exception as e:  # noqa: BLE001
            if is_transient(e):
                raise
            field_ = getattr(e, "field", None)
            where = f"{field_}: " if field_ else ""
            refused[record.offset] = Rejected(
                record, f"refused by {self.target.name}: {type(e).__name__}: {where}{_short(e)}")
            return True
        self._verified(plan, nid, fork)
        plan.processed += 1
        return False

    @staticmethod
    def _verified(plan: Plan, nid: int, fork: bool) -> None:
        """A readable message moves the position: through the claims it follows, or past a fork."""
        if fork:
            plan.unverified.extend(plan.claims)  # they claimed to follow the position too: never published
        plan.claims.clear()
        plan.hops.clear()
        plan.new_position = plan.cursor = nid

    @staticmethod
    def _claim(plan: Plan, nid: int, rejected: Rejected, fork: bool) -> None:
        """An unreadable message: dead-lettered; its id is walked through, not yet counted as seen."""
        plan.dead.append(rejected)
        if fork:  # a second claimant of the verified position while the first one's chain waits
            plan.unverified.append(rejected)
            return
        plan.claims.append(rejected)
        plan.hops.append(nid)
        plan.cursor = nid

    async def _dead_letter(self, rejected: list[Rejected]) -> None:
        for item in rejected:
            record = item.record
            key = record.key.decode("utf-8", "replace")[:64] if record.key else None
            with log_context(complaint_id=key):  # messages are keyed by complaint id
                log.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset,
                            item.reason)
            await self.producer.send_and_wait(
                dead_letter_topic(self.target.name),
                value=record.value,
                key=record.key,
                partition=record.partition,
                headers=[
                    ("error", item.reason[:4000].encode()),
                    ("consumer", self.target.name.encode()),
                    ("source_topic", record.topic.encode()),
                    ("source_partition", str(record.partition).encode()),
                    ("source_offset", str(record.offset).encode()),
                    ("dead_lettered_at", str(time.time()).encode()),
                    *[(k, v) for k, v in (record.headers or ()) if k in (NOTIFICATION_ID_HEADER, PRODUCER_HEADER)],
                ],
            )
            self.stats.dead_lettered += 1
            self._dead_lettered[_where(record)] = None
            while len(self._dead_lettered) > 10_000:
                self._dead_lettered.pop(next(iter(self._dead_lettered)))

    # --- health ----------------------------------------------------------------------------------

    def assigned_partitions(self) -> list[str]:
        """The partitions this instance owns in its consumer group right now."""
        if self._consumer is None:
            return []
        return sorted(f"{tp.topic}[{tp.partition}]" for tp in self._consumer.assignment())

    def lag(self) -> int | None:
        """Messages on the assigned partitions not yet read (None before the first fetch)."""
        consumer = self._consumer
        if consumer is None:
            return None
        total, known = 0, False
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = consumer._subscription.subscription.assignment.state_value(tp).position  # noqa: SLF001
            except Exception:  # noqa: BLE001 - not yet positioned
                position = None
            if position is None:
                continue
            known = True
            total += max(0, highwater - position)
        return total if known else None

    def report(self) -> dict[str, Any]:
        s = self.stats
        return {
            "group_id": self.group_id, "assigned": self.assigned_partitions(), "lag": self.lag(),
            "processed": s.processed, "skipped_duplicates": s.skipped_duplicates,
            "dead_lettered": s.dead_lettered, "unverified": s.unverified, "gaps_seen": s.gaps, "batches": s.batches, "retries": s.retries,
            "positions": dict(s.positions), "last_error": s.last_error,
            "last_error_at": iso_time(s.last_error_at), "last_progress_at": iso_time(s.last_progress_at),
            "stopped": {f"{tp.topic}[{tp.partition}]": st.stopped for tp, st in self.partitions.items() if st.stopped},
            "gaps": {f"{tp.topic}[{tp.partition}]": st.gap for tp, st in self.partitions.items() if st.gap},
            "unverified_claims": {f"{tp.topic}[{tp.partition}]": st.unverified for tp, st in self.partitions.items()
                                  if st.unverified},
        }


class TrackingConsumer(ChainConsumer):
    """A service's consumer: upstream events through its policy into its own store."""

    def __init__(self, app: ServiceApplication, policy: Policy, upstreams: Sequence[ServiceName],
                 producer: AIOKafkaProducer, on_saved: Callable[[], None] = lambda: None, **options: Any):
        super().__init__(ServiceTarget(app, policy), upstreams, producer, on_saved, **options)
        self.app = app
        self.policy = policy


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: ChainConsumer):
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        for tp in revoked:
            self.owner.partitions.pop(tp, None)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        for tp in assigned:
            self.owner.partitions[tp] = PartitionState()


def _where(record: ConsumerRecord) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


def _producer_of(topic: str) -> ServiceName | None:
    for service in ServiceName:
        if events_topic(service) == topic:
            return service
    return None


def events_topic_or_none(producer: str) -> str | None:
    try:
        return events_topic(ServiceName(producer))
    except ValueError:
        return None


def _short(error: BaseException, limit: int = 600) -> str:
    text = str(error)
    return text if len(text) <= limit else text[: limit - 1] + "…"

