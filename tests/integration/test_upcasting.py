"""Upcasting on replay: an event published under an older schema version is read as the current one.

A v1 `ComplaintClosed` is published on routing's topic (a real broker); then the contract changes (a
test-only v2 adds `closed_by`, with an upcaster that fills it from the v1 message) and HQ's read model is
replayed from the topic into PostgreSQL: the projection sees a v2 event, and its timeline says so."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from contracts import registry, routing
from contracts.envelope import ServiceName
from contracts.topics import events_topic
from services.common.readmodel import ReadModelStore
from services.common.replay import project
from services.hq.domain.model import SCHEMA
from services.hq.policies import projector
from tests.contracts.conftest import FORM, event_data
from tests.contracts.test_registry import ComplaintClosedV2, closed_v2  # noqa: F401 - the fixture
from tests.integration.conftest import send_chain

pytestmark = pytest.mark.integration


@pytest.fixture
def store(new_database: Callable[[], str]) -> Iterator[ReadModelStore]:
    s = ReadModelStore(SCHEMA, new_database())
    s.create()
    yield s
    s.close()


async def test_a_v1_event_on_the_topic_is_projected_as_the_current_v2_after_the_contract_changed(
        broker: Any, producer: Any, store: ReadModelStore, request: pytest.FixtureRequest) -> None:
    registered = event_data(registry.EVENT_TYPES["ComplaintRegistered"], notification_id=1, **FORM)
    closed = event_data(routing.ComplaintClosed, notification_id=2, event_id="55555555-5555-4555-8555-000000000002",
                        outcome="resolved", resolution_summary="Refunded", subject="product_quality",
                        severity="general", kind="complaint", received_at=FORM["received_at"])
    assert closed["schema_version"] == 1
    await send_chain(producer, events_topic(ServiceName.INTAKE), [(json.dumps(registered).encode(), 1, 0)])
    await send_chain(producer, events_topic(ServiceName.ROUTING), [(json.dumps(closed).encode(), 2, 0)],
                     header_producer="routing")

    request.getfixturevalue("closed_v2")  # the contract changes: v2 is current from here on
    seen: list[Any] = []

    @registry.upcaster("ComplaintClosed", 1)
    def add_closed_by(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "closed_by": data["actor"]["user_id"]}

    project_hq = projector()

    def watching(event: Any, rows: Any) -> None:
        seen.append(event)
        project_hq(event, rows)

    report = await project(store, watching, [ServiceName.INTAKE, ServiceName.ROUTING], broker.bus, "hq")
    assert report.processed == 2 and not report.gaps
    [upcast] = [e for e in seen if e.event_type == "ComplaintClosed"]
    assert type(upcast) is ComplaintClosedV2 and upcast.closed_by == "clerk-li"
    rows = await asyncio.to_thread(store.rows, "timeline")
    [timeline] = [r for r in rows if r["event_type"] == "ComplaintClosed"]
    assert timeline["schema_version"] == 2 and timeline["changes"]["closed_by"] == "clerk-li"
    [complaint] = await asyncio.to_thread(store.rows, "complaints")
    assert (complaint["stage"], complaint["closure_outcome"]) == ("closed", "resolved")
