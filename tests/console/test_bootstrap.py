"""The pure pieces of the console's assembly (services/console/bootstrap.py): the sign-in `Throttle` pauses a
user id after `limit` failures in a row, for `pause` seconds, whatever the id's case, and a success resets
it; `localtime` (the pages' filter) shows a time in company time to the minute."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from services.console import bootstrap
from services.console.bootstrap import Throttle
from services.console.entrypoints.web import localtime as _localtime

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(bootstrap, "time", SimpleNamespace(monotonic=c.monotonic))
    return c


# --- Throttle -------------------------------------------------------------------------------------


def test_a_user_is_paused_after_limit_failures(clock: Clock) -> None:
    throttle = Throttle(limit=3, pause=60)
    for _ in range(2):
        throttle.failed("clerk-li")
        assert not throttle.blocked("clerk-li")
    throttle.failed("clerk-li")
    assert throttle.blocked("clerk-li")


def test_the_pause_ends(clock: Clock) -> None:
    throttle = Throttle(limit=3, pause=60)
    for _ in range(3):
        throttle.failed("clerk-li")
    clock.now += 59.9
    assert throttle.blocked("clerk-li")
    clock.now += 0.2
    assert not throttle.blocked("clerk-li")


def test_after_a_pause_one_more_failure_pauses_again(clock: Clock) -> None:
    """Failures count until a success: the next wrong guess after a pause costs a whole pause."""
    throttle = Throttle(limit=3, pause=60)
    for _ in range(3):
        throttle.failed("clerk-li")
    clock.now += 61
    throttle.failed("clerk-li")
    assert throttle.blocked("clerk-li")


def test_a_success_resets_the_count(clock: Clock) -> None:
    throttle = Throttle(limit=3, pause=60)
    throttle.failed("clerk-li")
    throttle.failed("clerk-li")
    throttle.succeeded("clerk-li")
    throttle.failed("clerk-li")
    throttle.failed("clerk-li")
    assert not throttle.blocked("clerk-li")
    throttle.succeeded("nobody")          # a user without failures: nothing happens


def test_the_user_id_counts_in_any_case_and_others_are_not_touched(clock: Clock) -> None:
    throttle = Throttle(limit=3, pause=60)
    for user in ("clerk-li", "Clerk-Li", "CLERK-LI"):
        throttle.failed(user)
    assert throttle.blocked("clerk-li") and throttle.blocked("CLERK-li")
    assert not throttle.blocked("clerk-wu")
    throttle.succeeded("CLERK-LI")
    assert not throttle.blocked("clerk-li")


def test_the_table_of_failures_stays_bounded(clock: Clock) -> None:
    throttle = Throttle(limit=3, pause=60)
    for i in range(10_050):
        throttle.failed(f"guess-{i}")
    assert len(throttle.failures) <= 10_001
    assert "guess-10049" in throttle.failures


def test_the_real_clock_is_used_by_default() -> None:
    throttle = Throttle(limit=1, pause=3600)
    throttle.failed("clerk-li")
    assert throttle.blocked("clerk-li")
    assert not Throttle(limit=1, pause=0).blocked("clerk-li")


# --- _localtime -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "shown"), [
    ("2026-12-07T01:30:00Z", "2026-12-07 09:30"),
    ("2026-12-07T01:30:59.999999Z", "2026-12-07 09:30"),
    ("2026-12-06T18:00:00+00:00", "2026-12-07 02:00"),
    ("2026-12-07T09:30:00+08:00", "2026-12-07 09:30"),
    ("2026-12-07T09:30:00", "2026-12-07 09:30"),            # no offset: taken as company time already
    (datetime(2026, 12, 7, 1, 30, tzinfo=timezone.utc), "2026-12-07 09:30"),
    ("not a time", "not a time"),
    ("", ""),
    (None, ""),
])
def test_localtime_shows_company_time_to_the_minute(value: object, shown: str) -> None:
    assert _localtime(value, SHANGHAI) == shown
