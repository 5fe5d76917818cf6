from __future__ import annotations

from uuid import UUID

from contracts.envelope import ServiceName
from services.common.domain import EventMeta
from services.common.store import ServiceApplication


class NotifyApplication(ServiceApplication):
    SERVICE = ServiceName.NOTIFY
    VALUE_TYPES = (EventMeta,)

    def aggregates_of(self, complaint_id: UUID) -> list[UUID]:
        """The complaint's own aggregate and each of its notifications (delivery's index of the log)."""
        dispatcher = getattr(self, "dispatcher", None)
        return [complaint_id, *(dispatcher.by_complaint.get(complaint_id, ()) if dispatcher else ())]
