"""One service process: its store, its relays, its consumer, its broker connection.

Starting never waits for the broker: the relays and the consumer run as supervised
background tasks that keep retrying (and say why) until the broker is there, while the
HTTP edge serves and health tells the truth about what is missing.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from eventsourcing.persistence import IntegrityError

from contracts.envelope import ServiceName
from contracts.topics import events_topic, topics_of
from services.common.broker import BROKER_HINT, BrokerProbe, TopicsMissing, require_topics
from services.common.bus import close_producer, diagnose, explain
from services.common.consumer import ChainConsumer, Policy, TrackingConsumer
from services.common.domain import DomainError, NotFound, event_record
from services.common.outbox import Deliver, DeliverySink, KafkaSink, OutboxRelay
from services.common.settings import ServiceSettings
from services.common.store import ServiceApplication
from services.common.supervisor import Supervisor

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
    #: Further sinks fed from the service's own log, e.g. notify's delivery: (name, deliver).
    extra_sinks: list[tuple[str, Deliver]] = field(default_factory=list)
    #: Further supervised background tasks (e.g. routing's deadline timer): (name, run).
    background: list[tuple[str, Callable[[], Awaitable[None]]]] = field(default_factory=list)
    #: Further sections of the health report: (name, report).
    reports: list[tuple[str, Callable[[], dict[str, Any]]]] = field(default_factory=list)
    #: What to close when the service stops (after its tasks), e.g. a producer of its own.
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: Further consumers in groups of their own, e.g. a read model's projection: (name, consumer).
    consumers: list[tuple[str, ChainConsumer]] = field(default_factory=list)


async def connect_bus(bus: Bus, topics: list[str]) -> AIOKafkaProducer:
    """Wait for this process's topics, then start its producer (run under a supervisor: retried until
    the broker is there and the topics are provisioned; a service never creates a topic)."""
    try:
        await require_topics(bus, topics)
        producer = bus.producer()
        await producer.start()
    except TopicsMissing:
        raise
    except Exception as e:
        reason = explain(e, bus) or (await diagnose(bus) if isinstance(e, KafkaConnectionError) else None)
        if reason:
            raise KafkaConnectionError(reason) from e
        if isinstance(e, KafkaConnectionError):
            raise KafkaConnectionError(f"broker at {bus.bootstrap_servers} is unreachable: {BROKER_HINT}") from e
        raise
    return producer


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, parts: ServiceParts):
        self.settings = settings
        self.parts = parts
        self.app = parts.app
        self.relays: list[OutboxRelay] = []
        self.consumer: TrackingConsumer | None = None
        self.supervisor = Supervisor()
        self.topics_ready = asyncio.Event()
        self.bus = settings.bus()
        self.topics = topics_of(self.app.SERVICE.value)
        self.probe = BrokerProbe(self.bus, self.topics)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started_at = time.time()

    @property
    def name(self) -> str:
        return self.app.SERVICE.value

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.producer: AIOKafkaProducer | None = None  # started once the broker is reached
        topic = events_topic(self.app.SERVICE)
        sinks = [KafkaSink(self.bus, topic, self.settings.loss_check_seconds),
                 *[DeliverySink(name, deliver) for name, deliver in self.parts.extra_sinks]]
        self.relays = [OutboxRelay(self.app, sink, batch_size=self.settings.relay_batch_size,
                                   poll_seconds=self.settings.relay_poll_seconds) for sink in sinks]
        if self.parts.policy is not None:
            self.consumer = TrackingConsumer(
                self.app, self.parts.policy, self.parts.upstreams, None, on_saved=self.saved,  # type: ignore[arg-type]
                bus=self.bus, max_records=self.settings.consumer_max_records,
                metadata_max_age_ms=self.settings.metadata_max_age_ms)
        self.supervisor.start("topics", self._prepare_bus)
        for relay in self.relays:
            self.supervisor.start(f"relay:{relay.sink_name}", self._after_topics(relay.run))
        if self.consumer is not None:
            self.supervisor.start("consumer", self._after_topics(self.consumer.run))
        for name, consumer in self.parts.consumers:
            self.supervisor.start(name, self._after_topics(consumer.run))
        for name, run in self.parts.background:
            self.supervisor.start(name, run)
        log.info("%s started (store: %s, broker: %s)", self.app.SERVICE.value,
                 "PostgreSQL" if self.app.is_postgres else "SQLite", self.bus.describe())

    async def _prepare_bus(self) -> None:
        """Reach the broker, wait for the topics, start the producer; retried until it works."""
        producer = await connect_bus(self.bus, self.topics)
        self.producer = producer
        if self.consumer is not None:
            self.consumer.producer = producer
        for _, consumer in self.parts.consumers:
            consumer.producer = producer
        self.topics_ready.set()

    def _after_topics(self, run: Callable[[], Any]) -> Callable[[], Any]:
        async def wait_then_run() -> None:
            await self.topics_ready.wait()
            await run()
        return wait_then_run

    async def stop(self) -> None:
        for relay in self.relays:
            relay.stop()
        await self.supervisor.stop()
        for close in self.parts.closers:
            try:
                await close()
            except Exception:  # noqa: BLE001 - stopping anyway
                log.warning("closing failed while stopping", exc_info=True)
        for relay in self.relays:
            try:
                await relay.sink.close()
            except Exception:  # noqa: BLE001
                pass
        await self.probe.close()
        if self.producer is not None:
            await close_producer(self.producer)
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
            # Each service keeps one aggregate per complaint, under the complaint's id; a service with
            # aggregates of their own ids about a complaint (quality's corrective actions) names them
            # with `aggregates_of`. Their events are merged in the order they happened.
            ids = getattr(self.app, "aggregates_of", lambda c: [c])(complaint_id)
            events = [e for aggregate_id in ids for e in self.app.events.get(aggregate_id)]
            if len(ids) > 1:
                events.sort(key=lambda e: e.timestamp)
            return [event_record(e) for e in events]
        records = await asyncio.to_thread(read)
        if not records:
            raise NotFound(f"{self.app.SERVICE.value} has no events for complaint {complaint_id}")
        return records

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Ready or not, and why: store, broker, topics, every relay and the consumer.

        Not ready when the store or the broker does not answer, a topic is missing, a task
        cannot run, a consumer partition is stopped, or a relay or the consumer has made no
        progress for `stall_seconds` while work waits.
        """
        causes: list[str] = []
        now = time.time()
        stall = self.settings.stall_seconds
        report: dict[str, Any] = {"service": self.app.SERVICE.value,
                                  "store": "postgresql" if self.app.is_postgres else "sqlite"}
        try:
            store_position = await asyncio.to_thread(self.app.recorder.max_notification_id) or 0
            report["store_max_notification_id"] = store_position
        except Exception as e:  # noqa: BLE001
            store_position = None
            causes.append(f"store unreachable: {type(e).__name__}")
        broker = await self.probe.status()
        report["broker"] = "up" if broker.reachable else "down"
        report["bus"] = self.bus.describe()
        causes.extend(broker.causes)
        relays: dict[str, Any] = {}
        for relay in self.relays:
            if store_position is not None:
                relay.stats.store_position = store_position
            relays[relay.sink_name] = relay.report()
            try:
                relays[relay.sink_name]["parked_events"] = (await asyncio.to_thread(
                    relay.positions.parked, relay.sink_name))[-20:]
            except Exception:  # noqa: BLE001 - the store cause is reported above
                pass
            if relays[relay.sink_name].get("parked_events"):
                causes.append(f"relay {relay.sink_name} parked {len(relays[relay.sink_name]['parked_events'])} "
                              "event(s) it cannot publish (see parked_events)")
            idle_since = relay.stats.last_progress_at or self._started_at
            if relay.stats.lag > 0 and now - idle_since > stall:
                causes.append(f"relay {relay.sink_name} has {relay.stats.lag} notification(s) waiting and made "
                              f"no progress for {now - idle_since:.0f}s: {relay.stats.last_error or 'no error'}")
        report["relays"] = relays
        if self.consumer is not None:
            report["consumer"] = consumer_health(self.consumer, "consumer", stall, self._started_at, causes)
        for name, consumer in self.parts.consumers:
            report[name] = consumer_health(consumer, name, stall, self._started_at, causes)
        for name, section in self.parts.reports:
            report[name] = section()
        return finish_report(report, self.supervisor, causes)


