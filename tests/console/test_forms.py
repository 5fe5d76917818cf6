"""The console's schema-driven step forms (services/console/domain/forms.py), pure: `fields_of` turns a
request body's JSON Schema (as pydantic v2 emits it into a service's OpenAPI: `$ref`s to components,
`anyOf [X, null]` for optionals, formats, enums, arrays) into fields of the right kind; `body_of` turns the
submitted form back into the JSON body (empty optionals left out, company time made aware, a value it cannot
convert named in `FormError`); `errors_by_field` puts a service's 422 next to the field its `loc` names, or
the nearest parent field, or with the general messages. A real contract model (the registration form) and
quality's exception report are read as well; body_of round-trips a body of simple scalars (hypothesis)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from contracts.registration import RegistrationForm, Subject
from services.console.catalog import translator
from services.console.domain.forms import (
    KINDS, LONG_TEXT, ROWS, SHA256_PATTERN, Field, FormError, body_of, errors_by_field, fields_of, local_datetime,
)

ZONE = ZoneInfo("Asia/Shanghai")
REF = "#/components/schemas/"
SHA = "ab" * 32
DECIMAL = "^[0-9]{1,12}(\\.[0-9]{1,2})?$"
TEXT = "^[\\x20\\xa0]*[\\x21-\\x7e\\xa1-\\ud7ff][\\x20-\\x7e\\xa0-\\ud7ff]*$"   # like contracts' ShortStr

#: Components in the style of the services' OpenAPI (pydantic v2 with a `#/components/schemas/` template).
COMPONENTS: dict[str, Any] = {
    "Channel": {"enum": ["phone", "fax", "letter", "in_person"], "title": "Channel", "type": "string"},
    "AttachmentKind": {"enum": ["fax", "photo", "document"], "title": "AttachmentKind", "type": "string"},
    "SeriousReason": {"enum": ["injury", "media", "large_claim"], "title": "SeriousReason", "type": "string"},
    "Customer": {
        "additionalProperties": False, "title": "Customer", "type": "object",
        "properties": {
            "name": {"maxLength": 200, "minLength": 1, "pattern": TEXT, "title": "Name", "type": "string"},
            "phone": {"maxLength": 40, "minLength": 5, "pattern": "^[0-9+()\\- ]+$", "title": "Phone",
                      "type": "string"},
            "address": {"anyOf": [{"maxLength": 4000, "type": "string"}, {"type": "null"}], "default": None,
                        "title": "Address"},
        },
        "required": ["name", "phone"],
    },
    "PartUsed": {
        "additionalProperties": False, "title": "PartUsed", "type": "object",
        "properties": {
            "part_no": {"maxLength": 40, "minLength": 1, "title": "Part No", "type": "string"},
            "quantity": {"default": 1, "maximum": 100000.0, "minimum": 1.0, "title": "Quantity", "type": "integer"},
            "returned": {"title": "Returned", "type": "boolean"},
        },
        "required": ["part_no", "returned"],
    },
    "Attachment": {
        "additionalProperties": False, "title": "Attachment", "type": "object",
        "properties": {
            "kind": {"$ref": REF + "AttachmentKind"},
            "ref": {"maxLength": 200, "minLength": 1, "title": "Ref", "type": "string"},
        },
        "required": ["kind", "ref"],
    },
    "ProductionTrace": {
        "additionalProperties": False, "title": "ProductionTrace", "type": "object",
        "properties": {
            "production_date": {"format": "date", "title": "Production Date", "type": "string"},
            "shift": {"maxLength": 40, "title": "Shift", "type": "string"},
            "rework": {"anyOf": [{"type": "boolean"}, {"type": "null"}], "default": None, "title": "Rework"},
        },
        "required": ["production_date", "shift"],
    },
    "StepBody": {
        "additionalProperties": False, "title": "StepBody", "type": "object", "description": "A step's body.",
        "properties": {
            "command_id": {"format": "uuid", "title": "Command Id", "type": "string"},
            "memo_id": {"format": "uuid", "title": "Memo Id", "type": "string"},
            "channel": {"$ref": REF + "Channel"},
            "customer": {"$ref": REF + "Customer", "description": "Who complains"},
            "note": {"maxLength": 4000, "minLength": 1, "title": "Note", "type": "string"},
            "reference": {"anyOf": [{"maxLength": 200, "type": "string"}, {"type": "null"}], "default": None,
                          "description": "The courier's reference", "title": "Reference"},
            "quantity": {"maximum": 999, "minimum": 1, "title": "Quantity", "type": "integer"},
            "delivered_on": {"format": "date", "title": "Delivered On", "type": "string"},
            "delivered_at": {"format": "date-time", "title": "Delivered At", "type": "string"},
            "expected_by": {"anyOf": [{"format": "date-time", "type": "string"}, {"type": "null"}], "default": None,
                            "title": "Expected By"},
            "compensation": {"anyOf": [{"maxLength": 15, "pattern": DECIMAL, "type": "string"}, {"type": "null"}],
                             "title": "Compensation"},
            "hours": {"anyOf": [{"type": "number"}, {"pattern": "^(?!^[-+.]*$)[+-]?0*\\d*\\.?\\d*$",
                                                     "type": "string"}], "title": "Hours"},
            "customer_agrees": {"title": "Customer Agrees", "type": "boolean"},
            "within_warranty": {"default": True, "title": "Within Warranty", "type": "boolean"},
            "satisfied": {"anyOf": [{"type": "boolean"}, {"type": "null"}], "default": None, "title": "Satisfied"},
            "serious_reasons": {"items": {"$ref": REF + "SeriousReason"}, "maxItems": 9, "type": "array",
                                "title": "Serious Reasons"},
            "attendees": {"items": {"maxLength": 200, "minLength": 1, "type": "string"}, "minItems": 1,
                          "type": "array", "title": "Attendees"},
            "evidence": {"items": {"maxLength": 64, "minLength": 64, "pattern": SHA256_PATTERN, "type": "string"},
                         "maxItems": 50, "type": "array", "title": "Evidence"},
            "parts_used": {"items": {"$ref": REF + "PartUsed"}, "maxItems": 50, "type": "array",
                           "title": "Parts Used"},
            "production": {"anyOf": [{"$ref": REF + "ProductionTrace"}, {"type": "null"}],
                           "description": "Production traceability"},
            "no_loss": {"const": True, "title": "No Loss", "type": "boolean"},
            "confirmed": {"const": True, "description": "Left out: not yet", "title": "Confirmed",
                          "type": "boolean"},
            "urgency": {"anyOf": [{"$ref": REF + "Channel"}, {"type": "null"}], "default": None},
            "report": {"maxLength": 20000, "title": "Report", "type": "string"},
        },
        "required": ["command_id", "memo_id", "channel", "customer", "note", "delivered_at", "customer_agrees",
                     "attendees", "no_loss"],
    },
}
BODY = {"$ref": REF + "StepBody"}


def by_name(fields: list[Field]) -> dict[str, Field]:
    return {f.name: f for top in fields for f in top.walk()}


@pytest.fixture(scope="module")
def fields() -> list[Field]:
    return fields_of(BODY, COMPONENTS, skip={"command_id"})


def filled(**overrides: str) -> dict[str, str]:
    """The form of the step with its required inputs filled, as a browser sends it."""
    return {"memo_id": "5d3c1b2a-0000-4000-8000-000000000001", "channel": "phone", "customer.name": "王先生",
            "customer.phone": "021-5555 0101", "note": "Delivered, signed for", "delivered_at": "2026-03-02T09:30",
            "attendees": "Chen\nSun", "no_loss": "on", **overrides}


# --- fields_of -------------------------------------------------------------------------------------


def test_each_property_becomes_the_field_of_its_kind_in_schema_order(fields: list[Field]) -> None:
    kinds = {f.name: f.kind for f in fields}
    assert kinds == {
        "memo_id": "hidden", "channel": "select", "customer": "group", "note": "textarea", "reference": "text",
        "quantity": "integer", "delivered_on": "date", "delivered_at": "datetime", "expected_by": "datetime",
        "compensation": "decimal", "hours": "decimal", "customer_agrees": "checkbox", "within_warranty": "yesno",
        "satisfied": "yesno", "serious_reasons": "checkboxes", "attendees": "lines", "evidence": "files",
        "parts_used": "rows", "production": "group", "no_loss": "const", "confirmed": "const", "urgency": "select",
        "report": "textarea",
    }
    assert set(kinds.values()) <= set(KINDS)


def test_skipped_properties_are_left_out() -> None:
    names = [f.name for f in fields_of(BODY, COMPONENTS, skip=("command_id", "memo_id", "customer"))]
    assert "command_id" not in names and "memo_id" not in names and "customer" not in names
    assert names[0] == "channel"
    assert "command_id" in [f.name for f in fields_of(BODY, COMPONENTS)]


def test_required_nullable_and_optional_are_told_apart(fields: list[Field]) -> None:
    f = by_name(fields)
    assert f["note"].required and not f["note"].nullable
    assert not f["reference"].required and f["reference"].nullable
    assert not f["quantity"].required and not f["quantity"].nullable
    assert f["customer"].required and f["customer.name"].required and not f["customer.address"].required
    assert f["customer.address"].nullable
    assert not f["production"].required and f["production"].nullable
    # required by its own schema, but only once its optional group is given
    assert not f["production.production_date"].required and f["production.production_date"].own_required
    assert not f["production.rework"].own_required


def test_requiring_an_optional_group_makes_its_fields_as_required_as_their_schema_says() -> None:
    (production,) = fields_of(BODY, COMPONENTS, skip=[n for n in COMPONENTS["StepBody"]["properties"]
                                                      if n != "production"])
    production.require()
    assert production.required
    assert {c.key: c.required for c in production.children} == {
        "production_date": True, "shift": True, "rework": False}


def test_a_required_group_inside_an_optional_one_becomes_required_with_it() -> None:
    components = {**COMPONENTS, "Visit": {"type": "object", "required": ["customer", "at"], "properties": {
        "customer": {"$ref": REF + "Customer"}, "at": {"type": "string", "format": "date-time"}}}}
    schema = {"type": "object", "properties": {"visit": {"anyOf": [{"$ref": REF + "Visit"}, {"type": "null"}]}}}
    (visit,) = fields_of(schema, components)
    visit.require()
    f = by_name([visit])
    assert f["visit.customer"].required and f["visit.customer.name"].required and f["visit.at"].required
    assert not f["visit.customer.address"].required


def test_nothing_inside_an_optional_group_is_required_before_it_is_given() -> None:
    components = {**COMPONENTS, "Visit": {"type": "object", "required": ["customer"], "properties": {
        "customer": {"$ref": REF + "Customer"}}}}
    schema = {"type": "object", "properties": {
        "visit": {"anyOf": [{"$ref": REF + "Visit"}, {"type": "null"}], "default": None},
        "visits": {"type": "array", "items": {"$ref": REF + "Visit"}}}}
    fields = fields_of(schema, components)
    required = [f.name for top in fields for f in top.walk() if f.required]
    assert required == []


def test_a_ref_enum_becomes_a_select_with_its_values(fields: list[Field]) -> None:
    f = by_name(fields)
    assert f["channel"].options == ["phone", "fax", "letter", "in_person"]
    assert f["urgency"].kind == "select" and f["urgency"].nullable and f["urgency"].options == f["channel"].options
    assert f["serious_reasons"].options == ["injury", "media", "large_claim"]


def test_bounds_lengths_and_words_are_carried(fields: list[Field]) -> None:
    f = by_name(fields)
    assert (f["quantity"].minimum, f["quantity"].maximum) == (1, 999)
    assert f["note"].max_length == 4000 and f["note"].kind == "textarea"
    assert f["report"].max_length == 20000
    assert f["reference"].description == "The courier's reference" and f["reference"].title == "Reference"
    assert f["customer"].description == "Who complains"
    assert f["production"].description == "Production traceability"
    assert f["compensation"].pattern is None


def test_a_long_string_is_a_textarea_and_a_short_one_a_line() -> None:
    schema = {"type": "object", "properties": {
        "short": {"type": "string", "maxLength": LONG_TEXT}, "long": {"type": "string", "maxLength": LONG_TEXT + 1},
        "unbounded": {"type": "string"}}}
    assert [f.kind for f in fields_of(schema, {})] == ["text", "textarea", "text"]


def test_a_boolean_is_a_checkbox_only_when_an_answer_is_required(fields: list[Field]) -> None:
    f = by_name(fields)
    assert f["customer_agrees"].kind == "checkbox"   # required: unticked is an answer (false)
    assert f["within_warranty"].kind == "yesno"      # has a default: left out means the default
    assert f["satisfied"].kind == "yesno"            # nullable: yes, no, or not said
    assert f["production.rework"].kind == "yesno"


def test_an_array_of_objects_offers_rows_of_groups_named_by_index(fields: list[Field]) -> None:
    rows = by_name(fields)["parts_used"]
    assert rows.rows == ROWS and len(rows.children) == ROWS
    assert [r.name for r in rows.children] == [f"parts_used.{i}" for i in range(ROWS)]
    assert all(r.kind == "group" for r in rows.children)
    first = rows.children[0].children
    assert [(c.name, c.kind, c.own_required) for c in first] == [
        ("parts_used.0.part_no", "text", True), ("parts_used.0.quantity", "integer", False),
        ("parts_used.0.returned", "checkbox", True)]
    assert first[0].key == "part_no"
    assert not any(c.required for c in first)   # a row is optional: nothing in it must be filled


def test_an_array_of_sha256_strings_is_a_file_input_and_other_strings_lines(fields: list[Field]) -> None:
    f = by_name(fields)
    assert f["evidence"].kind == "files"
    assert f["attendees"].kind == "lines" and f["attendees"].required


def test_a_const_keeps_its_value(fields: list[Field]) -> None:
    f = by_name(fields)
    assert f["no_loss"].kind == "const" and f["no_loss"].value is True and f["no_loss"].required
    assert f["confirmed"].kind == "const" and not f["confirmed"].required


def test_a_group_names_its_children_by_dotted_path(fields: list[Field]) -> None:
    customer = by_name(fields)["customer"]
    assert [c.name for c in customer.children] == ["customer.name", "customer.phone", "customer.address"]
    assert [c.key for c in customer.children] == ["name", "phone", "address"]
    assert [f.name for f in customer.walk()] == ["customer", "customer.name", "customer.phone", "customer.address"]


def test_input_ids_are_safe_html_ids() -> None:
    assert Field("parts_used.0.part_no", "text").input_id == "f-parts_used-0-part_no"
    assert Field("a b\"<", "text").input_id == "f-a-b--"


def test_all_of_one_member_and_chained_refs_are_followed() -> None:
    components = {"Alias": {"$ref": REF + "Channel"}, **COMPONENTS}
    schema = {"type": "object", "required": ["a", "b"], "properties": {
        "a": {"allOf": [{"$ref": REF + "Channel"}], "description": "pydantic v1 style"},
        "b": {"$ref": REF + "Alias"}}}
    a, b = fields_of(schema, components)
    assert a.kind == "select" and a.options[0] == "phone" and a.description == "pydantic v1 style" and a.required
    assert b.kind == "select" and b.options == a.options


def test_a_type_list_with_null_is_nullable() -> None:
    schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": ["integer", "null"]}}}
    (n,) = fields_of(schema, {})
    assert n.kind == "integer" and n.nullable and not n.required


def test_a_money_pattern_is_a_decimal_and_a_phone_pattern_is_not(fields: list[Field]) -> None:
    f = by_name(fields)
    assert f["compensation"].kind == "decimal"
    assert f["customer.phone"].kind == "text" and f["customer.phone"].max_length == 40


def test_the_registration_contract_reads_as_the_clerk_fills_it() -> None:
    """The registration form as contracts/ defines it (the body intake publishes)."""
    schema = RegistrationForm.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.pop("$defs")
    fields = fields_of(schema, components, skip=("read_back_confirmed", "branch"))
    f = by_name(fields)
    assert f["customer"].kind == "group" and f["customer"].required
    assert {"customer.name", "customer.phone"} <= {c.name for c in f["customer"].children}
    assert f["customer.name"].required and f["customer.phone"].required
    assert f["product"].kind == "group" and f["product"].nullable and not f["product"].required
    assert f["product.batch_number"].own_required and not f["product.batch_number"].required
    assert f["product.order_date"].kind == "date"
    assert f["received_at"].kind == "datetime" and f["received_at"].required
    assert f["subject"].kind == "select" and f["subject"].options == [s.value for s in Subject]
    assert f["claim_amount"].kind == "decimal"
    assert f["serious_reasons"].kind == "checkboxes"
    assert "branch" not in f and "read_back_confirmed" not in f
    assert {x.kind for x in f.values()} <= set(KINDS)


# --- body_of ---------------------------------------------------------------------------------------


def test_the_required_inputs_make_the_body_and_empty_optionals_are_left_out(fields: list[Field]) -> None:
    body = body_of(fields, filled(reference="  ", quantity="", satisfied=""), ZONE)
    assert body == {
        "memo_id": "5d3c1b2a-0000-4000-8000-000000000001", "channel": "phone",
        "customer": {"name": "王先生", "phone": "021-5555 0101"}, "note": "Delivered, signed for",
        "delivered_at": "2026-03-02T09:30:00+08:00", "customer_agrees": False, "attendees": ["Chen", "Sun"],
        "no_loss": True,
    }


def test_every_kind_of_value_is_converted(fields: list[Field]) -> None:
    form = filled(reference=" SF1234 ", quantity=" 12 ", delivered_on="2026-03-01", expected_by="2026-03-09T18:00",
                  compensation="120.50", hours="1.5", customer_agrees="on", within_warranty="no", satisfied="yes",
                  urgency="fax", report="A long\nreport", no_loss="on", confirmed="on", **{
                      "customer.address": "上海市", "parts_used.0.part_no": "P-100", "parts_used.0.quantity": "2",
                      "production.production_date": "2025-12-24", "production.shift": "B", "production.rework": "no"})
    lists = {"serious_reasons": ["media", "not-an-option", "injury"], "evidence": [SHA, ""]}
    body = body_of(fields, form, ZONE, lists=lists)
    assert body["reference"] == "SF1234"
    assert body["quantity"] == 12
    assert body["delivered_on"] == "2026-03-01"
    assert body["expected_by"] == "2026-03-09T18:00:00+08:00"
    assert body["compensation"] == "120.50" and body["hours"] == "1.5"
    assert body["customer_agrees"] is True
    assert body["within_warranty"] is False and body["satisfied"] is True
    assert body["urgency"] == "fax" and body["report"] == "A long\nreport"
    assert body["no_loss"] is True and body["confirmed"] is True
    assert body["customer"] == {"name": "王先生", "phone": "021-5555 0101", "address": "上海市"}
    assert body["serious_reasons"] == ["media", "injury"]      # only the schema's options
    assert body["evidence"] == [SHA]
    assert body["parts_used"] == [{"part_no": "P-100", "quantity": 2, "returned": False}]
    assert body["production"] == {"production_date": "2025-12-24", "shift": "B", "rework": False}


def test_a_ticked_checkbox_is_true_in_any_usual_spelling(fields: list[Field]) -> None:
    for ticked in ("on", "true", "1", "yes"):
        assert body_of(fields, filled(customer_agrees=ticked), ZONE)["customer_agrees"] is True
    assert body_of(fields, filled(customer_agrees="off"), ZONE)["customer_agrees"] is False


def test_an_optional_group_left_empty_is_left_out_and_a_required_one_is_sent_empty() -> None:
    fields = fields_of(BODY, COMPONENTS, skip={"command_id"})
    body = body_of(fields, filled(**{"customer.name": "", "customer.phone": ""}), ZONE)
    assert body["customer"] == {}            # the service names customer.name and customer.phone
    assert "production" not in body and "parts_used" not in body


def test_an_empty_row_is_left_out_and_filled_rows_keep_their_order(fields: list[Field]) -> None:
    form = filled(**{"parts_used.1.part_no": "P-2", "parts_used.1.returned": "on"})
    assert body_of(fields, form, ZONE)["parts_used"] == [{"part_no": "P-2", "returned": True}]
    form = filled(**{"parts_used.0.part_no": "P-1", "parts_used.1.part_no": "P-2"})
    assert [r["part_no"] for r in body_of(fields, form, ZONE)["parts_used"]] == ["P-1", "P-2"]


def test_unticked_checkboxes_of_a_group_left_empty_do_not_make_it_given(fields: list[Field]) -> None:
    """`returned` is a required checkbox: unticked it is false, but a row with nothing else is not given."""
    assert "parts_used" not in body_of(fields, filled(), ZONE)


def test_required_lists_are_sent_empty_and_optional_ones_left_out() -> None:
    schema = {"type": "object", "required": ["tags", "reasons", "files"], "properties": {
        "tags": {"type": "array", "items": {"type": "string"}},
        "reasons": {"type": "array", "items": {"$ref": REF + "SeriousReason"}},
        "files": {"type": "array", "items": {"type": "string", "pattern": SHA256_PATTERN}},
        "more": {"type": "array", "items": {"type": "string"}},
        "why": {"type": "array", "items": {"$ref": REF + "SeriousReason"}}}}
    fields = fields_of(schema, COMPONENTS)
    assert body_of(fields, {"tags": " \n \n"}, ZONE) == {"tags": [], "reasons": [], "files": []}


def test_lines_are_trimmed_and_blank_lines_dropped(fields: list[Field]) -> None:
    body = body_of(fields, filled(attendees="  Chen \r\n\r\n Sun\n"), ZONE)
    assert body["attendees"] == ["Chen", "Sun"]


def test_a_datetime_local_value_is_company_time_and_an_offset_is_kept(fields: list[Field]) -> None:
    body = body_of(fields, filled(delivered_at="2026-03-02T09:30"), ZONE)
    moment = datetime.fromisoformat(body["delivered_at"])
    assert moment.utcoffset() == timedelta(hours=8)
    assert moment.astimezone(timezone.utc) == datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc)
    body = body_of(fields, filled(delivered_at="2026-03-02T09:30:00+00:00"), ZONE)
    assert body["delivered_at"] == "2026-03-02T09:30:00+00:00"


def test_local_datetime_uses_the_zone_given() -> None:
    assert local_datetime("2026-07-01T12:00", ZoneInfo("Europe/Berlin")).utcoffset() == timedelta(hours=2)
    with pytest.raises(ValueError, match="date and time"):
        local_datetime("tomorrow", ZONE)


def test_values_it_cannot_convert_are_named_together(fields: list[Field]) -> None:
    form = filled(quantity="twelve", delivered_on="2026-02-30", delivered_at="soon",
                  **{"parts_used.0.part_no": "P-1", "parts_used.0.quantity": "1.5",
                     "production.production_date": "24/12/2025", "production.shift": "A"})
    with pytest.raises(FormError) as refused:
        body_of(fields, form, ZONE)
    errors = refused.value.errors
    assert set(errors) == {"quantity", "delivered_on", "delivered_at", "parts_used.0.quantity",
                           "production.production_date"}
    assert errors["quantity"] == "a whole number is needed"
    assert "YYYY-MM-DD" in errors["delivered_on"] and "YYYY-MM-DDTHH:MM" in errors["delivered_at"]
    assert "quantity: a whole number is needed" in str(refused.value)
    assert isinstance(refused.value, ValueError)


def test_an_unknown_yes_no_answer_is_not_said(fields: list[Field]) -> None:
    assert "satisfied" not in body_of(fields, filled(satisfied="maybe"), ZONE)


def test_an_optional_const_is_sent_only_when_its_input_is_given(fields: list[Field]) -> None:
    """An optional const (the registration's `read_back_confirmed`) left out means something: not yet."""
    assert "confirmed" not in body_of(fields, filled(), ZONE)
    assert body_of(fields, filled(confirmed="true"), ZONE)["confirmed"] is True


def test_an_empty_form_of_an_empty_body_is_an_empty_body() -> None:
    assert body_of([], {}, ZONE) == {}
    assert body_of(fields_of({"type": "object", "properties": {}}, {}), {"x": "1"}, ZONE) == {}


def test_an_optional_group_left_wholly_empty_is_left_out_even_with_required_list_children() -> None:
    components = {**COMPONENTS, "Meeting": {
        "type": "object", "required": ["attendees", "customer"], "properties": {
            "attendees": {"type": "array", "items": {"type": "string"}},
            "customer": {"$ref": REF + "Customer"}}}}
    schema = {"type": "object", "properties": {
        "meeting": {"anyOf": [{"$ref": REF + "Meeting"}, {"type": "null"}], "default": None}}}
    fields = fields_of(schema, components)
    assert body_of(fields, {}, ZONE) == {}


def _macros() -> Any:
    from services.console.entrypoints.web import templates
    return templates.env.get_template("_macros.html").module


def test_the_exception_reports_required_no_loss_reaches_the_body() -> None:
    from services.quality.entrypoints.corrective import ExceptionReportBody
    schema = ExceptionReportBody.model_json_schema(ref_template="#/components/schemas/{model}")
    fields = fields_of(schema, schema.pop("$defs", {}), skip={"command_id", "report_id"})
    no_loss = next(f for f in fields if f.key == "no_loss")
    assert no_loss.kind == "const" and no_loss.required
    html = str(_macros().field(translator("en"), no_loss, {}, {}, {}, {}))
    sent = {"no_loss": "on"} if 'name="no_loss"' in html else {}   # what the browser sends, ticked if offered
    form = {"unit": "Line 3", "description": "Scratch, no loss", "requested_response": "Check the jig", **sent}
    assert body_of(fields, form, ZONE).get("no_loss") is True


# --- body_of round trip ----------------------------------------------------------------------------

SCALARS: dict[str, Any] = {"type": "object", "required": ["count", "day", "channel", "name", "at"], "properties": {
    "count": {"type": "integer"},
    "day": {"type": "string", "format": "date"},
    "channel": {"$ref": REF + "Channel"},
    "name": {"type": "string", "maxLength": 200},
    "at": {"type": "string", "format": "date-time"},
    "note": {"anyOf": [{"type": "string", "maxLength": 4000}, {"type": "null"}], "default": None},
    "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
    "urgency": {"anyOf": [{"$ref": REF + "AttachmentKind"}, {"type": "null"}], "default": None},
}}
visible_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda s: s.strip() == s and s != "")
minutes = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.replace(second=0, microsecond=0, tzinfo=ZONE))


