"""The registry: tagged unions of events and commands, and upcasting of old event versions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field, TypeAdapter, ValidationError

from contracts import registry, routing
from contracts.envelope import ShortStr
from tests.contracts.conftest import command_data, event_data
from contracts.registry import NewerSchemaVersion, parse_command, parse_event, serialize_event, upcaster


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


def test_a_newer_version_than_this_code_reads_is_its_own_error(event_json) -> None:
    with pytest.raises(NewerSchemaVersion) as caught:
        parse_event(json.dumps(event_json(routing.ComplaintClosed, schema_version=3)))
    assert isinstance(caught.value, ValueError) and not isinstance(caught.value, ValidationError)
    assert (caught.value.event_type, caught.value.version, caught.value.known) == ("ComplaintClosed", 3, 1)
    assert "ComplaintClosed v3" in str(caught.value)


def test_newer_version_is_only_for_a_known_type_and_an_int_version(event_json) -> None:
    for overrides in ({"event_type": "ComplaintTeleported", "schema_version": 9},
                      {"schema_version": "2"}, {"schema_version": 2.0}, {"schema_version": 0}):
        with pytest.raises(ValidationError):
            parse_event(event_json(routing.ComplaintClosed, **overrides))


def test_newer_version_follows_the_current_version(closed_v2: None, event_json) -> None:
    assert type(parse_event(event_json(routing.ComplaintClosed, schema_version=2, closed_by="x"))) is ComplaintClosedV2
    with pytest.raises(NewerSchemaVersion) as caught:
        parse_event(event_json(routing.ComplaintClosed, schema_version=3))
    assert caught.value.known == 2


@pytest.mark.parametrize("raw", [
    b"{not json", "[1, 2]", b'"text"', b"42", b"null", b"", b"\xff\xfe{}", b'{"a": "\xc3\x28"}',
    "[" * 100_000 + "]" * 100_000, '{"a":' * 5000 + "1" + "}" * 5000, b'{"notification_id": NaN}',
    b'{"event_type": ["ComplaintClosed"]}', b'{"event_type": {"a": 1}}', b'{"command_type": ["X"]}',
    b'{"event_type": "ComplaintClosed", "schema_version": "1"}', "1" * 5000,
], ids=lambda raw: repr(raw[:30]))
def test_bad_input_is_a_value_error(raw: bytes | str) -> None:
    with pytest.raises(ValueError):
        parse_event(raw)
    with pytest.raises(ValueError):
        parse_command(raw)


def test_deep_nesting_is_named(event_json) -> None:
    deep: Any = 1
    for _ in range(40):
        deep = {"a": deep}
    for raw in ('{"a":' * 5000 + "1" + "}" * 5000, {**event_json(routing.ComplaintClosed), "extra": deep}):
        with pytest.raises(ValueError, match="message: nested too deeply"):
            parse_event(raw)


def test_an_unhashable_event_type_is_a_validation_error(event_json) -> None:
    for event_type in (["ComplaintClosed"], {"x": 1}):
        with pytest.raises(ValidationError):
            parse_event(event_json(routing.ComplaintClosed, event_type=event_type))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(["event_type", "schema_version", "command_type", "actor", "occurred_at", "complaint_id",
                        "form_number", "notification_id", "outcome", "customer_agrees", "photo_refs", "lines"])


def _only_value_errors(parse: Any, raw: Any) -> None:
    try:
        parse(raw)
    except ValueError:  # ValidationError, NewerSchemaVersion and JSON errors are ValueErrors
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON_VALUES, st.binary(max_size=64), st.text(max_size=64)))
def test_arbitrary_input_raises_only_value_errors(raw: Any) -> None:
    _only_value_errors(parse_event, raw)
    _only_value_errors(parse_command, raw)
    if not isinstance(raw, bytes | str):
        _only_value_errors(parse_event, json.dumps(raw))
        _only_value_errors(parse_command, json.dumps(raw).encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(registry.EVENT_CLASSES), st.sampled_from(registry.COMMAND_CLASSES),
       st.dictionaries(KEYS, JSON_VALUES, max_size=3))
def test_valid_messages_with_arbitrary_fields_raise_only_value_errors(
    event_cls: type, command_cls: type, overrides: dict[str, Any],
) -> None:
    _only_value_errors(parse_event, json.dumps(event_data(event_cls, **overrides)))
    _only_value_errors(parse_command, command_data(command_cls, **overrides))


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


def test_a_published_v1_registration_is_read_as_the_current_version(event_json) -> None:
    """ComplaintRegistered v1 messages stay on the topics: they are read as the current version."""
    from contracts.registration import ComplaintRegistered
    v1 = dict(event_json(ComplaintRegistered))
    v1["schema_version"] = 1
    for field in ("read_back_not_possible", "complained_about", "demand", "order_number", "external_body",
                  "serious_reasons", "claim_amount"):
        v1.pop(field, None)
    v1["customer"] = {k: v for k, v in v1["customer"].items() if k not in ("email", "language")}
    event = parse_event(json.dumps(v1))
    assert isinstance(event, ComplaintRegistered) and event.schema_version == 3
    assert (event.serious_reasons, event.claim_amount, event.demand) == ([], None, None)
    assert (event.customer.email, event.customer.language.value) == (None, "zh")


@pytest.mark.parametrize("event_type", sorted(
    __import__("contracts.registry", fromlist=["CUSTOMER_CONTACT_ADDED"]).CUSTOMER_CONTACT_ADDED))
def test_an_event_of_a_customer_without_email_or_language_is_read_as_the_current_version(event_json, event_type):
    """Each event that embeds the customer, published before the customer had an e-mail address and a
    language, is read as the current version: no address, Chinese."""
    from contracts.registry import CUSTOMER_CONTACT_ADDED, EVENT_TYPES
    old = dict(event_json(EVENT_TYPES[event_type]))
    old["schema_version"] = CUSTOMER_CONTACT_ADDED[event_type]
    old["customer"] = {k: v for k, v in old["customer"].items() if k not in ("email", "language")}
    if event_type == "ComplaintRegistered":
        old.pop("read_back_not_possible", None)
    event = parse_event(json.dumps(old))
    assert event.schema_version == CUSTOMER_CONTACT_ADDED[event_type] + 1
    assert (event.customer.email, event.customer.language.value) == (None, "zh")


def test_a_published_v1_ruling_is_read_as_v2_without_a_misuse_resolution(event_json) -> None:
    """DisputeRuled v1 (no `misuse_resolution`) stays on routing's topic: read as v2, the field None,
    even when the v1 ruling found misuse (billing then keeps the resolution it knew)."""
    v1 = dict(event_json(routing.DisputeRuled))
    v1.update(schema_version=1, determination="obvious_misuse")
    v1.pop("misuse_resolution", None)
    event = parse_event(json.dumps(v1))
    assert isinstance(event, routing.DisputeRuled) and event.schema_version == 2
    assert (event.determination, event.misuse_resolution) == ("obvious_misuse", None)


def test_a_ruling_step_that_finds_misuse_names_its_resolution() -> None:
    base = {"dispute_id": str(uuid4()), "ruled_by": "Provincial QSB", "outcome": "upheld", "ruling": "misuse"}
    with pytest.raises(ValidationError) as refused:
        routing.RuleDisputeStep(**base, determination="obvious_misuse")
    assert "misuse_resolution" in str(refused.value)
    with pytest.raises(ValidationError):
        routing.RuleDisputeStep(**base, determination="obvious_quality_defect", misuse_resolution="fixed_on_site")
    step = routing.RuleDisputeStep(**base, determination="obvious_misuse", misuse_resolution="complex_needs_parts")
    assert step.misuse_resolution == "complex_needs_parts"
