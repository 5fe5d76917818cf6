"""The batch-defect early warning: one watch per product model and batch, pure.

Each counted registration is noted once (by complaint id). An alert is raised when the complaints
received within `window_days` of the newest one, after the last alerted window, reach `threshold`;
the alert's window opens on the day of the first complaint it counts and lasts `window_days`, and
complaints received inside it later join it without a new alert. Days are the company's (a time
zone from the rules file). The decision rests on the registrations' own times, never the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

import yaml
from eventsourcing.domain import Aggregate, event

from contracts.analytics import ALERT_COMPLAINTS_MAX, BatchDefectAlertRaised
from contracts.envelope import COMPLAINTS_NAMESPACE
from services.common.domain import EventMeta

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "batch_alerts.yaml"


@dataclass(frozen=True)
class AlertRules:
    version: str
    threshold: int
    window_days: int
    zone: ZoneInfo
    subjects: frozenset[str]
    count_minor: bool

    def day_of(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()


def load_alert_rules(path: str | Path | None = None) -> AlertRules:
    """The rules file (default `services/analytics/batch_alerts.yaml`); a bad one is refused naming the key."""
    where = Path(path or DEFAULT_RULES)
    data = yaml.safe_load(where.read_text(encoding="utf-8")) or {}

    def need(key: str, kind: type, check: Any = lambda v: True, what: str = "") -> Any:
        value = data.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool or not check(value):
            raise ValueError(f"{where}: {key} must be {what or kind.__name__}, got {value!r}")
        return value

    subjects = need("subjects", list, lambda v: v and all(isinstance(s, str) for s in v), "a list of subjects")
    try:
        zone = ZoneInfo(need("timezone", str))
    except (KeyError, ValueError) as e:
        raise ValueError(f"{where}: timezone {data.get('timezone')!r} is not a known time zone") from e
    return AlertRules(version=str(need("version", (str, int))),
                      threshold=need("threshold", int, lambda v: 2 <= v <= 1000, "a whole number from 2 to 1000"),
                      window_days=need("window_days", int, lambda v: 1 <= v <= 366, "a whole number from 1 to 366"),
                      zone=zone, subjects=frozenset(subjects), count_minor=bool(data.get("count_minor", True)))


def batch_key(model: str, batch_number: str) -> str:
    """Clerks type the same batch differently: case and spaces do not make another batch."""
    return f"{' '.join(model.split()).upper()}|{' '.join(batch_number.split()).upper()}"


def watch_id(model: str, batch_number: str) -> UUID:
    return uuid5(COMPLAINTS_NAMESPACE, f"batch-watch:{batch_key(model, batch_number)}")


def alert_id(model: str, batch_number: str, window_start: date) -> UUID:
    return uuid5(COMPLAINTS_NAMESPACE, f"batch-alert:{batch_key(model, batch_number)}:{window_start.isoformat()}")


class BatchWatch(Aggregate):
    """The complaints about one product model and batch, and the alerts they raised."""

    @staticmethod
    def create_id(model: str, batch_number: str, **_: Any) -> UUID:
        return watch_id(model, batch_number)

    @event("Started")
    def __init__(self, model: str, batch_number: str):
        self.model = model
        self.batch_number = batch_number
        self.counted: dict[str, dict[str, Any]] = {}   # complaint id -> form number, received at, day
        self.windows: list[tuple[str, str]] = []       # alerted windows (first day, last day), ISO dates

    class Counted(Aggregate.Event):
        meta: EventMeta
        complaint_id: str
        form_number: str
        received_at: datetime
        day: date

        def apply(self, watch: BatchWatch) -> None:
            watch.counted[self.complaint_id] = {"form_number": self.form_number, "received_at": self.received_at,
                                                "day": self.day}

    class AlertRaised(Aggregate.Event):
        PUBLISHED_AS = BatchDefectAlertRaised
        meta: EventMeta
        alert_id: UUID
        model: str
        batch_number: str
        threshold: int
        window_days: int
        window_start: date
        window_end: date
        count: int
        complaints: list[dict[str, Any]]
        rules_version: str

        def apply(self, watch: BatchWatch) -> None:
            watch.windows.append((self.window_start.isoformat(), self.window_end.isoformat()))

    def note(self, meta: EventMeta, form_number: str, received_at: datetime, rules: AlertRules) -> bool:
        """Count one registration; True when it raised an alert. A complaint counted already changes nothing."""
        complaint_id = str(meta.complaint_id)
        if complaint_id in self.counted:
            return False
        day = rules.day_of(received_at)
        self.trigger_event(self.Counted, meta=meta, complaint_id=complaint_id, form_number=form_number,
                           received_at=received_at, day=day)
        if any(date.fromisoformat(a) <= day <= date.fromisoformat(b) for a, b in self.windows):
            return False  # inside an alerted window: it joins that alert
        last_end = max((date.fromisoformat(b) for _, b in self.windows), default=date.min)
        span = timedelta(days=rules.window_days - 1)
        recent = sorted(((c["day"], c["received_at"], cid) for cid, c in self.counted.items()
                         if last_end < c["day"] and day - span <= c["day"] <= day), key=lambda t: (t[0], t[1], t[2]))
        if len(recent) < rules.threshold:
            return False
        start = recent[0][0]
        end = start + span
        listed = sorted(((c["received_at"], cid, c) for cid, c in self.counted.items()
                         if start <= c["day"] <= end), key=lambda t: (t[0], t[1]))
        self.trigger_event(
            self.AlertRaised, meta=meta, alert_id=alert_id(self.model, self.batch_number, start), model=self.model,
            batch_number=self.batch_number, threshold=rules.threshold, window_days=rules.window_days,
            window_start=start, window_end=end, count=len(listed),
            complaints=[{"complaint_id": cid, "form_number": c["form_number"], "received_at": at.isoformat()}
                        for at, cid, c in listed[:ALERT_COMPLAINTS_MAX]],
            rules_version=rules.version)
        return True
