"""Routing (§5.3): where each complaint goes, and the policy reacting to ComplaintRegistered."""

from __future__ import annotations

from uuid import uuid4

import pytest
from eventsourcing.application import AggregateNotFoundError

from contracts.envelope import Actor, ServiceName, stable_event_id
from contracts.registration import RequestKind, Severity, Subject
from contracts.registry import parse_event, serialize_event
from contracts.routing import ComplaintRouted, Destination
from services.common.domain import DomainError
from services.routing.application import RoutingApplication
from services.routing.domain.case import ComplaintCase
from services.routing.domain.rules import decide_route
from services.routing.policies import route
from tests.common.builders import twice_in_one_batch, complaint_registered, in_memory, product, published, react

EXPECTED = {
    Subject.PRODUCT_QUALITY: (Destination.HQ_CLERK, "§5.3.3"),  # HQ clerk answers directly or dispatches on site
    Subject.STAFF: (Destination.SUPERVISOR, "§5.3.2"),                     # supervisor of the person investigates
    Subject.POLICY_SERVICE: (Destination.REGIONAL_MANAGER, "§5.3.1"),     # regional manager within authority
    Subject.TRANSPORT_PACKAGING: (Destination.RESPONSIBLE_DEPARTMENT, None),
    Subject.OTHER: (Destination.HQ_CLERK, None),
}


def test_every_subject_has_a_route() -> None:
    assert set(EXPECTED) == set(Subject)


@pytest.mark.parametrize("subject", list(Subject))
def test_complaints_route_by_subject(subject: Subject) -> None:
    destination, section = EXPECTED[subject]
    decision = decide_route(subject, Severity.GENERAL, RequestKind.COMPLAINT)
    assert decision.destination is destination
    assert decision.reason
    if section:
        assert section in decision.reason


@pytest.mark.parametrize("subject", list(Subject))
def test_suggestions_go_to_the_leaders_through_the_hq_clerk_not_to_a_department(subject: Subject) -> None:
    decision = decide_route(subject, Severity.GENERAL, RequestKind.SUGGESTION)
    assert decision.destination is Destination.HQ_CLERK
    assert "adopted" in decision.reason


@pytest.mark.parametrize("subject", list(Subject))
def test_inquiries_go_to_the_hq_clerk_whatever_the_subject(subject: Subject) -> None:
    decision = decide_route(subject.value, "general", "inquiry")  # plain strings as stored in events
    assert decision.destination is Destination.HQ_CLERK
    assert "24" in decision.reason


def routed_events(app: RoutingApplication) -> list[ComplaintRouted]:
    return [e for e in published(app) if isinstance(e, ComplaintRouted)]


@pytest.fixture
def app() -> RoutingApplication:
    return in_memory(RoutingApplication)


def test_registered_complaint_is_opened_and_routed(app: RoutingApplication) -> None:
    registered = complaint_registered(subject="product_quality", severity="serious")

    react(app, route, registered)

    case: ComplaintCase = app.repository.get(registered.complaint_id)
    assert case.destination == Destination.HQ_CLERK, "the HQ clerk answers directly or dispatches on site"
    assert [e.event_type for e in published(app)][:2] == ["ComplaintRouted", "ComplaintClassified"]
    [routed] = routed_events(app)
    assert routed.producer is ServiceName.ROUTING
    assert routed.destination is Destination.HQ_CLERK
    assert (routed.complaint_id, routed.form_number) == (registered.complaint_id, registered.form_number)
    assert (routed.subject, routed.severity) == (Subject.PRODUCT_QUALITY, Severity.SERIOUS)
    assert routed.description == registered.description
    assert routed.product == registered.product == product()
    assert routed.correlation_id == registered.correlation_id
    assert routed.causation_id == registered.event_id
    assert routed.actor == Actor.system(ServiceName.ROUTING)
    # The Routed event is version 2 of the case aggregate (Opened is version 1).
    assert routed.event_id == stable_event_id(ServiceName.ROUTING, registered.complaint_id, 2)
    assert parse_event(serialize_event(routed)) == routed


