"""The registry: tagged unions of events and commands, and upcasting of old event versions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from contracts import registry, routing
from contracts.envelope import ShortStr
from contracts.registry import parse_command, parse_event, serialize_event, upcaster


class ComplaintClosedV2(routing.ComplaintClosed):
    """Test-only version 2 of ComplaintClosed: adds who closed it."""

    schema_version: Literal[2] = 2  # type: ignore[assignment]
    closed_by: ShortStr


@pytest.fixture
def closed_v2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make ComplaintClosedV2 the current version for the test, then restore everything."""
    classes = [ComplaintClosedV2 if c is routing.ComplaintClosed else c for c in registry.EVENT_CLASSES]
    monkeypatch.setitem(registry.EVENT_TYPES, "ComplaintClosed", ComplaintClosedV2)
    monkeypatch.setattr(registry, "_ADAPTER", TypeAdapter(
        Annotated[Union[tuple(classes)], Field(discriminator="event_type")]  # type: ignore[valid-type]
    ))
    yield
    registry.UPCASTERS.pop(("ComplaintClosed", 1), None)


def test_upcaster_brings_an_old_version_up(closed_v2: None, event_json) -> None:
    seen: list[int] = []

    @upcaster("ComplaintClosed", 1)
    def add_closed_by(data: dict[str, Any]) -> dict[str, Any]:
        seen.append(data["schema_version"])
        return {**data, "closed_by": data["actor"]["user_id"]}

    v1 = event_json(routing.ComplaintClosed)
    assert v1["schema_version"] == 1
    event = parse_event(json.dumps(v1))
    assert type(event) is ComplaintClosedV2
    assert event.schema_version == 2
    assert event.closed_by == "clerk-li"
    assert seen == [1]
    # a version-2 message is read as it is, without the upcaster
    assert parse_event(serialize_event(event)) == event
    assert seen == [1]


def test_upcaster_registration_is_cleaned_up() -> None:
    assert ("ComplaintClosed", 1) not in registry.UPCASTERS
    assert registry.EVENT_TYPES["ComplaintClosed"] is routing.ComplaintClosed
    assert registry.current_version("ComplaintClosed") == 1


def test_missing_upcaster_is_named(closed_v2: None, event_json) -> None:
    with pytest.raises(ValueError, match="schema_version: no upcaster from ComplaintClosed v1"):
        parse_event(event_json(routing.ComplaintClosed))


def test_an_upcaster_is_registered_once(closed_v2: None) -> None:
    upcaster("ComplaintClosed", 1)(lambda data: data)
    with pytest.raises(ValueError, match="already registered"):
        upcaster("ComplaintClosed", 1)(lambda data: data)


def test_unknown_event_type_is_rejected(event_json) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_event(event_json(routing.ComplaintClosed, event_type="ComplaintTeleported"))
    assert [e["type"] for e in caught.value.errors()] == ["union_tag_invalid"]


def test_missing_event_type_is_rejected(event_json) -> None:
    data = event_json(routing.ComplaintClosed)
    del data["event_type"]
    with pytest.raises(ValidationError) as caught:
        parse_event(data)
    assert [e["type"] for e in caught.value.errors()] == ["union_tag_not_found"]


def test_unknown_newer_version_is_rejected(event_json) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_event(event_json(routing.ComplaintClosed, schema_version=2))
    assert caught.value.errors()[0]["loc"] == ("ComplaintClosed", "schema_version")


@pytest.mark.parametrize("raw", [b"{not json", "[1, 2]", b'"text"'])
def test_non_object_is_rejected(raw: bytes | str) -> None:
    with pytest.raises(ValueError):
        parse_event(raw)
    with pytest.raises(ValueError):
        parse_command(raw)


def test_unknown_command_type_is_rejected(command_json) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_command(command_json(routing.CloseComplaint, command_type="DeleteComplaint"))
    assert [e["type"] for e in caught.value.errors()] == ["union_tag_invalid"]


def test_an_event_is_not_a_command(event_json) -> None:
    with pytest.raises(ValidationError):
        parse_command(event_json(routing.ComplaintClosed))


def test_events_and_commands_do_not_share_names() -> None:
    assert not set(registry.EVENT_TYPES) & set(registry.COMMAND_TYPES)
    assert len(registry.COMMAND_CLASSES) == len(registry.COMMAND_TYPES)
