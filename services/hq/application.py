"""HQ's queries over its read model: the complaint list (filters, sort, cursor pages, full-text
search), one complaint by id or form number, the unified inbox and the merged history.

Every query is scoped to the caller (`services.common.access`): a branch role sees its branch, a
regional role its region's branches, headquarters every branch; nobody sees a complaint made about
them (§5.3.2⑴). What is out of scope looks exactly like what does not exist.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from contracts.envelope import FORM_NUMBER_PATTERN
from services.common.access import rules as access_rules
from services.common.auth import Principal
from services.common.causal import merge_records
from services.common.domain import InvalidCommand, NotFound
from services.common.readmodel import ReadModelStore
from services.common.search import BadQuery, postgres_query, searchable, sqlite_query
from services.hq.domain.model import COMPLAINTS, TIMELINE

_FORM_NUMBER = re.compile(FORM_NUMBER_PATTERN)
#: Sort orders of the list: the column, and its kind (for the cursor).
SORTS = {"received_at": "time", "next_due_at": "time", "last_event_at": "time", "form_number": "text"}
_FAR_FUTURE = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
_FAR_PAST = datetime(1, 1, 1, tzinfo=timezone.utc)
MAX_PAGE = 200
#: Filters of the list that match a column exactly.
EXACT_FILTERS = ("branch", "region", "kind", "subject", "severity", "channel", "stage", "quality_stage", "handler",
                 "product_model", "batch_number", "determination")

LIST_COLUMNS = ("complaint_id", "form_number", "branch", "region", "kind", "subject", "severity", "channel",
                "customer_name", "product_model", "batch_number", "stage", "quality_stage", "handler", "received_at",
                "next_due_at", "next_due_kind", "next_due_role", "missed_open", "cost_company", "cost_customer",
                "cost_salesperson", "cost_to_be_decided", "amount_owed", "satisfaction", "closed_at",
                "closure_outcome", "serious", "disputed", "last_event_at")


@dataclass(frozen=True)
class ListQuery:
    filters: dict[str, str]
    q: str | None = None
    overdue: bool | None = None
    serious: bool | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    sort: str = "-received_at"
    limit: int = 50
    cursor: str | None = None


class HqQueries:
    def __init__(self, store: ReadModelStore, clock: Any = None):
        self.store = store
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.kinds = COMPLAINTS.kinds

    # --- scope -----------------------------------------------------------------------------

    def _scope(self, principal: Principal, alias: str = "c") -> tuple[str, list[Any]]:
        """The SQL condition of what the caller may see, and its parameters."""
        access = access_rules()
        scope = access.scope_of(principal)
        hidden = f"({alias}.complained_about IS NULL OR {alias}.complained_about <> %s)"
        if scope == "all":
            return hidden, [principal.user_id]
        if scope == "branch" and principal.branch:
            return f"{alias}.branch = %s AND {hidden}", [principal.branch, principal.user_id]
        if scope == "region":
            region = access.region_of_principal(principal)
            branches = list(access.regions.get(region, ())) if region else []
            if branches:
                marks = ", ".join(["%s"] * len(branches))
                return f"{alias}.branch IN ({marks}) AND {hidden}", [*branches, principal.user_id]
        return "1 = 0", []

    # --- one complaint ---------------------------------------------------------------------

    def resolve(self, ref: str, principal: Principal) -> dict[str, Any]:
        """The complaint a reference names (its id, or its form number), within the caller's scope."""
        column, value = reference(ref)
        scope, params = self._scope(principal)
        rows = self.store.query(
            f"SELECT * FROM {{complaints}} c WHERE c.{column} = %s AND {scope}",
            [value, *params], kinds=self.kinds)
        if not rows:
            raise NotFound(f"no complaint {ref}")
        return rows[0]

    def complaint(self, ref: str, principal: Principal) -> dict[str, Any]:
        row = self.resolve(ref, principal)
        now = self.clock()
        out = {k: row[k] for k in COMPLAINTS.names if k not in ("search_tokens", "awaited")}
        out["overdue"] = _overdue(row, now)
        out["costs"] = _costs(row)
        out["open_deadlines"] = sorted(({"deadline_id": k, **v} for k, v in (row["open_deadlines"] or {}).items()),
                                       key=lambda d: (d["due_at"], d["deadline_id"]))
        out["corrective_actions"] = [{"action_id": k, **v} for k, v in sorted((row["corrective_actions"] or {}).items())]
        out["awaited_actions"] = self.store.query(
            "SELECT step, role, assignee, due_at, deadline_kind, source, detail FROM {inbox} "
            "WHERE complaint_id = %s AND (hidden_from IS NULL OR hidden_from <> %s) ORDER BY source, idx",
            [row["complaint_id"], principal.user_id], kinds={"due_at": "time"})
        return out

    # --- the list --------------------------------------------------------------------------

    def list(self, query: ListQuery, principal: Principal) -> dict[str, Any]:
        descending = query.sort.startswith("-")
        column = query.sort.lstrip("-")
        if column not in SORTS:
            raise InvalidCommand(f"sort: one of {', '.join(sorted(SORTS))}, with - in front for descending",
                                 field="sort")
        limit = max(1, min(query.limit, MAX_PAGE))
        scope, params = self._scope(principal)
        where = [scope]
        for name, value in query.filters.items():
            if name not in EXACT_FILTERS:
                raise InvalidCommand(f"{name}: not a filter", field=name)
            where.append(f"c.{name} = %s")
            params.append(value)
        now = self.clock()
        if query.overdue is not None:
            condition = "(c.missed_open > 0 OR c.next_due_at < %s)"
            where.append(condition if query.overdue else f"NOT {condition}")
            params.append(self.store.param("time", now))
        if query.serious is not None:
            where.append("c.serious = %s")
            params.append(self.store.param("bool", query.serious))
        if query.received_from is not None:
            where.append("c.received_at >= %s")
            params.append(self.store.param("time", query.received_from))
        if query.received_to is not None:
            where.append("c.received_at < %s")
            params.append(self.store.param("time", query.received_to))
        if query.q is not None and not searchable(query.q):
            where.append("1 = 0")  # nothing to search for: nothing found
        elif query.q:
            try:
                if self.store.postgres:
                    where.append("c.search_tokens_tsv @@ to_tsquery('simple', %s)")
                    params.append(postgres_query(query.q))
                else:
                    where.append("c.rowid IN (SELECT rowid FROM {complaints_fts} WHERE {complaints_fts} MATCH %s)")
                    params.append(sqlite_query(query.q))
            except BadQuery as e:
                raise InvalidCommand(f"q: {e}", field="q") from None
        kind = SORTS[column]
        sentinel = _FAR_PAST if descending else _FAR_FUTURE
        order_value = (f"coalesce(c.{column}, %s)" if kind == "time" else f"c.{column}")
        order_params = [self.store.param("time", sentinel)] if kind == "time" else []
        if query.cursor:
            value, last_id = decode_cursor(query.cursor, query.sort)
            op = "<" if descending else ">"
            where.append(f"({order_value} {op} %s OR ({order_value} = %s AND c.complaint_id {op} %s))")
            typed = self.store.param(kind, value)
            params += [*order_params, typed, *order_params, typed, last_id]
        direction = "DESC" if descending else "ASC"
        sql = (f"SELECT {', '.join('c.' + n for n in LIST_COLUMNS)}, {order_value} AS sort_value "
               f"FROM {{complaints}} c WHERE {' AND '.join(where)} "
               f"ORDER BY sort_value {direction}, c.complaint_id {direction} LIMIT %s")
        rows = self.store.query(sql, [*order_params, *params, limit + 1],
                                kinds={**{k: self.kinds[k] for k in LIST_COLUMNS}, "sort_value": kind})
        more = len(rows) > limit
        rows = rows[:limit]
        items = []
        for row in rows:
            item = {k: row[k] for k in LIST_COLUMNS if not k.startswith("cost_")}
            item["costs"] = _costs(row)
            item["overdue"] = _overdue(row, now)
            items.append(item)
        cursor = encode_cursor(query.sort, rows[-1]["sort_value"], rows[-1]["complaint_id"]) if more else None
        return {"items": items, "next_cursor": cursor, "sort": query.sort}

    # --- the inbox -------------------------------------------------------------------------

    def inbox(self, principal: Principal, limit: int = 100) -> dict[str, Any]:
        """What the caller must do, oldest deadline first: steps named to them, and the steps of
        their role on complaints within their scope that nobody in particular is named for."""
        scope, params = self._scope(principal)
        sql = ("SELECT i.complaint_id, i.form_number, i.branch, i.step, i.role, i.assignee, i.due_at, "
               "i.deadline_kind, i.source, i.since, i.detail, c.subject, c.severity, c.kind, c.customer_name, c.stage "
               "FROM {inbox} i JOIN {complaints} c ON c.complaint_id = i.complaint_id "
               "WHERE (i.hidden_from IS NULL OR i.hidden_from <> %s) AND "
               f"(i.assignee = %s OR (i.assignee IS NULL AND i.role = %s AND {scope})) "
               "ORDER BY coalesce(i.due_at, %s) ASC, i.since ASC, i.complaint_id, i.source, i.idx LIMIT %s")
        rows = self.store.query(sql, [principal.user_id, principal.user_id, principal.role, *params,
                                      self.store.param("time", _FAR_FUTURE), max(1, min(limit, 500))],
                                kinds={"due_at": "time", "since": "time"})
        now = self.clock()
        for row in rows:
            row["overdue"] = row["due_at"] is not None and row["due_at"] < now
        return {"user": principal.user_id, "role": principal.role, "count": len(rows),
                "overdue": sum(1 for r in rows if r["overdue"]), "items": rows}

    # --- the history -----------------------------------------------------------------------

    def history(self, ref: str, principal: Principal) -> dict[str, Any]:
        row = self.resolve(ref, principal)
        events = self.store.query(
            f"SELECT {', '.join(TIMELINE.names)} FROM {{timeline}} WHERE complaint_id = %s",
            [row["complaint_id"]], kinds=TIMELINE.kinds)
        ordered = merge_records(events)
        return {"complaint_id": row["complaint_id"], "form_number": row["form_number"],
                "events": [{k: e[k] for k in TIMELINE.names if k != "complaint_id"} for e in ordered]}


