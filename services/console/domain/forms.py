"""A step's HTML form, made from the JSON Schema of the request body the service publishes.

The services state their bodies in their OpenAPI; the console renders each step's form from it,
so a field a service adds appears without a change here. `fields_of` turns a body schema into
`Field`s (what input each property becomes), `body_of` turns the submitted form back into the JSON
body, and `errors_by_field` puts a service's 422 (`loc` naming the field) next to that field.
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

SHA256_PATTERN = "^[0-9a-f]{64}$"
#: A string longer than this is a paragraph (a textarea), shorter a line.
LONG_TEXT = 500
#: Rows offered for a list of objects (parts used, attachments).
ROWS = 2

KINDS = ("text", "textarea", "select", "checkboxes", "checkbox", "yesno", "date", "datetime", "integer",
         "decimal", "lines", "files", "group", "rows", "hidden", "const")


@dataclass
class Field:
    """One input (or group of inputs) of a form. `name` is the dotted path in the body
    (`customer.name`, `parts_used.0.part`), and the input's name."""

    name: str
    kind: str
    required: bool = False
    nullable: bool = False
    options: list[str] = field(default_factory=list)
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    description: str | None = None
    title: str | None = None
    children: list[Field] = field(default_factory=list)
    rows: int = 0
    value: Any = None
    #: Required by its own schema, whether or not its group is given (`required` is both).
    own_required: bool = False

    @property
    def key(self) -> str:
        """The last part of the name: what labels are looked up by."""
        return self.name.rsplit(".", 1)[-1]

    @property
    def input_id(self) -> str:
        return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)

    def require(self) -> None:
        """Make an optional group required (a product complaint's product): its fields become as
        required as their own schema says."""
        self.required = True
        for child in self.children:
            child.required = child.own_required
            if child.kind == "group" and child.own_required:
                child.require()

    def walk(self) -> Iterable[Field]:
        yield self
        for child in self.children:
            yield from child.walk()


def _resolve(schema: Mapping[str, Any], components: Mapping[str, Any]) -> dict[str, Any]:
    """The schema with `$ref` followed (once per level) and `allOf` of one member flattened."""
    seen = 0
    schema = dict(schema)
    while "$ref" in schema and seen < 10:
        name = schema.pop("$ref").rsplit("/", 1)[-1]
        schema = {**components.get(name, {}), **schema}
        seen += 1
    if "allOf" in schema and len(schema["allOf"]) == 1:
        inner = _resolve(schema.pop("allOf")[0], components)
        schema = {**inner, **schema}
    return schema


