"""TrackingConsumer decisions, without a broker: the chain of notification ids per partition,
refusals that go aside, and nothing half-applied."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking
from hypothesis import given
from hypothesis import strategies as st

from contracts.envelope import Envelope, ServiceName
from contracts.registry import serialize_event
from contracts.topics import dead_letter_topic, events_topic
from services.common.consumer import Inbound, Step, TrackingConsumer, UnitOfWork, chain_step, tracking_name
from services.common.domain import DomainError
from services.routing.application import RoutingApplication
from services.routing.domain.case import ComplaintCase
from services.routing.domain.repeats import RepeatIndex
from services.routing.policies import route
from tests.common.builders import complaint_registered, in_memory, published

TOPIC = events_topic(ServiceName.INTAKE)
NAME = tracking_name(ServiceName.INTAKE, 0)


def record(value: bytes, offset: int, nid: int | None, previous: int | None,
           producer: str = "intake") -> ConsumerRecord:
    headers = [("producer", producer.encode())]
    if nid is not None:
        headers.append(("notification_id", str(nid).encode()))
    if previous is not None:
        headers.append(("previous_notification_id", str(previous).encode()))
    return ConsumerRecord(topic=TOPIC, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=None,
                          value=value, checksum=None, serialized_key_size=0,
                          serialized_value_size=len(value), headers=headers)


def chain(*notification_ids: int, start: int = 0) -> list[ConsumerRecord]:
    """Registrations with these ids, each naming the one before it as its previous."""
    records, previous = [], start
    for offset, nid in enumerate(notification_ids):
        records.append(record(serialize_event(complaint_registered(notification_id=nid)), offset, nid, previous))
        previous = nid
    return records


class Recording:
    """A policy that remembers what it saw and routes it."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, event: Envelope, uow: UnitOfWork) -> None:
        self.seen.append(event.notification_id)
        route(event, uow)


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, **kwargs: Any) -> None:
        self.sent.append({"topic": topic, **kwargs})


@pytest.fixture
def app() -> RoutingApplication:
    return in_memory(RoutingApplication)


def consumer(app: RoutingApplication, policy: Any, producer: Any = None) -> TrackingConsumer:
    return TrackingConsumer(app, policy, [ServiceName.INTAKE], producer=producer)  # type: ignore[arg-type]


def plan(c: TrackingConsumer, records: list[ConsumerRecord]):
    return c._plan(TOPIC, NAME, [Inbound.read(r) for r in records])


@given(st.integers(0, 10**6), st.integers(1, 10**6), st.integers(0, 10**6))
def test_chain_step_never_processes_what_is_not_next(position: int, nid: int, previous: int) -> None:
    step = chain_step(position, nid, previous)
    if nid <= position:
        assert step is Step.DUPLICATE
    elif previous == position:
        assert step is Step.NEXT
    else:
        assert step in (Step.GAP, Step.CONFLICT)


def test_duplicates_are_skipped_and_the_next_ones_processed(app: RoutingApplication) -> None:
    app.save_processed([], Tracking(NAME, 5))
    policy = Recording()
    result = plan(consumer(app, policy), chain(3, 5, 6, 7, start=1))
    assert policy.seen == [6, 7]
    assert (result.position, result.new_position, result.duplicates, result.processed) == (5, 7, 2, 2)
    assert result.gap is None and result.dead == []


def test_a_later_message_arriving_first_waits_for_its_predecessor(app: RoutingApplication) -> None:
    a, b, c = chain(2, 4, 6)
    policy = Recording()
    result = plan(consumer(app, policy), [c, a, b])  # 6 arrived before 2 and 4
    assert policy.seen == [2, 4, 6], "processed in chain order, not arrival order"
    assert result.new_position == 6 and result.gap is None


def test_a_gap_is_reported_and_nothing_is_skipped_over(app: RoutingApplication) -> None:
    records = chain(2, 4, 6)
    policy = Recording()
    result = plan(consumer(app, policy), [records[0], records[2]])  # 4 never arrived
    assert policy.seen == [2]
    assert result.new_position == 2
    assert result.gap is not None and "processed up to notification 2, got 6 whose previous is 4" in result.gap


