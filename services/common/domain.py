"""Pure domain building blocks shared by every service: no I/O here.

Every stored event carries an `EventMeta`: which complaint it concerns, its form
number, and who caused it (correlation, causation, actor). The relay builds the
envelope of the published integration event from it, so a later reader needs no lookup.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from pydantic_core import to_jsonable_python

from contracts.envelope import Actor, Envelope, FormNumber, Frozen


class DomainError(Exception):
    """A command or upstream fact breaks a business rule. `field` names what is wrong."""

    status = 409

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFound(DomainError):
    status = 404


class InvalidCommand(DomainError):
    """The command contradicts itself or its request (e.g. the path names another complaint)."""

    status = 422


class EventMeta(Frozen):
    complaint_id: UUID
    form_number: FormNumber
    correlation_id: UUID
    causation_id: UUID | None = None
    actor: Actor

    def caused_by(self, causation_id: UUID, actor: Actor | None = None) -> EventMeta:
        return self.model_copy(update={"causation_id": causation_id, "actor": actor or self.actor})

    @classmethod
    def from_upstream(cls, upstream: Envelope, actor: Actor) -> EventMeta:
        """Meta for an event caused by an upstream integration event."""
        return cls(
            complaint_id=upstream.complaint_id,
            form_number=upstream.form_number,
            correlation_id=upstream.correlation_id,
            causation_id=upstream.event_id,
            actor=actor,
        )


class ComplaintAggregate(Aggregate):
    """An aggregate identified by the complaint it belongs to (one per complaint per service)."""

    @staticmethod
    def create_id(meta: EventMeta, **_: Any) -> UUID:
        return meta.complaint_id

    class Event(Aggregate.Event):
        #: The contracts class this event is published as; None keeps it internal.
        PUBLISHED_AS: ClassVar[type[Envelope] | None] = None

    class Created(Event, Aggregate.Created):
        pass


_INTERNAL_ATTRS = {"originator_id", "originator_version", "timestamp", "originator_topic", "meta"}


def event_record(event: Any) -> dict[str, Any]:
    """A stored event as JSON for a history view: type, version, time, and its data."""
    data = {k: v for k, v in event.__dict__.items() if k not in _INTERNAL_ATTRS}
    meta = getattr(event, "meta", None)
    return {
        "event_type": type(event).__qualname__.split(".")[-1],
        "aggregate": type(event).__qualname__.split(".")[0],
        "aggregate_id": str(event.originator_id),
        "version": event.originator_version,
        "occurred_at": to_jsonable_python(event.timestamp),
        "published_as": getattr(getattr(type(event), "PUBLISHED_AS", None), "__name__", None),
        "meta": to_jsonable_python(meta) if meta is not None else None,
        "data": to_jsonable_python(data),
    }


def fact_classes(owner: type, contracts: tuple[type, ...], extra: dict[str, dict[str, Any]] | None = None,
                 common: dict[str, Any] | None = None) -> dict[str, type]:
    """Stored event classes of `owner` made from the contracts they are published as: each carries the
    contract's own fields (not the envelope's) plus `meta`, so the stored event and the message cannot
    drift apart; `extra[name]` and `common` add fields the service keeps to itself. Each is applied by
    `owner._on(event)` and set on `owner` under the contract's name (`owner.ComplaintClosed`, say)."""
    facts: dict[str, type] = {}
    for contract in contracts:
        fields = [name for name in contract.model_fields if name not in Envelope.model_fields]
        annotations = ({"meta": EventMeta} | {name: Any for name in fields}
                       | (extra or {}).get(contract.__name__, {}) | (common or {}))
        namespace = {"__annotations__": annotations, "PUBLISHED_AS": contract, "__module__": owner.__module__,
                     "__qualname__": f"{owner.__name__}.{contract.__name__}", "__doc__": contract.__doc__,
                     "apply": lambda self, aggregate: aggregate._on(self)}
        facts[contract.__name__] = type(contract.__name__, (owner.Event,), namespace)
        setattr(owner, contract.__name__, facts[contract.__name__])
    return facts
