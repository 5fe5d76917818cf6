"""UnitOfWork: each aggregate loaded once per batch and changed in memory."""

from __future__ import annotations

from uuid import uuid4

from services.common.consumer import UnitOfWork
from services.routing.application import RoutingApplication
from services.routing.domain.case import ComplaintCase
from services.routing.policies import route
from tests.common.builders import complaint_registered, in_memory, react


def stored_case(app: RoutingApplication) -> ComplaintCase:
    registered = complaint_registered()
    react(app, route, registered)
    return app.repository.get(registered.complaint_id)


def test_get_returns_the_same_instance_within_a_batch() -> None:
    app = in_memory(RoutingApplication)
    case_id = stored_case(app).id
    uow = UnitOfWork(app)

    first = uow.get(case_id)
    first.destination = "changed in memory"
    second = uow.get(case_id)

    assert second is first
    assert second.destination == "changed in memory"
    assert app.repository.get(case_id).destination == "hq_clerk"  # the store is untouched


def test_separate_batches_load_separately() -> None:
    app = in_memory(RoutingApplication)
    case_id = stored_case(app).id
    assert UnitOfWork(app).get(case_id) is not UnitOfWork(app).get(case_id)


def test_unknown_aggregate_is_none_until_added() -> None:
    app = in_memory(RoutingApplication)
    uow = UnitOfWork(app)
    registered = complaint_registered()
    assert uow.get(registered.complaint_id) is None
    assert uow.get(uuid4()) is None

    route(registered, uow)

    added = uow.get(registered.complaint_id)
    assert isinstance(added, ComplaintCase)
    assert uow.get(registered.complaint_id) is added
    assert list(uow.aggregates)[0] == registered.complaint_id
    assert all(a is added or type(a).__name__ == "RepeatIndex" for a in uow.aggregates.values())
