"""Generate the checked-in documents from the contracts.

    python -m contracts.generate          # write contracts/schemas/*.json and contracts/asyncapi.yaml
    python -m contracts.generate --check  # exit 1, naming the stale files, if they are out of date

Writes one JSON Schema per event and per command (`schemas/<Name>.v<version>.json`, serialization
mode, the bytes a consumer receives) and an AsyncAPI 3.0 document of the topics.

The AsyncAPI document is built here as a plain dict and dumped with PyYAML rather than with
FastStream's generator: FastStream 0.7.8 gives one message per publisher (a union payload, inlined
into `components/schemas`), names channels `<topic>:publish`, and has no way to state the Kafka
message key. The contract needs one named message per event, payloads that reference the
checked-in schema files, and the key (the complaint id) in the Kafka message binding.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from contracts.envelope import CommandEnvelope, Envelope, ServiceName
from contracts.registry import COMMAND_CLASSES, EVENT_CLASSES, message_version
from contracts.topics import CONSUMERS, EVENTS_TOPICS, PARTITIONS

CONTRACTS_DIR = Path(__file__).resolve().parent
SCHEMAS_DIR = CONTRACTS_DIR / "schemas"
ASYNCAPI_PATH = CONTRACTS_DIR / "asyncapi.yaml"

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
DOCUMENT_VERSION = "0.1.0"

Message = type[Envelope] | type[CommandEnvelope]


def schema_filename(cls: Message) -> str:
    return f"{cls.__name__}.v{message_version(cls)}.json"


def render_schema(cls: Message) -> str:
    schema = cls.model_json_schema(mode="serialization")
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _doc(cls: type) -> str:
    return inspect.cleandoc(cls.__doc__ or cls.__name__)


def _key_binding() -> dict[str, Any]:
    return {
        "key": {
            "type": "string",
            "format": "uuid",
            "description": "The complaint id (`complaint_id`) as UTF-8 text: a complaint's messages "
                           "share one partition and stay in order.",
        },
        "bindingVersion": KAFKA_BINDING_VERSION,
    }


def _channel_binding(topic: str) -> dict[str, Any]:
    return {
        "kafka": {
            "topic": topic,
            "partitions": PARTITIONS,
            "topicConfiguration": {"retention.ms": -1},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def build_asyncapi(events: Iterable[type[Envelope]] = EVENT_CLASSES) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the topics, as a dict in a fixed order."""
    events = list(events)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    for event in events:
        doc = _doc(event)
        summary = doc.split("\n\n", 1)[0].replace("\n", " ")
        messages[event.__name__] = {
            "name": event.__name__,
            "title": f"{event.__name__} v{message_version(event)}",
            "summary": summary,
            **({"description": doc} if "\n\n" in doc else {}),
            "contentType": "application/json",
            "correlationId": {
                "description": "The complaint's first command; the same along the whole journey",
                "location": "$message.payload#/correlation_id",
            },
            "payload": {"$ref": f"./schemas/{schema_filename(event)}"},
            "bindings": {"kafka": _key_binding()},
        }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "Dead letter",
        "summary": "A message a consumer could not read, set aside with the reason; the consumer goes on.",
        "contentType": "application/octet-stream",
        "payload": {"description": "The original message value, byte for byte."},
        "bindings": {"kafka": _key_binding()},
    }

    for service, topic in EVENTS_TOPICS.items():
        produced = [e for e in events if e.PRODUCER is service]
        channels[topic] = {
            "address": topic,
            "title": f"{service.value} events",
            "description": f"Integration events produced by the {service.value} service, keyed by "
                           "complaint id. Topics keep their whole history.",
            "messages": {e.__name__: {"$ref": f"#/components/messages/{e.__name__}"} for e in produced},
            "bindings": _channel_binding(topic),
        }
        operations[f"publish{_camel(service)}Events"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
            "summary": f"The {service.value} service's outbox relay publishes its stored events in order.",
            "messages": [{"$ref": f"#/channels/{topic}/messages/{e.__name__}"} for e in produced],
        }

    for consumer in CONSUMERS.values():
        dlq = consumer.dead_letters
        channels[dlq] = {
            "address": dlq,
            "title": f"{consumer.name} dead letters",
            "description": f"Messages of {', '.join(consumer.topics)} that the {consumer.name} consumer could "
                           "never process, set aside with the reason; only that consumer writes here.",
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
            "bindings": _channel_binding(dlq),
        }
        operations[f"deadLetter{_camel_name(consumer.name)}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{dlq}"},
            "summary": f"The {consumer.name} consumer sets aside a message it can never process.",
            "messages": [{"$ref": f"#/channels/{dlq}/messages/DeadLetter"}],
        }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Customer-complaint management: integration events",
            "version": DOCUMENT_VERSION,
            "description": "Generated by `python -m contracts.generate` from the `contracts` package; "
                           "do not edit by hand. One topic per producing service; every message is "
                           "keyed by complaint id.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def _camel(service: ServiceName) -> str:
    return service.value.title()


def _camel_name(name: str) -> str:
    return "".join(part.title() for part in name.split("-"))


def render_asyncapi() -> str:
    return yaml.safe_dump(build_asyncapi(), sort_keys=False, allow_unicode=True, width=100)


def expected_files() -> dict[Path, str]:
    """Every generated file and its content."""
    files = {SCHEMAS_DIR / schema_filename(cls): render_schema(cls) for cls in (*EVENT_CLASSES, *COMMAND_CLASSES)}
    files[ASYNCAPI_PATH] = render_asyncapi()
    return files


def stale_files(expected: dict[Path, str] | None = None) -> list[Path]:
    """Generated files that are missing, differ, or should no longer exist."""
    expected = expected_files() if expected is None else expected
    stale = [path for path, text in expected.items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if SCHEMAS_DIR.is_dir():
        stale += [path for path in SCHEMAS_DIR.glob("*.json") if path not in expected]
    return sorted(stale)


def write(expected: dict[Path, str] | None = None) -> list[Path]:
    """Write what is stale and delete schema files of messages that no longer exist."""
    expected = expected_files() if expected is None else expected
    changed = stale_files(expected)
    SCHEMAS_DIR.mkdir(exist_ok=True)
    for path in changed:
        if path in expected:
            path.write_text(expected[path], encoding="utf-8")
        else:
            path.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 and name the stale files if any")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path.relative_to(CONTRACTS_DIR.parent)}", file=sys.stderr)
        if stale:
            print("run `python -m contracts.generate` and commit the result", file=sys.stderr)
            return 1
        return 0
    for path in write():
        print(f"{'wrote' if path.exists() else 'deleted'}: {path.relative_to(CONTRACTS_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