def reference(ref: str) -> tuple[str, str]:
    """(column, value) of a complaint reference: a UUID, or a form number {branch}-{yyyymmdd}-{seq}."""
    text = ref.strip()
    try:
        return "complaint_id", str(UUID(text))
    except ValueError:
        pass
    if _FORM_NUMBER.fullmatch(text):
        return "form_number", text
    raise InvalidCommand("give the complaint's id (a UUID) or its form number, e.g. SH01-20261125-0001",
                         field="complaint")


def _overdue(row: dict[str, Any], now: datetime) -> bool:
    return bool(row.get("missed_open")) or (row.get("next_due_at") is not None and row["next_due_at"] < now)


def _costs(row: dict[str, Any]) -> dict[str, Any]:
    return {"company": row["cost_company"], "customer": row["cost_customer"],
            "salesperson": row["cost_salesperson"], "to_be_decided": row["cost_to_be_decided"]}


def encode_cursor(sort: str, value: Any, last_id: str) -> str:
    shown = value.isoformat() if isinstance(value, datetime) else value
    raw = json.dumps([sort, shown, last_id], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, value, last_id = json.loads(raw)
        UUID(str(last_id))
        if SORTS.get(str(made_for).lstrip("-")) == "time":
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError("naive")
        elif not isinstance(value, str):
            raise ValueError("value")
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise InvalidCommand("cursor: not a cursor this list gave; start again without it", field="cursor") from None
    if made_for != sort:
        raise InvalidCommand(f"cursor: made for sort {made_for}, not {sort}", field="cursor")
    return value, str(last_id)