@st.composite
def scalar_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body = {"count": draw(st.integers(-10**12, 10**12)), "day": draw(st.dates()).isoformat(),
            "channel": draw(st.sampled_from(COMPONENTS["Channel"]["enum"])), "name": draw(visible_text),
            "at": draw(minutes)}
    optional = {"note": visible_text, "limit": st.integers(0, 10**6),
                "urgency": st.sampled_from(COMPONENTS["AttachmentKind"]["enum"])}
    for name, values in optional.items():
        if draw(st.booleans()):
            body[name] = draw(values)
    return body


def rendered(body: dict[str, Any]) -> dict[str, str]:
    """The inputs as the page shows a body's values (a datetime-local input in company time)."""
    return {k: v.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M") if isinstance(v, datetime) else str(v)
            for k, v in body.items()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(scalar_bodies())
def test_a_body_of_scalars_rendered_into_the_form_comes_back(body: dict[str, Any]) -> None:
    fields = fields_of(SCALARS, COMPONENTS)
    back = body_of(fields, rendered(body), ZONE)
    assert datetime.fromisoformat(back.pop("at")) == body["at"]
    assert back == {k: v for k, v in body.items() if k != "at"}
    date.fromisoformat(back["day"])


# --- errors_by_field -------------------------------------------------------------------------------


def test_a_422_item_goes_to_the_field_its_loc_names(fields: list[Field]) -> None:
    detail = [{"loc": ["body", "customer", "name"], "msg": "String should have at least 1 character",
               "type": "string_too_short"},
              {"loc": ["body", "parts_used", 0, "quantity"], "msg": "Input should be greater than 0", "type": "x"},
              {"loc": ["body", "note"], "msg": "Field required", "type": "missing"}]
    by_field, general = errors_by_field(detail, fields)
    assert by_field == {"customer.name": "String should have at least 1 character",
                        "parts_used.0.quantity": "Input should be greater than 0", "note": "Field required"}
    assert general == []


def test_a_loc_deeper_than_any_field_falls_back_to_the_nearest_parent(fields: list[Field]) -> None:
    detail = [{"loc": ["body", "parts_used", 7, "part_no"], "msg": "too long"},
              {"loc": ["body", "production", "ProductionTrace", "shift"], "msg": "bad shift"},
              {"loc": ["body", "customer", "email"], "msg": "Extra inputs are not permitted"}]
    by_field, general = errors_by_field(detail, fields)
    assert by_field == {"parts_used": "too long", "production": "bad shift",
                        "customer": "Extra inputs are not permitted"}
    assert general == []


def test_what_names_no_field_of_the_form_is_general(fields: list[Field]) -> None:
    detail = [{"loc": ["body"], "msg": "Value error, satisfaction only when reached"},
              {"loc": ["body", "command_id"], "msg": "Field required"},   # skipped: not on the form
              {"loc": [], "msg": "complaint is closed", "type": "InvalidCommand"},
              {"loc": ["path", "complaint_id"], "msg": "Input should be a valid UUID"},
              "just a string in the list"]
    by_field, general = errors_by_field(detail, fields)
    assert by_field == {}
    assert general == ["Value error, satisfaction only when reached", "Field required", "complaint is closed",
                       "Input should be a valid UUID", "just a string in the list"]


def test_a_domain_refusal_naming_a_field_goes_to_it(fields: list[Field]) -> None:
    """The services' DomainError answers `loc: ["body", <field>]`."""
    by_field, general = errors_by_field([{"loc": ["body", "delivered_at"], "msg": "in the future",
                                          "type": "InvalidCommand"}], fields)
    assert by_field == {"delivered_at": "in the future"} and general == []


def test_two_messages_for_one_field_are_joined(fields: list[Field]) -> None:
    detail = [{"loc": ["body", "note"], "msg": "too short"}, {"loc": ["body", "note"], "msg": "bad character"}]
    assert errors_by_field(detail, fields) == ({"note": "too short; bad character"}, [])


def test_a_detail_that_is_text_or_nothing(fields: list[Field]) -> None:
    assert errors_by_field("quality cannot be reached", fields) == ({}, ["quality cannot be reached"])
    assert errors_by_field(None, fields) == ({}, [])
    assert errors_by_field([], fields) == ({}, [])


def test_message_falls_back_to_message_then_the_item(fields: list[Field]) -> None:
    by_field, general = errors_by_field([{"loc": ["body", "note"], "message": "from message"},
                                         {"loc": ["body"], "type": "odd"}], fields)
    assert by_field == {"note": "from message"}
    assert general == [str({"loc": ["body"], "type": "odd"})]


def test_a_field_added_by_the_page_is_a_target_too() -> None:
    """The registration page adds `branch` (not shown as a schema field) to catch intake's branch errors."""
    fields = [*fields_of(BODY, COMPONENTS), Field("branch", "select")]
    assert errors_by_field([{"loc": ["body", "branch"], "msg": "unknown branch"}], fields) == (
        {"branch": "unknown branch"}, [])
