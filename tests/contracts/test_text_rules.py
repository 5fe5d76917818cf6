"""Text refuses blank values and control characters, by a JSON-schema pattern that the models
check with Python's `re`: what a schema-based fuzzer generates from the pattern is accepted, and
what the pattern refuses is refused."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import billing, quality, registration, routing
from contracts.envelope import (
    _NOT_CONTROL, _SPACES, _VISIBLE, LONG_TEXT_MAX, LONG_TEXT_PATTERN, SHORT_TEXT_MAX, SHORT_TEXT_PATTERN,
    Frozen, NonEmptyStr, ShortStr,
)
from contracts.registry import parse_command, parse_event

ALL_CODE_POINTS = "".join(map(chr, range(sys.maxunicode + 1)))


def is_control(char: str) -> bool:
    return ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F or 0xD800 <= ord(char) <= 0xDFFF


def text_ok(value: str, *, long: bool) -> bool:
    """The rule, in plain Python: something not whitespace, no control character (tab and line
    breaks allowed in long text), within the length bound."""
    allowed_controls = "\t\n\r" if long else ""
    return (
        0 < len(value) <= (LONG_TEXT_MAX if long else SHORT_TEXT_MAX)
        and not value.isspace()
        and all(not is_control(c) or c in allowed_controls for c in value)
    )


class Texts(Frozen):
    short: ShortStr = "x"
    long: NonEmptyStr = "x"


def accepted(field: str, value: str) -> bool:
    try:
        Texts(**{field: value})
    except ValidationError as error:
        assert [e["loc"] for e in error.errors()] == [(field,)]
        return False
    return True


def members(char_class: str) -> set[str]:
    return set(re.sub(f"[^{char_class}]", "", ALL_CODE_POINTS))


def test_character_classes_match_python_whitespace_and_controls() -> None:
    # the classes are written out as ranges; check them against str.isspace() over every code point
    everything = set(ALL_CODE_POINTS)
    controls = {c for c in everything if is_control(c)}
    spaces = {c for c in everything if c.isspace()}
    assert members(_NOT_CONTROL) == everything - controls
    assert members(_SPACES) == spaces - controls
    assert members(_VISIBLE) == everything - controls - spaces


def test_patterns_name_no_surrogate_and_no_lookaround() -> None:
    for pattern in (SHORT_TEXT_PATTERN, LONG_TEXT_PATTERN):
        assert "(?" not in pattern and r"\s" not in pattern
        assert not re.search(r"\\ud[89a-f]", pattern, re.IGNORECASE), "a validator on Rust's regex refuses it"


def _from_pattern(pattern: str, max_size: int) -> st.SearchStrategy[str]:
    # Building this strategy takes hypothesis some seconds (it walks the class ranges character by
    # character, a million of them); from_regex caches it per process.
    return st.from_regex(pattern, fullmatch=True).filter(lambda v: len(v) <= max_size)


FROM_SHORT_PATTERN = _from_pattern(SHORT_TEXT_PATTERN, SHORT_TEXT_MAX)
FROM_LONG_PATTERN = _from_pattern(LONG_TEXT_PATTERN, LONG_TEXT_MAX)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FROM_SHORT_PATTERN)
def test_short_text_generated_from_the_pattern_is_accepted(value: str) -> None:
    assert text_ok(value, long=False), repr(value)
    assert accepted("short", value), repr(value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FROM_LONG_PATTERN)
def test_long_text_generated_from_the_pattern_is_accepted(value: str) -> None:
    assert text_ok(value, long=True), repr(value)
    assert accepted("long", value), repr(value)


ANY_CHARACTER = st.characters(codec=None, categories=None)  # controls and surrogates too
TRICKY = st.sampled_from([" ", "\u3000", "\xa0", "\t", "\n", "\r", "\x00", "\x1b", "\x7f", "\x85", "\x9f",
                          "\ud800", "\udfff", "\u2028", "\u200b", "\ufeff", "a", "中", "\U0001F600"])


@settings(max_examples=500)
@given(st.text(st.one_of(ANY_CHARACTER, TRICKY), max_size=12))
def test_the_model_and_the_pattern_agree_on_any_text(value: str) -> None:
    for field, pattern, long in (("short", SHORT_TEXT_PATTERN, False), ("long", LONG_TEXT_PATTERN, True)):
        expected = text_ok(value, long=long)
        assert (re.fullmatch(pattern, value) is not None) == expected, repr(value)
        assert accepted(field, value) == expected, repr(value)


REFUSED_EVERYWHERE = ["", "   ", "\u3000\u3000", "a\x00b", "a\x1bb", "a\x7fb", "a\x85b", "a\ud800b", "\t\n"]


@pytest.mark.parametrize("value", REFUSED_EVERYWHERE, ids=repr)
def test_blank_or_control_text_is_refused_naming_the_field(value: str, event_json, command_json) -> None:
    cases: list[tuple[Any, dict[str, Any], tuple[str | int, ...]]] = [
        (parse_event, event_json(routing.ComplaintClosed, resolution_summary=value),
         ("ComplaintClosed", "resolution_summary")),
        (parse_event, event_json(quality.OnSiteDeterminationRecorded, inspector=value),
         ("OnSiteDeterminationRecorded", "inspector")),
        (parse_event, event_json(quality.OnSiteDeterminationRecorded, photo_refs=["p1.jpg", value]),
         ("OnSiteDeterminationRecorded", "photo_refs", 1)),
        (parse_command, command_json(registration.RegisterComplaint, customer={
            **command_json(registration.RegisterComplaint)["customer"], "name": value}),
         ("RegisterComplaint", "customer", "name")),
        (parse_command, command_json(registration.RegisterComplaint, description=value),
         ("RegisterComplaint", "description")),
    ]
    for parse, data, loc in cases:
        with pytest.raises(ValidationError) as caught:
            parse(data)
        assert [e["loc"] for e in caught.value.errors()] == [loc], caught.value.errors()


@pytest.mark.parametrize("value", ["a\nb", "abc\n", "a\rb", "a\tb", "\nabc"], ids=repr)
def test_line_breaks_only_in_long_text(value: str, make_event) -> None:
    assert make_event(routing.ComplaintClosed, resolution_summary=value).resolution_summary == value
    with pytest.raises(ValidationError) as caught:
        make_event(quality.OnSiteDeterminationRecorded, inspector=value)
    assert [e["loc"] for e in caught.value.errors()] == [("inspector",)]


@pytest.mark.parametrize("value", ["中文", "  padded  ", "x\u3000y", "😀", "\u200b"], ids=repr)
def test_ordinary_text_is_accepted(value: str) -> None:
    assert Texts(short=value, long=value) == Texts(short=value, long=value)


@pytest.mark.parametrize("field,value", [("branch", "SH01\n"), ("form_number", "SH01-20261125-0001\n")])
def test_codes_refuse_a_final_newline(field: str, value: str, event_json, command_json) -> None:
    data = command_json(registration.RegisterComplaint) if field == "branch" else event_json(
        routing.ComplaintClosed)
    with pytest.raises(ValidationError):
        (parse_command if field == "branch" else parse_event)({**data, field: value})


def test_customer_phone_refuses_a_final_newline(command_json) -> None:
    data = command_json(registration.RegisterComplaint)
    with pytest.raises(ValidationError) as caught:
        parse_command({**data, "customer": {**data["customer"], "phone": "+86 21 5555 0101\n"}})
    assert caught.value.errors()[0]["loc"][-2:] == ("customer", "phone")


@pytest.mark.parametrize("value", [" " * 4000, "\u3000" * 4000, "\n" * 3999 + "\x00", "a" * 3999 + "\x00",
                                   " " * 200, "a" * 199 + "\n"], ids=lambda v: f"{v[:1]!r}x{len(v)}")
def test_long_blank_values_are_refused_quickly(value: str) -> None:
    # linear patterns: these complete at once (a quadratic one takes seconds on 4000 characters)
    for _ in range(20):
        with pytest.raises(ValidationError):
            Texts(long=value, short=value[:SHORT_TEXT_MAX])


def test_money_text_is_bounded(command_json) -> None:
    ok = parse_command(command_json(billing.RecordCost, amount="0012.5"))
    assert str(ok.amount) == "12.5"
    for bad in ["0" * 20 + "1", "1e3", " 1.00", "1.00\n", "-0.00", "NaN"]:
        with pytest.raises(ValidationError) as caught:
            parse_command(command_json(billing.RecordCost, amount=bad))
        assert caught.value.errors()[0]["loc"][-1] == "amount", bad