def _variant(schema: dict[str, Any], components: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The non-null member of an `anyOf` (a nullable property), and whether null was allowed."""
    members = schema.get("anyOf") or schema.get("oneOf")
    if not members:
        types = schema.get("type")
        if isinstance(types, list):
            non_null = [t for t in types if t != "null"]
            return {**schema, "type": non_null[0] if non_null else "null"}, "null" in types
        return schema, False
    resolved = [_resolve(m, components) for m in members]
    non_null = [m for m in resolved if m.get("type") != "null"]
    nullable = len(non_null) < len(resolved)
    chosen = dict(non_null[0]) if non_null else {"type": "null"}
    for key in ("description", "title", "default"):
        if key in schema and key not in chosen:
            chosen[key] = schema[key]
    return chosen, nullable


def fields_of(schema: Mapping[str, Any], components: Mapping[str, Any], *, prefix: str = "",
              skip: Iterable[str] = (), given: bool = True) -> list[Field]:
    """The fields of an object schema, in the order the schema gives them. `given`: whether the
    object itself must be given (the fields of an optional group are required only once it is)."""
    schema = _resolve(schema, components)
    required = set(schema.get("required", ()))
    skipped = set(skip)
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        if name in skipped:
            continue
        f = _field(f"{prefix}{name}", _resolve(prop, components), components, name in required, given)
        f.own_required = f.required
        f.required = f.required and given
        out.append(f)
    return out


def _field(name: str, schema: dict[str, Any], components: Mapping[str, Any], required: bool,
           given: bool = True) -> Field:
    schema, nullable = _variant(schema, components)
    schema = _resolve(schema, components)
    common = {"name": name, "required": required and not nullable, "nullable": nullable,
              "description": schema.get("description"), "title": schema.get("title")}
    kind = schema.get("type")
    if "const" in schema:
        return Field(kind="const", value=schema["const"], **common)
    if "enum" in schema:
        return Field(kind="select", options=[str(o) for o in schema["enum"]], **common)
    if kind == "boolean":
        return Field(kind="yesno" if nullable or not required else "checkbox", **common)
    if kind == "integer":
        return Field(kind="integer", minimum=schema.get("minimum"), maximum=schema.get("maximum"), **common)
    if kind == "number":
        return Field(kind="decimal", **common)
    if kind == "object":
        children = fields_of(schema, components, prefix=f"{name}.", given=given and required and not nullable)
        return Field(kind="group", children=children, **common)
    if kind == "array":
        items = _resolve(schema.get("items") or {}, components)
        items, _ = _variant(items, components)
        items = _resolve(items, components)
        if "enum" in items:
            return Field(kind="checkboxes", options=[str(o) for o in items["enum"]], **common)
        if items.get("type") == "object":
            rows = [Field(name=f"{name}.{i}", kind="group",
                          children=fields_of(items, components, prefix=f"{name}.{i}.", given=False))
                    for i in range(ROWS)]
            return Field(kind="rows", children=rows, rows=ROWS, **common)
        if items.get("pattern") == SHA256_PATTERN:
            return Field(kind="files", **common)
        return Field(kind="lines", max_length=items.get("maxLength"), **common)
    fmt = schema.get("format")
    if fmt == "date":
        return Field(kind="date", **common)
    if fmt == "date-time":
        return Field(kind="datetime", **common)
    if fmt == "uuid":
        return Field(kind="hidden", **common)
    if fmt == "decimal" or _is_decimal_pattern(schema.get("pattern")):
        return Field(kind="decimal", pattern=None, **common)
    length = schema.get("maxLength")
    return Field(kind="textarea" if (length or 0) > LONG_TEXT else "text", max_length=length, **common)


def _is_decimal_pattern(pattern: str | None) -> bool:
    return bool(pattern) and pattern.startswith("^") and "[0-9]" in pattern and "\\." in pattern and \
        not re.search(r"[A-Za-z]\]", pattern.replace("0-9", ""))


class FormError(ValueError):
    """A value the console could not turn into the body's type (before asking the service)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def body_of(fields: Iterable[Field], form: Mapping[str, Any], zone: ZoneInfo, *,
            lists: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """The JSON body a submitted form stands for. `form` maps input names to their (last) value,
    `lists` input names to every value (checkboxes). Empty optional inputs are left out, so the
    service applies its defaults; values the console cannot convert raise `FormError` naming them."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {}
    for f in fields:
        try:
            value = _value(f, form, lists or {}, zone, errors)
        except ValueError as e:
            errors[f.name] = str(e)
            continue
        if value is not None:
            body[f.key] = value
    if errors:
        raise FormError(errors)
    return body


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return "" if value is None else str(value).strip()


def _value(f: Field, form: Mapping[str, Any], lists: Mapping[str, list[str]], zone: ZoneInfo,
           errors: dict[str, str]) -> Any:
    raw = _text(form, f.name)
    if f.kind == "const":
        return f.value if raw else None
    if f.kind == "checkbox":
        return raw in ("on", "true", "1", "yes")
    if f.kind == "yesno":
        return {"yes": True, "no": False}.get(raw)
    if f.kind == "checkboxes":
        chosen = [v for v in lists.get(f.name, []) if v in f.options]
        return chosen or ([] if f.required else None)
    if f.kind == "group":
        inner: dict[str, Any] = {}
        for child in f.children:
            try:
                value = _value(child, form, lists, zone, errors)
            except ValueError as e:
                errors[child.name] = str(e)
                continue
            if value is not None and value is not False:
                inner[child.key] = value
            elif value is False and child.kind != "checkbox":
                inner[child.key] = value
        if not inner:
            return {} if f.required else None
        for child in f.children:  # an unticked checkbox of a group given is an answer: false
            if child.kind == "checkbox" and child.key not in inner:
                inner[child.key] = False
        return inner
    if f.kind == "rows":
        rows = [r for r in (_value(row, form, lists, zone, errors) for row in f.children) if r]
        return rows or None
    if f.kind in ("lines", "files"):
        values = [line.strip() for line in raw.splitlines() if line.strip()] if f.kind == "lines" else \
            [v for v in lists.get(f.name, []) if v]
        return values or ([] if f.required else None)
    if raw == "":
        return None
    if f.kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("a whole number is needed") from None
    if f.kind == "date":
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            raise ValueError("a date is needed (YYYY-MM-DD)") from None
    if f.kind == "datetime":
        return local_datetime(raw, zone).isoformat()
    return raw


def local_datetime(text: str, zone: ZoneInfo) -> datetime:
    """A `datetime-local` input's value (company time, no offset) as an aware datetime; a value
    that carries an offset keeps it."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("a date and time is needed (YYYY-MM-DDTHH:MM)") from None
    return value if value.tzinfo else value.replace(tzinfo=zone)


def errors_by_field(detail: Any, fields: Iterable[Field]) -> tuple[dict[str, str], list[str]]:
    """A service's error answer split into messages by input name (from each item's `loc`) and the
    rest (messages that name no field of the form). `loc` starts with `body`, `path` or `query`."""
    names = {f.name for top in fields for f in top.walk()}
    by_field: dict[str, str] = {}
    general: list[str] = []
    items = detail if isinstance(detail, list) else [{"msg": detail}] if detail else []
    for item in items:
        if not isinstance(item, Mapping):
            general.append(str(item))
            continue
        message = str(item.get("msg") or item.get("message") or item)
        loc = [str(p) for p in item.get("loc") or () if str(p) not in ("body", "path", "query", "header")]
        target = None
        while loc:
            candidate = ".".join(loc)
            if candidate in names:
                target = candidate
                break
            loc = loc[:-1]
        if target is None:
            general.append(message)
        else:
            by_field[target] = f"{by_field[target]}; {message}" if target in by_field else message
    return by_field, general
