"""All integration events and commands, one tagged union each, and the upcasters that read old
schema versions.

A published event is never edited. A change to an event is a new class version
(`schema_version: Literal[n+1]`) plus an upcaster registered here that turns the
JSON of version n into version n+1. Readers always see the newest version.

Bad input makes `parse_event` and `parse_command` raise `ValueError` (a `pydantic.ValidationError`
for a message that is JSON but not a valid one) and nothing else, so a consumer can tell a poison
message from a bug. One `ValueError` is special: `NewerSchemaVersion`, an event this code is too old
to read. It is not poison: the consumer must stop and wait for newer code, not dead-letter it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import ConfigDict, Field, TypeAdapter

from contracts import analytics, billing, corrective, notify, quality, registration, routing
from contracts.envelope import CommandEnvelope, Envelope, Frozen, ServiceName

_MODULES = (registration, routing, quality, corrective, billing, notify, analytics)


def _literal_default(cls: type[Frozen], field: str) -> Any:
    """The value of a `Literal[...]` discriminator field, checked against its default."""
    info = cls.model_fields[field]
    if get_origin(info.annotation) is not Literal or len(get_args(info.annotation)) != 1:
        raise TypeError(f"{cls.__name__}.{field} must be a Literal of one value")
    value = get_args(info.annotation)[0]
    if info.default != value:
        raise TypeError(f"{cls.__name__}.{field} must default to its Literal value {value!r}")
    return value


def _discover(base: type[Frozen], tag: str) -> list[type[Any]]:
    found: dict[str, type[Any]] = {}
    for module in _MODULES:
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, base) and value is not base
                    and value.__module__ == module.__name__):
                name = _literal_default(value, tag)
                if name != value.__name__:
                    raise TypeError(f"{value.__name__}.{tag} is {name!r}; it must be the class name")
                if name in found:
                    raise TypeError(f"two classes for {tag} {name!r}")
                if not isinstance(_literal_default(value, "schema_version"), int):
                    raise TypeError(f"{value.__name__}.schema_version must be a Literal int")
                if base is Envelope and not isinstance(getattr(value, "PRODUCER", None), ServiceName):
                    raise TypeError(f"{value.__name__} must set PRODUCER")
                found[name] = value
    return sorted(found.values(), key=lambda c: c.__name__)


def _event_classes() -> list[type[Envelope]]:
    return _discover(Envelope, "event_type")


EVENT_CLASSES: list[type[Envelope]] = _event_classes()
EVENT_TYPES: dict[str, type[Envelope]] = {c.model_fields["event_type"].default: c for c in EVENT_CLASSES}

IntegrationEvent = Annotated[Union[tuple(EVENT_CLASSES)], Field(discriminator="event_type")]  # type: ignore[valid-type]
#: Titled, so a ValidationError reads "... for IntegrationEvent", not a list of every class.
_ADAPTER: TypeAdapter[Any] = TypeAdapter(IntegrationEvent, config=ConfigDict(title="IntegrationEvent"))

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
#: (event type, from version) -> function returning the JSON of version + 1.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(fn: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in UPCASTERS:
            raise ValueError(f"an upcaster for {event_type} v{from_version} is already registered")
        UPCASTERS[key] = fn
        return fn
    return register


def current_version(event_type: str) -> int:
    return EVENT_TYPES[event_type].model_fields["schema_version"].default


class NewerSchemaVersion(ValueError):
    """An event of a known type whose `schema_version` is newer than any this code knows.

    The message is not bad: this code is too old to read it. A consumer stops (and retries after
    newer code is deployed) instead of dead-lettering it.
    """

    def __init__(self, event_type: str, version: int, known: int) -> None:
        super().__init__(
            f"schema_version: {event_type} v{version} is newer than v{known}, the newest this code reads"
        )
        self.event_type = event_type
        self.version = version
        self.known = known

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.event_type, self.version, self.known)


def _known_type(data: dict[str, Any]) -> str | None:
    event_type = data.get("event_type")
    return event_type if isinstance(event_type, str) and event_type in EVENT_TYPES else None


def _int_version(data: dict[str, Any]) -> int | None:
    version = data.get("schema_version")
    return version if type(version) is int else None  # not a bool, a float or a string


def upcast(data: dict[str, Any]) -> dict[str, Any]:
    """Bring the JSON of an event up to the current schema version of its type.

    Raises `NewerSchemaVersion` for a version newer than the current one.
    """
    event_type = _known_type(data)
    if event_type is None:
        return data  # validation will name the unknown (or missing, or not a string) type
    version = _int_version(data)
    target = current_version(event_type)
    if version is not None and version > target:
        raise NewerSchemaVersion(event_type, version, target)
    while version is not None and 1 <= version < target:  # below 1: validation names it
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise ValueError(f"schema_version: no upcaster from {event_type} v{version} to v{version + 1}")
        try:
            data = step(dict(data))
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            raise ValueError(
                f"schema_version: cannot upcast this {event_type} v{version}: {type(exc).__name__}: {exc}"
            ) from exc
        data["schema_version"] = version = version + 1
    return data


#: Deeper than any contract nests (an event's deepest value is about 4 levels down).
MAX_DEPTH = 32


def _check_depth(data: Any) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH (iteratively: no recursion to overflow)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            raise ValueError("message: nested too deeply")
        stack.extend((child, depth + 1) for child in children)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"message: {name} is not JSON")


def _load(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The JSON object of a message; `ValueError` for anything else."""
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"message: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if isinstance(raw, str):
        try:
            data = json.loads(raw, parse_constant=_refuse_constant)
        except RecursionError:
            raise ValueError("message: nested too deeply") from None
    else:
        data = raw
    if not isinstance(data, dict):
        raise ValueError("message: expected a JSON object")
    _check_depth(data)
    return data