def test_a_forged_message_with_a_huge_id_moves_nothing(app: RoutingApplication) -> None:
    forged = record(serialize_event(complaint_registered(notification_id=10**12)), 0, 10**12, 10**12 - 1)
    policy = Recording()
    result = plan(consumer(app, policy), [forged, *chain(2, 4)])
    assert policy.seen == [2, 4] and result.new_position == 4


def test_position_is_per_tracking_name(app: RoutingApplication) -> None:
    app.save_processed([], Tracking(tracking_name(ServiceName.INTAKE, 1), 5))
    policy = Recording()
    plan(consumer(app, policy), chain(3, 5, 6))
    assert policy.seen == [3, 5, 6]


def test_a_refused_event_is_dead_lettered_nothing_of_it_stays_and_the_chain_moves_on(app: RoutingApplication) -> None:
    records = chain(1, 2, 3)
    bad = json.loads(records[1].value)["complaint_id"]

    def policy(event: Envelope, uow: UnitOfWork) -> None:
        route(event, uow)  # half-applies: the case is opened and routed in the unit of work ...
        if str(event.complaint_id) == bad:
            raise DomainError("no such branch", field="branch")  # ... and then the domain refuses

    result = plan(consumer(app, policy), records)
    assert [r.record.offset for r in result.dead] == [1]
    assert "refused by routing" in result.dead[0].reason and "branch: no such branch" in result.dead[0].reason
    cases = {str(i) for i, a in result.uow.aggregates.items() if isinstance(a, ComplaintCase)}
    assert cases == {json.loads(records[i].value)["complaint_id"] for i in (0, 2)}
    noted = [e["complaint_id"] for a in result.uow.aggregates.values() if isinstance(a, RepeatIndex) for e in a.entries]
    assert bad not in noted, "the repeat index of the refused event is rolled back with it"
    assert result.new_position == 3, "the position moves past the refused event, so redelivery refuses nothing"
    app.save_processed(list(result.uow.aggregates.values()), Tracking(NAME, result.new_position))
    with pytest.raises(AggregateNotFoundError):
        app.repository.get(json.loads(records[1].value)["complaint_id"])


@pytest.mark.parametrize("error", [ValueError("misuse_resolution: required"), TypeError("bad"), KeyError("x"),
                                   RecursionError("deep")])
def test_any_non_transient_policy_error_is_a_refusal(app: RoutingApplication, error: Exception) -> None:
    records = chain(1, 2)
    bad = json.loads(records[0].value)["complaint_id"]

    def policy(event: Envelope, uow: UnitOfWork) -> None:
        if str(event.complaint_id) == bad:
            raise error
        route(event, uow)

    result = plan(consumer(app, policy), records)
    assert [r.record.offset for r in result.dead] == [0]
    assert type(error).__name__ in result.dead[0].reason
    assert result.processed == 1 and result.new_position == 2


def test_a_transient_error_is_raised_for_a_retry(app: RoutingApplication) -> None:
    from eventsourcing.persistence import OperationalError

    def policy(event: Envelope, uow: UnitOfWork) -> None:
        raise OperationalError("the database went away")

    with pytest.raises(OperationalError):
        plan(consumer(app, policy), chain(1))


@pytest.mark.parametrize(("value", "nid", "previous", "producer", "reason"), [
    (b"\xff not json", 1, 0, "intake", "unreadable"),
    (json.dumps({"event_type": ["ComplaintRegistered"]}).encode(), 1, 0, "intake", "unreadable"),
    (b"[" * 5000 + b"]" * 5000, 1, 0, "intake", "unreadable"),
    (b"{}", None, None, "intake", "unchained"),
    (b"{}", 1, 0, "billing", "producer"),
])
def test_messages_that_can_never_be_processed_go_aside(app: RoutingApplication, value: bytes, nid: int | None,
                                                      previous: int | None, producer: str, reason: str) -> None:
    result = plan(consumer(app, Recording()), [record(value, 0, nid, previous, producer)])
    assert [r.reason.split(":")[0] for r in result.dead] == [reason]


