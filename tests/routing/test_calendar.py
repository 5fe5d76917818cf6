"""The business calendar (services/common/calendar.py): concrete dates around the 2026
Spring Festival and National Day, lunch breaks, starts outside hours, a year without data,
the company file, a profile in another zone, and properties of working-time arithmetic."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.calendar import (
    COMPANY_FILE,
    BusinessCalendar,
    CalendarError,
    CalendarSet,
    load_calendar,
    official_from_library,
)

SH = ZoneInfo("Asia/Shanghai")
URUMQI = ZoneInfo("Asia/Urumqi")
UTC = timezone.utc
H = timedelta(hours=1)


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, tz: ZoneInfo = SH) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=tz)


@pytest.fixture(scope="module")
def official():
    return official_from_library()


@pytest.fixture(scope="module")
def calendars(official) -> CalendarSet:
    return load_calendar(official=official)


@pytest.fixture(scope="module")
def cal(calendars: CalendarSet) -> BusinessCalendar:
    return calendars.default()


def company_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "company.yaml"
    path.write_text(body, encoding="utf-8")
    return path


BASE = """
version: "test-1"
profiles:
  default:
    zone: Asia/Shanghai
    hours:
      mon: ["08:30-12:00", "13:00-17:30"]
      tue: ["08:30-12:00", "13:00-17:30"]
      wed: ["08:30-12:00", "13:00-17:30"]
      thu: ["08:30-12:00", "13:00-17:30"]
      fri: ["08:30-12:00", "13:00-17:30"]
