"""From a stored domain event to the integration event published on the service's topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification
from pydantic import ValidationError

from contracts.envelope import Envelope, ServiceName, stable_event_id
from contracts.registry import serialize_event, upcast
from services.common.domain import InvalidCommand

#: Room kept for the record's key and headers beside the serialized event.
HEADER_ALLOWANCE = 1024


class UnpublishableEvent(InvalidCommand):
    """A command or reaction would store an event that does not satisfy its contract."""


ENVELOPE_FIELDS = set(Envelope.model_fields)
#: What eventsourcing keeps on every stored event beside its data.
STORED_ATTRS = {"originator_id", "originator_version", "timestamp", "originator_topic", "meta"}


def to_integration_event(service: ServiceName, domain_event: Any, notification_id: int) -> Envelope | None:
    """The published form of a domain event, or None for an event the service keeps to itself.

    The payload is taken from the domain event's attributes of the same names; the
    envelope from its `meta`, its place in its aggregate and its place in the log.
    """
    cls = getattr(type(domain_event), "PUBLISHED_AS", None)
    if cls is None:
        return None
    meta = domain_event.meta
    published_version = getattr(type(domain_event), "PUBLISHED_VERSION", None)
    if published_version is not None:
        # A stored event of an older shape (a legacy class kept so old stores still read): it is
        # published as the current version of its contract, through the contract's upcasters.
        old = {name: value for name, value in vars(domain_event).items()
               if name not in ENVELOPE_FIELDS and name not in STORED_ATTRS}
        data = upcast({**old, "event_type": cls.__name__, "schema_version": published_version})
        payload = {name: data[name] for name in cls.model_fields if name not in ENVELOPE_FIELDS and name in data}
    else:
        payload = {
            name: getattr(domain_event, name)
            for name in cls.model_fields
            if name not in ENVELOPE_FIELDS and hasattr(domain_event, name)
        }
    return cls(
        event_id=stable_event_id(service, domain_event.originator_id, domain_event.originator_version),
        complaint_id=meta.complaint_id,
        form_number=meta.form_number,
        occurred_at=domain_event.timestamp,
        producer=service,
        notification_id=notification_id,
        correlation_id=meta.correlation_id,
        causation_id=meta.causation_id,
        actor=meta.actor,
        **payload,
    )


def check_publishable(service: ServiceName, domain_event: Any, max_bytes: int) -> None:
    """Raise `UnpublishableEvent` naming the field when the event would not make a valid message,
    or one larger than the broker takes."""
    try:
        event = to_integration_event(service, domain_event, notification_id=1)
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise UnpublishableEvent(f"{type(domain_event).__qualname__} would not be a valid "
                                 f"{e.title}: {first['msg']}", field=field) from e
    if event is not None:
        size = len(serialize_event(event)) + HEADER_ALLOWANCE
        if size > max_bytes:
            raise UnpublishableEvent(
                f"{event.event_type} would be a {size}-byte message; the limit is {max_bytes} bytes",
                field=None)


@dataclass(frozen=True)
class Outgoing:
    """One stored event ready to go out: its place in the log, the event and its bytes."""

    notification_id: int
    event: Envelope
    value: bytes


@dataclass(frozen=True)
class Unpublishable:
    """A stored event that cannot be published as it is: parked by the relay, with the reason."""

    notification_id: int
    topic: str
    reason: str


def outgoing(app: Any, notifications: list[Notification], max_bytes: int) -> tuple[list[Outgoing], list[Unpublishable]]:
    """The messages a batch of notifications makes, and the ones that cannot be published."""
    ready: list[Outgoing] = []
    refused: list[Unpublishable] = []
    for notification in notifications:
        try:
            event = to_integration_event(app.SERVICE, app.mapper.to_domain_event(notification), notification.id)
            if event is None:
                continue
            value = serialize_event(event)
        except Exception as e:  # noqa: BLE001 - a stored event that no longer makes a message
            refused.append(Unpublishable(notification.id, notification.topic, f"{type(e).__name__}: {e}"[:2000]))
            continue
        if len(value) + HEADER_ALLOWANCE > max_bytes:
            refused.append(Unpublishable(notification.id, notification.topic,
                                         f"{len(value) + HEADER_ALLOWANCE}-byte message over the {max_bytes}-byte limit"))
            continue
        ready.append(Outgoing(notification.id, event, value))
    return ready, refused


def integration_events(app: Any, notifications: list[Notification]) -> list[Envelope]:
    events = []
    for notification in notifications:
        event = to_integration_event(app.SERVICE, app.mapper.to_domain_event(notification), notification.id)
        if event is not None:
            events.append(event)
    return events
