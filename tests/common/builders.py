"""Builders shared by the service unit tests: commands, upstream events, in-memory apps.

Everything here runs on `eventsourcing.popo` (in-memory, with a process recorder), so no
broker and no database are needed.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, TypeVar
from uuid import uuid4

from eventsourcing.persistence import Tracking

from contracts.billing import CostAllocated, CostItem, CostLine, Payer
from contracts.envelope import Actor, Envelope, Role, ServiceName
from contracts.quality import InspectionRecord, OnSiteDeterminationRecorded, OnSiteInspectionStep
from contracts.registration import ComplaintRegistered, Customer, ProductDetails, RegisterComplaint
from contracts.routing import ComplaintRouted, Destination
from services.common.consumer import Policy, UnitOfWork
from services.common.publishing import to_integration_event
from services.common.store import ServiceApplication

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}

CLERK = Actor(user_id="clerk-li", role=Role.BRANCH_CLERK, branch="SH01")
MANAGER = Actor(user_id="rm-wang", role=Role.REGIONAL_MANAGER, branch="SH01")

A = TypeVar("A", bound=ServiceApplication)


def in_memory(cls: type[A]) -> A:
    return cls(env=dict(POPO))


def product(**overrides: Any) -> ProductDetails:
    values: dict[str, Any] = dict(model="GX-200", batch_number="B2026-1107", quantity=2,
                                  order_date=date(2026, 11, 1), shipping_date=date(2026, 11, 9),
                                  arrival_date=date(2026, 11, 12))
    return ProductDetails(**(values | overrides))


def customer(**overrides: Any) -> Customer:
    values: dict[str, Any] = dict(name="Shanghai Hengda Machinery Co.", contact_person="Mr. Zhao",
                                  phone="+86 21 5555 0101", address="88 Pudong Ave, Shanghai")
    return Customer(**(values | overrides))


def form_fields(**overrides: Any) -> dict[str, Any]:
    """A complete, read-back product-quality registration form."""
    values: dict[str, Any] = dict(
        branch="SH01", channel="phone", kind="complaint", subject="product_quality", severity="general",
        customer=customer(), description="Gearbox housing cracked on arrival; oil leaking at the seam.",
        product=product(), received_at=datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc),
        read_back_confirmed=True,
    )
    return values | overrides


def register_command(**overrides: Any) -> RegisterComplaint:
    values: dict[str, Any] = dict(command_id=uuid4(), actor=CLERK) | form_fields()
    return RegisterComplaint(**(values | overrides))


def envelope(default_producer: ServiceName, **overrides: Any) -> dict[str, Any]:
    """Envelope fields of an upstream event; `overrides` may replace any of them (producer too)."""
    producer = overrides.get("producer", default_producer)
    values: dict[str, Any] = dict(
        event_id=uuid4(), complaint_id=uuid4(), form_number="SH01-20261125-0001",
        occurred_at=datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc), producer=producer,
        notification_id=1, correlation_id=uuid4(), causation_id=uuid4(),
        actor=Actor.system(producer),
    )
    return values | overrides


def complaint_registered(**overrides: Any) -> ComplaintRegistered:
    fields = form_fields(**{k: v for k, v in overrides.items() if k in form_fields()})
    env = envelope(ServiceName.INTAKE, **({"actor": CLERK} | {k: v for k, v in overrides.items() if k not in fields}))
    return ComplaintRegistered(**env, **fields)


def complaint_routed(destination: Destination | str = Destination.QUALITY_DEPARTMENT,
                     **overrides: Any) -> ComplaintRouted:
    payload: dict[str, Any] = dict(destination=destination, reason="§5.3.3 product quality",
                                   subject="product_quality", severity="general",
                                   description="Gearbox housing cracked on arrival.", product=product())
    payload |= {k: v for k, v in overrides.items() if k in payload}
    return ComplaintRouted(**envelope(ServiceName.ROUTING,
                                      **{k: v for k, v in overrides.items() if k not in payload}), **payload)


#: The SHA-256 of a photo a test stores first (`stored_photo`): the hash a determination names.
PHOTO_SHA = "a" * 64


def findings(**overrides: Any) -> OnSiteInspectionStep:
    """An on-site inspection record (an obvious quality defect with one photo by default)."""
    values: dict[str, Any] = dict(determination="obvious_quality_defect",
                                  photo_refs=["photos/crack-1.jpg", "photos/crack-2.jpg"],
                                  memo="Casting flaw along the housing seam.", customer_agrees=True,
                                  visited_at=datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc),
                                  cause="Casting pore at the seam", samples_taken=["housing fragment"],
                                  evidence=[PHOTO_SHA])
    if overrides.get("misuse_resolution") == "fixed_on_site":
        values |= dict(written_feedback="Tightened and refilled; runs dry.", customer_opinion="Satisfied")
    if overrides.get("misuse_resolution") == "simple_part_swap":
        values |= dict(parts_used=[{"part_no": "SEAL-40", "quantity": 1}])
    return OnSiteInspectionStep(**(values | overrides))


def determination_recorded(**overrides: Any) -> OnSiteDeterminationRecorded:
    payload: dict[str, Any] = dict(findings().model_dump()) | dict(inspector="rm-wang", product=product())
    payload |= {k: v for k, v in overrides.items() if k in payload or k in InspectionRecord.model_fields}
    return OnSiteDeterminationRecorded(
        **envelope(ServiceName.QUALITY, **({"actor": MANAGER} | {k: v for k, v in overrides.items()
                                                                 if k not in payload})), **payload)


def cost_allocated(**overrides: Any) -> CostAllocated:
    payload: dict[str, Any] = dict(
        determination="obvious_quality_defect", rule="§5.5 obvious quality defect",
        lines=[CostLine(item=CostItem.REPLACEMENT, payer=Payer.COMPANY),
               CostLine(item=CostItem.RETURN_TRANSPORT, payer=Payer.COMPANY)])
    payload |= {k: v for k, v in overrides.items() if k in payload or k == "misuse_resolution"}
    return CostAllocated(**envelope(ServiceName.BILLING,
                                    **{k: v for k, v in overrides.items() if k not in payload}), **payload)


def stored_events(app: ServiceApplication) -> list[Any]:
    """Every domain event in the app's notification log, in order."""
    return [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 10_000)]


def published(app: ServiceApplication) -> list[Envelope]:
    """What the outbox relay would publish from the app's whole log."""
    out = []
    for n in app.recorder.select_notifications(1, 10_000):
        event = to_integration_event(app.SERVICE, app.mapper.to_domain_event(n), n.id)
        if event is not None:
            out.append(event)
    return out


def react(app: ServiceApplication, policy: Policy, event: Envelope, position: int | None = None) -> int:
    """Run a policy on one upstream event the way the consumer does; returns events saved."""
    uow = UnitOfWork(app)
    policy(event, uow)
    name = f"{event.producer.value}/p0"
    if position is None:
        position = (app.recorder.max_tracking_id(name) or 0) + 1
    recordings = app.save_processed(list(uow.aggregates.values()), Tracking(name, position))
    return len(recordings)


def twice_in_one_batch(app: ServiceApplication, policy: Policy, event: Envelope) -> list[str]:
    """Run a policy on the same event twice within one unit of work; the pending event names
    of the complaint's aggregate (a batch may carry a duplicate)."""
    uow = UnitOfWork(app)
    policy(event, uow)
    policy(event, uow)
    aggregate = uow.aggregates[event.complaint_id]
    return [type(e).__name__ for e in aggregate.pending_events]
