from __future__ import annotations

from contracts.envelope import ServiceName
from contracts.registration import Customer, ProductDetails
from contracts.routing import Deadline
from services.common.domain import EventMeta
from services.common.store import ServiceApplication


class RoutingApplication(ServiceApplication):
    SERVICE = ServiceName.ROUTING
    VALUE_TYPES = (EventMeta, ProductDetails, Deadline, Customer)
