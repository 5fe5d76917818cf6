"""Who must be told what, through which channel: notify's messages."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from contracts.envelope import ComplaintCommand, Envelope, Frozen, NonEmptyStr, Role, Rules, ServiceName, ShortStr


class NotificationChannel(StrEnum):
    LOG = "log"
    PHONE = "phone"
    SMS = "sms"
    EMAIL = "email"
    FAX = "fax"
    INTERNAL = "internal"


class NotificationRecorded(Envelope):
    """Someone must be told something; recorded before any delivery is tried."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.NOTIFY
    event_type: Literal["NotificationRecorded"] = "NotificationRecorded"
    schema_version: Literal[1] = 1
    notice_id: UUID
    recipient_role: Role
    recipient: ShortStr
    channel: NotificationChannel
    subject: ShortStr
    body: NonEmptyStr
    about_event_type: ShortStr


class DeliveryAttempt(Frozen):
    """Which notice was tried, to whom, through which channel, and which attempt it was."""

    notice_id: UUID
    recipient_role: Role
    recipient: ShortStr
    channel: NotificationChannel
    attempt: int = Field(ge=1)


class NotificationDelivered(Envelope, DeliveryAttempt):
    """A notification reached its recipient's channel."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.NOTIFY
    event_type: Literal["NotificationDelivered"] = "NotificationDelivered"
    schema_version: Literal[1] = 1
    provider_ref: ShortStr | None = Field(default=None, description="The channel provider's message id")


class NotificationDeliveryFailed(Envelope, DeliveryAttempt):
    """A delivery attempt failed; `retry_at` is when the next attempt is due, None when giving up."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.NOTIFY
    event_type: Literal["NotificationDeliveryFailed"] = "NotificationDeliveryFailed"
    schema_version: Literal[1] = 1
    error: NonEmptyStr
    retry_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _retry_later(self) -> NotificationDeliveryFailed:
        Rules(self).require(
            self.retry_at is None or self.retry_at > self.occurred_at, "retry_at", "must be after occurred_at",
        ).check()
        return self


class ReceiptAcknowledged(Envelope):
    """The recipient acknowledged receiving the notification."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.NOTIFY
    event_type: Literal["ReceiptAcknowledged"] = "ReceiptAcknowledged"
    schema_version: Literal[1] = 1
    notice_id: UUID
    acknowledged_by: ShortStr
    recipient_role: Role
    note: NonEmptyStr | None = None


class AcknowledgeReceipt(ComplaintCommand):
    """Command: the recipient acknowledges a notification."""

    command_type: Literal["AcknowledgeReceipt"] = "AcknowledgeReceipt"
    schema_version: Literal[1] = 1
    notice_id: UUID
    note: NonEmptyStr | None = None
