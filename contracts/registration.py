"""Registration at a branch (domain.md §5.2, classification §5.1): intake's messages."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import AwareDatetime, Field, StrictBool, model_validator

from contracts.envelope import (
    BranchCode, CommandEnvelope, ComplaintCommand, Email, Envelope, Frozen, Language, Money, NonEmptyStr, Phone, Rules,
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
    email: Email | None = Field(default=None, description="Where the customer is written to, if they gave one")
    language: Language = Field(default=Language.ZH, description="The language the customer is told in")


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


class SeriousReason(StrEnum):
    """Why a complaint is serious (96233 §3.1.2, "顾客投诉的分类")."""

    PERSONAL_SAFETY = "personal_safety"
    PRODUCTION_SAFETY = "production_safety"
    MEDIA = "media"
    LAWYER = "lawyer"
    POLICE = "police"
    CONSUMER_ASSOCIATION = "consumer_association"
    GOVERNMENT = "government"
    LARGE_CLAIM = "large_claim"
    OTHER_SERIOUS_HARM = "other_serious_harm"


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
    complained_about: ShortStr | None = Field(
        default=None, description="Who or what is complained about (投诉对象): a person, a department, a product")
    demand: NonEmptyStr | None = Field(default=None, description="What the customer demands or proposes")
    order_number: ShortStr | None = Field(default=None, description="For a product complaint: the order number")
    external_body: ShortStr | None = Field(
        default=None, description="For a complaint through an external body: which (association, regulator, "
                                  "media, court)")
    serious_reasons: list[SeriousReason] = Field(
        default_factory=list, max_length=len(SeriousReason),
        description="Why the complaint is serious; given only with severity serious")
    claim_amount: Money | None = Field(
        default=None, description="CNY the customer claims, if any; at or above the large-claim threshold the "
                                  "complaint is serious (intake's setting)")

    @model_validator(mode="after")
    def _form_is_complete(self) -> RegistrationForm:
        Rules(self).require(
            not self.serious_reasons or self.severity is Severity.SERIOUS, "serious_reasons",
            "only a serious complaint has serious reasons",
        ).require(
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
    """Command: a branch registers a complaint (HTTP `POST /complaints` body, or a message on
    `complaints.intake.commands`).

    With `read_back_confirmed: true` the clerk read the record back and the customer confirmed it:
    the complaint is registered at once. Left out, the record is taken and waits for its read-back
    (`POST /complaints/{id}/read-back`, or the reason it is impossible); it is not routed before.

    The `actor` is always the verified sender, never what a client writes: over HTTP the bearer
    token's; on the commands topic the token in the message's `authorization` header (`Bearer <JWT>`),
    so a branch system's message may leave `actor` out (a body naming another actor is refused)."""

    command_id: UUID = Field(default_factory=uuid4)
    read_back_confirmed: TrueBool = Field(  # type: ignore[assignment]
        default=None,
        description="true: the customer confirmed the record read back to them (registered at once); "
                    "left out: the record is taken, its read-back is a later step. Never false or null.")
    command_type: Literal["RegisterComplaint"] = "RegisterComplaint"
    schema_version: Literal[1] = 1
    issued_at: AwareDatetime = Field(default_factory=_now)

    @model_validator(mode="after")
    def _external_body_named(self) -> RegisterComplaint:
        Rules(self).require(
            self.channel is not Channel.EXTERNAL_BODY or self.external_body is not None, "external_body",
            "name the external body the complaint came through (association, regulator, media, court)",
        ).check()
        return self


class ReadBackImpossibleReason(StrEnum):
    """Why the customer could not confirm the record read back to them."""

    CUSTOMER_HUNG_UP = "customer_hung_up"
    CUSTOMER_UNREACHABLE = "customer_unreachable"
    WRITTEN_CHANNEL = "written_channel"  # letter, fax, suggestion box: nobody to read it back to
    OTHER = "other"