"""


# --- the data ---------------------------------------------------------------------------


def test_make_up_days_are_parsed_from_the_library_names(official) -> None:
    made_up_2026 = sorted(d for d in official.make_up_days if d.year == 2026)
    assert made_up_2026 == [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
                            date(2026, 9, 20), date(2026, 10, 10)]
    assert official.make_up_days[date(2026, 2, 14)] == "swapped with the day off on 2026-02-20"


def test_architecture_facts_national_day_2026(cal: BusinessCalendar) -> None:
    assert cal.is_working_day(date(2026, 9, 20))       # Sunday, make-up working day
    assert cal.is_working_day(date(2026, 10, 10))      # Saturday, make-up working day
    for d in range(1, 8):
        assert not cal.is_working_day(date(2026, 10, d)), d
    assert cal.is_working_day(date(2026, 10, 8))


def test_spring_festival_2026(cal: BusinessCalendar) -> None:
    assert cal.is_working_day(date(2026, 2, 14)) and cal.is_working_day(date(2026, 2, 28))
    for d in (15, 16, 17, 18, 19, 20, 21, 22, 23):
        assert not cal.is_working_day(date(2026, 2, d)), d
    assert cal.is_working_day(date(2026, 2, 24))
    assert "Spring Festival" in cal.day(date(2026, 2, 17)).label


def test_2027_is_not_covered_the_library_has_holidays_but_no_make_up_days(official, cal) -> None:
    assert any(d.year == 2027 for d in official.days_off)            # 19 entries for 2027 ...
    assert not any(d.year == 2027 for d in official.make_up_days)    # ... but no 调休
    assert set(range(2001, 2027)) <= official.covered_years
    assert 2027 not in official.covered_years and not cal.is_year_covered(2027)
    # In an uncovered year only the weekday pattern counts: the library's guessed days are ignored.
    assert cal.is_working_day(date(2027, 2, 9))
    assert not cal.day(date(2027, 2, 9)).covered


def test_the_version_combines_the_company_file_and_the_library(cal: BusinessCalendar) -> None:
    import holidays
    assert cal.version == f"2026.1+holidays-{holidays.__version__}"


# --- working hours ----------------------------------------------------------------------


def test_two_working_hours_from_friday_before_spring_festival_land_on_the_make_up_saturday(cal) -> None:
    result = cal.add_working_hours(at(2026, 2, 13, 16, 30), 2)
    assert result.due_at == at(2026, 2, 14, 9, 30)
    assert not result.provisional and result.uncovered_years == frozenset()
    assert "make-up working day" in result.explanation


def test_working_hours_skip_the_whole_spring_festival(cal) -> None:
    # Sat 2026-02-14 is a working day; 02-15..02-23 are not.
    result = cal.add_working_hours(at(2026, 2, 14, 16, 30), 2)
    assert result.due_at == at(2026, 2, 24, 9, 30)
    text = result.explanation
    for d in ("2026-02-16", "2026-02-20", "2026-02-21", "2026-02-23"):
        assert d in text
    assert "Chinese New Year's Eve" in text and "weekend" in text


def test_lunch_break_is_not_working_time(cal) -> None:
    assert cal.add_working_hours(at(2026, 3, 3, 11), 2).due_at == at(2026, 3, 3, 14)
    assert not cal.is_working_instant(at(2026, 3, 3, 12, 30))
    assert "break between periods" in cal.add_working_hours(at(2026, 3, 3, 11), 2).explanation


def test_end_of_period_rule(cal) -> None:
    # The morning 08:30-12:00 holds 3.5 working hours: they end at 12:00, not at 13:00.
    assert cal.add_working_hours(at(2026, 3, 3, 8, 30), Decimal("3.5")).due_at == at(2026, 3, 3, 12)
    assert cal.add_working_hours(at(2026, 3, 3, 10), 2).due_at == at(2026, 3, 3, 12)
    assert cal.add_working_hours(at(2026, 3, 3, 8, 30), 4).due_at == at(2026, 3, 3, 13, 30)
    assert cal.add_working_hours(at(2026, 3, 3, 8, 30), 8).due_at == at(2026, 3, 3, 17, 30)
    assert not cal.is_working_instant(at(2026, 3, 3, 12))
    # the next limit counting from there starts after lunch
    assert cal.next_working_instant(at(2026, 3, 3, 12)) == at(2026, 3, 3, 13)
    assert cal.add_working_hours(at(2026, 3, 3, 12), 0).due_at == at(2026, 3, 3, 13)


def test_a_deadline_starting_at_night_or_on_a_sunday_counts_from_the_next_working_instant(cal) -> None:
    evening = cal.add_working_hours(at(2026, 3, 3, 20), 2)          # Tue 20:00
    assert evening.counting_from == at(2026, 3, 4, 8, 30)
    assert evening.due_at == at(2026, 3, 4, 10, 30)
    sunday = cal.add_working_hours(at(2026, 3, 8, 10), 1)           # Sun 10:00
    assert sunday.due_at == at(2026, 3, 9, 9, 30)
    early = cal.add_working_hours(at(2026, 3, 9, 7), Decimal("0.5"))
    assert early.due_at == at(2026, 3, 9, 9)


def test_hours_may_be_decimal_float_int_or_timedelta(cal) -> None:
    start = at(2026, 3, 3, 9)
    expected = at(2026, 3, 3, 10, 30)
    for hours in (Decimal("1.5"), 1.5, timedelta(minutes=90)):
        assert cal.add_working_hours(start, hours).due_at == expected
    with pytest.raises(ValueError):
        cal.add_working_hours(start, -1)
    with pytest.raises(ValueError):
        cal.add_working_hours(datetime(2026, 3, 3, 9), 1)           # naive


def test_results_come_back_in_the_zone_given(cal) -> None:
    start_utc = at(2026, 2, 13, 16, 30).astimezone(UTC)
    result = cal.add_working_hours(start_utc, 2)
    assert result.due_at.tzinfo is UTC
    assert result.due_at == at(2026, 2, 14, 9, 30)


# --- working days -----------------------------------------------------------------------


def test_one_working_day_is_the_same_time_of_day_on_the_next_working_day(cal) -> None:
    assert cal.add_working_days(at(2026, 3, 6, 10), 1).due_at == at(2026, 3, 9, 10)      # Fri → Mon
    assert cal.add_working_days(at(2026, 3, 6, 13), 1).due_at == at(2026, 3, 9, 13)      # after lunch
    assert cal.add_working_days(at(2026, 3, 6, 8, 30), 2).due_at == at(2026, 3, 10, 8, 30)


def test_one_working_day_across_national_day(cal) -> None:
    # From the last working day before the holiday: the same time on the first one after it.
    before = cal.add_working_days(at(2026, 9, 30, 10), 1)
    assert before.due_at == at(2026, 10, 8, 10)
    assert "National Day" in before.explanation
    # From a holiday: counting starts at the next working instant (Thu 10-08 08:30), so the due
    # time is one working day after that, never earlier than from a start before the holiday.
    during = cal.add_working_days(at(2026, 10, 1, 10), 1)
    assert during.counting_from == at(2026, 10, 8, 8, 30)
    assert during.due_at == at(2026, 10, 9, 8, 30)
    assert during.due_at >= before.due_at


def test_working_days_outside_hours_and_make_up_sunday(cal) -> None:
    assert cal.add_working_days(at(2026, 3, 6, 20), 1).due_at == at(2026, 3, 10, 8, 30)  # Fri night → Tue
    # Fri 2026-09-18 + 1 working day: Sun 09-20 is a make-up working day.
    assert cal.add_working_days(at(2026, 9, 18, 15), 1).due_at == at(2026, 9, 20, 15)
    assert cal.add_working_days(at(2026, 3, 6, 20), 0).due_at == at(2026, 3, 9, 8, 30)


# --- clock hours ------------------------------------------------------------------------


def test_clock_hours_count_nights_and_holidays(cal) -> None:
    result = cal.add_clock_hours(at(2026, 9, 30, 16), 24)
    assert result.due_at == at(2026, 10, 1, 16)
    assert not result.provisional
    assert cal.add_clock_hours(at(2031, 1, 1), timedelta(hours=1)).uncovered_years == frozenset()


# --- a year without data ----------------------------------------------------------------


def test_a_year_without_data_gives_a_provisional_result_naming_the_year(cal) -> None:
    result = cal.add_working_hours(at(2031, 3, 7, 16), 3)            # Fri
    assert result.due_at == at(2031, 3, 10, 10)                      # weekday pattern and hours
    assert result.provisional and result.uncovered_years == frozenset({2031})
    assert "PROVISIONAL: 2031" in result.explanation
    days = cal.add_working_days(at(2026, 12, 31, 10), 1)
    assert days.due_at == at(2027, 1, 1, 10) and days.uncovered_years == frozenset({2027})
    assert not cal.add_working_hours(at(2026, 12, 31, 10), 1).provisional


def test_the_company_file_can_confirm_a_year_and_add_its_make_up_days(tmp_path, official) -> None:
    path = company_file(tmp_path, BASE + """
