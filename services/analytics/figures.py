"""The monthly figures the procedure asks for, counted from analytics' read model (§5.3.1⑴, §5.8):

the complaint register and the summary per branch, subject, severity, channel and validity; deadline
compliance per step and per role; handling time in working hours (median, p90); costs by payer and
item, transport on its own (控制运输损耗); satisfaction; corrective actions open and overdue at the
month's end; repeat complaints per customer and product; batch-defect alerts.

Every figure is a function of the rows and the month, never of the clock: the same rows give the
same figures, so a read model rebuilt from zero gives identical ones.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from services.common.domain import InvalidCommand
from services.common.readmodel import ReadModelStore
from services.analytics.domain.model import ALERTS, CAPA, REGISTER

MONTH = re.compile(r"^(20[0-9]{2})-(0[1-9]|1[0-2])$")
ZERO = Decimal("0.00")
TRANSPORT_ITEMS = ("return_transport", "delivery_transport")
SATISFIED = ("very_satisfied", "satisfied")
#: How far back a complaint counts as an earlier one of a repeating customer or product.
REPEAT_MONTHS = 12


def month_bounds(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in the company's zone."""
    m = MONTH.fullmatch(month)
    if not m:
        raise InvalidCommand("month: give it as YYYY-MM, e.g. 2026-11", field="month")
    year, number = int(m.group(1)), int(m.group(2))
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + (number == 12), 1 if number == 12 else number + 1, 1, tzinfo=zone)
    return start, end


