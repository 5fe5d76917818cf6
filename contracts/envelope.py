"""The envelope every cross-service message carries, and the shared value types.

An integration event is one flat pydantic model: the envelope fields below plus
its own payload fields. `event_type` and `schema_version` are `Literal`s on each
concrete class, so a tagged union can pick the class from the JSON alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar
from uuid import UUID, uuid4, uuid5

from pydantic import (
    AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, GetCoreSchemaHandler,
    GetJsonSchemaHandler, StrictBool, ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

# --- bounds (architecture rule 12: every input is bounded) ------------------------------------

#: Free text: descriptions, memos, replies, reasons.
LONG_TEXT_MAX = 4000
#: One-line text: names, codes, titles.
SHORT_TEXT_MAX = 200
#: A reference to a stored document, photo, fax or sample.
REF_MAX = 500
#: A branch code: 2-12 upper-case letters and digits.
BRANCH_CODE_MAX = 12
#: A form number {branch}-{yyyymmdd}-{seq}.
FORM_NUMBER_MAX = 40
#: A telephone number.
PHONE_MAX = 40
#: Photos on one form or determination.
PHOTOS_MAX = 50
#: Attachments (faxes, samples, photos, documents, inspection records) on one message.
ATTACHMENTS_MAX = 50
#: Documents listed in one archive record (everything produced while handling a complaint).
ARCHIVE_DOCUMENTS_MAX = 100
#: Cost lines of one allocation.
COST_LINES_MAX = 50
#: Departments called in for one serious complaint.
DEPARTMENTS_MAX = 20
#: Signatures on one approval.
APPROVALS_MAX = 10

# --- text rules -------------------------------------------------------------------------------
#
# Text must hold at least one character that is not whitespace (`str.isspace()`), and no control
# character: C0 (\x00-\x1f), DEL (\x7f), C1 (\x80-\x9f), nor a lone surrogate (\ud800-\udfff).
# Long text may also hold tab, line feed and carriage return. The rule is a JSON-schema `pattern`
# (so a schema-based fuzzer sees it) that the models check with Python's `re`
# (`regex_engine="python-re"`), the engine hypothesis and schemathesis generate from.
#
# The character classes are positive lists of ranges, so that they name no surrogate (a validator
# built on Rust's regex, like jsonschema_rs under schemathesis, refuses a pattern that names one),
# and they spell every whitespace character out (no `\s`, whose meaning differs between engines
# and under `re.ASCII`). Shape `^[spaces]*[visible][allowed]*$`: `[spaces]` and `[visible]` are
# disjoint, so matching is linear, also on 4000 spaces. tests/contracts/test_text_rules.py checks
# the classes against `str.isspace()` over every code point.

#: Whitespace that is not a control character.
_SPACES = r"\x20\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Neither whitespace, nor a control character, nor a surrogate.
_VISIBLE = (r"\x21-\x7e\xa1-\u167f\u1681-\u1fff\u200b-\u2027\u202a-\u202e\u2030-\u205e"
            r"\u2060-\u2fff\u3001-\ud7ff\ue000-\U0010ffff")
#: Neither a control character nor a surrogate.
_NOT_CONTROL = r"\x20-\x7e\xa0-\ud7ff\ue000-\U0010ffff"
#: Line breaks and tab, allowed in long text only.
_LINE_BREAKS = r"\t\n\r"

#: One line of text: no control character at all, something that is not whitespace.
SHORT_TEXT_PATTERN = rf"^[{_SPACES}]*[{_VISIBLE}][{_NOT_CONTROL}]*$"
#: Free text: as one line, but tab, line feed and carriage return are allowed.
LONG_TEXT_PATTERN = rf"^[{_LINE_BREAKS}{_SPACES}]*[{_VISIBLE}][{_LINE_BREAKS}{_NOT_CONTROL}]*$"

BRANCH_CODE_PATTERN = r"^[A-Z0-9]{2,12}$"
FORM_NUMBER_PATTERN = r"^[A-Z0-9]{2,12}-[0-9]{8}-[0-9]{4,}$"
PHONE_PATTERN = r"^[0-9+()\- ]+$"
_FORM_NUMBER_RE = re.compile(FORM_NUMBER_PATTERN)


def whole_match(pattern: str) -> AfterValidator:
    """Refuse what the pattern matches only through Python's `$` matching before a final newline.

    The schema's `$` (JSON Schema, hypothesis's `fullmatch`) is the end of the string; pydantic's
    `python-re` engine uses `re.search`, whose `$` also matches before a final "\n". So "abc\n"
    would pass a one-line pattern; this refuses it with the same error the pattern gives.
    """
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if value.endswith("\n") and not compiled.fullmatch(value):
            raise PydanticCustomError("string_pattern_mismatch", "String should match pattern '{pattern}'",
                                      {"pattern": pattern})
        return value

    return AfterValidator(check)


#: Namespace for ids derived from other ids (event ids from store positions, and so on).
COMPLAINTS_NAMESPACE = UUID("6f1c3c5e-2b0a-4f53-9a59-5a3b1f2f7d10")


def _check_form_number(value: str) -> str:
    if not _FORM_NUMBER_RE.fullmatch(value):
        raise ValueError("form number must look like {branch}-{yyyymmdd}-{seq}, e.g. SH01-20261125-0001")
    return value


FormNumber = Annotated[
    str,
    Field(max_length=FORM_NUMBER_MAX,
          description="Human form number {branch}-{yyyymmdd}-{seq}, unique per branch and day",
          examples=["SH01-20261125-0001"], json_schema_extra={"pattern": FORM_NUMBER_PATTERN}),
    AfterValidator(_check_form_number),
]
BranchCode = Annotated[
    str,
    Field(max_length=BRANCH_CODE_MAX, pattern=BRANCH_CODE_PATTERN,
          description="Branch code, upper-case letters and digits", examples=["SH01"]),
    whole_match(BRANCH_CODE_PATTERN),
]
#: Free text (descriptions, memos, replies): tab and line breaks allowed, no other control character.
NonEmptyStr = Annotated[
    str, Field(min_length=1, max_length=LONG_TEXT_MAX, pattern=LONG_TEXT_PATTERN),
]
#: One line of text (names, codes, titles): no control character at all.
ShortStr = Annotated[
    str, Field(min_length=1, max_length=SHORT_TEXT_MAX, pattern=SHORT_TEXT_PATTERN),
    whole_match(SHORT_TEXT_PATTERN),
]
Phone = Annotated[str, Field(min_length=5, max_length=PHONE_MAX, pattern=PHONE_PATTERN), whole_match(PHONE_PATTERN)]
#: An e-mail address as a clerk types it: ASCII letters, digits and ._%+- before the @, a domain of
#: dot-separated labels (internationalised addresses are not accepted yet).
EMAIL_PATTERN = r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+$"
Email = Annotated[str, Field(min_length=6, max_length=254, pattern=EMAIL_PATTERN), whole_match(EMAIL_PATTERN)]


class Language(StrEnum):
    """The language a person is written to in."""

    ZH = "zh"
    EN = "en"


@dataclass(frozen=True)
class DecimalText:
    """A Decimal whose JSON string form is bounded: a pattern and a maximum length, in the schema
    and checked on input; serialized in fixed-point notation (never `1E+3`), so it parses back."""

    pattern: str
    max_length: int

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        compiled = re.compile(self.pattern)

        def check(value: Any, info: core_schema.ValidationInfo) -> Any:
            # A float (or bool) is refused in every mode: FastAPI validates a parsed JSON body in
            # Python mode, where a JSON number arrives as a float.
            if (info.mode == "json" and not isinstance(value, str)) or isinstance(value, (float, bool)):
                raise PydanticCustomError(
                    "decimal_text", "send the amount as a decimal string, e.g. \"1280.50\" (a JSON number "
                                    "would pass through binary floating point)")
            if isinstance(value, str) and (len(value) > self.max_length or not compiled.fullmatch(value)):
                raise PydanticCustomError(
                    "decimal_text", "Decimal text should match pattern '{pattern}', at most {max_length} characters",
                    {"pattern": self.pattern, "max_length": self.max_length},
                )
            return value

        return core_schema.with_info_before_validator_function(
            check, handler(source),
            serialization=core_schema.plain_serializer_function_ser_schema(
                _fixed_point, when_used="json", return_schema=core_schema.str_schema()),
        )

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> dict[str, Any]:
        json_schema = handler.resolve_ref_schema(handler(schema))
        if "anyOf" in json_schema:  # JSON input is a string: the number form is not offered
            json_schema["anyOf"] = [n for n in json_schema["anyOf"] if n.get("type") != "number"]
            if len(json_schema["anyOf"]) == 1:
                json_schema.update(json_schema.pop("anyOf")[0])
        for node in json_schema.get("anyOf", [json_schema]):
            if node.get("type") == "string":
                node.update(pattern=self.pattern, maxLength=self.max_length)
        return json_schema


def _fixed_point(value: Decimal) -> str:
    return format(value, "f")


#: Money is CNY, as Decimal with two places; JSON carries it as a string.
MONEY_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
Money = Annotated[Decimal, Field(max_digits=14, decimal_places=2, ge=0), DecimalText(MONEY_PATTERN, 15)]


def _must_be_true(value: bool) -> bool:
    if value is not True:
        raise PydanticCustomError("contract_rule", "must be true")
    return value


#: A boolean that must be true: only the JSON `true` (schema `const: true`), never 1 or "true".
TrueBool = Annotated[StrictBool, AfterValidator(_must_be_true), Field(json_schema_extra={"const": True})]


def form_number(branch: str, day: date, seq: int) -> str:
    return f"{branch}-{day:%Y%m%d}-{seq:04d}"


def branch_of(form_number_: str) -> str:
    return form_number_.split("-", 1)[0]


class ServiceName(StrEnum):
    """Every service that publishes events, each on a topic of its own."""

    INTAKE = "intake"
    ROUTING = "routing"
    QUALITY = "quality"
    BILLING = "billing"
    NOTIFY = "notify"
    #: The read side's analytics: it publishes batch-defect alerts.
    ANALYTICS = "analytics"


#: The five services of the procedure's stages (registration to notification).
STAGE_SERVICES: tuple[ServiceName, ...] = (
    ServiceName.INTAKE, ServiceName.ROUTING, ServiceName.QUALITY, ServiceName.BILLING, ServiceName.NOTIFY)


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
    """Base of every contract model: immutable, no unknown fields, and patterns checked with Python's
    `re` (the engine schema-based fuzzers generate values from; see the text rules above)."""

    model_config = ConfigDict(frozen=True, extra="forbid", regex_engine="python-re")


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

Ref = Annotated[str, Field(min_length=1, max_length=REF_MAX, pattern=SHORT_TEXT_PATTERN,
                           description="Reference to a stored document, photo, fax or sample record"),
                whole_match(SHORT_TEXT_PATTERN)]


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


#: Attachments of one message.
Attachments = Annotated[list[Attachment], Field(max_length=ATTACHMENTS_MAX)]


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
    "APPROVALS_MAX", "ARCHIVE_DOCUMENTS_MAX", "ATTACHMENTS_MAX", "Actor", "Attachment", "AttachmentKind", "Attachments",
    "BranchCode", "COMPLAINTS_NAMESPACE", "COST_LINES_MAX", "CommandEnvelope", "ComplaintCommand",
    "DEPARTMENTS_MAX", "DecimalText", "Envelope", "FormNumber", "Frozen", "LONG_TEXT_MAX",
    "LONG_TEXT_PATTERN", "Money", "NonEmptyStr", "PHOTOS_MAX", "Phone", "REF_MAX", "Ref", "Role",
    "Rules", "SHORT_TEXT_MAX", "SHORT_TEXT_PATTERN", "STAGE_SERVICES", "ServiceName", "ShortStr", "Signature",
    "TrueBool", "branch_of", "describe", "form_number", "stable_event_id", "utc_now",
    "date", "datetime",
]
