"""Reading a complaint's life from the services' own stores, through each service's own code.

Every stored event carries the `meta` of the complaint it concerns, whatever aggregate it belongs to
(the case, its deadline clocks, the investigation, corrective actions, the ledger, each notification).
So a complaint's events in one store are the events whose meta names it: found by a byte search of the
stored state (the complaint id is in every one of them), then decoded by the service's own mapper and
checked. `--as-of` rebuilds each aggregate the complaint owns from its events up to that moment, with
the service's own aggregate classes: nothing stored is read as state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from pydantic_core import to_jsonable_python

from contracts.envelope import STAGE_SERVICES, ServiceName, stable_event_id
from services.common.causal import causal_order
from services.common.domain import event_record
from services.common.republish import service_application
from services.common.settings import ServiceSettings
from services.common.store import ServiceApplication


@dataclass
class Stored:
    """One stored event of a complaint, as read back by its service."""

    service: str
    notification_id: int
    event: Any

    @property
    def event_id(self) -> str:
        return str(stable_event_id(ServiceName(self.service), self.event.originator_id, self.event.originator_version))

    def record(self) -> dict[str, Any]:
        return {"service": self.service, "notification_id": self.notification_id, "event_id": self.event_id,
                **event_record(self.event)}


def settings_of(service: ServiceName) -> ServiceSettings:
    """The service's settings from the environment, as the service itself reads them."""
    return ServiceSettings.for_service(service)()


def open_app(service: ServiceName) -> ServiceApplication:
    return service_application(settings_of(service))


def _rows(app: ServiceApplication, needle: str) -> list[tuple[int, Any, int, str, bytes]]:
    """(notification id, originator id, version, topic, state) of stored events whose state holds `needle`."""
    recorder: Any = app.recorder
    table = recorder.events_table_name
    if app.is_postgres:
        schema = recorder.datastore.schema
        sql = (f'SELECT notification_id, originator_id, originator_version, topic, state FROM "{schema}"."{table}" '
               "WHERE position(%s::bytea IN state) > 0 ORDER BY notification_id")
        with recorder.datastore.transaction(commit=False) as cur:
            cur.execute(sql, (needle.encode(),))
            return [(r["notification_id"], r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
                    for r in cur.fetchall()]
    sql = (f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
           "WHERE instr(state, ?) > 0 ORDER BY rowid")
    with recorder.datastore.transaction(commit=False) as cur:
        cur.execute(sql, (needle.encode(),))
        return [(r[0], r[1], r[2], r[3], bytes(r[4])) for r in cur.fetchall()]


def _decoded(app: ServiceApplication, needle: str) -> list[Stored]:
    out = []
    for notification_id, originator_id, version, topic, state in _rows(app, needle):
        stored = StoredEvent(originator_id=UUID(str(originator_id)), originator_version=version, topic=topic,
                             state=state)
        out.append(Stored(app.SERVICE.value, int(notification_id), app.mapper.to_domain_event(stored)))
    return out


def complaint_events(app: ServiceApplication, complaint_id: UUID) -> list[Stored]:
    """Every event of this store whose meta names the complaint, in the store's order."""
    return [s for s in _decoded(app, str(complaint_id))
            if getattr(s.event, "meta", None) is not None and s.event.meta.complaint_id == complaint_id]


def find_complaint(ref: str) -> UUID:
    """The complaint id of a reference: a UUID, or a form number looked up in intake's store."""
    try:
        return UUID(ref)
    except ValueError:
        pass
    app = open_app(ServiceName.INTAKE)
    try:
        for stored in _decoded(app, ref):
            meta = getattr(stored.event, "meta", None)
            if meta is not None and meta.form_number == ref:
                return meta.complaint_id
    finally:
        app.close()
    raise LookupError(f"no complaint {ref}: intake's store has no registration with that form number")


def merged_history(complaint_id: UUID, services: tuple[ServiceName, ...] = STAGE_SERVICES) -> list[Stored]:
    """The complaint's stored events in every service, in causal order."""
    events: list[Stored] = []
    for service in services:
        app = open_app(service)
        try:
            events += complaint_events(app, complaint_id)
        finally:
            app.close()
    return causal_order(events, key=lambda s: s.event_id,
                        cause=lambda s: str(s.event.meta.causation_id) if s.event.meta.causation_id else None,
                        at=lambda s: s.event.timestamp, service=lambda s: s.service,
                        position=lambda s: s.notification_id)


def state_as_of(complaint_id: UUID, as_of: datetime,
                services: tuple[ServiceName, ...] = STAGE_SERVICES) -> dict[str, list[dict[str, Any]]]:
    """Each service's aggregates of the complaint as they stood at `as_of`, rebuilt from their events
    up to then with the service's own classes (an aggregate not yet begun is left out)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for service in services:
        app = open_app(service)
        try:
            versions: dict[UUID, int] = {}
            owned: set[UUID] = set()
            for stored in complaint_events(app, complaint_id):
                event = stored.event
                if event.originator_version == 1:
                    owned.add(event.originator_id)
                if event.timestamp <= as_of:
                    versions[event.originator_id] = max(versions.get(event.originator_id, 0),
                                                         event.originator_version)
            states = []
            for aggregate_id in sorted(owned & set(versions), key=str):
                aggregate = app.repository.get(aggregate_id, version=versions[aggregate_id])
                states.append({"aggregate": type(aggregate).__name__, "aggregate_id": str(aggregate_id),
                               "version": aggregate.version, "state": _state(aggregate)})
            out[service.value] = states
        finally:
            app.close()
    return out


def _state(aggregate: Any) -> dict[str, Any]:
    """The aggregate's attributes (those it sets, and those it defaults lazily) and its properties."""
    hidden = {"_id", "_version", "_created_on", "_modified_on", "_pending_events"}
    state = {k.lstrip("_"): v for k, v in vars(aggregate).items() if k not in hidden and not k.startswith("__")}
    cls = type(aggregate)
    names = set(getattr(cls, "_DEFAULTS", {}))
    names |= {n for n in dir(cls) if not n.startswith("_") and isinstance(getattr(cls, n, None), property)}
    for name in sorted(names - set(state)):
        try:
            state[name] = getattr(aggregate, name)
        except Exception:  # noqa: BLE001 - a property that needs more than the aggregate: left out
            continue
    return to_jsonable_python(state, fallback=str)
