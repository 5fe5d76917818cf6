"""Where routing is put together: `create_app(settings)`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from fastapi import FastAPI

from contracts.envelope import utc_now
from contracts.topics import upstreams
from services.common.http import create_http_app
from services.common.runtime import ServiceParts, ServiceRuntime
from services.common.settings import ServiceSettings
from services.common.store import store_env
from services.routing.application import RoutingApplication
from services.common.authority import load_authority
from services.common.calendar import load_calendar
from services.routing.domain.deadline import Planner
from services.routing.domain.deadline_rules import load_rules
from services.routing.entrypoints.http import router
from services.routing.domain.serious import load_serious
from services.routing.policies import DeadlinePolicy, RoutingPolicy
from services.routing.timers import DeadlineTimer


def create_app(settings: ServiceSettings, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    parts, timer = build_parts(settings, clock)
    runtime = ServiceRuntime(settings, parts)
    timer.on_saved = runtime.saved
    api = create_http_app(runtime, [router])
    api.state.timer = timer
    return api


def build_parts(settings: ServiceSettings, clock: Callable[[], datetime] = utc_now) -> tuple[ServiceParts, DeadlineTimer]:
    """Routing's store, policy, upstreams and deadline timer (time from `clock`, injectable)."""
    app = RoutingApplication(env=store_env(settings), clock=clock,
                             authority=load_authority(getattr(settings, "authority_file", None)),
                             follow_up_attempts=getattr(settings, "follow_up_attempts", 3))
    calendars = load_calendar(getattr(settings, "calendar_file", None))
    table = load_rules(getattr(settings, "deadline_rules", None))
    planner = Planner(calendars)
    timer = DeadlineTimer(app, table, planner, clock, tick_seconds=getattr(settings, "timer_tick_seconds", 0.5))
    horizon = timedelta(days=getattr(settings, "calendar_horizon_days", 90))

    def deadlines_report() -> dict:
        today = clock().date()
        missing = sorted(calendars.default().uncovered_years_between(today, today + horizon))
        return timer.report() | {
            "calendar_version": calendars.default().version,
            "years_without_schedule": missing,
            "warning": (f"no official schedule for {missing}: deadlines there are provisional; load the year's "
                        "schedule into the company calendar and re-plan (POST /deadlines/replan)") if missing else None,
        }

    app.policy = RoutingPolicy(DeadlinePolicy(table, planner), load_serious(),
                               repeat_window=timedelta(days=getattr(settings, "repeat_window_days", 30)))
    parts = ServiceParts(app=app, policy=app.policy,
                         upstreams=upstreams("routing"),
                         background=[("deadline-timer", timer.run)], reports=[("deadlines", deadlines_report)])
    return parts, timer
