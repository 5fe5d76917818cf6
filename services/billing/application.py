from __future__ import annotations

from contracts.billing import CostLine
from contracts.envelope import ServiceName
from services.common.domain import EventMeta
from services.common.store import ServiceApplication


class BillingApplication(ServiceApplication):
    SERVICE = ServiceName.BILLING
    VALUE_TYPES = (EventMeta, CostLine)
