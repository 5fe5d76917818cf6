"""Tracking consumer: upstream integration events in, new events plus position saved together.

For each batch the broker hands over, messages are grouped by partition. Each group
is one transaction: the policy's new events and the upstream position (upstream
service and notification id, tracked per partition, because ids only increase within
one) are saved together, so a redelivered or republished message produces nothing
new, whatever the broker did to its offsets. Offsets are committed after the
transactions; a failure rewinds the batch to be read again. A message that cannot be
parsed, or that the domain rejects, goes to `<topic>.dlq` with the reason, and
consumption goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaProducer, ConsumerRecord
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, Tracking
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from contracts.envelope import Envelope, ServiceName
from contracts.registry import parse_event
from contracts.topics import dead_letter_topic, events_topic
from services.common.domain import DomainError
from services.common.store import ServiceApplication

log = logging.getLogger(__name__)

MAX_CONFLICT_RETRIES = 8


class UnitOfWork:
    """Aggregates a batch touches: each loaded once, changed in memory, saved together."""

    def __init__(self, app: ServiceApplication):
        self.app = app
        self.aggregates: dict[UUID, Any] = {}

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


#: A policy reacts to one upstream event by changing aggregates in the unit of work.
#: It is pure apart from loading aggregates through the unit of work.
Policy = Callable[[Envelope, UnitOfWork], None]


@dataclass
class Rejected:
    record: ConsumerRecord
    reason: str


@dataclass
class ConsumerStats:
    processed: int = 0
    skipped_duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    last_error: str | None = None
    positions: dict[str, int] = field(default_factory=dict)


def tracking_name(producer: ServiceName, partition: int) -> str:
    return f"{producer.value}/p{partition}"


class TrackingConsumer:
    def __init__(
        self,
        app: ServiceApplication,
        policy: Policy,
        upstreams: Sequence[ServiceName],
        producer: AIOKafkaProducer,
        on_saved: Callable[[], None] = lambda: None,
    ):
        self.app = app
        self.policy = policy
        self.upstreams = list(upstreams)
        self.producer = producer
        self.on_saved = on_saved
        self.stats = ConsumerStats()
        self.group_id = f"complaints-{app.SERVICE.value}"

    def subscribe(self, broker: KafkaBroker, max_records: int = 500) -> None:
        subscriber = broker.subscriber(
            *[events_topic(s) for s in self.upstreams],
            batch=True,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            max_records=max_records,
            batch_timeout_ms=50,
            # How long the broker may hold a fetch with nothing new: each hop of a journey can
            # wait this long, so keep it short (the library's 500 ms default adds up over hops).
            fetch_max_wait_ms=50,
        )
        subscriber(self.handle)
        self.subscriber = subscriber

    def assigned_partitions(self) -> list[str]:
        """The partitions this instance owns in its consumer group right now."""
        consumer = getattr(getattr(self, "subscriber", None), "consumer", None)
        if consumer is None:
            return []
        return sorted(f"{tp.topic}[{tp.partition}]" for tp in consumer.assignment())

    async def handle(self, msg: KafkaMessage) -> None:
        records: tuple[ConsumerRecord, ...] = msg.raw_message  # type: ignore[assignment]
        groups: dict[tuple[str, int], list[ConsumerRecord]] = defaultdict(list)
        for record in records:
            groups[(record.topic, record.partition)].append(record)
        try:
            for (topic, partition), group in groups.items():
                await self.process_partition(topic, partition, group)
        except Exception as e:
            self.stats.last_error = f"{type(e).__name__}: {e}"
            log.exception("batch failed; it will be read again")
            await asyncio.sleep(1.0)  # the batch is rewound and redelivered: do not spin
            raise
        self.stats.batches += 1
        self.stats.last_error = None

    async def process_partition(self, topic: str, partition: int, records: list[ConsumerRecord]) -> None:
        events: list[tuple[ConsumerRecord, Envelope]] = []
        rejected: list[Rejected] = []
        for record in records:
            try:
                event = parse_event(record.value)
            except ValueError as e:  # pydantic.ValidationError is a ValueError
                rejected.append(Rejected(record, f"unreadable: {e}"))
                continue
            if events_topic(event.producer) != topic:
                rejected.append(Rejected(record, f"producer: {event.producer} does not publish on {topic}"))
                continue
            events.append((record, event))

        by_upstream: dict[ServiceName, list[tuple[ConsumerRecord, Envelope]]] = defaultdict(list)
        for record, event in events:
            by_upstream[event.producer].append((record, event))

        dead_lettered: set[int] = set()
        for producer, items in by_upstream.items():
            name = tracking_name(producer, partition)
            for attempt in range(MAX_CONFLICT_RETRIES):
                uow, fresh, refused = await asyncio.to_thread(self._react, name, items)
                # Dead-letter before saving: a crash in between repeats the dead letter, never loses it.
                await self._dead_letter([r for r in refused if r.record.offset not in dead_lettered])
                dead_lettered.update(r.record.offset for r in refused)
                if not fresh:
                    break
                try:
                    await asyncio.to_thread(
                        self.app.save_processed, list(uow.aggregates.values()),
                        Tracking(name, fresh[-1].notification_id),
                    )
                except IntegrityError:
                    # Another consumer took this position, or an aggregate changed under us:
                    # read the position again and redo the batch against fresh aggregates.
                    log.info("conflict saving %s (attempt %d); retrying", name, attempt + 1)
                    await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                self.stats.processed += len(fresh)
                self.stats.positions[name] = fresh[-1].notification_id
                self.on_saved()
                break
            else:
                raise RuntimeError(f"could not save {name} after {MAX_CONFLICT_RETRIES} conflicts")
        await self._dead_letter(rejected)

    def _react(
        self, name: str, items: list[tuple[ConsumerRecord, Envelope]]
    ) -> tuple[UnitOfWork, list[Envelope], list[Rejected]]:
        """Run the policy over the unseen events of one partition (in a worker thread)."""
        last = self.app.recorder.max_tracking_id(name) or 0
        unseen: list[tuple[ConsumerRecord, Envelope]] = []
        for record, event in items:
            if event.notification_id > last:
                unseen.append((record, event))
                last = event.notification_id
            else:
                self.stats.skipped_duplicates += 1
        refused: dict[int, Rejected] = {}
        while True:  # start again without an event the domain refused, so nothing half-applied stays
            uow = UnitOfWork(self.app)
            for index, (record, event) in enumerate(unseen):
                if index in refused:
                    continue
                try:
                    self.policy(event, uow)
                except DomainError as e:
                    field_ = f"{e.field}: " if e.field else ""
                    refused[index] = Rejected(record, f"refused by {self.app.SERVICE.value}: {field_}{e}")
                    break
            else:
                return uow, [event for _, event in unseen], list(refused.values())

    async def _dead_letter(self, rejected: list[Rejected]) -> None:
        for item in rejected:
            record = item.record
            log.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, item.reason)
            await self.producer.send_and_wait(
                dead_letter_topic(record.topic),
                value=record.value,
                key=record.key,
                headers=[
                    ("error", item.reason[:4000].encode()),
                    ("consumer", self.app.SERVICE.value.encode()),
                    ("source_topic", record.topic.encode()),
                    ("source_partition", str(record.partition).encode()),
                    ("source_offset", str(record.offset).encode()),
                    ("dead_lettered_at", str(time.time()).encode()),
                ],
            )
            self.stats.dead_lettered += 1
