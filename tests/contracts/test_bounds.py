"""Every string and every list in every contract is bounded (architecture rule 12), in the JSON
Schema a client or a fuzzer reads, and every boolean is strict.

Walks the schemas of every registered event and command, nested models included, so a contract
added later without bounds fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from contracts.envelope import ARCHIVE_DOCUMENTS_MAX, LONG_TEXT_MAX
from contracts.registry import COMMAND_CLASSES, EVENT_CLASSES

MESSAGES = [*EVENT_CLASSES, *COMMAND_CLASSES]
#: String formats whose grammar bounds them and which pydantic parses (not free text).
PARSED_FORMATS = {"uuid", "date", "date-time"}


def _nodes(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _nodes(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _nodes(value, f"{path}/{index}")


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def unbounded(schema: dict[str, Any]) -> list[str]:
    """Where a JSON Schema lets a string, an array or an object grow without limit."""
    found = []
    for path, node in _nodes(schema):
        types = _types(node)
        if "string" in types and not ({"const", "enum"} & node.keys() or node.get("format") in PARSED_FORMATS):
            if "maxLength" not in node:
                found.append(f"{path}: string without maxLength")
            elif node["maxLength"] > LONG_TEXT_MAX:
                found.append(f"{path}: maxLength {node['maxLength']} > {LONG_TEXT_MAX}")
            if "pattern" not in node:
                found.append(f"{path}: string without a pattern (the text rule)")
        if "array" in types:
            if "maxItems" not in node:
                found.append(f"{path}: array without maxItems")
            elif node["maxItems"] > ARCHIVE_DOCUMENTS_MAX:
                found.append(f"{path}: maxItems {node['maxItems']} > {ARCHIVE_DOCUMENTS_MAX}")
        if "object" in types and node.get("additionalProperties", True) is not False and "maxProperties" not in node:
            found.append(f"{path}: object open to any number of properties")
    return found


@pytest.mark.parametrize("mode", ["validation", "serialization"])
@pytest.mark.parametrize("cls", MESSAGES, ids=[c.__name__ for c in MESSAGES])
def test_every_string_list_and_object_is_bounded(cls: type, mode: str) -> None:
    assert unbounded(cls.model_json_schema(mode=mode)) == []


def test_the_walker_finds_what_is_unbounded() -> None:
    schema = {"type": "object", "properties": {
        "a": {"type": "string"}, "b": {"type": "array", "items": {"type": "string", "maxLength": 3}},
        "c": {"type": "object", "additionalProperties": {"type": "integer"}},
        "d": {"anyOf": [{"type": "string", "maxLength": 5000, "pattern": "x"}, {"type": "null"}]},
        "ok": {"type": "string", "format": "uuid"}, "tag": {"type": "string", "const": "T"},
    }, "additionalProperties": False}
    assert unbounded(schema) == [
        "#/properties/a: string without maxLength",
        "#/properties/a: string without a pattern (the text rule)",
        "#/properties/b: array without maxItems",
        "#/properties/b/items: string without a pattern (the text rule)",
        "#/properties/c: object open to any number of properties",
        f"#/properties/d/anyOf/0: maxLength 5000 > {LONG_TEXT_MAX}",
    ]


def _lax_bools(schema: Any, path: str = "") -> Iterator[str]:
    """Where a pydantic core schema has a boolean that is not strict."""
    if isinstance(schema, dict):
        if schema.get("type") == "bool" and not schema.get("strict"):
            yield path or "/"
        for key, value in schema.items():
            yield from _lax_bools(value, f"{path}/{key}")
    elif isinstance(schema, list | tuple):
        for index, value in enumerate(schema):
            yield from _lax_bools(value, f"{path}/{index}")


@pytest.mark.parametrize("cls", MESSAGES, ids=[c.__name__ for c in MESSAGES])
def test_every_boolean_is_strict(cls: type) -> None:
    assert list(_lax_bools(cls.__pydantic_core_schema__)) == []
