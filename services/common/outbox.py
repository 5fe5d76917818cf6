"""Transactional outbox: publish a service's notification log to its topic, in order.

The store is the outbox. The relay reads notifications after the recorded position,
publishes them in order in batches, waits for the broker's acks, then records the new
position (and the sink's state there) in the same store. A crash between publish and
record republishes the batch; event ids are stable, and consumers deduplicate by upstream
position. A missing notification id (PostgreSQL leaves gaps after a rolled-back insert) is
simply not there to read: the relay never waits for it.

Nothing stalls the log (architecture rule 10): a stored event that cannot be published (it
no longer satisfies its contract, or makes a message over the limit) is parked, with the
reason, in the store, logged as an error and shown by health, and the log behind it flows on.

Nothing is lost when the broker loses its data: before publishing, and every few seconds
while idle, the Kafka sink checks that its topic exists and that each partition still holds
the last message it published there. If not, the relay waits until the topic is provisioned
again (it never creates one) and republishes the whole log from the start, before anything new. Consumers recognise what
they processed already (by the chain of notification ids on each partition).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError, OffsetOutOfRangeError

from contracts.envelope import Envelope
from contracts.topics import PARTITIONS, message_key
from services.common.broker import (
    EVENT_TYPE_HEADER, NOTIFICATION_ID_HEADER, PREVIOUS_HEADER, PRODUCER_HEADER, partition_for, require_topics,
)
from services.common.bus import Bus, close_producer
from services.common.publishing import Outgoing, Unpublishable, outgoing, to_integration_event
from services.common.store import PositionTable, ServiceApplication
from services.common.supervisor import describe_error, iso_time

log = logging.getLogger(__name__)

#: Takes a batch of integration events and returns once all are delivered.
Deliver = Callable[[list[Envelope]], Awaitable[None]]


class Sink(Protocol):
    name: str

    async def prepare(self, app: ServiceApplication, position: int, state: dict[str, Any]) -> dict[str, Any]:
        """The state to continue from `position` with (e.g. rebuilt when missing)."""

    async def lost(self, state: dict[str, Any], force: bool = False) -> str | None:
        """Why the sink no longer holds what it was given (None when it does)."""

    async def recover(self) -> None:
        """Make the sink ready to receive everything again."""

    async def send(self, batch: list[Outgoing], state: dict[str, Any]) -> tuple[dict[str, Any], list[Unpublishable]]:
        """Deliver a batch; returns the new state and what the sink refused for good."""

    async def close(self) -> None: ...


@dataclass
class DeliverySink:
    """A sink that hands the events to a function (notify's delivery log): no state, nothing to lose."""

    name: str
    deliver: Deliver

    async def prepare(self, app: ServiceApplication, position: int, state: dict[str, Any]) -> dict[str, Any]:
        return state

    async def lost(self, state: dict[str, Any], force: bool = False) -> str | None:
        return None

    async def recover(self) -> None:
        return None

    async def send(self, batch: list[Outgoing], state: dict[str, Any]) -> tuple[dict[str, Any], list[Unpublishable]]:
        await self.deliver([item.event for item in batch])
        return state, []

    async def close(self) -> None:
        return None


def chain_at(app: ServiceApplication, position: int, partitions: int = PARTITIONS,
             chunk: int = 1000) -> dict[str, int]:
    """The last published notification id on each partition at `position`, read backwards."""
    chain: dict[str, int] = {}
    end = position
    while end >= 1 and len(chain) < partitions:
        start = max(1, end - chunk + 1)
        notifications = app.recorder.select_notifications(start, chunk, stop=end)
        for notification in reversed(notifications):
            event = to_integration_event(app.SERVICE, app.mapper.to_domain_event(notification), notification.id)
            if event is None:
                continue
            partition = str(partition_for(message_key(event.complaint_id), partitions))
            chain.setdefault(partition, notification.id)
        end = start - 1
    return chain


class KafkaSink:
    """The service's events topic. Each message names its partition's previous notification id.

    The sink has an idempotent producer of its own (a retried batch is written once, in order). Such a
    producer retries for ever while the cluster is away; a batch not acknowledged within `send_timeout`
    counts as failed (the relay keeps its position and tries again), and the producer is replaced, so what
    it held is not sent behind the retry."""

    def __init__(self, bus: Bus, topic: str, loss_check_seconds: float = 2.0, partitions: int = PARTITIONS,
                 send_timeout: float = 30.0, producer: AIOKafkaProducer | None = None):
        self.name = topic
        self.bus = bus
        self.send_timeout = send_timeout
        self.producer = producer
        self._own_producer = producer is None
        self.partitions = partitions
        self.loss_check_seconds = loss_check_seconds
        self._admin: AIOKafkaAdminClient | None = None
        self._probe: AIOKafkaConsumer | None = None
        self._checked_at = 0.0

    async def prepare(self, app: ServiceApplication, position: int, state: dict[str, Any]) -> dict[str, Any]:
        if position and "chain" not in state:  # a store older than the chain: rebuild it from the log
            state = dict(state, chain=await asyncio.to_thread(chain_at, app, position, self.partitions))
        return state

    async def _producer(self) -> AIOKafkaProducer:
        if self.producer is None:
            producer = self.bus.producer()
            await producer.start()
            self.producer = producer
        return self.producer

    async def _drop_producer(self) -> None:
        if self._own_producer and self.producer is not None:
            producer, self.producer = self.producer, None
            await close_producer(producer, timeout=2.0)

    async def send(self, batch: list[Outgoing], state: dict[str, Any]) -> tuple[dict[str, Any], list[Unpublishable]]:
        try:
            return await self._send(await self._producer(), batch, state)
        except Exception:
            await self._drop_producer()
            raise

    async def _send(self, producer: AIOKafkaProducer, batch: list[Outgoing], state: dict[str, Any]
                    ) -> tuple[dict[str, Any], list[Unpublishable]]:
        chain: dict[str, int] = dict(state.get("chain", {}))
        ends: dict[str, list[int]] = {k: list(v) for k, v in state.get("ends", {}).items()}
        sent: list[tuple[str, int, asyncio.Future[Any]]] = []
        refused: list[Unpublishable] = []
        for item in batch:
            key = message_key(item.event.complaint_id)
            partition = partition_for(key, self.partitions)
            previous = chain.get(str(partition), 0)
            try:
                future = await producer.send(
                    self.name, value=item.value, key=key, partition=partition,
                    headers=[(EVENT_TYPE_HEADER, item.event.event_type.encode()),
                             (PRODUCER_HEADER, item.event.producer.value.encode()),
                             (NOTIFICATION_ID_HEADER, str(item.notification_id).encode()),
                             (PREVIOUS_HEADER, str(previous).encode())],
                )
            except MessageSizeTooLargeError as e:  # the producer refuses it before sending: park it
                refused.append(Unpublishable(item.notification_id, item.event.event_type, describe_error(e)))
                continue
            chain[str(partition)] = item.notification_id
            sent.append((str(partition), item.notification_id, future))
        try:
            results = await asyncio.wait_for(asyncio.gather(*(future for _, _, future in sent)), self.send_timeout)
        except asyncio.TimeoutError:
            raise KafkaTimeoutError(f"{self.name}: the cluster did not acknowledge {len(sent)} message(s) "
                                    f"within {self.send_timeout:.0f}s") from None
        for (partition, notification_id, _), metadata in zip(sent, results, strict=True):
            if metadata.offset + 1 >= ends.get(partition, [0, 0])[0]:
                ends[partition] = [metadata.offset + 1, notification_id]
        self._checked_at = time.monotonic()  # the broker just acknowledged: it has the partitions
        return {"chain": chain, "ends": ends}, refused

    async def lost(self, state: dict[str, Any], force: bool = False) -> str | None:
        if not force and time.monotonic() - self._checked_at < self.loss_check_seconds:
            return None
        if self._admin is None:
            admin = self.bus.admin(request_timeout_ms=5000)
            await admin.start()
            self._admin = admin
        try:
            topics = set(await self._admin.list_topics())
        except Exception:
            await self._close_admin()
            raise
        if self.name not in topics:
            self._checked_at = time.monotonic()
            return f"topic {self.name} is missing on the broker"
        ends: dict[str, list[int]] = state.get("ends", {})
        if ends:
            reason = await self._check_ends(ends)
            if reason:
                return reason
        self._checked_at = time.monotonic()
        return None

    async def _check_ends(self, ends: dict[str, list[int]]) -> str | None:
        """Each partition must still hold, at the offset where it was acknowledged, the last
        message published there. The reported end offset alone is no evidence (the development
        broker reports a stale one after bursts of batches), so a partition counts as lost when
        the message there is another one, or when it ends too early and the message is not there."""
        if self._probe is None:
            probe = self.bus.consumer(enable_auto_commit=False, group_id=None, request_timeout_ms=5000,
                                      auto_offset_reset="none")
            await probe.start()
            self._probe = probe
        probe = self._probe
        tps = {TopicPartition(self.name, int(p)): (offset, nid) for p, (offset, nid) in ends.items()}
        try:
            probe.assign(list(tps))
            end_offsets = await probe.end_offsets(list(tps))
            for tp, (offset, _) in tps.items():
                probe.seek(tp, offset - 1)
            found: dict[TopicPartition, int | None] = {}
            deadline = time.monotonic() + 3.0
            while len(found) < len(tps) and time.monotonic() < deadline:
                waiting = [tp for tp in tps if tp not in found]
                try:
                    batch = await probe.getmany(*waiting, timeout_ms=500, max_records=1)
                except OffsetOutOfRangeError as e:
                    return (f"{self.name} no longer holds the messages published there "
                            f"({describe_error(e, 200)})")
                for tp, records in batch.items():
                    if records and tp not in found:
                        headers = dict(records[0].headers or [])
                        raw = headers.get(NOTIFICATION_ID_HEADER)
                        found[tp] = int(raw) if raw and raw.isdigit() else None
            for tp, (offset, nid) in tps.items():
                if tp in found and found[tp] != nid:
                    return (f"partition {tp.partition} of {self.name} holds another message at offset "
                            f"{offset - 1} than the notification {nid} published there")
                if tp not in found and end_offsets[tp] < offset:
                    return (f"partition {tp.partition} of {self.name} ends at offset {end_offsets[tp]} and no "
                            f"longer holds the notification {nid} published at offset {offset - 1}")
        except Exception:
            await self._close_probe()
            raise
        return None

    async def recover(self) -> None:
        """Wait for the topic to be there again (provisioning makes it, never the relay), then start over
        with a new producer (the cluster no longer knows the old one's id and sequence numbers)."""
        await require_topics(self.bus, [self.name])
        await self._close_probe()
        await self._drop_producer()

    async def _close_admin(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            with contextlib.suppress(Exception):
                await admin.close()

    async def _close_probe(self) -> None:
        if self._probe is not None:
            probe, self._probe = self._probe, None
            with contextlib.suppress(Exception):
                await probe.stop()

    async def close(self) -> None:
        await self._close_admin()
        await self._close_probe()
        await self._drop_producer()


class LeadershipLost(RuntimeError):
    pass


@dataclass
class RelayStats:
    position: int = 0
    store_position: int = 0
    published: int = 0
    batches: int = 0
    parked: int = 0
    recoveries: int = 0
    leader: bool = False
    last_success_at: float | None = None
    last_progress_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    last_recovery: str | None = None

    @property
    def lag(self) -> int:
        return max(0, self.store_position - self.position)


@dataclass
class OutboxRelay:
    """Publishes one service's notification log to one sink (its Kafka topic, or a delivery sink)."""

    app: ServiceApplication
    sink: Sink
    batch_size: int = 500
    poll_seconds: float = 0.2
    stats: RelayStats = field(default_factory=RelayStats)

    def __post_init__(self) -> None:
        self.sink_name = self.sink.name
        self.positions = PositionTable(self.app)
        self._wake = asyncio.Event()
        self._stopping = False
        self._position: int | None = None  # trusted while busy; re-read when idle
        self._state: dict[str, Any] = {}
        self._force_check = True

    def wake(self) -> None:
        """Something new was saved: publish now rather than at the next poll."""
        self._wake.set()

    async def _load(self) -> int:
        if self._position is None:
            position, state = await asyncio.to_thread(self.positions.load, self.sink_name)
            self._state = await self.sink.prepare(self.app, position, state)
            self._position = position
        return self._position

    async def publish_once(self) -> int:
        """Publish the next batch; returns how many notifications it moved past."""
        position = await self._load()
        reason = await self.sink.lost(self._state, force=self._force_check)
        self._force_check = False
        if reason:
            await self._recover(reason)
            position = await self._load()
        notifications = await asyncio.to_thread(
            self.app.recorder.select_notifications, position + 1, self.batch_size
        )
        self.stats.position = position
        if not notifications:
            self._position = None  # idle: look at the store again next time (an operator may rewind)
            self.stats.store_position = position
            self.stats.last_success_at = self.stats.last_progress_at = time.time()
            return 0
        ready, refused = await asyncio.to_thread(outgoing, self.app, list(notifications), self.app.max_message_bytes)
        state = self._state
        if ready:
            state, too_large = await self.sink.send(ready, self._state)
            refused = refused + too_large
        new_position = notifications[-1].id
        moved = await asyncio.to_thread(self.positions.advance, self.sink_name, position, new_position, state, refused)
        if not moved:
            log.warning("%s position was moved by someone else (a rewind?); re-reading it", self.sink_name)
            self._position = None
            return 0
        self._position, self._state = new_position, state
        self.stats.position = new_position
        self.stats.published += len(ready) - len(refused)
        self.stats.batches += 1
        self.stats.last_success_at = self.stats.last_progress_at = time.time()
        for item in refused:
            self.stats.parked += 1
            log.error("relay %s parked notification %d (%s): %s; the log behind it goes on. It needs an "
                      "operator: see the parked list in health", self.sink_name, item.notification_id,
                      item.topic, item.reason)
        return len(notifications)

    async def _recover(self, reason: str) -> None:
        log.warning("relay %s: the broker lost what was published (%s); republishing the whole log",
                    self.sink_name, reason)
        await self.sink.recover()
        await asyncio.to_thread(self.positions.rewind, self.sink_name, 0, {})
        self._position, self._state = None, {}
        self.stats.recoveries += 1
        self.stats.last_recovery = f"{iso_time(time.time())}: {reason}"

    async def run(self) -> None:
        """Lead, then publish until stopped; raises when leadership is lost (the supervisor restarts it)."""
        async with self._leadership() as still_leader:
            self.stats.leader = True
            self._position, self._force_check = None, True
            backoff = 0.5
            try:
                while not self._stopping:
                    await still_leader()
                    try:
                        moved = await self.publish_once()
                        self.stats.last_error = None
                        backoff = 0.5
                    except asyncio.CancelledError:
                        raise
                    except Exception as e:  # noqa: BLE001 - broker or store away: keep the position, retry
                        self.stats.last_error = describe_error(e)
                        self.stats.last_error_at = time.time()
                        self._position, self._force_check = None, True
                        log.warning("relay %s failed, retrying in %.1fs: %s", self.sink_name, backoff,
                                    self.stats.last_error)
                        await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
                        backoff = min(backoff * 2, 10.0)
                        continue
                    if moved < self.batch_size:
                        self._wake.clear()
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            finally:
                self.stats.leader = False

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def store_position(self) -> int:
        self.stats.store_position = await asyncio.to_thread(self.app.recorder.max_notification_id) or 0
        return self.stats.store_position

    def report(self) -> dict[str, Any]:
        s = self.stats
        return {"position": s.position, "store_position": s.store_position, "lag": s.lag,
                "published": s.published, "batches": s.batches, "parked": s.parked, "leader": s.leader,
                "recoveries": s.recoveries, "last_recovery": s.last_recovery,
                "last_success_at": iso_time(s.last_success_at), "last_error": s.last_error,
                "last_error_at": iso_time(s.last_error_at)}

    @contextlib.asynccontextmanager
    async def _leadership(self) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        """Only one relay per service and sink publishes at a time (PostgreSQL advisory lock).

        The lock lives on a connection of its own; a relay checks it every second and gives up
        leadership when that session is gone (another relay may have the lock by then). The
        SQLite store is the single-process embedded default, so it needs no lock.
        """
        if not self.app.is_postgres:
            async def always() -> None:
                return None
            yield always
            return
        pool_kwargs = self.app.recorder.datastore.pool.kwargs  # type: ignore[attr-defined]
        conn = await psycopg.AsyncConnection.connect(
            autocommit=True, connect_timeout=5, application_name=f"complaints-relay:{self.sink_name}"[:63],
            **{k: pool_kwargs[k] for k in ("dbname", "host", "port", "user", "password") if pool_kwargs.get(k)},
        )
        key = f"outbox:{self.sink_name}"
        checked = {"at": 0.0}

        async def still_leader() -> None:
            if time.monotonic() - checked["at"] < 1.0:
                return
            try:
                await asyncio.wait_for(conn.execute("SELECT 1"), 5)
            except Exception as e:
                raise LeadershipLost(f"the leadership session of {self.sink_name} is gone: {e}") from e
            checked["at"] = time.monotonic()

        try:
            while not self._stopping:
                row = await (await conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,))).fetchone()
                if row and row[0]:
                    break
                await asyncio.sleep(1.0)
            yield still_leader
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

