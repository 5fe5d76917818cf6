"""Who must be told what, through which channel, and whether it arrived: notify's messages.

A notification is recorded once per cause and recipient (`NotificationRecorded`), before any
delivery is tried, with every target it goes to (an e-mail address, a webhook, the recipient's
in-app inbox, or the branch clerk's task to phone the customer). Each target's attempts are
`NotificationDelivered` or `NotificationDeliveryFailed` (with `retry_at`, or none when given
up); a mandatory notice is acknowledged (`ReceiptAcknowledged`) or, not acknowledged in time,
escalated (`NotificationAcknowledgementOverdue`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, StrictBool, model_validator

from contracts.envelope import Envelope, Frozen, NonEmptyStr, Role, Rules, ServiceName, ShortStr

TARGETS_MAX = 50


class NotificationChannel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    INBOX = "inbox"
    #: The branch clerk's task to pass the notice on to the customer by telephone.
    PHONE_TASK = "phone_task"
    # v1 channels, kept so that old messages still read
    LOG = "log"
    PHONE = "phone"
    SMS = "sms"
    FAX = "fax"
    INTERNAL = "internal"


class NotificationTarget(Frozen):
    """Where one notification goes: an e-mail address, a webhook URL, or a user id (inbox, phone task)."""

    channel: NotificationChannel
    address: ShortStr


class NotificationRecorded(Envelope):
    """Someone must be told something; recorded before any delivery is tried.

    v2: the rule and rules version that decided it, the recipient by user id and role (none for the
    customer), every target, the language, whether it is mandatory or urgent, when it goes out
    (`send_at`: internal notices wait for the recipient's working hours) and by when a mandatory
    one must be acknowledged."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.NOTIFY
    event_type: Literal["NotificationRecorded"] = "NotificationRecorded"
    schema_version: Literal[2] = 2
    notice_id: UUID
    rule: ShortStr | None = Field(default=None, description="The row of the notice rules table")
    rules_version: ShortStr | None = None
    recipient_role: Role | None = Field(default=None, description="customer for the complainant")
    recipient: ShortStr = Field(description="The recipient's name")
    recipient_user_id: ShortStr | None = Field(default=None, description="None: the customer")
    language: Literal["zh", "en"] = "zh"
    targets: list[NotificationTarget] = Field(max_length=TARGETS_MAX)
    subject: ShortStr
    body: NonEmptyStr
    about_event_type: ShortStr
    mandatory: StrictBool = False
    urgent: StrictBool = False
    send_at: AwareDatetime | None = Field(default=None, description="None: at once")
    acknowledge_by: AwareDatetime | None = Field(default=None, description="Mandatory notices only")


class DeliveryAttempt(Frozen):
    """Which notice was tried, to which target, and which attempt it was."""

    notice_id: UUID
    recipient_role: Role | None = None
    recipient: ShortStr
    channel: NotificationChannel
    address: ShortStr
    attempt: int = Field(ge=1)


class NotificationDelivered(Envelope, DeliveryAttempt):
    """A notification reached one of its targets."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.NOTIFY
    event_type: Literal["NotificationDelivered"] = "NotificationDelivered"
    schema_version: Literal[1] = 1
    provider_ref: ShortStr | None = Field(default=None, description="The channel's message id (e-mail Message-ID)")


class NotificationDeliveryFailed(Envelope, DeliveryAttempt):
    """A delivery attempt failed; `retry_at` is when the next attempt is due, None when given up
    (a permanent refusal, or retried past the configured time)."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.NOTIFY
    event_type: Literal["NotificationDeliveryFailed"] = "NotificationDeliveryFailed"
    schema_version: Literal[1] = 1
    error: NonEmptyStr
    permanent: StrictBool = False
    retry_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _retry_later(self) -> NotificationDeliveryFailed:
        Rules(self).require(
            self.retry_at is None or self.retry_at > self.occurred_at, "retry_at", "must be after occurred_at",
        ).require(
            not (self.permanent and self.retry_at is not None), "retry_at", "a permanent failure is not retried",
        ).check()
        return self


class ReceiptAcknowledged(Envelope):
    """The recipient acknowledged a notification, in the inbox or through the e-mail's link."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.NOTIFY
    event_type: Literal["ReceiptAcknowledged"] = "ReceiptAcknowledged"
    schema_version: Literal[1] = 1
    notice_id: UUID
    acknowledged_by: ShortStr
    recipient_role: Role | None = None
    via: Literal["inbox", "link"]
    late: StrictBool = Field(default=False, description="After acknowledge_by (it was escalated)")


class NotificationAcknowledgementOverdue(Envelope):
    """A mandatory notification was not acknowledged in time: escalated to the next authority."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.NOTIFY
    event_type: Literal["NotificationAcknowledgementOverdue"] = "NotificationAcknowledgementOverdue"
    schema_version: Literal[1] = 1
    notice_id: UUID
    recipient: ShortStr
    recipient_user_id: ShortStr | None = None
    acknowledge_by: AwareDatetime
    escalated_to: list[ShortStr] = Field(max_length=TARGETS_MAX, description="User ids told instead")
    escalated_to_role: Role | None = None
