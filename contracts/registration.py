"""Registration at a branch (domain.md §5.2, classification §5.1): intake's messages."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import AwareDatetime, Field, StrictBool, model_validator

from contracts.envelope import (
    BranchCode, CommandEnvelope, ComplaintCommand, Envelope, Frozen, NonEmptyStr, Phone, Rules,
    ServiceName, ShortStr, TrueBool,
)


class Channel(StrEnum):
    PHONE = "phone"
    FAX = "fax"
    LETTER = "letter"
    IN_PERSON = "in_person"
    SUGGESTION_BOX = "suggestion_box"
    DIRECT_TO_HQ = "direct_to_hq"
    EXTERNAL_BODY = "external_body"


class Subject(StrEnum):
    """What the complaint is about (§5.1 and the later documents)."""

    POLICY_SERVICE = "policy_service"
    STAFF = "staff"
    PRODUCT_QUALITY = "product_quality"
    TRANSPORT_PACKAGING = "transport_packaging"
    OTHER = "other"


class Severity(StrEnum):
    MINOR = "minor"
    GENERAL = "general"
    SERIOUS = "serious"


class RequestKind(StrEnum):
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"
    INQUIRY = "inquiry"


class Customer(Frozen):
    name: ShortStr
    contact_person: ShortStr | None = None
    phone: Phone
    address: NonEmptyStr | None = None


class ProductDetails(Frozen):
    """§5.3.3⑴: a product complaint records model, batch and the three dates."""

    model: ShortStr
    batch_number: ShortStr
    order_date: date
    shipping_date: date
    arrival_date: date
    quantity: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _dates_in_order(self) -> ProductDetails:
        Rules(self).require(
            self.shipping_date >= self.order_date, "shipping_date", "is before order_date",
        ).require(
            self.arrival_date >= self.shipping_date, "arrival_date", "is before shipping_date",
        ).check()
        return self


class RegistrationForm(Frozen):
    """The fields of the registration form 《客户投诉登记反馈表》."""

    branch: BranchCode
    channel: Channel
    kind: RequestKind = RequestKind.COMPLAINT
    subject: Subject
    severity: Severity
    customer: Customer
    description: NonEmptyStr
    product: ProductDetails | None = None
    received_at: AwareDatetime
    read_back_confirmed: TrueBool = Field(
        description="Always true: the clerk read the record back and the customer confirmed it (§5.2); "
                    "a record not confirmed is not registered"
    )
    resolved_on_the_spot: NonEmptyStr | None = Field(
        default=None, description="For a minor complaint closed at intake: how it was resolved"
    )

    @model_validator(mode="after")
    def _form_is_complete(self) -> RegistrationForm:
        Rules(self).require(
            self.subject is not Subject.PRODUCT_QUALITY or self.product is not None, "product",
            "a product-quality complaint needs model, batch number and dates",
        ).require(
            self.resolved_on_the_spot is None or self.severity is Severity.MINOR, "resolved_on_the_spot",
            "only a minor complaint is closed at intake",
        ).check()
        return self


def _now() -> datetime:
    return datetime.now(timezone.utc)


class RegisterComplaint(CommandEnvelope, RegistrationForm):
    """Command: a branch registers a complaint (HTTP `POST /complaints` body)."""

    command_id: UUID = Field(default_factory=uuid4)
    command_type: Literal["RegisterComplaint"] = "RegisterComplaint"
    schema_version: Literal[1] = 1
    issued_at: AwareDatetime = Field(default_factory=_now)


class ComplaintRegistered(Envelope, RegistrationForm):
    """A complaint was registered at a branch and got its form number."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.INTAKE
    event_type: Literal["ComplaintRegistered"] = "ComplaintRegistered"
    schema_version: Literal[1] = 1


#: An inquiry is answered within 24 hours of its receipt (later documents).
INQUIRY_ANSWER_WITHIN = timedelta(hours=24)

_FORM_FIELDS = frozenset(RegistrationForm.model_fields)


