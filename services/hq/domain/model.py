"""HQ's read model: its tables, and the pure rules that say where a complaint stands.

Every value here is a function of the events seen, never of the clock or of the order in which
two topics delivered (architecture rule 8): a rebuild from zero gives the same rows.
"""

from __future__ import annotations

from typing import Any

from services.common.readmodel import Schema, Table

COMPLAINTS = Table(
    "complaints",
    columns=(
        ("complaint_id", "text"), ("form_number", "text"), ("branch", "text"), ("region", "text"),
        ("kind", "text"), ("subject", "text"), ("severity", "text"), ("channel", "text"),
        ("customer_name", "text"), ("customer_phone", "text"), ("customer_contact", "text"),
        ("description", "text"), ("demand", "text"),
        ("product_model", "text"), ("batch_number", "text"), ("order_number", "text"),
        ("complained_about", "text"), ("received_at", "time"), ("registered_at", "time"),
        ("intake_state", "text"), ("case_state", "text"), ("stage", "text"), ("quality_stage", "text"),
        ("destination", "text"), ("track", "text"), ("handler", "text"), ("handler_role", "text"),
        ("valid", "bool"), ("cause_category", "text"), ("determination", "text"), ("responsible_party", "text"),
        ("serious", "bool"), ("disputed", "bool"),
        ("open_deadlines", "json"), ("next_due_at", "time"), ("next_due_kind", "text"), ("next_due_role", "text"),
        ("missed_open", "int"), ("deadlines_missed", "int"),
        ("cost_company", "money"), ("cost_customer", "money"), ("cost_salesperson", "money"),
        ("cost_to_be_decided", "money"), ("ledger_total", "money"), ("amount_owed", "money"),
        ("satisfaction", "text"), ("follow_up_outcome", "text"),
        ("replied_at", "time"), ("closed_at", "time"), ("closure_outcome", "text"), ("archived", "bool"),
        ("corrective_actions", "json"), ("repeats", "json"), ("notices", "int"),
        ("awaited", "json"), ("events", "int"), ("first_event_at", "time"), ("last_event_at", "time"),
        ("search_tokens", "text"),
    ),
    key=("complaint_id",),
    indexes=(("form_number",), ("branch", "received_at"), ("received_at",), ("stage",), ("next_due_at",),
             ("last_event_at",)),
    fulltext="search_tokens",
)

#: One step someone must take, from routing's `ActionsAwaited` (source `routing`) or a notice to
#: acknowledge or a customer to phone from notify (source `notify:<notice id>`).
INBOX = Table(
    "inbox",
    columns=(
        ("complaint_id", "text"), ("source", "text"), ("idx", "int"), ("form_number", "text"), ("branch", "text"),
        ("region", "text"), ("step", "text"), ("role", "text"), ("assignee", "text"), ("due_at", "time"),
        ("deadline_kind", "text"), ("hidden_from", "text"), ("since", "time"), ("detail", "text"),
    ),
    key=("complaint_id", "source", "idx"),
    indexes=(("role", "due_at"), ("assignee", "due_at")),
)

#: Every published event of every service about a complaint, once (by its event id).
TIMELINE = Table(
    "timeline",
    columns=(
        ("event_id", "text"), ("complaint_id", "text"), ("service", "text"), ("notification_id", "int"),
        ("event_type", "text"), ("schema_version", "int"), ("occurred_at", "time"), ("actor_user", "text"),
        ("actor_role", "text"), ("causation_id", "text"), ("correlation_id", "text"), ("summary", "text"),
        ("changes", "json"),
    ),
    key=("event_id",),
    indexes=(("complaint_id", "occurred_at"),),
)

SCHEMA = Schema("hq", version=1, tables=(COMPLAINTS, INBOX, TIMELINE))

#: The stage of a complaint closed or settled at intake wins over anything routing says.
_INTAKE_FINAL = {"closed_at_intake", "withdrawn"}


def stage_of(row: dict[str, Any]) -> str:
    """Where the complaint stands, in one word: closed, a state of intake's that ends it, routing's
    case state, or intake's state while routing has not spoken."""
    if row.get("closed_at") is not None or row.get("case_state") == "closed":
        return "closed"
    if row.get("intake_state") in _INTAKE_FINAL:
        return str(row["intake_state"])
    return str(row.get("case_state") or row.get("intake_state") or "registered")


def next_deadline(open_deadlines: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(due_at, kind, responsible role) of the earliest open deadline (ties: by id), or Nones."""
    running = [(d["due_at"], deadline_id, d) for deadline_id, d in open_deadlines.items() if not d.get("paused")]
    if not running:
        return None, None, None
    due, _, d = min(running, key=lambda item: (item[0], item[1]))
    return due, d.get("kind"), d.get("role")
