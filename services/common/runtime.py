"""One service process: its store, its relays, its consumer, its broker connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from faststream.kafka import KafkaBroker

from contracts.envelope import ServiceName
from contracts.topics import events_topic
from services.common.broker import ensure_topics, new_producer
from services.common.consumer import Policy, TrackingConsumer
from services.common.domain import DomainError, NotFound, event_record
from services.common.outbox import OutboxRelay, Sink, kafka_sink
from services.common.settings import ServiceSettings
from services.common.store import ServiceApplication

log = logging.getLogger(__name__)
T = TypeVar("T")


class ConcurrentUpdate(DomainError):
    status = 409


@dataclass
class ServiceParts:
    """What makes one service: built by the service's bootstrap, run by `ServiceRuntime`."""

    app: ServiceApplication
    policy: Policy | None = None
    upstreams: Sequence[ServiceName] = ()
    #: Further sinks fed from the service's own log, e.g. notify's delivery: (name, sink).
    extra_sinks: list[tuple[str, Sink]] = field(default_factory=list)


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, parts: ServiceParts):
        self.settings = settings
        self.parts = parts
        self.app = parts.app
        self.relays: list[OutboxRelay] = []
        self.consumer: TrackingConsumer | None = None
        self.broker: KafkaBroker | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        bootstrap = self.settings.kafka_bootstrap_servers
        await ensure_topics(bootstrap)
        self.producer = new_producer(bootstrap)
        await self.producer.start()
        sinks = [(events_topic(self.app.SERVICE), kafka_sink(self.producer)), *self.parts.extra_sinks]
        self.relays = [
            OutboxRelay(self.app, sink, name, batch_size=self.settings.relay_batch_size,
                        poll_seconds=self.settings.relay_poll_seconds)
            for name, sink in sinks
        ]
        self.broker = KafkaBroker(bootstrap, logger=logging.getLogger(f"faststream.{self.app.SERVICE.value}"))
        if self.parts.policy is not None:
            self.consumer = TrackingConsumer(self.app, self.parts.policy, self.parts.upstreams,
                                             self.producer, on_saved=self.saved)
            self.consumer.subscribe(self.broker, max_records=self.settings.consumer_max_records)
        await self.broker.start()
        self._tasks = [asyncio.create_task(relay.run(), name=f"relay:{relay.sink_name}") for relay in self.relays]
        log.info("%s started (store: %s)", self.app.SERVICE.value,
                 "PostgreSQL" if self.app.is_postgres else "SQLite")

    async def stop(self) -> None:
        for relay in self.relays:
            relay.stop()
        if self.broker is not None:
            await self.broker.stop()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.producer.stop()
        self.app.close()

    def saved(self) -> None:
        """New events are in the store: wake the relays (safe to call from any thread)."""
        if self._loop is None:
            return
        for relay in self.relays:
            self._loop.call_soon_threadsafe(relay.wake)

    async def execute(self, command: Callable[..., T], *args: Any, retries: int = 12) -> T:
        """Run a synchronous application command off the event loop.

        Retried on an optimistic-concurrency conflict (someone saved the same aggregate
        first); the command reloads the aggregate each time, so a retry sees the winner.
        """
        for attempt in range(retries):
            try:
                result = await asyncio.to_thread(command, *args)
            except IntegrityError:
                if attempt == retries - 1:
                    raise ConcurrentUpdate("the complaint was changed by someone else at the same time; "
                                           "send the command again") from None
                await asyncio.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
                continue
            self.saved()
            return result
        raise AssertionError("unreachable")

    async def history(self, complaint_id: UUID) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            # Each service keeps one aggregate per complaint, under the complaint's id.
            return [event_record(e) for e in self.app.events.get(complaint_id)]
        records = await asyncio.to_thread(read)
        if not records:
            raise NotFound(f"{self.app.SERVICE.value} has no events for complaint {complaint_id}")
        return records

    async def health(self) -> tuple[bool, dict[str, Any]]:
        ok = True
        report: dict[str, Any] = {"service": self.app.SERVICE.value,
                                  "store": "postgresql" if self.app.is_postgres else "sqlite"}
        try:
            report["store_max_notification_id"] = await asyncio.to_thread(self.app.recorder.max_notification_id)
        except Exception as e:
            ok, report["store_error"] = False, str(e)
        broker_ok = bool(self.broker and await self.broker.ping(timeout=2.0))
        ok = ok and broker_ok
        report["broker"] = "up" if broker_ok else "down"
        report["relays"] = {r.sink_name: vars(r.stats) for r in self.relays}
        if self.consumer is not None:
            report["consumer"] = vars(self.consumer.stats) | {
                "group_id": self.consumer.group_id, "assigned": self.consumer.assigned_partitions()}
        report["status"] = "ok" if ok else "degraded"
        return ok, report