@pytest.mark.parametrize(("subject", "kind", "destination"), [
    ("staff", "complaint", Destination.SUPERVISOR),
    ("policy_service", "complaint", Destination.REGIONAL_MANAGER),
    ("product_quality", "inquiry", Destination.HQ_CLERK),
])
def test_policy_routes_by_classification(app: RoutingApplication, subject: str, kind: str,
                                         destination: Destination) -> None:
    extra = {} if subject == "product_quality" else {"product": None}
    react(app, route, complaint_registered(subject=subject, kind=kind, **extra))
    [routed] = routed_events(app)
    assert routed.destination is destination
    assert routed.product is None if extra else routed.product is not None


def test_minor_complaint_resolved_on_the_spot_is_not_routed(app: RoutingApplication) -> None:
    registered = complaint_registered(subject="policy_service", severity="minor", product=None,
                                      resolved_on_the_spot="Invoice re-sent by e-mail; customer satisfied.")
    assert react(app, route, registered) == 0
    with pytest.raises(AggregateNotFoundError):
        app.repository.get(registered.complaint_id)
    assert published(app) == []


def test_minor_complaint_not_resolved_on_the_spot_is_routed(app: RoutingApplication) -> None:
    registered = complaint_registered(subject="policy_service", severity="minor", product=None)
    react(app, route, registered)
    [routed] = routed_events(app)
    assert routed.destination is Destination.REGIONAL_MANAGER


def test_second_delivery_of_the_same_registration_adds_nothing(app: RoutingApplication) -> None:
    registered = complaint_registered()
    react(app, route, registered)
    before = len(published(app))
    # Seen again at a later position (so tracking alone would not stop it): the policy adds nothing.
    assert react(app, route, registered, position=99) == 0
    assert len(published(app)) == before and len(routed_events(app)) == 1


def test_same_registration_twice_in_one_batch_routes_once(app: RoutingApplication) -> None:
    stored = twice_in_one_batch(app, route, complaint_registered())
    assert stored.count("Opened") == 1 and stored.count("Routed") == 1


def test_other_complaints_are_routed_independently(app: RoutingApplication) -> None:
    a, b = complaint_registered(), complaint_registered(subject="staff", product=None)
    react(app, route, a)
    react(app, route, b)
    assert {(e.complaint_id, e.destination) for e in routed_events(app)} == {
        (a.complaint_id, Destination.HQ_CLERK), (b.complaint_id, Destination.SUPERVISOR)}


def test_routing_a_case_twice_is_refused_naming_the_field(app: RoutingApplication) -> None:
    registered = complaint_registered()
    react(app, route, registered)
    case: ComplaintCase = app.repository.get(registered.complaint_id)
    version = case.version

    with pytest.raises(DomainError) as refused:
        case.route(case.meta.caused_by(uuid4()))

    assert refused.value.field == "destination"
    assert "hq_clerk" in str(refused.value)
    assert refused.value.status == 409
    assert case.version == version and case.pending_events == []


def test_a_withdrawal_at_intake_closes_the_case_once_and_deletes_nothing(app: RoutingApplication) -> None:
    from contracts.registration import ComplaintWithdrawn
    from contracts.routing import ComplaintClosed
    from tests.common.builders import envelope

    registered = complaint_registered(subject="staff")
    react(app, route, registered)
    withdrawn = ComplaintWithdrawn(**envelope(ServiceName.INTAKE, complaint_id=registered.complaint_id,
                                              form_number=registered.form_number),
                                   reason="settled with the salesperson", recorded_by="clerk-li",
                                   state_at_withdrawal="registered")
    react(app, route, withdrawn)
    react(app, route, withdrawn)
    closed = [e for e in published(app) if isinstance(e, ComplaintClosed)]
    assert len(closed) == 1
    assert closed[0].outcome.value == "withdrawn" and "settled with the salesperson" in closed[0].resolution_summary
    assert closed[0].received_at == registered.received_at
    case: ComplaintCase = app.repository.get(registered.complaint_id)
    assert case.destination == "supervisor", "the route stays on record"
