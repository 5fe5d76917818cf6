"""Routing's settings: the generic service settings plus its rules, calendar and timer."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from contracts.envelope import ServiceName
from services.common.settings import ServiceSettings


class RoutingSettings(ServiceSettings.for_service(ServiceName.ROUTING)):  # type: ignore[misc]
    deadline_rules: Path | None = Field(
        default=None, description="The deadline rules table (YAML); unset: services/routing/deadlines.yaml")
    calendar_file: Path | None = Field(
        default=None, description="The company calendar (YAML); unset: services/common/calendar.yaml")
    timer_tick_seconds: float = Field(default=0.5, gt=0, description="How often the deadline timer looks for due deadlines")
    calendar_horizon_days: int = Field(
        default=90, ge=1, description="Health names every year within this many days that has no official schedule")
    authority_file: Path | None = Field(
        default=None, description="The authority matrix (YAML); unset: services/common/authority.yaml")
    repeat_window_days: int = Field(
        default=30, ge=1, le=3650,
        description="A complaint repeats an open one of the same customer and product, or about the same person, "
                    "registered within this many days: it is linked to it for the HQ clerk to confirm")
    follow_up_attempts: int = Field(
        default=3, ge=1, le=20,
        description="Satisfaction follow-up tries before the customer counts as unreachable and the case may close")