def consumer_health(consumer: ChainConsumer, name: str, stall: float, started_at: float,
                    causes: list[str]) -> dict[str, Any]:
    """A consumer's section of the health report; what is wrong is added to `causes`."""
    now = time.time()
    section = consumer.report()
    for partition, reason in section["stopped"].items():
        causes.append(f"{name} stopped on {partition}: {reason}")
    waiting = bool(section["lag"]) or bool(section["gaps"])
    idle_since = consumer.stats.last_progress_at or started_at
    if waiting and now - idle_since > stall:
        causes.append(f"{name} made no progress for {now - idle_since:.0f}s with work waiting: "
                      f"{consumer.stats.last_error or 'no error'}")
    for partition, gap in section["gaps"].items():
        since = next((st.gap_since for tp, st in consumer.partitions.items()
                      if f"{tp.topic}[{tp.partition}]" == partition), None)
        if since is not None and now - since > stall:
            causes.append(f"{name} waits on {partition} for missing messages: {gap}")
    return section


def finish_report(report: dict[str, Any], supervisor: Supervisor, causes: list[str]) -> tuple[bool, dict[str, Any]]:
    """Add the supervised tasks, the alerts and the verdict to a health report. Alerts are for an operator
    to look at (a forged or forked chain on a topic); they do not make the process unready."""
    report["alerts"] = [f"{name} on {partition}: {claim}" for name, section in report.items()
                        if isinstance(section, dict)
                        for partition, claim in (section.get("unverified_claims") or {}).items()]
    tasks = supervisor.report()
    report["tasks"] = tasks
    for name, task in tasks.items():
        if task["state"] == "failed":
            causes.append(f"{name} cannot run: {task['last_error']}")
    ok = not causes
    report["status"] = "ok" if ok else "degraded"
    report["causes"] = causes
    return ok, report