class ComplaintRegistered(Envelope, RegistrationForm):
    """A complaint was registered at a branch and got its form number: its read-back step is over.

    Published once the customer confirmed the record (`read_back_not_possible` null), or once the
    clerk recorded why confirmation was impossible (`read_back_not_possible` says why; the
    `ReadBackNotPossible` event before it has the clerk's explanation). A record whose read-back
    is pending is not published. Carries the record as it stands then, corrections included."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.INTAKE
    event_type: Literal["ComplaintRegistered"] = "ComplaintRegistered"
    schema_version: Literal[3] = 3
    read_back_not_possible: ReadBackImpossibleReason | None = Field(
        default=None, description="Set when the customer could not confirm the record: why (the clerk "
                                  "recorded it); null when the customer confirmed it")


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


class ReadBackNotPossible(Envelope):
    """The clerk recorded why the customer could not confirm the record read back (§5.2): the
    record stands as taken (revision `record_revision`) and goes on to be registered."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.INTAKE
    event_type: Literal["ReadBackNotPossible"] = "ReadBackNotPossible"
    schema_version: Literal[1] = 1
    record_revision: int = Field(ge=1, description="1 = as taken; n = after the (n-1)th correction")
    reason: ReadBackImpossibleReason
    explanation: NonEmptyStr
    recorded_by: ShortStr = Field(description="The clerk who recorded it")


class IntakeState(StrEnum):
    """Where a complaint stands at intake."""

    AWAITING_READ_BACK = "awaiting_read_back"
    REGISTERED = "registered"
    REPLY_PROMISED = "reply_promised"
    CLOSED_AT_INTAKE = "closed_at_intake"
    WITHDRAWN = "withdrawn"
    INQUIRY_ANSWERED = "inquiry_answered"
    SUGGESTION_ANSWERED = "suggestion_answered"


class ComplaintWithdrawn(Envelope):
    """The customer withdrew the complaint: the case is closed with the reason; nothing is deleted."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.INTAKE
    event_type: Literal["ComplaintWithdrawn"] = "ComplaintWithdrawn"
    schema_version: Literal[1] = 1
    reason: NonEmptyStr
    requested_by: ShortStr | None = Field(default=None, description="The customer's person who withdrew it")
    recorded_by: ShortStr = Field(description="The clerk who recorded the withdrawal")
    state_at_withdrawal: IntakeState = Field(
        description="awaiting_read_back: never registered (no ComplaintRegistered was published); "
                    "registered or reply_promised: the open case closes")


class SuggestionReplyPromised(Envelope):
    """A suggestion needs a reply: the customer was promised one by `reply_by`."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.INTAKE
    event_type: Literal["SuggestionReplyPromised"] = "SuggestionReplyPromised"
    schema_version: Literal[1] = 1
    reply_by: date
    promised_by: ShortStr


class SuggestionAnswered(Envelope):
    """The customer was told whether the suggestion was adopted; the suggestion is closed at intake."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.INTAKE
    event_type: Literal["SuggestionAnswered"] = "SuggestionAnswered"
    schema_version: Literal[1] = 1
    adopted: StrictBool
    answer: NonEmptyStr
    answered_by: ShortStr
    channel: Channel = Field(description="How the answer reached the customer")
    reply_by: date | None = Field(default=None, description="The date promised, if one was")
    answered_at: AwareDatetime


class InquiryAnswered(Envelope):
    """An inquiry (not a complaint) was answered; the rule is within 24 hours of receipt."""

    PRODUCER: ClassVar[ServiceName] = ServiceName.INTAKE
    event_type: Literal["InquiryAnswered"] = "InquiryAnswered"
    schema_version: Literal[2] = 2
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
    schema_version: Literal[2] = 2
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


class CommandOutcome(StrEnum):
    REGISTERED = "registered"
    REFUSED = "refused"


class RegistrationCommandResult(Frozen):
    """What became of a `RegisterComplaint` sent on `complaints.intake.commands`: published on
    `complaints.intake.command-results`, keyed by the command id (not an event of a complaint)."""

    result_type: Literal["RegistrationCommandResult"] = "RegistrationCommandResult"
    schema_version: Literal[1] = 1
    command_id: UUID | None = Field(description="Null only when no command id could be read")
    outcome: CommandOutcome
    complaint_id: UUID | None = None
    form_number: ShortStr | None = None
    state: IntakeState | None = Field(default=None, description="registered, closed_at_intake or awaiting_read_back")
    field: ShortStr | None = Field(default=None, description="Refused: the field at fault (dotted path)")
    reason: NonEmptyStr | None = Field(default=None, description="Refused: why")
    status: int | None = Field(default=None, description="Refused: the HTTP status the same refusal has at the edge")