def parse_event(raw: bytes | str | dict[str, Any]) -> Envelope:
    """Parse and validate one integration event, upcasting old versions.

    Raises `pydantic.ValidationError` (or `ValueError` for bad JSON) naming the problem, and
    `NewerSchemaVersion` (a `ValueError`) for a known event in a newer version than this code reads.
    """
    return _ADAPTER.validate_python(upcast(_load(raw)))


def serialize_event(event: Envelope) -> bytes:
    return event.model_dump_json().encode()


def event_json_schema() -> dict[str, Any]:
    return _ADAPTER.json_schema(mode="serialization")


# --- commands ---------------------------------------------------------------------------------

COMMAND_CLASSES: list[type[CommandEnvelope]] = _discover(CommandEnvelope, "command_type")
COMMAND_TYPES: dict[str, type[CommandEnvelope]] = {
    c.model_fields["command_type"].default: c for c in COMMAND_CLASSES
}
if set(COMMAND_TYPES) & set(EVENT_TYPES):
    raise TypeError(f"names used by both an event and a command: {sorted(set(COMMAND_TYPES) & set(EVENT_TYPES))}")

Command = Annotated[Union[tuple(COMMAND_CLASSES)], Field(discriminator="command_type")]  # type: ignore[valid-type]
_COMMAND_ADAPTER: TypeAdapter[Any] = TypeAdapter(Command, config=ConfigDict(title="Command"))


def parse_command(raw: bytes | str | dict[str, Any]) -> CommandEnvelope:
    """Parse and validate one command (an HTTP body or a bus message), picked by `command_type`.

    Raises `pydantic.ValidationError` (or `ValueError` for bad JSON) naming the problem.
    """
    return _COMMAND_ADAPTER.validate_python(_load(raw))


def serialize_command(command: CommandEnvelope) -> bytes:
    return command.model_dump_json().encode()


def command_json_schema() -> dict[str, Any]:
    return _COMMAND_ADAPTER.json_schema(mode="serialization")


def message_version(cls: type[Envelope] | type[CommandEnvelope]) -> int:
    return cls.model_fields["schema_version"].default


# --- upcasters of published events ---------------------------------------------------------------


@upcaster("ComplaintRegistered", 1)
def _complaint_registered_v1(data: dict[str, Any]) -> dict[str, Any]:
    """v2 added, all optional: how the read-back ended, who or what is complained about, the
    customer's demand, the order number, the named external body, the serious reasons and the
    amount claimed. A v1 message had none of them."""
    return data


@upcaster("DisputeRuled", 1)
def _dispute_ruled_v1(data: dict[str, Any]) -> dict[str, Any]:
    """v2 added `misuse_resolution` (how the misuse a quality ruling found is resolved), optional;
    a v1 message had none."""
    return data


@upcaster("OnSiteDeterminationRecorded", 1)
def _on_site_determination_recorded_v1(data: dict[str, Any]) -> dict[str, Any]:
    """v2 is the whole inspection record. A v1 message had the determination, memo and photo
    references only: visited at the time it was recorded, its memo the cause, one unit, no parts,
    no samples, no opinion or feedback, no salesperson and no stored evidence."""
    data.setdefault("visited_at", data.get("occurred_at"))
    data.setdefault("cause", data.get("memo"))
    for name in ("samples_taken", "parts_used", "evidence"):
        data.setdefault(name, [])
    for name in ("customer_opinion", "written_feedback", "salesperson"):
        data.setdefault(name, None)
    data.setdefault("quantity", 1)
    return data


@upcaster("NotificationRecorded", 1)
def _notification_recorded_v1(data: dict[str, Any]) -> dict[str, Any]:
    """v2 has the notice's targets instead of one channel, the rule that decided it, the recipient's
    user id and language, mandatory and urgent, and when it goes out. A v1 notice went to its one
    `recipient` through its one `channel`, at once, decided by no named rule, not mandatory."""
    channel = data.pop("channel", None)
    data.setdefault("targets", [{"channel": channel, "address": data.get("recipient")}] if channel else [])
    for name in ("rule", "rules_version", "recipient_user_id", "send_at", "acknowledge_by"):
        data.setdefault(name, None)
    data.setdefault("language", "zh")
    data.setdefault("mandatory", False)
    data.setdefault("urgent", False)
    return data


def _customer_contact_added(data: dict[str, Any]) -> dict[str, Any]:
    """The next version's customer may have an e-mail address and a language; an earlier message's
    customer had neither (no address, Chinese)."""
    return data


#: Events that embed the customer: each got a version for the customer's e-mail and language.
CUSTOMER_CONTACT_ADDED = {"ComplaintRegistered": 2, "RegistrationCorrected": 1, "InquiryAnswered": 1,
                          "ComplaintClassified": 1, "InternalMemoFiled": 1, "SeriousComplaintEscalated": 1,
                          "CustomerReplied": 1, "ProgressMilestoneReached": 1}
for _event_type, _version in CUSTOMER_CONTACT_ADDED.items():
    upcaster(_event_type, _version)(_customer_contact_added)
