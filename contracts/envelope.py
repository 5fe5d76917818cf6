"""The envelope every cross-service message carries, and the shared value types.

An integration event is one flat pydantic model: the envelope fields below plus
its own payload fields. `event_type` and `schema_version` are `Literal`s on each
concrete class, so a tagged union can pick the class from the JSON alone.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar
from uuid import UUID, uuid4, uuid5

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

FORM_NUMBER_PATTERN = r"^[A-Z0-9]{2,12}-\d{8}-\d{4,}$"
_FORM_NUMBER_RE = re.compile(FORM_NUMBER_PATTERN)

#: Namespace for ids derived from other ids (event ids from store positions, and so on).
COMPLAINTS_NAMESPACE = UUID("6f1c3c5e-2b0a-4f53-9a59-5a3b1f2f7d10")


def _check_form_number(value: str) -> str:
    if not _FORM_NUMBER_RE.match(value):
        raise ValueError("form number must look like {branch}-{yyyymmdd}-{seq}, e.g. SH01-20261125-0001")
    return value


FormNumber = Annotated[
    str,
    Field(description="Human form number {branch}-{yyyymmdd}-{seq}, unique per branch and day",
          examples=["SH01-20261125-0001"]),
    AfterValidator(_check_form_number),
]
BranchCode = Annotated[
    str,
    Field(pattern=r"^[A-Z0-9]{2,12}$", description="Branch code, upper-case letters and digits",
          examples=["SH01"]),
]
NonEmptyStr = Annotated[str, Field(min_length=1, max_length=4000)]
SHORT_TEXT_MAX = 200
ShortStr = Annotated[str, Field(min_length=1, max_length=SHORT_TEXT_MAX)]
#: Money is CNY, as Decimal with two places; JSON carries it as a string.
Money = Annotated[Decimal, Field(max_digits=14, decimal_places=2, ge=0)]


def form_number(branch: str, day: date, seq: int) -> str:
    return f"{branch}-{day:%Y%m%d}-{seq:04d}"


def branch_of(form_number_: str) -> str:
    return form_number_.split("-", 1)[0]


class ServiceName(StrEnum):
    INTAKE = "intake"
    ROUTING = "routing"
    QUALITY = "quality"
    BILLING = "billing"
    NOTIFY = "notify"


class Role(StrEnum):
    """Who acts (domain.md, Actors)."""

    BRANCH_CLERK = "branch_clerk"
    REGIONAL_MANAGER = "regional_manager"
    SALESPERSON = "salesperson"
    HQ_CLERK = "hq_clerk"
    RESPONSIBLE_DEPARTMENT = "responsible_department"
    SUPERVISOR = "supervisor"
    MARKETING_DIRECTOR = "marketing_director"
    HQ_REGIONAL_MANAGER = "hq_regional_manager"
    QUALITY_DEPARTMENT = "quality_department"
    GENERAL_MANAGER = "general_manager"
    MANAGEMENT_REPRESENTATIVE = "management_representative"
    CUSTOMER = "customer"
    SYSTEM = "system"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Actor(Frozen):
    """The user on whose behalf a message was produced."""

    user_id: ShortStr
    role: Role
    branch: BranchCode | None = None

    @classmethod
    def system(cls, service: ServiceName) -> Actor:
        return cls(user_id=f"system:{service.value}", role=Role.SYSTEM)


class Envelope(Frozen):
    """Fields every integration event carries, whatever its type."""

    event_id: UUID = Field(description="Stable id: the same stored event always gets the same id")
    event_type: str
    schema_version: int = Field(ge=1)
    complaint_id: UUID
    form_number: FormNumber
    occurred_at: AwareDatetime
    producer: ServiceName
    notification_id: int = Field(
        ge=1, description="Position of the event in the producer's notification log (its store)"
    )
    correlation_id: UUID = Field(description="The complaint's first command; the same along the whole journey")
    causation_id: UUID | None = Field(default=None, description="Event or command that caused this one")
    actor: Actor

    #: Set on each concrete event: which service's topic carries it.
    PRODUCER: ClassVar[ServiceName]


def stable_event_id(producer: ServiceName, originator_id: UUID, originator_version: int) -> UUID:
    """The event id of a stored event: derived from its place in its aggregate's sequence."""
    return uuid5(COMPLAINTS_NAMESPACE, f"{producer.value}:{originator_id}:{originator_version}")


class CommandEnvelope(Frozen):
    """Fields every command carries."""

    command_id: UUID = Field(description="Client-chosen id; a repeated id is the same command, not a new one")
    command_type: str
    schema_version: int = Field(ge=1)
    issued_at: AwareDatetime
    actor: Actor
    correlation_id: UUID | None = None


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class ComplaintCommand(CommandEnvelope):
    """Base of every command that acts on an existing complaint (not registered itself)."""

    command_id: UUID = Field(
        default_factory=uuid4,
        description="Client-chosen id; a repeated id is the same command, not a new one",
    )
    issued_at: AwareDatetime = Field(default_factory=utc_now)
    complaint_id: UUID = Field(description="The complaint the command acts on")


# --- shared value types -------------------------------------------------------------------

Ref = Annotated[str, Field(min_length=1, max_length=500,
                           description="Reference to a stored document, photo, fax or sample record")]


class AttachmentKind(StrEnum):
    FAX = "fax"
    SAMPLE = "sample"
    PHOTO = "photo"
    VIDEO = "video"
    LETTER = "letter"
    DOCUMENT = "document"
    INSPECTION_RECORD = "inspection_record"
    OTHER = "other"


class Attachment(Frozen):
    """Something attached to a form or memo: a fax, a sample, a photo, a document (§5.3.1⑶, §5.4.1)."""

    kind: AttachmentKind
    ref: Ref
    description: ShortStr | None = None


class Signature(Frozen):
    """A named person's sign-off on a form, reply or decision."""

    name: ShortStr
    role: Role
    signed_at: AwareDatetime


# --- validation helpers: errors that name the field -------------------------------------------


class Rules:
    """Collects cross-field rule violations and raises one ValidationError whose locations
    are the offending fields (so `errors()[i]["loc"]` names them, not just the message)."""

    def __init__(self, model: BaseModel) -> None:
        self._model = model
        self._errors: list[InitErrorDetails] = []

    def require(self, ok: bool, field: str, message: str) -> Rules:
        if not ok:
            self._errors.append(InitErrorDetails(
                type=PydanticCustomError("contract_rule", "{field}: {message}",
                                         {"field": field, "message": message}),
                loc=(field,),
                input=getattr(self._model, field, None),
            ))
        return self

    def check(self) -> None:
        if self._errors:
            raise ValidationError.from_exception_data(type(self._model).__name__, self._errors)


def describe(values: Any) -> str:
    """`a, b or c` for an error message."""
    items = sorted(str(getattr(v, "value", v)) for v in values)
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


__all__ = [
    "Actor", "Attachment", "AttachmentKind", "BranchCode", "COMPLAINTS_NAMESPACE",
    "CommandEnvelope", "ComplaintCommand", "Envelope", "FormNumber", "Frozen", "Money",
    "NonEmptyStr", "Ref", "Role", "Rules", "ServiceName", "ShortStr", "Signature", "branch_of",
    "describe", "form_number", "stable_event_id", "utc_now", "date", "datetime",
]