confirmed_years: [2027]
working_days:
  - {date: 2027-02-20, name: "make-up working day, 2027 notice"}
corrections:
  - {date: 2027-02-10, working: true, reason: "not a day off in the 2027 notice"}
""")
    cal = load_calendar(path, official=official).default()
    assert cal.is_year_covered(2027)
    assert not cal.is_working_day(date(2027, 2, 8))                  # library holiday now applies
    assert cal.is_working_day(date(2027, 2, 20))                     # Saturday, make-up
    assert cal.is_working_day(date(2027, 2, 10))                     # corrected
    result = cal.add_working_hours(at(2027, 2, 4, 17), 1)            # Thu; Fri 02-05 is the Eve
    assert result.due_at == at(2027, 2, 10, 9) and not result.provisional


def test_company_day_off_and_extra_working_day(tmp_path, official) -> None:
    path = company_file(tmp_path, BASE + """
days_off:
  - {date: 2026-03-06, name: "Company anniversary"}
working_days:
  - {date: 2026-03-07, name: "Stock-taking Saturday"}
corrections:
  - {date: 2026-10-10, working: false, reason: "make-up Saturday given off by the company"}
""")
    cal = load_calendar(path, official=official).default()
    assert not cal.is_working_day(date(2026, 3, 6)) and cal.is_working_day(date(2026, 3, 7))
    result = cal.add_working_hours(at(2026, 3, 5, 17), 1)            # Thu 17:00
    assert result.due_at == at(2026, 3, 7, 9)                        # Fri off, Sat worked
    assert "Company anniversary" in result.explanation and "Stock-taking Saturday" in result.explanation
    assert not cal.is_working_day(date(2026, 10, 10))


def test_company_file_errors_are_named(tmp_path, official) -> None:
    bad_date = company_file(tmp_path, BASE + "days_off:\n  - {date: 2026-13-01}\n")
    with pytest.raises(CalendarError, match="not valid YAML: month must be in 1..12"):
        load_calendar(bad_date, official=official)
    quoted = company_file(tmp_path, BASE + "days_off:\n  - {date: '2026-02-30'}\n")
    with pytest.raises(CalendarError, match=r"days_off\[0\]\.date: not a date"):
        load_calendar(quoted, official=official)
    unquoted = company_file(tmp_path, BASE.replace('"08:30-12:00", "13:00-17:30"', "13:00", 1))
    with pytest.raises(CalendarError, match="quote it"):
        load_calendar(unquoted, official=official)
    overlap = company_file(tmp_path, BASE.replace('"13:00-17:30"', '"11:00-17:30"', 1))
    with pytest.raises(CalendarError, match="without overlap"):
        load_calendar(overlap, official=official)
    twice = company_file(tmp_path, BASE + "  other:\n    branches: [SH01]\n  more:\n    branches: [SH01]\n")
    with pytest.raises(CalendarError, match="branch SH01 is in profiles other and more"):
        load_calendar(twice, official=official)


# --- profiles ---------------------------------------------------------------------------


def test_a_branch_profile_in_another_zone(tmp_path, official) -> None:
    path = company_file(tmp_path, BASE + """
  urumqi:
    zone: Asia/Urumqi
    branches: [UQ01]
    hours:
      mon: ["09:30-13:30", "15:00-18:30"]
      tue: ["09:30-13:30", "15:00-18:30"]
      wed: ["09:30-13:30", "15:00-18:30"]
      thu: ["09:30-13:30", "15:00-18:30"]
      fri: ["09:30-13:30", "15:00-18:30"]
