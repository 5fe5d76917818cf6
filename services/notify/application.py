from __future__ import annotations

from contracts.envelope import ServiceName
from services.common.domain import EventMeta
from services.common.store import ServiceApplication


class NotifyApplication(ServiceApplication):
    SERVICE = ServiceName.NOTIFY
    VALUE_TYPES = (EventMeta,)
