"""The business calendar: which instants are working time, and how far a limit reaches.

Every limit of the procedure is counted in working hours (工作时), working days (工作日) or
clock hours (小时) (domain.md, "Deadlines at a glance"). This module answers, purely and
explainably, where such a limit ends; the deadline aggregates and timers build on it.

Where the data comes from
-------------------------
- **Official days off and make-up working days (调休)** of mainland China: the `holidays`
  library, `holidays.China` (pinned 0.108), whose source cites the State Council's yearly
  notices (国务院办公厅关于…部分节假日安排的通知) up to the one for 2026 (published
  2025-11). The library encodes a make-up working day only inside the *name* of the day off
  it was swapped with: ``2026-02-20 "Day off (substituted from 02/14/2026)"`` means that
  Fri 2026-02-20 is a day off and Sat 2026-02-14 is a working day. We parse these names
  (English labels) to get the make-up days; the make-up day may lie in the year before the
  day off (the 2002 schedule swapped 2001-12-29).
  2026 as the library has it: days off 01-01, 01-02; 02-16..02-20, 02-23 (Spring Festival;
  02-15, 02-21, 02-22 are weekend days); 04-05 (Sun), 04-06; 05-01, 05-02 (Sat), 05-04,
  05-05; 06-19; 09-25; 10-01..10-03, 10-05..10-07 (10-04 is a Sunday); make-up working days
  Sun 01-04, Sat 02-14, Sat 02-28, Sat 05-09, Sun 09-20, Sat 10-10.
- **2027 and later**: the library lists 19 days for 2027 (New Year, Spring Festival
  02-05..02-10, Tomb-Sweeping, Labour Day 05-01..05-04, Dragon Boat, Mid-Autumn, National
  Day 10-01..10-05) but *no* substituted day and no make-up working day: those entries are the
  library's generic rules (statutory days plus "observed" days moved off weekends), not the
  State Council's schedule, which is published late in the previous year. So a year is
  **covered** only when the library holds at least one "substituted" day off dated in it
  (2001–2026 with 0.108) or when the company file lists it under ``confirmed_years``.
  A day in a year that is not covered is computed from the weekday pattern and the hours
  alone (the library's guessed days off are ignored), and every result that looked at such
  a day is **provisional** and names the year (``Result.uncovered_years``); it is never a
  silent guess. When the notice is out, the company file confirms the year (and lists its
  make-up days if the installed library does not have them yet), which changes the
  calendar's version; re-planning open deadlines is the deadline machinery's job.
- **Company overrides**: ``services/common/calendar.yaml`` (format documented at
  the top of that file): company days off, extra working days, corrections of the official
  data, confirmed years, and the working hours of named profiles (time zone, periods per
  weekday), each profile assigned to branches. Branches in other zones or with other hours
  are configuration, not code.

Precedence for one local date of a profile: correction > profile day off > profile working
day > company day off > company working day > official day off > official make-up day >
weekday pattern. A date decided by a correction or by a company entry is certain even in a
year that is not covered; only the last three depend on coverage.

Semantics
---------
- Everything takes timezone-aware datetimes (a naive one is a ``ValueError``) and returns
  datetimes **in the zone of the datetime given** (the same ``tzinfo``). Internally instants
  are UTC; days and periods are the profile zone's local dates and wall-clock times.
- A working period is half-open, ``[start, end)``: 12:00 is not a working instant when the
  morning ends at 12:00. ``is_working_instant(dt)`` is true inside a period.
- ``next_working_instant(dt)``: ``dt`` itself when it is a working instant, else the start
  of the next period (12:00 → 13:00, Fri 20:00 → Mon 08:30).
- A limit starts counting at ``next_working_instant(start)`` (``Result.counting_from``).
- ``add_working_hours(start, h)``: the earliest instant at which ``h`` of working time has
  elapsed since ``start``. **End-of-period rule**: a due time that falls exactly on the end
  of a period stays there (4 working hours from 08:30 end at 12:00, not 13:00; 8 end at
  17:30, not 08:30 the next working day). So a due time with ``h > 0`` is a working instant
  or exactly the end of a period; with ``h == 0`` it is ``next_working_instant(start)``.
  Consequences: ``add(add(s, a).due_at, b) == add(s, a + b)`` for ``b > 0`` (for ``b == 0``
  the inner end-of-period result moves on to the next period start), and
  ``working_time_between(s, add(s, h).due_at) == h``.
- ``add_working_days(start, n)``: counting from ``c = next_working_instant(start)``, the due
  time lies on the n-th working day after ``c``'s date, at the same *working time-of-day*:
  the working time elapsed that day before ``c``. With equal hours on both days this is the
  same clock time (Fri 10:00 + 1 → Mon 10:00; Fri 13:00 + 1 → Mon 13:00). A start outside
  working hours counts from the next working instant: Fri 20:00 + 1 → Tue 08:30 (counting
  from Mon 08:30); a start on a holiday at 10:00 also counts from the next working
  instant (Thu 2026-10-01 10:00 + 1 → Fri 2026-10-09 08:30), so a later start never gives
  an earlier due time. If the target day is shorter than that time-of-day (other hours),
  the due time is the end of its last period. ``n == 0`` gives ``c``.
- ``add_clock_hours(start, h)``: ``start + h`` of elapsed time (computed in UTC, so a DST
  change does not shift it); nights and holidays count; never provisional.
- ``working_time_between(a, b)``: the working time in ``[a, b)``; for ``b < a`` it is the
  negative of ``working_time_between(b, a)`` (an overdue remainder).
- Working hours: ``Decimal``, ``int`` or ``float`` hours, or a ``timedelta``; negative is a
  ``ValueError``; resolution one microsecond.

Speed: limits are walked period by period and day by day (never minute by minute), and day
classifications are memoised per calendar (a cache, not state: the calendar is immutable).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = timezone.utc
DEFAULT_ZONE = "Asia/Shanghai"
DEFAULT_PROFILE = "default"
COMPANY_FILE = Path(__file__).resolve().parent / "calendar.yaml"
LIBRARY_YEARS = range(2000, 2051)
# A walk that meets this many days in a row without working time gives up (a profile with
# no hours, or a misconfiguration), instead of looping for ever.
MAX_IDLE_DAYS = 3 * 366
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SUBSTITUTED = re.compile(r"substituted from (\d{2})/(\d{2})/(\d{4})")
_DAY_OFF = re.compile(r"Day off \(substituted from (\d{2})/(\d{2})/(\d{4})\)")
_PERIOD = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class CalendarError(ValueError):
    """The calendar data is invalid, or a computation cannot be made with it."""


# --------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class OfficialCalendar:
    """Mainland China's official days off and make-up working days, with the years covered."""

    days_off: Mapping[date, str]          # date -> holiday name(s)
    make_up_days: Mapping[date, str]      # date -> what it makes up for
    covered_years: frozenset[int]
    source: str                           # e.g. "holidays-0.108"


