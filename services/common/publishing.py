"""From a stored domain event to the integration event published on the service's topic."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Notification
from pydantic import ValidationError

from contracts.envelope import Envelope, ServiceName, stable_event_id
from services.common.domain import InvalidCommand


class UnpublishableEvent(InvalidCommand):
    """A command or reaction would store an event that does not satisfy its contract."""

ENVELOPE_FIELDS = set(Envelope.model_fields)


def to_integration_event(service: ServiceName, domain_event: Any, notification_id: int) -> Envelope | None:
    """The published form of a domain event, or None for an event the service keeps to itself.

    The payload is taken from the domain event's attributes of the same names; the
    envelope from its `meta`, its place in its aggregate and its place in the log.
    """
    cls = getattr(type(domain_event), "PUBLISHED_AS", None)
    if cls is None:
        return None
    meta = domain_event.meta
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


def check_publishable(service: ServiceName, domain_event: Any) -> None:
    """Raise `UnpublishableEvent` naming the field when the event would not make a valid message."""
    try:
        to_integration_event(service, domain_event, notification_id=1)
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise UnpublishableEvent(f"{type(domain_event).__qualname__} would not be a valid "
                                 f"{e.title}: {first['msg']}", field=field) from e


def integration_events(app: Any, notifications: list[Notification]) -> list[Envelope]:
    events = []
    for notification in notifications:
        event = to_integration_event(app.SERVICE, app.mapper.to_domain_event(notification), notification.id)
        if event is not None:
            events.append(event)
    return events
