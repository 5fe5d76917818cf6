"""Transactional outbox: publish a service's notification log to its topic, in order.

The store is the outbox. The relay reads notifications after the recorded position,
publishes them in order in batches, waits for the broker's acks, then records the new
position in the same store. A crash between publish and record republishes the batch;
event ids are stable, and consumers deduplicate by upstream position. A missing
notification id (PostgreSQL leaves gaps after a rolled-back insert) is simply not
there to read: the relay never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import psycopg
from aiokafka import AIOKafkaProducer

from contracts.envelope import Envelope
from contracts.registry import serialize_event
from contracts.topics import events_topic, message_key
from services.common.publishing import integration_events
from services.common.store import PositionTable, ServiceApplication

log = logging.getLogger(__name__)

#: Takes a batch of integration events and returns once all are delivered.
Sink = Callable[[list[Envelope]], Awaitable[None]]


def kafka_sink(producer: AIOKafkaProducer) -> Sink:
    async def send(events: list[Envelope]) -> None:
        futures = [
            await producer.send(
                events_topic(event.producer),
                value=serialize_event(event),
                key=message_key(event.complaint_id),
                headers=[("event_type", event.event_type.encode()),
                         ("producer", event.producer.value.encode()),
                         ("notification_id", str(event.notification_id).encode())],
            )
            for event in events
        ]
        await asyncio.gather(*futures)
    return send


@dataclass
class RelayStats:
    position: int = 0
    published: int = 0
    batches: int = 0
    last_error: str | None = None
    leader: bool = False


@dataclass
class OutboxRelay:
    """Publishes one service's notification log to one sink (its Kafka topic, or a delivery sink)."""

    app: ServiceApplication
    sink: Sink
    sink_name: str
    batch_size: int = 500
    poll_seconds: float = 0.2
    stats: RelayStats = field(default_factory=RelayStats)

    def __post_init__(self) -> None:
        self.positions = PositionTable(self.app)
        self._wake = asyncio.Event()
        self._stopping = False
        self._known_position: int | None = None  # trusted while busy; re-read when idle

    def wake(self) -> None:
        """Something new was saved: publish now rather than at the next poll."""
        self._wake.set()

    async def publish_once(self) -> int:
        """Publish the next batch; returns how many notifications it moved past."""
        position = self._known_position
        if position is None:
            position = await asyncio.to_thread(self.positions.get, self.sink_name)
        notifications = await asyncio.to_thread(
            self.app.recorder.select_notifications, position + 1, self.batch_size
        )
        self.stats.position = position
        if not notifications:
            self._known_position = None  # idle: look at the store again next time (an operator may rewind)
            return 0
        events = await asyncio.to_thread(integration_events, self.app, list(notifications))
        if events:
            await self.sink(events)
        new_position = notifications[-1].id
        moved = await asyncio.to_thread(self.positions.advance, self.sink_name, position, new_position)
        self._known_position = new_position if moved else None
        if moved:
            self.stats.position = new_position
            self.stats.published += len(events)
            self.stats.batches += 1
        else:
            log.warning("%s position was moved by someone else (a rewind?); re-reading it", self.sink_name)
        return len(notifications)

    async def run(self) -> None:
        async with self._leadership():
            self.stats.leader = True
            backoff = 0.5
            while not self._stopping:
                try:
                    moved = await self.publish_once()
                    self.stats.last_error = None
                    backoff = 0.5
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # broker or store away: keep the position, try again
                    self.stats.last_error = f"{type(e).__name__}: {e}"
                    log.warning("relay %s failed, retrying in %.1fs: %s", self.sink_name, backoff, e)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                if moved < self.batch_size:
                    self._wake.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    @contextlib.asynccontextmanager
    async def _leadership(self):
        """Only one relay per service and sink publishes at a time (PostgreSQL advisory lock).

        The SQLite store is the single-process embedded default, so it needs no lock.
        """
        if not self.app.is_postgres:
            yield
            return
        pool_kwargs = self.app.recorder.datastore.pool.kwargs  # type: ignore[attr-defined]
        conn = await psycopg.AsyncConnection.connect(
            autocommit=True,
            **{k: pool_kwargs[k] for k in ("dbname", "host", "port", "user", "password") if pool_kwargs.get(k)},
        )
        key = f"outbox:{self.sink_name}"
        try:
            while not self._stopping:
                row = await (await conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,))).fetchone()
                if row and row[0]:
                    break
                await asyncio.sleep(1.0)
            yield
        finally:
            await conn.close()

