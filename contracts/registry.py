"""All integration events and commands, one tagged union each, and the upcasters that read old
schema versions.

A published event is never edited. A change to an event is a new class version
(`schema_version: Literal[n+1]`) plus an upcaster registered here that turns the
JSON of version n into version n+1. Readers always see the newest version.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import ConfigDict, Field, TypeAdapter

from contracts import billing, notify, quality, registration, routing
from contracts.envelope import CommandEnvelope, Envelope, Frozen, ServiceName

_MODULES = (registration, routing, quality, billing, notify)


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


def upcast(data: dict[str, Any]) -> dict[str, Any]:
    """Bring the JSON of an event up to the current schema version of its type."""
    event_type = data.get("event_type")
    if event_type not in EVENT_TYPES:
        return data  # validation will name the unknown type
    version = data.get("schema_version")
    target = current_version(event_type)
    while isinstance(version, int) and version < target:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise ValueError(f"schema_version: no upcaster from {event_type} v{version} to v{version + 1}")
        data = step(dict(data))
        data["schema_version"] = version = version + 1
    return data


def parse_event(raw: bytes | str | dict[str, Any]) -> Envelope:
    """Parse and validate one integration event, upcasting old versions.

    Raises `pydantic.ValidationError` (or `ValueError` for bad JSON) naming the problem.
    """
    data = json.loads(raw) if isinstance(raw, bytes | str) else raw
    if not isinstance(data, dict):
        raise ValueError("message: expected a JSON object")
    return _ADAPTER.validate_python(upcast(data))


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
    data = json.loads(raw) if isinstance(raw, bytes | str) else raw
    if not isinstance(data, dict):
        raise ValueError("message: expected a JSON object")
    return _COMMAND_ADAPTER.validate_python(data)


def serialize_command(command: CommandEnvelope) -> bytes:
    return command.model_dump_json().encode()


def command_json_schema() -> dict[str, Any]:
    return _COMMAND_ADAPTER.json_schema(mode="serialization")


def message_version(cls: type[Envelope] | type[CommandEnvelope]) -> int:
    return cls.model_fields["schema_version"].default
