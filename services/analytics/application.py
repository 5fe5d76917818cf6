"""Analytics' application: its own store (the batch watches and the alerts they raise), and the
queries over its read model (the register, the monthly figures, the alerts)."""

from __future__ import annotations

from typing import Any

from contracts.envelope import ServiceName
from services.analytics.domain.alerts import AlertRules, load_alert_rules
from services.common.domain import EventMeta
from services.common.store import ServiceApplication


class AnalyticsApplication(ServiceApplication):
    SERVICE = ServiceName.ANALYTICS
    VALUE_TYPES = (EventMeta,)

    def __init__(self, *args: Any, alert_rules: AlertRules | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.alert_rules = alert_rules or load_alert_rules()
