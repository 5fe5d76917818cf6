"""The checked-in JSON Schemas and AsyncAPI document are exactly what the generator produces."""

from __future__ import annotations

import json

import pytest
import yaml

from contracts import generate
from contracts.registry import COMMAND_CLASSES, EVENT_CLASSES, message_version
from contracts.topics import CONSUMERS, EVENTS_TOPICS


def test_checked_in_files_are_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    code = generate.main(["--check"])
    stale = capsys.readouterr().err
    assert code == 0, f"stale generated files; run `python -m contracts.generate`:\n{stale}"


def test_check_mode_names_stale_and_extra_files() -> None:
    expected = generate.expected_files()
    already_stale = set(generate.stale_files(expected))  # empty when the first test passes
    changed = generate.SCHEMAS_DIR / generate.schema_filename(EVENT_CLASSES[0])
    removed = generate.SCHEMAS_DIR / generate.schema_filename(COMMAND_CLASSES[0])
    missing = generate.SCHEMAS_DIR / "NoSuchMessage.v1.json"
    expected[changed] += " "
    expected[generate.ASYNCAPI_PATH] = "asyncapi: 3.0.0\n"
    expected[missing] = "{}\n"
    del expected[removed]  # its file is on disk but would no longer be generated
    found = generate.stale_files(expected)
    assert found == sorted(already_stale | {changed, removed, missing, generate.ASYNCAPI_PATH})


def test_generation_is_deterministic() -> None:
    assert generate.expected_files() == generate.expected_files()


def test_one_schema_file_per_message() -> None:
    names = sorted(p.name for p in generate.SCHEMAS_DIR.glob("*.json"))
    assert names == sorted(f"{c.__name__}.v{message_version(c)}.json" for c in (*EVENT_CLASSES, *COMMAND_CLASSES))
    schema = json.loads((generate.SCHEMAS_DIR / "SalespersonPenaltyCharged.v1.json").read_text("utf-8"))
    assert schema["properties"]["event_type"]["const"] == "SalespersonPenaltyCharged"
    assert "penalty_percent" in schema["required"]


def test_asyncapi_channels_messages_and_keys() -> None:
    doc = yaml.safe_load(generate.ASYNCAPI_PATH.read_text("utf-8"))
    assert doc["asyncapi"] == "3.0.0"
    topics = list(EVENTS_TOPICS.values())
    assert set(doc["channels"]) == set(topics) | {c.dead_letters for c in CONSUMERS.values()}
    messages = doc["components"]["messages"]
    for service, topic in EVENTS_TOPICS.items():
        channel = doc["channels"][topic]
        assert channel["address"] == topic
        produced = {c.__name__ for c in EVENT_CLASSES if c.PRODUCER is service}
        assert set(channel["messages"]) == produced
    for consumer in CONSUMERS.values():
        assert list(doc["channels"][consumer.dead_letters]["messages"]) == ["DeadLetter"]
    for cls in EVENT_CLASSES:
        message = messages[cls.__name__]
        ref = message["payload"]["$ref"]
        assert (generate.ASYNCAPI_PATH.parent / ref).is_file(), ref
        assert ref.endswith(f"{cls.__name__}.v{message_version(cls)}.json")
        assert message["bindings"]["kafka"]["key"]["format"] == "uuid"
    for operation in doc["operations"].values():  # every $ref points into the document
        channel_id = operation["channel"]["$ref"].removeprefix("#/channels/")
        for ref in operation["messages"]:
            assert ref["$ref"].removeprefix(f"#/channels/{channel_id}/messages/") in doc["channels"][channel_id]["messages"]