def months_back(month: str, count: int) -> str:
    year, number = (int(p) for p in month.split("-"))
    index = year * 12 + (number - 1) - count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (the value below which p % of the values fall), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Figures:
    def __init__(self, store: ReadModelStore, zone: ZoneInfo):
        self.store = store
        self.zone = zone

    def _where(self, branches: Sequence[str] | None, alias: str = "") -> tuple[str, list[Any]]:
        if branches is None:
            return "", []
        if not branches:
            return " AND 1 = 0", []
        column = f"{alias}branch" if alias else "branch"
        return f" AND {column} IN ({', '.join(['%s'] * len(branches))})", list(branches)

    def register(self, month: str, branches: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The complaint register of the month: every complaint received in it, oldest first."""
        month_bounds(month, self.zone)
        scope, params = self._where(branches)
        return self.store.query(
            f"SELECT {', '.join(c for c in REGISTER.names if c != 'customer_key')} FROM {{register}} "
            f"WHERE month = %s{scope} ORDER BY received_at, form_number", [month, *params], kinds=REGISTER.kinds)

    def monthly(self, month: str, branches: Sequence[str] | None = None) -> dict[str, Any]:
        start, end = month_bounds(month, self.zone)
        register = self.register(month, branches)
        return {
            "month": month, "time_zone": self.zone.key, "from": start.isoformat(), "to": end.isoformat(),
            "scope": sorted(branches) if branches is not None else "all branches",
            "summary": self._summary(register),
            "deadlines": self._deadlines(month, branches),
            "handling": self._handling(month, branches),
            "costs": self._costs(month, branches),
            "satisfaction": self._satisfaction(month, branches),
            "corrective_actions": self._capa(start, end, branches),
            "repeats": self._repeats(month, branches),
            "alerts": self.alerts(month, branches),
            "complaint_register": [_register_line(r) for r in register],
        }

    @staticmethod
    def _summary(register: list[dict[str, Any]]) -> dict[str, Any]:
        def count(key: str) -> dict[str, int]:
            return dict(sorted(Counter(str(r[key]) for r in register).items()))
        validity = Counter("valid" if r["valid"] is True else "invalid" if r["valid"] is False else "undetermined"
                           for r in register)
        return {"total": len(register), "by_branch": count("branch"), "by_subject": count("subject"),
                "by_severity": count("severity"), "by_channel": count("channel"), "by_kind": count("kind"),
                "by_validity": {k: validity.get(k, 0) for k in ("valid", "invalid", "undetermined")},
                "closed": sum(1 for r in register if r["closed_at"] is not None)}

    def _deadlines(self, month: str, branches: Sequence[str] | None) -> dict[str, Any]:
        scope, params = self._where(branches)
        rows = self.store.query(f"SELECT kind, role, state, missed FROM {{deadlines}} WHERE due_month = %s{scope}",
                                [month, *params], kinds={"missed": "bool"})

        def outcome(r: dict[str, Any]) -> str:
            if r["state"] == "cancelled":
                return "cancelled"
            if r["missed"]:
                return "late"
            return "on_time" if r["state"] == "met" else "open"

        def table(key: str) -> dict[str, dict[str, Any]]:
            groups: dict[str, Counter[str]] = defaultdict(Counter)
            for r in rows:
                groups[str(r[key])][outcome(r)] += 1
            out = {}
            for name, c in sorted(groups.items()):
                decided = c["on_time"] + c["late"]
                out[name] = {"due": sum(c.values()), "on_time": c["on_time"], "late": c["late"], "open": c["open"],
                             "cancelled": c["cancelled"],
                             "compliance": round(c["on_time"] / decided, 4) if decided else None}
            return out
        return {"by_step": table("kind"), "by_role": table("role")}

    def _handling(self, month: str, branches: Sequence[str] | None) -> dict[str, Any]:
        scope, params = self._where(branches)
        rows = self.store.query(
            f"SELECT subject, handling_hours FROM {{register}} WHERE closed_month = %s AND handling_hours IS NOT NULL"
            f"{scope}", [month, *params])
        hours = [float(r["handling_hours"]) for r in rows]
        by_subject: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            by_subject[str(r["subject"])].append(float(r["handling_hours"]))

        def stats(values: list[float]) -> dict[str, Any]:
            return {"closed": len(values), "median_hours": round(statistics.median(values), 2) if values else None,
                    "p90_hours": round(percentile(values, 90), 2) if values else None}  # type: ignore[arg-type]
        return stats(hours) | {"by_subject": {k: stats(v) for k, v in sorted(by_subject.items())}}

    def _costs(self, month: str, branches: Sequence[str] | None) -> dict[str, Any]:
        scope, params = self._where(branches)
        rows = self.store.query(
            f"SELECT payer, item, sum(amount) AS amount, count(DISTINCT complaint_id) AS complaints FROM {{costs}} "
            f"WHERE month = %s{scope} GROUP BY payer, item ORDER BY payer, item", [month, *params],
            kinds={"amount": "money"})
        by_payer: dict[str, Decimal] = defaultdict(lambda: ZERO)
        by_item: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for r in rows:
            by_payer[r["payer"]] += r["amount"]
            by_item[r["item"]] += r["amount"]
        transport = {item: by_item.get(item, ZERO) for item in TRANSPORT_ITEMS}
        return {"currency": "CNY", "total": sum(by_item.values(), ZERO), "by_payer": dict(sorted(by_payer.items())),
                "by_item": dict(sorted(by_item.items())),
                "by_payer_and_item": [{"payer": r["payer"], "item": r["item"], "amount": r["amount"]} for r in rows],
                "transport": transport | {"total": sum(transport.values(), ZERO)}}

    def _satisfaction(self, month: str, branches: Sequence[str] | None) -> dict[str, Any]:
        scope, params = self._where(branches)
        rows = self.store.query(
            f"SELECT satisfaction, follow_up_outcome FROM {{register}} WHERE follow_up_month = %s{scope}",
            [month, *params])
        rated = [r["satisfaction"] for r in rows if r["satisfaction"]]
        counts = Counter(rated)
        return {"followed_up": len(rows), "rated": len(rated),
                "unreachable": sum(1 for r in rows if r["follow_up_outcome"] == "unreachable"),
                "distribution": dict(sorted(counts.items())),
                "satisfied_rate": round(sum(counts[s] for s in SATISFIED) / len(rated), 4) if rated else None}

    def _capa(self, start: datetime, end: datetime, branches: Sequence[str] | None) -> dict[str, Any]:
        scope, params = self._where(branches)
        rows = self.store.query(f"SELECT {', '.join(CAPA.names)} FROM {{capa}} WHERE raised_at < %s{scope}",
                                [self.store.param("time", end), *params], kinds=CAPA.kinds)
        raised = [r for r in rows if r["raised_at"] >= start]
        closed = [r for r in rows if r["closed_at"] is not None and start <= r["closed_at"] < end]
        open_ = [r for r in rows if r["closed_at"] is None or r["closed_at"] >= end]
        overdue = [r for r in open_ if r["due_at"] is not None and r["due_at"] < end]
        return {"raised": len(raised), "closed": len(closed), "open_at_month_end": len(open_),
                "overdue_at_month_end": len(overdue),
                "by_source": dict(sorted(Counter(str(r["source"]) for r in raised).items())),
                "overdue": sorted(({"action_id": r["action_id"], "due_at": r["due_at"].isoformat(),
                                    "state": r["state"], "model": r["model"], "batch_number": r["batch_number"]}
                                   for r in overdue), key=lambda r: (r["due_at"], r["action_id"]))}

    def _repeats(self, month: str, branches: Sequence[str] | None) -> dict[str, Any]:
        scope, params = self._where(branches)
        since = months_back(month, REPEAT_MONTHS - 1)
        rows = self.store.query(
            f"SELECT customer_key, customer_name, product_model, month, form_number, repeat_confirmed "
            f"FROM {{register}} WHERE month >= %s AND month <= %s AND kind = 'complaint'{scope} "
            f"ORDER BY received_at, form_number", [since, month, *params], kinds={"repeat_confirmed": "bool"})

        def repeating(key: Any) -> list[dict[str, Any]]:
            groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
            for r in rows:
                groups[key(r)].append(r)
            out = []
            for k, members in groups.items():
                this_month = [m for m in members if m["month"] == month]
                if len(members) >= 2 and this_month:
                    out.append({"customer": members[-1]["customer_name"], "product_model": k[1],
                                "complaints_in_month": len(this_month), "complaints_in_12_months": len(members),
                                "form_numbers": [m["form_number"] for m in members]})
            return sorted(out, key=lambda r: (-r["complaints_in_12_months"], r["customer"] or "", r["product_model"] or ""))
        return {"window_months": REPEAT_MONTHS,
                "per_customer": repeating(lambda r: (r["customer_key"], None)),
                "per_customer_and_product": repeating(lambda r: (r["customer_key"], r["product_model"]))
                if any(r["product_model"] for r in rows) else [],
                "confirmed_links_in_month": sum(1 for r in rows if r["month"] == month and r["repeat_confirmed"])}

    def alerts(self, month: str, branches: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The batch-defect alerts raised in the month."""
        scope, params = self._where(branches)
        rows = self.store.query(f"SELECT {', '.join(ALERTS.names)} FROM {{alerts}} WHERE month = %s{scope} "
                                "ORDER BY raised_at, alert_id", [month, *params], kinds=ALERTS.kinds)
        return [{k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in r.items()
                 if k not in ("month",)} for r in rows]


def _register_line(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("form_number", "branch", "received_at", "kind", "subject", "severity", "channel", "customer_name",
            "product_model", "batch_number", "valid", "cause_category", "closure_outcome", "handling_hours",
            "satisfaction")
    return {k: (row[k].isoformat() if isinstance(row[k], datetime) else row[k]) for k in keep}

