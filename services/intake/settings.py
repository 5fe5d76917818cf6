"""Intake's settings: the generic service settings plus the window a registration may fall in."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pydantic import Field

from contracts.envelope import ServiceName
from services.common.settings import ServiceSettings


class IntakeSettings(ServiceSettings.for_service(ServiceName.INTAKE)):  # type: ignore[misc]
    #: INTAKE_RECEIVED_AT_MAX_SKEW: how far `received_at` may lie ahead of the clock (clients' clock skew).
    received_at_max_skew: timedelta = Field(default=timedelta(minutes=5), ge=timedelta(0))
    #: INTAKE_RECEIVED_AT_WINDOW: how far back `received_at` may lie, unless the role may backdate.
    received_at_window: timedelta = Field(default=timedelta(days=7), gt=timedelta(0))
    #: INTAKE_LARGE_CLAIM_CNY: a claim of at least this many CNY makes a complaint serious (a large claim).
    large_claim_cny: Decimal = Field(default=Decimal("50000"), gt=0)