""")
    calendars = load_calendar(path, official=official)
    uq = calendars.for_branch("UQ01")
    assert uq.profile.name == "urumqi" and uq.zone.key == "Asia/Urumqi"
    assert calendars.for_branch("SH01").profile.name == "default"
    assert calendars.for_branch("NOPE").profile.name == "default"
    # Beijing 11:00 is Urumqi 09:00: before the branch opens.
    start = at(2026, 3, 3, 11)
    result = uq.add_working_hours(start, 1)
    assert result.due_at.tzinfo is SH
    assert result.due_at == at(2026, 3, 3, 10, 30, tz=URUMQI) == at(2026, 3, 3, 12, 30)
    # The national holidays hold there too, and the make-up Saturday has the branch's hours.
    assert uq.add_working_hours(at(2026, 2, 13, 18, 0, tz=URUMQI), 1).due_at == at(2026, 2, 14, 10, tz=URUMQI)


def test_the_shipped_file_loads_with_its_profiles(calendars: CalendarSet) -> None:
    assert COMPANY_FILE.exists()
    assert set(calendars.profiles) >= {"default", "urumqi"}
    assert calendars.profile("urumqi").zone.key == "Asia/Urumqi"
    assert calendars.default().zone.key == "Asia/Shanghai"


# --- working time between, speed ---------------------------------------------------------


def test_working_time_between(cal) -> None:
    assert cal.working_time_between(at(2026, 3, 3, 11), at(2026, 3, 3, 14)) == 2 * H
    assert cal.working_time_between(at(2026, 2, 13, 17), at(2026, 2, 24, 9)) == timedelta(hours=9)
    assert cal.working_time_between(at(2026, 3, 3, 14), at(2026, 3, 3, 11)) == -2 * H


def test_long_limits_walk_by_periods_not_minutes(cal) -> None:
    start = at(2026, 1, 5, 9)
    result = cal.add_working_hours(start, 24)
    assert result.due_at == at(2026, 1, 8, 9)
    assert len(result.steps) < 20
    year = cal.add_working_hours(start, 2000)                        # about a working year
    assert cal.working_time_between(start, year.due_at) == 2000 * H


# --- properties ---------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 11, 30),
                        timezones=st.just(SH)).map(lambda d: d.replace(second=0, microsecond=0))
amounts = st.integers(min_value=0, max_value=60 * 60).map(lambda m: timedelta(minutes=m))
positive = st.integers(min_value=1, max_value=60 * 60).map(lambda m: timedelta(minutes=m))
fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def is_period_end(cal: BusinessCalendar, dt: datetime) -> bool:
    return not cal.is_working_instant(dt) and cal.is_working_instant(dt - timedelta(microseconds=1))


@fast
@given(start=instants, hours=amounts)
def test_adding_working_time_lands_on_working_time_or_a_period_end(cal, start, hours) -> None:
    due = cal.add_working_hours(start, hours).due_at
    assert cal.is_working_instant(due) or (hours > timedelta(0) and is_period_end(cal, due))


@fast
@given(start=instants, a=amounts, b=positive)
def test_adding_a_then_b_equals_adding_a_plus_b(cal, start, a, b) -> None:
    first = cal.add_working_hours(start, a).due_at
    assert cal.add_working_hours(first, b).due_at == cal.add_working_hours(start, a + b).due_at


@fast
@given(start=instants)
def test_adding_zero_only_moves_to_the_next_working_instant(cal, start) -> None:
    due = cal.add_working_hours(start, 0).due_at
    assert due == cal.next_working_instant(start)
    if cal.is_working_instant(start):
        assert due == start
    else:
        assert due > start and cal.working_time_between(start, due) == timedelta(0)


@fast
@given(start=instants, hours=amounts)
def test_working_time_between_inverts_adding(cal, start, hours) -> None:
    assert cal.working_time_between(start, cal.add_working_hours(start, hours).due_at) == hours


@fast
@given(s1=instants, s2=instants, hours=amounts)
def test_a_later_start_never_gives_an_earlier_due_time(cal, s1, s2, hours) -> None:
    s1, s2 = min(s1, s2), max(s1, s2)
    assert cal.add_working_hours(s1, hours).due_at <= cal.add_working_hours(s2, hours).due_at


@fast
@given(start=instants, n=st.integers(min_value=0, max_value=15), m=st.integers(min_value=0, max_value=15))
def test_working_days_are_whole_days_of_working_time_and_add_up(cal, start, n, m) -> None:
    # In 2026 every working day of the default profile has the same 8 hours.
    due = cal.add_working_days(start, n).due_at
    assert cal.is_working_instant(due)
    assert cal.working_time_between(start, due) == n * 8 * H
    assert cal.add_working_days(due, m).due_at == cal.add_working_days(start, n + m).due_at


@fast
@given(s1=instants, s2=instants, n=st.integers(min_value=0, max_value=10))
def test_working_days_are_monotonic(cal, s1, s2, n) -> None:
    s1, s2 = min(s1, s2), max(s1, s2)
    assert cal.add_working_days(s1, n).due_at <= cal.add_working_days(s2, n).due_at