@dataclass(frozen=True)
class Period:
    start: time
    end: time            # time(0) with ends_next_day means 24:00
    ends_next_day: bool = False

    def __str__(self) -> str:
        end = "24:00" if self.ends_next_day else self.end.strftime("%H:%M")
        return f"{self.start:%H:%M}-{end}"


@dataclass(frozen=True)
class Profile:
    name: str
    zone: ZoneInfo
    weekly: tuple[tuple[Period, ...], ...]   # 7 entries, Monday first
    extra_day_hours: tuple[Period, ...]      # a working day whose weekday has no hours
    branches: frozenset[str] = frozenset()
    days_off: Mapping[date, str] = field(default_factory=dict)
    working_days: Mapping[date, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CompanyCalendar:
    version: str
    confirmed_years: frozenset[int]
    days_off: Mapping[date, str]
    working_days: Mapping[date, str]
    corrections: Mapping[date, tuple[bool, str]]
    profiles: Mapping[str, Profile]
    default_profile: str


@dataclass(frozen=True)
class Day:
    """One local date of a profile: working or not, why, its periods (UTC), and certainty."""

    date: date
    working: bool
    label: str
    covered: bool
    periods: tuple[tuple[datetime, datetime], ...]   # UTC instants, [start, end)

    @property
    def working_time(self) -> timedelta:
        return sum((end - start for start, end in self.periods), timedelta())


# --------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Result:
    """A due time, whether it rests on a year that is not covered, and how it was found."""

    due_at: datetime
    counting_from: datetime
    uncovered_years: frozenset[int]
    calendar_version: str
    trace: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def provisional(self) -> bool:
        return bool(self.uncovered_years)

    @property
    def steps(self) -> tuple[str, ...]:
        return self.trace

    @cached_property
    def explanation(self) -> str:
        return "\n".join(self.trace)


# --------------------------------------------------------------------------------------
# The calendar of one profile


def _aware(dt: datetime, what: str = "datetime") -> datetime:
    if not isinstance(dt, datetime):
        raise TypeError(f"{what}: a datetime is required, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{what}: must be timezone-aware, got naive {dt.isoformat()}")
    return dt.astimezone(UTC)


def _hours(hours: Decimal | int | float | timedelta) -> timedelta:
    if isinstance(hours, timedelta):
        amount = hours
    elif isinstance(hours, bool):
        raise TypeError("hours: a number or a timedelta is required, got a bool")
    elif isinstance(hours, (int, Decimal, float)):
        try:
            value = Decimal(str(hours)) if isinstance(hours, float) else Decimal(hours)
            if not value.is_finite():
                raise ValueError(f"hours: must be finite, got {hours}")
            micro = (value * 3_600_000_000).to_integral_value()
        except InvalidOperation as exc:
            raise ValueError(f"hours: not a number: {hours!r}") from exc
        amount = timedelta(microseconds=int(micro))
    else:
        raise TypeError(f"hours: a number or a timedelta is required, got {type(hours).__name__}")
    if amount < timedelta(0):
        raise ValueError(f"hours: must not be negative, got {hours}")
    return amount


def _fmt_span(td: timedelta) -> str:
    total = int(td.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}"
    return text + (f":{seconds:02d}" if seconds or td.microseconds else "")


class BusinessCalendar:
    """Working time of one profile (zone and hours) over the official and company data."""

    def __init__(self, official: OfficialCalendar, company: CompanyCalendar, profile: Profile) -> None:
        self._official = official
        self._company = company
        self.profile = profile
        self.zone = profile.zone
        self.version = f"{company.version}+{official.source}"
        self.covered_years = official.covered_years | company.confirmed_years
        self._days: dict[date, Day] = {}

    def __repr__(self) -> str:
        return f"BusinessCalendar(profile={self.profile.name!r}, zone={self.zone.key!r}, version={self.version!r})"

    # -- days ---------------------------------------------------------------------------

    def is_year_covered(self, year: int) -> bool:
        return year in self.covered_years

    def day(self, on: date) -> Day:
        """The classification of a local date of this profile (a datetime: its local date)."""
        if isinstance(on, datetime):
            on = _aware(on).astimezone(self.zone).date()
        cached = self._days.get(on)
        if cached is None:
            cached = self._days[on] = self._classify(on)
        return cached

    def _classify(self, on: date) -> Day:
        profile, company, official = self.profile, self._company, self._official
        weekday_hours = profile.weekly[on.weekday()]
        covered = on.year in self.covered_years
        certain = True
        if on in company.corrections:
            working, reason = company.corrections[on]
            label = f"correction: {'working day' if working else 'day off'} ({reason})"
        elif on in profile.days_off:
            working, label = False, f"{profile.name} day off: {profile.days_off[on]}"
        elif on in profile.working_days:
            working, label = True, f"{profile.name} working day: {profile.working_days[on]}"
        elif on in company.days_off:
            working, label = False, f"company day off: {company.days_off[on]}"
        elif on in company.working_days:
            working, label = True, f"company working day: {company.working_days[on]}"
        elif covered and on in official.days_off:
            working, label = False, f"public holiday: {official.days_off[on]}"
        elif covered and on in official.make_up_days:
            working, label = True, f"make-up working day (调休): {official.make_up_days[on]}"
        else:
            certain = covered
            working = bool(weekday_hours)
            label = "weekday" if working else "weekend"
            if not covered:
                label += f" (year {on.year} not covered: weekday pattern only)"
        periods: tuple[Period, ...] = ()
        if working:
            periods = weekday_hours or profile.extra_day_hours
        return Day(on, working, label, certain, tuple(self._instants(on, p) for p in periods))

    def _instants(self, on: date, period: Period) -> tuple[datetime, datetime]:
        start = datetime.combine(on, period.start, tzinfo=self.zone).astimezone(UTC)
        end_date = on + timedelta(days=1) if period.ends_next_day else on
        end = datetime.combine(end_date, period.end, tzinfo=self.zone).astimezone(UTC)
        return start, end

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def is_working_day(self, on: date) -> bool:
        """Whether a local date of this profile has working hours (a datetime: its local date)."""
        return self.day(on).working

    def is_working_instant(self, dt: datetime) -> bool:
        t = _aware(dt)
        local = self._local_date(t)
        for d in (local - timedelta(days=1), local):
            if any(s <= t < e for s, e in self.day(d).periods):
                return True
        return False

    def uncovered_years_between(self, a: date, b: date) -> frozenset[int]:
        """Years of the local dates in [a, b] that are not covered (health, planning)."""
        return frozenset(y for y in range(min(a, b).year, max(a, b).year + 1) if y not in self.covered_years)

    # -- walking ------------------------------------------------------------------------

    def _days_from(self, first: date) -> Iterator[Day]:
        on, idle = first, 0
        while True:
            day = self.day(on)
            idle = 0 if day.periods else idle + 1
            if idle > MAX_IDLE_DAYS:
                raise CalendarError(f"profile {self.profile.name}: no working time in {MAX_IDLE_DAYS} days "
                                    f"up to {on}")
            yield day
            on += timedelta(days=1)

    def _walk(self, t: datetime, notes: _Notes) -> Iterator[tuple[Day, datetime, datetime]]:
        """Periods (day, from, end) with end > t in order; `from` is max(start, t)."""
        # A period ending at 24:00 belongs to the day before the local date of its end.
        for day in self._days_from(self._local_date(t) - timedelta(days=1)):
            notes.visit(day, t)
            for start, end in day.periods:
                if end > t:
                    yield day, max(start, t), end

    def _trace_start(self, rule: str, start: datetime) -> list[str]:
        return [
            f"rule: {rule}",
            f"calendar: {self.version}, profile {self.profile.name} ({self.zone.key})",
            f"start: {self._show(start)}",
        ]

    def _show(self, instant: datetime) -> str:
        local = instant.astimezone(self.zone)
        clock = f"{local:%H:%M:%S}" if local.second or local.microsecond else f"{local:%H:%M}"
        return f"{local:%Y-%m-%d} {clock} {local:%a} ({self.zone.key})"

    def _result(self, due: datetime, counting_from: datetime, given: datetime, notes: _Notes,
                lines: list[str]) -> Result:
        uncovered = frozenset(notes.uncovered)
        if uncovered:
            years = ", ".join(str(y) for y in sorted(uncovered))
            lines.append(f"PROVISIONAL: {years} not covered by official data or the company file; "
                         "days there were taken from the weekday pattern and the profile's hours")
        lines.append(f"result: {self._show(due)}")
        return Result(due_at=due.astimezone(given.tzinfo), counting_from=counting_from.astimezone(given.tzinfo),
                      uncovered_years=uncovered, calendar_version=self.version, trace=tuple(lines))

    # -- the API ------------------------------------------------------------------------

    def next_working_instant(self, dt: datetime) -> datetime:
        """`dt` if it is a working instant, else the start of the next working period."""
        t = _aware(dt)
        for _day, begin, _end in self._walk(t, _Notes(self)):
            return begin.astimezone(dt.tzinfo)
        raise AssertionError("unreachable")  # pragma: no cover

    def add_working_hours(self, start: datetime, hours: Decimal | int | float | timedelta) -> Result:
        t, amount = _aware(start, "start"), _hours(hours)
        notes = _Notes(self)
        lines = self._trace_start(f"add {_fmt_span(amount)} working hours", start)
        remaining, counting_from, due = amount, None, None
        notes.last_end = t
        for day, begin, end in self._walk(t, notes):
            if counting_from is None:
                counting_from = begin
                if begin != t:
                    lines.append(f"counting from: {self._show(begin)} (start is not working time)")
            notes.gap_to(begin, lines)
            if remaining <= end - begin:
                due = begin + remaining
                notes.count(day, begin, due, lines)
                break
            remaining -= end - begin
            notes.count(day, begin, end, lines)
            notes.last_end = end
        assert due is not None and counting_from is not None
        return self._result(due, counting_from, start, notes, lines)

    def add_working_days(self, start: datetime, days: int) -> Result:
        if isinstance(days, bool) or not isinstance(days, int):
            raise TypeError(f"days: an int is required, got {type(days).__name__}")
        if days < 0:
            raise ValueError(f"days: must not be negative, got {days}")
        t = _aware(start, "start")
        notes = _Notes(self)
        lines = self._trace_start(f"add {days} working day{'s' if days != 1 else ''}", start)
        first_day, counting_from, _end = next(self._walk(t, notes))
        notes.last_end = t
        if counting_from != t:
            lines.append(f"counting from: {self._show(counting_from)} (start is not working time)")
        notes.gap_to(counting_from, lines)
        offset = sum((min(e, counting_from) - s for s, e in first_day.periods if s < counting_from), timedelta())
        lines.append(f"working time-of-day: {_fmt_span(offset)} into {first_day.date} ({first_day.label})")
        if days == 0:
            return self._result(counting_from, counting_from, start, notes, lines)
        counted = 0
        target = first_day
        for day in self._days_from(first_day.date + timedelta(days=1)):
            notes.visit(day, counting_from)
            if not day.periods:
                lines.append(f"skipped: {day.date} {day.date:%a}: {day.label}")
                continue
            counted += 1
            lines.append(f"working day {counted}: {day.date} {day.date:%a}: {day.label}")
            if counted == days:
                target = day
                break
        due, left = None, offset
        for s, e in target.periods:
            if left < e - s:
                due = s + left
                break
            left -= e - s
        if due is None:
            due = target.periods[-1][1]
            lines.append(f"{target.date} has less working time than {_fmt_span(offset)}: due at its end")
        return self._result(due, counting_from, start, notes, lines)

    def add_clock_hours(self, start: datetime, hours: Decimal | int | float | timedelta) -> Result:
        t, amount = _aware(start, "start"), _hours(hours)
        lines = self._trace_start(f"add {_fmt_span(amount)} clock hours (nights, weekends and holidays count)",
                                  start)
        return self._result(t + amount, t, start, _Notes(self), lines)

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """The working time in [a, b); negative when b < a."""
        ta, tb = _aware(a, "a"), _aware(b, "b")
        if tb < ta:
            return -self.working_time_between(b, a)
        total = timedelta()
        for _day, begin, end in self._walk(ta, _Notes(self)):
            if begin >= tb:
                break
            total += min(end, tb) - begin
        return total

    def explain(self, rule: str, start: datetime, amount: Any) -> Result:
        """`rule` is "working_hours", "working_days" or "clock_hours"; the Result's
        `explanation` lists the inputs, calendar version, start, skipped spans and result."""
        if rule == "working_hours":
            return self.add_working_hours(start, amount)
        if rule == "working_days":
            return self.add_working_days(start, amount)
        if rule == "clock_hours":
            return self.add_clock_hours(start, amount)
        raise ValueError(f"rule: one of working_hours, working_days, clock_hours; got {rule!r}")


class _Notes:
    """What a walk saw: uncovered years of the days it looked at, and the gaps it skipped."""

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar
        self.uncovered: set[int] = set()
        self.seen: list[Day] = []
        self.last_end: datetime | None = None

    def visit(self, day: Day, t: datetime) -> None:
        # A day matters when it could hold working time at or after t: its end lies after t.
        cal = self.calendar
        day_end = datetime.combine(day.date + timedelta(days=1), time(0), tzinfo=cal.zone).astimezone(UTC)
        if day_end <= t:
            return
        if not day.covered:
            self.uncovered.add(day.date.year)
        self.seen.append(day)

    def gap_to(self, begin: datetime, lines: list[str]) -> None:
        last = self.last_end
        if last is None or begin <= last:
            return
        cal = self.calendar
        first, final = cal._local_date(last), cal._local_date(begin)
        skipped = [d for d in self.seen if first <= d.date < final and not d.periods]
        if first == final:
            at_end = any(end == last for d in self.seen for _s, end in d.periods)
            what = "break between periods" if at_end else "outside working hours"
        elif not skipped:
            what = "night"
        else:
            what = "non-working days:" + "".join(f"\n  {d.date} {d.date:%a}: {d.label}" for d in skipped)
        lines.append(f"skipped: {cal._show(last)} → {cal._show(begin)}: {what}")

    def count(self, day: Day, begin: datetime, end: datetime, lines: list[str]) -> None:
        cal = self.calendar
        lines.append(f"counted: {cal._show(begin)} → {end.astimezone(cal.zone):%H:%M} "
                     f"({_fmt_span(end - begin)}; {day.label})")


# --------------------------------------------------------------------------------------
# The set of profiles


class CalendarSet:
    """The calendars of every profile, from one load of the data."""

    def __init__(self, official: OfficialCalendar, company: CompanyCalendar, digest: str = "") -> None:
        self.official = official
        self.company = company
        self.digest = digest
        self.version = f"{company.version}+{official.source}"
        self._calendars = {name: BusinessCalendar(official, company, profile)
                           for name, profile in company.profiles.items()}
        self._by_branch = {branch: name for name, profile in company.profiles.items()
                           for branch in profile.branches}

    @property
    def profiles(self) -> tuple[str, ...]:
        return tuple(self._calendars)

    def profile(self, name: str) -> BusinessCalendar:
        return self._calendars[name]

    def default(self) -> BusinessCalendar:
        return self._calendars[self.company.default_profile]

    def for_branch(self, branch_code: str | None) -> BusinessCalendar:
        """The profile naming this branch, else the default profile."""
        return self._calendars[self._by_branch.get(branch_code or "", self.company.default_profile)]

    @classmethod
    def from_data(cls, data: Mapping[str, Any], official: OfficialCalendar, digest: str = "") -> CalendarSet:
        return cls(official, parse_company(data, official), digest)


# --------------------------------------------------------------------------------------
# Reading the data: the only functions here that touch files or the library


def official_from_library(years: Iterable[int] = LIBRARY_YEARS) -> OfficialCalendar:
    """Mainland China's schedule from `holidays.China` (English labels, public category)."""
    import holidays

    years = list(years)
    english = holidays.China(years=years, language="en_US")
    try:
        chinese = holidays.China(years=years, language="zh_CN")
    except Exception:  # pragma: no cover - a library without the Chinese labels
        chinese = {}
    return official_from_entries(
        ((d, name, chinese.get(d)) for d, name in english.items()), source=f"holidays-{holidays.__version__}")


def official_from_entries(entries: Iterable[tuple[date, str, str | None]], source: str) -> OfficialCalendar:
    """Parse `holidays.China`-style entries: (date, English name, Chinese name or None)."""
    days_off: dict[date, str] = {}
    make_up: dict[date, str] = {}
    covered: set[int] = set()
    for day_off, name, chinese in entries:
        for month, dom, year in _SUBSTITUTED.findall(name):
            worked = date(int(year), int(month), int(dom))
            make_up[worked] = f"swapped with the day off on {day_off}"
            covered.add(day_off.year)
        label = _DAY_OFF.sub(lambda m: f"day off swapped with the make-up working day {m[3]}-{m[1]}-{m[2]}", name)
        days_off[day_off] = f"{label} / {chinese}" if chinese and chinese != name else label
    clash = sorted(set(days_off) & set(make_up))
    if clash:
        raise CalendarError(f"{source}: dates both day off and make-up working day: {clash}")
    return OfficialCalendar(days_off, make_up, frozenset(covered), source)


def _date(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        raise CalendarError(f"{where}: a date is required, got a datetime {value}")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise CalendarError(f"{where}: not a date (YYYY-MM-DD): {value!r}") from exc


def _periods(value: Any, where: str) -> tuple[Period, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise CalendarError(f"{where}: a list of \"HH:MM-HH:MM\" periods is required, got {value!r}")
    periods: list[Period] = []
    previous_end = -1
    for item in value:
        match = _PERIOD.match(str(item)) if isinstance(item, str) else None
        if not match:
            raise CalendarError(f"{where}: not a period \"HH:MM-HH:MM\" (quote it in YAML): {item!r}")
        h1, m1, h2, m2 = map(int, match.groups())
        begin, finish = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or finish > 24 * 60 or finish <= begin or begin < previous_end:
            raise CalendarError(f"{where}: {item!r}: periods must lie within the day, end after they start, "
                                "and follow each other without overlap")
        previous_end = finish
        ends_next_day = finish == 24 * 60
        periods.append(Period(time(h1, m1), time(0) if ends_next_day else time(h2, m2), ends_next_day))
    return tuple(periods)


def _named_dates(value: Any, where: str) -> dict[date, str]:
    out: dict[date, str] = {}
    for i, item in enumerate(value or ()):
        if not isinstance(item, Mapping) or "date" not in item:
            raise CalendarError(f"{where}[{i}]: {{date: YYYY-MM-DD, name: ...}} is required, got {item!r}")
        day = _date(item["date"], f"{where}[{i}].date")
        if day in out:
            raise CalendarError(f"{where}[{i}]: {day} is listed twice")
        out[day] = str(item.get("name") or where)
    return out


def _zone(name: Any, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(f"{where}: unknown time zone {name!r}") from exc


def _profile(name: str, spec: Mapping[str, Any], base: Profile | None) -> Profile:
    where = f"profiles.{name}"
    known = {"zone", "hours", "extra_day_hours", "branches", "days_off", "working_days", "description"}
    unknown = set(spec) - known
    if unknown:
        raise CalendarError(f"{where}: unknown keys {sorted(unknown)}")
    zone = _zone(spec["zone"], f"{where}.zone") if "zone" in spec else (base.zone if base else ZoneInfo(DEFAULT_ZONE))
    hours = spec.get("hours")
    if hours is None:
        if base is None:
            raise CalendarError(f"{where}.hours: required for the default profile")
        weekly = base.weekly
    else:
        if not isinstance(hours, Mapping) or set(hours) - set(WEEKDAYS):
            raise CalendarError(f"{where}.hours: a mapping of {', '.join(WEEKDAYS)} to periods is required")
        weekly = tuple(_periods(hours.get(w), f"{where}.hours.{w}") for w in WEEKDAYS)
    if "extra_day_hours" in spec:
        extra = _periods(spec["extra_day_hours"], f"{where}.extra_day_hours")
    elif hours is None and base is not None:
        extra = base.extra_day_hours
    else:
        extra = next((p for p in weekly if p), ())
    if not extra or not any(weekly):
        raise CalendarError(f"{where}: needs working hours on some weekday and for extra working days")
    days_off = _named_dates(spec.get("days_off"), f"{where}.days_off")
    working = _named_dates(spec.get("working_days"), f"{where}.working_days")
    both = sorted(set(days_off) & set(working))
    if both:
        raise CalendarError(f"{where}: dates both day off and working day: {both}")
    branches = spec.get("branches") or []
    if not isinstance(branches, list):
        raise CalendarError(f"{where}.branches: a list of branch codes is required")
    return Profile(name, zone, weekly, extra, frozenset(str(b) for b in branches), days_off, working)


def parse_company(data: Mapping[str, Any], official: OfficialCalendar | None = None) -> CompanyCalendar:
    """Validate the company file's content (already read) into a CompanyCalendar."""
    if not isinstance(data, Mapping):
        raise CalendarError("company calendar: a mapping is required")
    known = {"version", "confirmed_years", "days_off", "working_days", "corrections", "default_profile", "profiles"}
    unknown = set(data) - known
    if unknown:
        raise CalendarError(f"company calendar: unknown keys {sorted(unknown)}")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise CalendarError("version: a non-empty string is required (quote it in YAML)")
    years = data.get("confirmed_years") or []
    if not isinstance(years, list) or not all(isinstance(y, int) and not isinstance(y, bool) for y in years):
        raise CalendarError(f"confirmed_years: a list of years is required, got {years!r}")
    if official is not None:
        outside = [y for y in years if y not in LIBRARY_YEARS]
        if outside:
            raise CalendarError(f"confirmed_years: {outside} outside the years read from the library "
                                f"({LIBRARY_YEARS.start}-{LIBRARY_YEARS.stop - 1})")
    days_off = _named_dates(data.get("days_off"), "days_off")
    working = _named_dates(data.get("working_days"), "working_days")
    both = sorted(set(days_off) & set(working))
    if both:
        raise CalendarError(f"dates both company day off and working day: {both}")
    corrections: dict[date, tuple[bool, str]] = {}
    for i, item in enumerate(data.get("corrections") or ()):
        if not isinstance(item, Mapping) or "date" not in item or not isinstance(item.get("working"), bool):
            raise CalendarError(f"corrections[{i}]: {{date, working: true|false, reason}} is required, got {item!r}")
        day = _date(item["date"], f"corrections[{i}].date")
        if day in corrections:
            raise CalendarError(f"corrections[{i}]: {day} is corrected twice")
        corrections[day] = (item["working"], str(item.get("reason") or "company correction"))
    specs = data.get("profiles") or {}
    default_name = str(data.get("default_profile") or DEFAULT_PROFILE)
    if not isinstance(specs, Mapping) or default_name not in specs:
        raise CalendarError(f"profiles: a mapping including the default profile {default_name!r} is required")
    default = _profile(default_name, specs[default_name] or {}, None)
    profiles = {default_name: default}
    owner: dict[str, str] = {b: default_name for b in default.branches}
    for name, spec in specs.items():
        if name == default_name:
            continue
        profile = _profile(str(name), spec or {}, default)
        for branch in profile.branches:
            if branch in owner:
                raise CalendarError(f"branch {branch} is in profiles {owner[branch]} and {name}")
            owner[branch] = str(name)
        profiles[str(name)] = profile
    return CompanyCalendar(version.strip(), frozenset(years), days_off, working, corrections, profiles, default_name)


def load_calendar(path: str | Path | None = None, official: OfficialCalendar | None = None) -> CalendarSet:
    """Read the company file (default: services/common/calendar.yaml) and the
    library's data once. The service's bootstrap calls this; everything else is pure."""
    import yaml

    file = Path(path) if path is not None else COMPANY_FILE
    raw = file.read_bytes()
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, ValueError) as exc:   # PyYAML raises ValueError for 2026-13-01
        raise CalendarError(f"{file}: not valid YAML: {exc}") from exc
    official = official if official is not None else official_from_library()
    try:
        return CalendarSet.from_data(data, official, digest=hashlib.sha256(raw).hexdigest()[:16])
    except CalendarError as exc:
        raise CalendarError(f"{file}: {exc}") from exc
