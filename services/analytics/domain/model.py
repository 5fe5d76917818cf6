"""Analytics' read model: the facts the monthly figures are counted from, one row per complaint,
deadline, cost line, corrective action and alert. Every value is a function of the events, never of
the clock or of which topic delivered first, so a rebuild from zero gives the same figures."""

from __future__ import annotations

from services.common.readmodel import Schema, Table

REGISTER = Table(
    "register",
    columns=(
        ("complaint_id", "text"), ("form_number", "text"), ("branch", "text"), ("region", "text"),
        ("kind", "text"), ("subject", "text"), ("severity", "text"), ("channel", "text"),
        ("customer_name", "text"), ("customer_key", "text"), ("product_model", "text"), ("batch_number", "text"),
        ("received_at", "time"), ("month", "text"), ("intake_state", "text"), ("valid", "bool"),
        ("cause_category", "text"), ("determination", "text"), ("serious", "bool"), ("disputed", "bool"),
        ("first_reply_at", "time"), ("closed_at", "time"), ("closed_month", "text"), ("closure_outcome", "text"),
        ("handling_hours", "float"), ("satisfaction", "text"), ("follow_up_outcome", "text"),
        ("follow_up_month", "text"), ("repeat_confirmed", "bool"), ("withdrawn", "bool"),
    ),
    key=("complaint_id",),
    indexes=(("month",), ("closed_month",), ("follow_up_month",), ("customer_key",), ("product_model",)),
)

DEADLINES = Table(
    "deadlines",
    columns=(
        ("deadline_id", "text"), ("complaint_id", "text"), ("branch", "text"), ("kind", "text"), ("role", "text"),
        ("started_at", "time"), ("due_at", "time"), ("first_due_at", "time"), ("due_month", "text"),
        ("state", "text"), ("completed_at", "time"), ("missed", "bool"), ("escalations", "int"),
    ),
    key=("deadline_id",),
    indexes=(("due_month",),),
)

COSTS = Table(
    "costs",
    columns=(
        ("complaint_id", "text"), ("payer", "text"), ("item", "text"), ("month", "text"), ("branch", "text"),
        ("amount", "money"), ("entries", "int"),
    ),
    key=("complaint_id", "payer", "item", "month"),
    indexes=(("month",),),
)

CAPA = Table(
    "capa",
    columns=(
        ("action_id", "text"), ("complaint_id", "text"), ("branch", "text"), ("source", "text"), ("state", "text"),
        ("raised_at", "time"), ("due_at", "time"), ("implemented_at", "time"), ("closed_at", "time"),
        ("rounds", "int"), ("model", "text"), ("batch_number", "text"),
    ),
    key=("action_id",),
)

ALERTS = Table(
    "alerts",
    columns=(
        ("alert_id", "text"), ("model", "text"), ("batch_number", "text"), ("window_start", "date"),
        ("window_end", "date"), ("threshold", "int"), ("count", "int"), ("raised_at", "time"), ("month", "text"),
        ("form_number", "text"), ("branch", "text"), ("complaints", "json"), ("rules_version", "text"),
    ),
    key=("alert_id",),
    indexes=(("month",),),
)

SCHEMA = Schema("analytics", version=1, tables=(REGISTER, DEADLINES, COSTS, CAPA, ALERTS))
