"""The deadline rules table (`services/routing/deadlines.yaml`) as checked, immutable data.

Which event starts each deadline, which meet, pause, resume it or replace it with a time
agreed with the customer, the limit and its unit, the role responsible and the escalation
chain. Adding a deadline is a row in the file; nothing here names a deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from contracts.envelope import Envelope, Role
from contracts.registry import EVENT_TYPES
from contracts.routing import DeadlineKind, TimeBasis

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "deadlines.yaml"


class RulesError(ValueError):
    """The rules file is wrong: says where and what."""


@dataclass(frozen=True)
class Trigger:
    """An event type, and the values some of its fields must have (a tuple: any of them)."""

    event: str
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    field: str | None = None  # for agreed_by: the field holding the agreed time
    at: str | None = None     # for met_by: the field holding when the step was done (else occurred_at)

    def done_at(self, event: Envelope) -> Any:
        """When the event says its step was done: the `at` field if set, else when it was recorded."""
        return (getattr(event, self.at, None) if self.at else None) or event.occurred_at

    def matches(self, event: Envelope) -> bool:
        if event.event_type != self.event:
            return False
        for name, allowed in self.when:
            value = getattr(event, name, None)
            value = getattr(value, "value", value)
            if value not in allowed:
                return False
        return True


@dataclass(frozen=True)
class Limit:
    unit: TimeBasis
    amount: Decimal | None = None
    field: str | None = None  # agreed_time: the start event's field holding the time

    def describe(self) -> str:
        if self.unit is TimeBasis.AGREED_TIME:
            return f"the agreed time ({self.field})"
        return f"{self.amount} {self.unit.value.replace('_', ' ')}"


@dataclass(frozen=True)
class Escalation:
    role: Role
    limit: Limit


@dataclass(frozen=True)
class DeadlineRule:
    kind: DeadlineKind
    source: str
    starts: Trigger
    limit: Limit
    responsible_role: Role
    key: str | None = None
    at: str = "occurred_at"
    met_by: tuple[Trigger, ...] = ()
    paused_by: tuple[Trigger, ...] = ()
    resumed_by: tuple[Trigger, ...] = ()
    agreed_by: tuple[Trigger, ...] = ()
    escalation: tuple[Escalation, ...] = ()
    #: Other events that start the same step (e.g. a reply approved by quality or by a ruling).
    also_starts: tuple[Trigger, ...] = ()

    def started_by(self, event: Any) -> bool:
        return any(trigger.matches(event) for trigger in (self.starts, *self.also_starts))

    def level_limit(self, level: int) -> Limit:
        return self.limit if level == 0 else self.escalation[level - 1].limit

    def level_role(self, level: int) -> Role:
        return self.responsible_role if level == 0 else self.escalation[level - 1].role


@dataclass(frozen=True)
class RuleTable:
    version: str
    rules: tuple[DeadlineRule, ...]
    cancelled_by: tuple[Trigger, ...] = ()

    def rule(self, kind: DeadlineKind | str) -> DeadlineRule:
        for rule in self.rules:
            if rule.kind == kind:
                return rule
        raise KeyError(f"no deadline rule for {kind}")

    def events(self) -> set[str]:
        """Every event type the table reacts to."""
        names: set[str] = {trigger.event for trigger in self.cancelled_by}
        for rule in self.rules:
            for trigger in (rule.starts, *rule.also_starts, *rule.met_by, *rule.paused_by, *rule.resumed_by, *rule.agreed_by):
                names.add(trigger.event)
        return names


def _trigger(data: Any, where: str, with_field: bool = False) -> Trigger:
    if not isinstance(data, dict) or "event" not in data:
        raise RulesError(f"{where}: expected {{event: Name, when: {{...}}}}, got {data!r}")
    name = data["event"]
    cls = EVENT_TYPES.get(name)
    if cls is None:
        raise RulesError(f"{where}: {name} is not an event of the contracts")
    when = []
    for field, value in (data.get("when") or {}).items():
        if field not in cls.model_fields:
            raise RulesError(f"{where}: {name} has no field {field}")
        values = tuple(value) if isinstance(value, list) else (value,)
        when.append((field, values))
    field = data.get("field")
    if with_field:
        if field not in cls.model_fields:
            raise RulesError(f"{where}: {name} has no time field {field!r}")
    elif field is not None:
        raise RulesError(f"{where}: `field` only belongs to agreed_by")
    done_at = data.get("at")
    if done_at is not None and (".met_by" not in where or done_at not in cls.model_fields):
        raise RulesError(f"{where}: `at` names a time field of {name} and only belongs to met_by")
    return Trigger(name, tuple(when), field, done_at)


def _limit(data: Any, where: str, start: str | None) -> Limit:
    try:
        unit = TimeBasis(data["unit"])
    except (KeyError, TypeError, ValueError):
        raise RulesError(f"{where}: unit must be one of {', '.join(b.value for b in TimeBasis)}") from None
    if unit is TimeBasis.AGREED_TIME:
        field = data.get("field")
        if start is None or field not in EVENT_TYPES[start].model_fields:
            raise RulesError(f"{where}: agreed_time needs `field`, a time field of the start event")
        return Limit(unit, None, field)
    try:
        amount = Decimal(str(data["amount"]))
    except Exception:  # noqa: BLE001
        raise RulesError(f"{where}: amount must be a number") from None
    if amount <= 0:
        raise RulesError(f"{where}: amount must be positive")
    return Limit(unit, amount)


def parse_rules(data: dict[str, Any]) -> RuleTable:
    if not isinstance(data, dict) or not data.get("version") or not isinstance(data.get("deadlines"), list):
        raise RulesError("the rules file needs `version` and a list `deadlines`")
    rules = []
    for index, row in enumerate(data["deadlines"]):
        where = f"deadlines[{index}]"
        try:
            kind = DeadlineKind(row["kind"])
        except (KeyError, ValueError):
            raise RulesError(f"{where}: kind must be one of {', '.join(k.value for k in DeadlineKind)}") from None
        where = f"deadlines[{index}] ({kind.value})"
        starts = _trigger(row.get("starts"), f"{where}.starts")
        start_cls = EVENT_TYPES[starts.event]
        key, at = row.get("key"), row.get("at", "occurred_at")
        also = tuple(_trigger(t, f"{where}.also_starts") for t in row.get("also_starts") or ())
        if also and isinstance(row.get("limit"), dict) and row["limit"].get("unit") == TimeBasis.AGREED_TIME.value:
            raise RulesError(f"{where}.also_starts: an agreed time is read from the one start event; "
                             "other start events need a counted limit")
        for trigger in (starts, *also):
            for name, value in (("key", key), ("at", at)):
                if value is not None and value not in EVENT_TYPES[trigger.event].model_fields:
                    raise RulesError(f"{where}.{name}: {trigger.event} has no field {value}")
        try:
            role = Role(row["responsible_role"])
            escalation = tuple(Escalation(Role(e["role"]), _limit(e.get("limit"), f"{where}.escalation", None))
                               for e in row.get("escalation") or ())
        except (KeyError, ValueError) as e:
            raise RulesError(f"{where}: {e}") from None
        if any(e.limit.unit is TimeBasis.AGREED_TIME for e in escalation):
            raise RulesError(f"{where}.escalation: a level's limit is counted, not agreed")
        rules.append(DeadlineRule(
            kind=kind, source=str(row.get("source", "")), starts=starts,
            limit=_limit(row.get("limit"), f"{where}.limit", starts.event), responsible_role=role,
            key=key, at=at,
            met_by=tuple(_trigger(t, f"{where}.met_by") for t in row.get("met_by") or ()),
            paused_by=tuple(_trigger(t, f"{where}.paused_by") for t in row.get("paused_by") or ()),
            resumed_by=tuple(_trigger(t, f"{where}.resumed_by") for t in row.get("resumed_by") or ()),
            agreed_by=tuple(_trigger(t, f"{where}.agreed_by", with_field=True) for t in row.get("agreed_by") or ()),
            escalation=escalation, also_starts=also,
        ))
    kinds = [r.kind for r in rules]
    if len(set(kinds)) != len(kinds):
        raise RulesError("each deadline kind has one row")
    cancelled = tuple(_trigger(t, f"cancelled_by[{i}]") for i, t in enumerate(data.get("cancelled_by") or ()))
    return RuleTable(str(data["version"]), tuple(rules), cancelled)


def load_rules(path: Path | None = None) -> RuleTable:
    """Read the rules table (once, at start)."""
    path = path or DEFAULT_RULES
    with path.open(encoding="utf-8") as f:
        return parse_rules(yaml.safe_load(f))