async def test_a_redelivered_batch_produces_nothing_new_and_no_second_dead_letter(app: RoutingApplication) -> None:
    producer = FakeProducer()
    c = consumer(app, route, producer)
    good = chain(1)[0]
    unreadable = record(json.dumps({"event_type": "ComplaintRegistered", "schema_version": 1}).encode(), 1, 2, 1)
    records = [good, unreadable]

    await c.process(TOPIC, 0, records)
    first = len(published(app))
    assert first >= 1 and published(app)[0].event_type == "ComplaintRouted"
    assert app.recorder.max_tracking_id(NAME) == 1, "the unreadable message's id is not counted as seen"
    assert [s["topic"] for s in producer.sent] == [dead_letter_topic("routing")]

    await c.process(TOPIC, 0, records)  # redelivered
    assert len(published(app)) == first
    assert len(producer.sent) == 1, "a message dead-lettered once is not dead-lettered again"
    assert c.stats.processed == 1 and c.stats.skipped_duplicates == 2


@pytest.mark.parametrize("body", [
    b"\xff not json",
    json.dumps({"event_type": "ComplaintRegistered", "schema_version": 3}).encode(),
    b"forged",
])
def test_an_unreadable_message_never_counts_as_seen_so_the_genuine_chain_goes_on(app: RoutingApplication,
                                                                                 body: bytes) -> None:
    """Architecture rule 9, reproduced with forged relay headers (issue 20): unreadable bodies claiming to
    follow the partition's last real message, with ids a million higher, were dead-lettered but moved the
    position to the forged id, and every later genuine message counted as a duplicate."""
    app.save_processed([], Tracking(NAME, 7))
    forged = [record(body, i, 1_000_008 + i, 7 if i == 0 else 1_000_007 + i) for i in range(5)]
    genuine = [dataclasses.replace(r, offset=offset) for offset, r in enumerate(chain(9, 11, 12, 15, start=7), 5)]
    policy = Recording()
    result = plan(consumer(app, policy), [*forged, *genuine])
    assert policy.seen == [9, 11, 12, 15], "every genuine message after the forged ones is processed"
    assert result.new_position == 15 and result.duplicates == 0
    assert [r.record.offset for r in result.dead] == [0, 1, 2, 3, 4], "each forged message goes aside"
    assert len(result.unverified) == 5, "a fork: the genuine message followed the verified position"


def test_unreadable_messages_a_readable_one_follows_are_walked_through(app: RoutingApplication) -> None:
    """The other side of rule 9: a relay's own message no consumer can read (its contract was broken
    by a bug) is followed by readable messages naming it as their previous: the chain goes on through it,
    across batches too."""
    c = consumer(app, Recording())
    first, second = chain(1)[0], record(b"\xff unreadable", 1, 2, 1)
    result = plan(c, [first, second])
    assert result.new_position == 1 and result.cursor == 2 and result.hops == [2] and not result.unverified
    app.save_processed(list(result.uow.aggregates.values()), Tracking(NAME, result.new_position))
    c._count(result, NAME)
    later = [dataclasses.replace(r, offset=r.offset + 2) for r in chain(3, 4, start=2)]
    result = plan(c, later)  # the next batch: 3 names 2 as its previous
    assert result.new_position == 4 and result.processed == 2 and result.gap is None and not result.unverified


def test_a_body_whose_id_differs_from_its_header_moves_nothing(app: RoutingApplication) -> None:
    real = complaint_registered(notification_id=2)
    lying = record(serialize_event(real), 0, 10**6, 0)  # the header claims an id the body does not
    policy = Recording()
    result = plan(consumer(app, policy), [lying, *chain(2, 4)[0:1]])
    assert policy.seen == [2] and result.new_position == 2
    assert "differ from the body" in result.dead[0].reason and len(result.unverified) == 1