class MinorComplaintClosedAtIntake(Envelope, RegistrationForm):
    """A minor complaint was solved on the spot and closed at intake, outside the full procedure.

    Carries the whole registration record; `resolved_on_the_spot` says how it was solved.
    """

    PRODUCER: ClassVar[ServiceName] = ServiceName.INTAKE
    event_type: Literal["MinorComplaintClosedAtIntake"] = "MinorComplaintClosedAtIntake"
    schema_version: Literal[1] = 1
    customer_satisfied: StrictBool = Field(description="Whether the customer accepted the on-the-spot solution")

    @model_validator(mode="after")
    def _closed_minor(self) -> MinorComplaintClosedAtIntake:
        Rules(self).require(
            self.resolved_on_the_spot is not None, "resolved_on_the_spot",
            "required: say how the minor complaint was solved on the spot",
        ).require(
            self.severity is Severity.MINOR, "severity", "only a minor complaint is closed at intake",
        ).check()
        return self


class ReadBackConfirmed(Envelope):
    """The clerk read the record back and the customer confirmed it (§5.2.3).

    Recorded for the record as registered (revision 1) and again after every correction.
    """

    PRODUCER: ClassVar[ServiceName] = ServiceName.INTAKE
    event_type: Literal["ReadBackConfirmed"] = "ReadBackConfirmed"
    schema_version: Literal[1] = 1
    record_revision: int = Field(ge=1, description="1 = as registered; n = after the (n-1)th correction")
    read_back_by: ShortStr = Field(description="The clerk who read the record back")
    confirmed_by: ShortStr = Field(description="The customer's person who confirmed it")
    attempts: int = Field(default=1, ge=1, description="Read-backs until the customer confirmed")


class InquiryAnswered(Envelope):
    """An inquiry (not a complaint) was answered; the rule is within 24 hours of receipt."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.INTAKE
    event_type: Literal["InquiryAnswered"] = "InquiryAnswered"
    schema_version: Literal[1] = 1
    customer: Customer
    question: NonEmptyStr
    answer: NonEmptyStr
    answered_by: ShortStr
    channel: Channel = Field(description="How the answer reached the customer")
    received_at: AwareDatetime
    due_at: AwareDatetime = Field(description="received_at + 24 hours")
    answered_at: AwareDatetime

    @property
    def answered_in_time(self) -> bool:
        return self.answered_at <= self.due_at

    @model_validator(mode="after")
    def _times(self) -> InquiryAnswered:
        Rules(self).require(
            self.due_at - self.received_at == INQUIRY_ANSWER_WITHIN, "due_at",
            "must be received_at + 24 hours",
        ).require(
            self.answered_at >= self.received_at, "answered_at", "is before received_at",
        ).check()
        return self


class RegistrationCorrected(Envelope, RegistrationForm):
    """The registration record was corrected and read back again; carries the whole corrected record."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.INTAKE
    event_type: Literal["RegistrationCorrected"] = "RegistrationCorrected"
    schema_version: Literal[1] = 1
    revision: int = Field(ge=2, description="Revision of the record after this correction (registered = 1)")
    changed_fields: list[ShortStr] = Field(min_length=1, max_length=len(_FORM_FIELDS),
                                           description="Names of the registration fields changed")
    reason: NonEmptyStr

    @model_validator(mode="after")
    def _known_fields(self) -> RegistrationCorrected:
        unknown = sorted(set(self.changed_fields) - _FORM_FIELDS)
        Rules(self).require(
            not unknown, "changed_fields", f"not registration form fields: {', '.join(unknown)}",
        ).check()
        return self


class ConfirmReadBack(ComplaintCommand):
    """Command: the customer confirmed the record the clerk read back (§5.2.3)."""

    command_type: Literal["ConfirmReadBack"] = "ConfirmReadBack"
    schema_version: Literal[1] = 1
    record_revision: int = Field(ge=1)
    confirmed_by: ShortStr
    attempts: int = Field(default=1, ge=1)


class AnswerInquiry(ComplaintCommand):
    """Command: answer a registered inquiry."""

    command_type: Literal["AnswerInquiry"] = "AnswerInquiry"
    schema_version: Literal[1] = 1
    answer: NonEmptyStr
    channel: Channel


class CorrectRegistration(ComplaintCommand, RegistrationForm):
    """Command: replace the registration record with a corrected one, read back again."""

    command_type: Literal["CorrectRegistration"] = "CorrectRegistration"
    schema_version: Literal[1] = 1
    reason: NonEmptyStr
