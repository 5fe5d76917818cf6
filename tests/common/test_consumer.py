"""TrackingConsumer: skips what its tracking position has seen, refuses what the domain rejects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from contracts.envelope import Envelope, ServiceName
from contracts.registry import serialize_event
from contracts.topics import dead_letter_topic, events_topic
from services.common.consumer import Rejected, TrackingConsumer, UnitOfWork, tracking_name
from services.common.domain import DomainError
from services.routing.application import RoutingApplication
from services.routing.policies import routing_policy
from tests.common.builders import complaint_registered, in_memory, published

TOPIC = events_topic(ServiceName.INTAKE)
NAME = tracking_name(ServiceName.INTAKE, 0)


def record(event: Envelope | None, offset: int, value: bytes | None = None) -> ConsumerRecord:
    value = value if value is not None else serialize_event(event)
    return ConsumerRecord(topic=TOPIC, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=None,
                          value=value, checksum=None, serialized_key_size=0,
                          serialized_value_size=len(value), headers=[])


def registrations(*notification_ids: int) -> list[tuple[ConsumerRecord, Envelope]]:
    events = [complaint_registered(notification_id=n) for n in notification_ids]
    return [(record(e, offset), e) for offset, e in enumerate(events)]


class Recording:
    """A policy that remembers what it saw and routes it."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, event: Envelope, uow: UnitOfWork) -> None:
        self.seen.append(event.notification_id)
        routing_policy(event, uow)


@pytest.fixture
def app() -> RoutingApplication:
    return in_memory(RoutingApplication)


def consumer(app: RoutingApplication, policy: Any) -> TrackingConsumer:
    return TrackingConsumer(app, policy, [ServiceName.INTAKE], producer=None)  # type: ignore[arg-type]


def test_events_at_or_below_the_tracked_position_are_skipped(app: RoutingApplication) -> None:
    app.save_processed([], Tracking(NAME, 5))
    policy = Recording()
    items = registrations(3, 5, 6, 7)

    uow, fresh, refused = consumer(app, policy)._react(NAME, items)

    assert policy.seen == [6, 7]
    assert [e.notification_id for e in fresh] == [6, 7]
    assert refused == []
    assert set(uow.aggregates) == {items[2][1].complaint_id, items[3][1].complaint_id}


def test_skipped_duplicates_are_counted(app: RoutingApplication) -> None:
    app.save_processed([], Tracking(NAME, 5))
    c = consumer(app, Recording())
    c._react(NAME, registrations(3, 5, 6))
    assert c.stats.skipped_duplicates == 2


def test_position_is_per_tracking_name(app: RoutingApplication) -> None:
    app.save_processed([], Tracking(NAME, 5))
    policy = Recording()
    _, fresh, _ = consumer(app, policy)._react(tracking_name(ServiceName.INTAKE, 1), registrations(3, 5, 6))
    assert policy.seen == [3, 5, 6]
    assert len(fresh) == 3


def test_a_repeat_within_the_batch_is_skipped(app: RoutingApplication) -> None:
    items = registrations(1, 2)
    items.append((record(items[1][1], 2), items[1][1]))  # the same message delivered twice in one batch
    policy = Recording()
    _, fresh, _ = consumer(app, policy)._react(NAME, items)
    assert policy.seen == [1, 2]
    assert [e.notification_id for e in fresh] == [1, 2]


def test_refused_event_is_rejected_and_the_others_still_processed(app: RoutingApplication) -> None:
    items = registrations(1, 2, 3)
    bad = items[1][1]

    def policy(event: Envelope, uow: UnitOfWork) -> None:
        routing_policy(event, uow)  # half-applies: the case is opened and routed in the unit of work ...
        if event.complaint_id == bad.complaint_id:
            raise DomainError("no such branch", field="branch")  # ... and then the domain refuses

    uow, fresh, refused = consumer(app, policy)._react(NAME, items)

    assert [r.record for r in refused] == [items[1][0]]
    assert isinstance(refused[0], Rejected)
    assert "routing" in refused[0].reason and "branch: no such branch" in refused[0].reason
    # Nothing of the refused event stays; the others are processed.
    assert set(uow.aggregates) == {items[0][1].complaint_id, items[2][1].complaint_id}
    # The position moves past the refused event too, so it is not refused again on redelivery.
    assert [e.notification_id for e in fresh] == [1, 2, 3]

    app.save_processed(list(uow.aggregates.values()), Tracking(NAME, fresh[-1].notification_id))
    assert {e.complaint_id for e in published(app)} == {items[0][1].complaint_id, items[2][1].complaint_id}
    with pytest.raises(AggregateNotFoundError):
        app.repository.get(bad.complaint_id)
    assert app.recorder.max_tracking_id(NAME) == 3


def test_several_refused_events(app: RoutingApplication) -> None:
    items = registrations(1, 2, 3, 4)
    refuse = {items[0][1].complaint_id, items[2][1].complaint_id}

    def policy(event: Envelope, uow: UnitOfWork) -> None:
        if event.complaint_id in refuse:
            raise DomainError("refused")
        routing_policy(event, uow)

    uow, fresh, refused = consumer(app, policy)._react(NAME, items)
    assert sorted(r.record.offset for r in refused) == [0, 2]
    assert set(uow.aggregates) == {items[1][1].complaint_id, items[3][1].complaint_id}
    assert len(fresh) == 4


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, **kwargs: Any) -> None:
        self.sent.append({"topic": topic, **kwargs})


async def test_batch_redelivered_produces_nothing_new_and_no_second_dead_letter(app: RoutingApplication) -> None:
    producer = FakeProducer()
    c = TrackingConsumer(app, routing_policy, [ServiceName.INTAKE], producer=producer)  # type: ignore[arg-type]
    good = complaint_registered(notification_id=1)
    unreadable = json.dumps({"event_type": "ComplaintRegistered", "schema_version": 1}).encode()
    routing_event = complaint_registered(notification_id=2, producer=ServiceName.ROUTING)  # wrong topic
    records = [record(good, 0), record(None, 1, unreadable), record(routing_event, 2)]

    await c.process_partition(TOPIC, 0, records)

    assert len(published(app)) == 1
    assert app.recorder.max_tracking_id(NAME) == 1
    assert [s["topic"] for s in producer.sent] == [dead_letter_topic(TOPIC)] * 2
    reasons = [dict(s["headers"])["error"].decode() for s in producer.sent]
    assert reasons[0].startswith("unreadable")
    assert "producer" in reasons[1]

    await c.process_partition(TOPIC, 0, [records[0]])  # redelivered
    assert len(published(app)) == 1
    assert c.stats.processed == 1
    assert c.stats.skipped_duplicates == 1
