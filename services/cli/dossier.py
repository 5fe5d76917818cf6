"""The archive dossier of one complaint (§5.8): everything produced while handling it, by category.

Input is the complaint's merged history across the five services, in causal order: one record per
stored event, as `services.cli.stores.Stored.record()` gives it (`service`, `notification_id`,
`event_id`, `event_type` (the stored class), `published_as` (the contract it is published as, None
for an internal event), `aggregate`, `aggregate_id`, `version`, `occurred_at`, `meta`, `data`). An
event is named by `published_as or event_type`.

`build_dossier(events)` gives the dossier as JSON-ready data, its sections in the order of §5.8
(`SECTIONS`). Most sections are lists of items, one per event, in the order of the history:

    {"at", "event", "service", "event_id", "by", "role", "details": {the event's own fields}}

(`approvals` adds `of`, `action`, `approver`, `approver_role`, `level`, `text`). `complaint`, `ledger`
and `closure` are objects; `evidence`, `notifications` and `history` are lists of their own shape.
A section with nothing in it is present and empty. Money stays a decimal string; nothing depends on
the clock or on the order of a set, so the same events always give the same dossier.

Two sections gather what other sections also show: `approvals` is every sign-off of the case (the
reply chain of §5.3, and also the defective-product form, the quality decision, the corrective
actions and the compensation payments, which their own sections list as well), and `remedy` every
remedy delivered (a quality case's is also in `quality`).

`write_json` and `write_pdf` write it (to a temporary name, renamed into place); the PDF is rendered
with WeasyPrint from `templates/dossier.html` (`render_html`), in Chinese (`language="zh"`, the
default) or English, with the Noto Sans CJK fonts (Debian's fonts-noto-cjk) for the Chinese text.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from services.common.files import write_atomically

#: The sections of a dossier, in the order of §5.8.
SECTIONS: tuple[str, ...] = (
    "complaint", "registration", "routing", "memos", "approvals", "determination", "evidence", "quality",
    "corrective_actions", "ledger", "customer_reply", "remedy", "notifications", "follow_up", "disputes",
    "closure", "history",
)

TEMPLATES = Path(__file__).with_name("templates")
TEMPLATE = "dossier.html"

#: The fields of the registration form 《客户投诉登记反馈表》 (contracts.registration.RegistrationForm).
FORM_FIELDS: tuple[str, ...] = (
    "branch", "channel", "kind", "subject", "severity", "customer", "description", "product", "received_at",
    "read_back_confirmed", "resolved_on_the_spot", "complained_about", "demand", "order_number", "external_body",
    "serious_reasons", "claim_amount",
)

#: Stored fields that only serve the service itself (repeat detection, delivery bookkeeping): left out.
_INTERNAL = frozenset({"fingerprint", "form_fingerprint", "command_id", "kinds", "key", "meta"})

_SHA256 = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")

# --- which event goes where ------------------------------------------------------------------------

#: Events that carry the registration record (whole): the complaint section is the last of them.
_RECORD_EVENTS = frozenset({"ComplaintRegistered", "Taken", "Registered", "Released", "Corrected",
                            "RegistrationCorrected", "MinorComplaintClosedAtIntake"})
_REGISTRATION = frozenset({"ComplaintRegistered", "Taken", "Registered", "Released", "Corrected",
                           "RegistrationCorrected", "ReadBackConfirmed", "ReadBackNotPossible", "ReadBackImpossible"})
_ROUTING = frozenset({"ComplaintClassified", "ComplaintRouted", "HandlerAssigned", "QualityCaseTriaged",
                      "CauseAndSolutionProposed", "SeriousComplaintEscalated", "UrgentMeetingHeld", "NegotiatorNamed",
                      "RepeatComplaintLinked", "RepeatLinkConfirmed", "RepeatLinkRejected"})
_MEMOS = frozenset({"InternalMemoFiled", "InternalMemoReturned", "InternalMemoDispatched", "DepartmentReplyReceived",
                    "StaffComplaintInvestigated"})
_DETERMINATION = frozenset({"OnSiteVisitArranged", "OnSiteDeterminationRecorded", "OnSiteDeterminationCorrected",
                            "DeterminationRuled", "EvidenceAdded"})
_QUALITY = frozenset({"QualityInvestigationOpened", "DefectiveProductFormFiled", "DefectiveProductFormApproved",
                      "DefectiveProductFormRejected", "DefectiveProductFormForwarded", "ProductReturnRequested",
                      "ProductReturnShipped", "ProductReceived", "QualityAdjudicationRecorded",
                      "QualityDecisionApproved", "QualityDecisionRejected", "QualityRemedyDelivered"})
_CORRECTIVE = frozenset({"CorrectiveActionRaised", "CorrectiveActionProposed", "CorrectiveActionApproved",
                         "CorrectiveActionImplemented", "CorrectiveActionVerified", "CorrectiveActionReopened",
                         "CorrectiveActionSuperseded", "ExceptionReportIssued", "ExceptionReportAnswered"})
_LEDGER_COSTS = frozenset({"CostAllocated", "CostAllocationRevised", "CostRecorded", "SalespersonPenaltyCharged",
                           "CompensationProposed", "CompensationApproved"})
_CUSTOMER_REPLY = frozenset({"CustomerReplied", "InquiryAnswered", "SuggestionReplyPromised", "SuggestionAnswered"})
_REMEDY = frozenset({"RemedyDelivered", "QualityRemedyDelivered"})
_FOLLOW_UP = frozenset({"SatisfactionFollowUpRecorded"})
_DISPUTES = frozenset({"DisputeRaised", "DisputeRuled", "UnreasonableDemandRecorded"})
_CLOSURE = frozenset({"ComplaintClosed", "ComplaintArchived", "ComplaintWithdrawn", "MinorComplaintClosedAtIntake"})
_NOTICES = frozenset({"NotificationRecorded", "NotificationDelivered", "NotificationDeliveryFailed",
                      "ReceiptAcknowledged", "NotificationAcknowledgementOverdue"})

#: Every sign-off: (what is approved, the action, the approver's field, the approver role's field,
#: the level's field, the text's field).
_APPROVALS: dict[str, tuple[str, str, str | None, str | None, str | None, str | None]] = {
    "ApprovalRequested": ("reply", "requested", None, None, "next_level", "proposed_reply"),
    "ReplyApproved": ("reply", "approved", "approver", "approver_role", "authority_level", "approved_reply"),
    "ReplyRejected": ("reply", "rejected", "rejected_by", "rejected_by_role", "authority_level", "reason"),
    "ApprovalEscalated": ("reply", "escalated", "escalated_by", None, "from_level", "reason"),
    "DefectiveProductFormApproved": ("defective_product_form", "approved", "approver", "approver_role", "stage",
                                     "comments"),
    "DefectiveProductFormRejected": ("defective_product_form", "rejected", "rejected_by", "rejected_by_role", None,
                                     "reason"),
    "QualityDecisionApproved": ("quality_decision", "approved", "approver", "approver_role", "authority_level",
                                "decision"),
    "QualityDecisionRejected": ("quality_decision", "rejected", "approver", "approver_role", None, "reason"),
    "CorrectiveActionApproved": ("corrective_action", "approved", "approver", "approver_role", None, None),
    "CompensationApproved": ("compensation", "approved", "approver", "approver_role", "authority_level", "comments"),
}


# --- building --------------------------------------------------------------------------------------


def event_name(record: Mapping[str, Any]) -> str:
    """The event's name: the contract it is published as, else its stored class."""
    return str(record.get("published_as") or record.get("event_type") or "")


def jsonable(value: Any) -> Any:
    """`value` as JSON data: Decimal as fixed-point text (never a float), UUID and times as text."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    return value


def _actor(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    actor = (record.get("meta") or {}).get("actor") or {}
    return actor.get("user_id"), actor.get("role")


def _data(record: Mapping[str, Any]) -> dict[str, Any]:
    return jsonable(record.get("data") or {})


def _item(record: Mapping[str, Any], details: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """One event as a section item: when, what, who, and its own fields (`details`)."""
    by, role = _actor(record)
    if details is None:
        details = {k: v for k, v in _data(record).items() if k not in _INTERNAL}
    return {"at": jsonable(record.get("occurred_at")), "event": event_name(record), "service": record.get("service"),
            "event_id": jsonable(record.get("event_id")), "by": by, "role": role, **extra,
            "details": dict(details)}


def _form_of(name: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The registration record an event carries, if it carries one (whole)."""
    if name not in _RECORD_EVENTS:
        return None
    source = data.get("record") if isinstance(data.get("record"), Mapping) else data
    return {f: source.get(f) for f in FORM_FIELDS if f in source}


def _complaint(events: list[dict[str, Any]]) -> dict[str, Any]:
    if not events:
        return {}
    meta = next((e.get("meta") for e in events if e.get("meta")), None) or {}
    form: dict[str, Any] = {}
    revision = None
    for record in events:
        name = event_name(record)
        data = _data(record)
        carried = _form_of(name, data)
        if carried is None:
            continue
        form.update(carried)
        if name in ("Corrected", "RegistrationCorrected") and data.get("revision") is not None:
            revision = data["revision"]
        elif revision is None:
            revision = 1
    return {
        "form_number": meta.get("form_number"),
        "complaint_id": jsonable(meta.get("complaint_id")),
        "branch": form.get("branch"),
        "received_at": form.get("received_at"),
        "revision": revision,
        "customer": form.get("customer"),
        "subject": form.get("subject"),
        "severity": form.get("severity"),
        "channel": form.get("channel"),
        "kind": form.get("kind"),
        "complained_about": form.get("complained_about"),
        "description": form.get("description"),
        "demand": form.get("demand"),
        "product": form.get("product"),
        "order_number": form.get("order_number"),
        "external_body": form.get("external_body"),
        "serious_reasons": form.get("serious_reasons") or [],
        "claim_amount": form.get("claim_amount"),
        "resolved_on_the_spot": form.get("resolved_on_the_spot"),
        "read_back_confirmed": form.get("read_back_confirmed"),
    }


def _registration_item(record: Mapping[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """The registration and its corrections: what changed, not the whole record again."""
    name = event_name(record)
    data = _data(record)
    carried = _form_of(name, data)
    if carried is None:  # the read-back
        return _item(record)
    if name in ("Corrected", "RegistrationCorrected"):
        changed = list(data.get("changed_fields") or [f for f in carried if carried[f] != previous.get(f)])
        details = {"revision": data.get("revision"), "changed_fields": changed, "reason": data.get("reason"),
                   "changes": {f: carried.get(f) for f in changed}}
    else:
        details = {"channel": carried.get("channel"), "received_at": carried.get("received_at"),
                   "read_back_confirmed": carried.get("read_back_confirmed"),
                   "read_back_not_possible": data.get("read_back_not_possible")}
    previous.update(carried)
    return _item(record, details)


def _approval(record: Mapping[str, Any]) -> dict[str, Any]:
    name = event_name(record)
    of, action, approver_f, role_f, level_f, text_f = _APPROVALS[name]
    data = {k: v for k, v in _data(record).items() if k not in _INTERNAL}
    by, role = _actor(record)
    used = {f for f in (approver_f, role_f, level_f, text_f) if f}
    return _item(
        record, {k: v for k, v in data.items() if k not in used},
        of=of, action=action,
        approver=data.get(approver_f) if approver_f else (by if action != "requested" else None),
        approver_role=data.get(role_f) if role_f else (role if action != "requested" else None),
        level=data.get(level_f) if level_f else None,
        text=data.get(text_f) if text_f else None,
    )


def _hashes(value: Any, path: str) -> Iterable[tuple[str, str]]:
    """(hash, where) of every SHA-256 named in `value` (values, and keys of objects)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            match = _SHA256.match(str(k))
            if match:
                yield match.group(1), path
            yield from _hashes(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _hashes(v, f"{path}[{i}]")
    elif isinstance(value, str):
        match = _SHA256.match(value)
        if match:
            yield match.group(1), path


def _evidence(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for record in events:
        data = _data(record)
        kinds = data.get("kinds") if isinstance(data.get("kinds"), Mapping) else {}
        named = {k: v for k, v in data.items() if k not in ("fingerprint", "form_fingerprint", "kinds")}
        for digest, where in _hashes(named, ""):
            entry = found.setdefault(digest, {"sha256": digest, "kind": None, "first_named_at":
                                              jsonable(record.get("occurred_at")), "named_in": []})
            entry["kind"] = entry["kind"] or kinds.get(digest)
            entry["named_in"].append({"at": jsonable(record.get("occurred_at")), "service": record.get("service"),
                                      "event": event_name(record), "event_id": jsonable(record.get("event_id")),
                                      "field": where})
        for digest, kind in kinds.items():  # a kind named for a hash already seen (or seen later)
            if digest in found and not found[digest]["kind"]:
                found[digest]["kind"] = kind
    return list(found.values())


def _ledger(events: list[dict[str, Any]]) -> dict[str, Any]:
    bookings: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    costs: list[dict[str, Any]] = []
    last_booking: dict[str, Any] | None = None
    last_charges: dict[str, Any] | None = None
    for record in events:
        name = event_name(record)
        if name == "CostEntriesBooked":
            data = _data(record)
            last_booking = data
            bookings.append(_item(record, {k: data.get(k) for k in (
                "decision_kind", "decision_event_id", "determination", "rule_id", "rules_version",
                "price_list_version", "ledger_total", "by_payer", "unpriced") if k in data}))
            for entry in data.get("entries") or []:
                entries.append({"booked_at": jsonable(record.get("occurred_at")),
                                "decision_kind": data.get("decision_kind"), **entry})
        elif name == "CustomerChargesStated":
            last_charges = _data(record)
        elif name in _LEDGER_COSTS:
            costs.append(_item(record))
    by_payer = (last_booking or {}).get("by_payer") or []
    return {
        "currency": "CNY",
        "entries": entries,
        "totals_by_payer": {p["payer"]: p["amount"] for p in by_payer},
        "ledger_total": (last_booking or {}).get("ledger_total"),
        "customer_owes": (last_charges or {}).get("amount_owed"),
        "customer_charges": (last_charges or {}).get("lines") or [],
        "bookings": bookings,
        "costs": costs,
    }


def _notifications(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    notices: dict[str, dict[str, Any]] = {}

    def notice(notice_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
        return notices.setdefault(notice_id, {
            "notice_id": notice_id, "at": jsonable(record.get("occurred_at")), "recipient": None,
            "recipient_role": None, "recipient_user_id": None, "subject": None, "body": None,
            "about_event_type": None, "language": None, "rule": None, "mandatory": None, "urgent": None,
            "send_at": None, "acknowledge_by": None, "targets": [], "deliveries": [], "failures": [],
            "delivered": False, "acknowledged": None, "overdue": None})

    for record in events:
        name = event_name(record)
        if name not in _NOTICES:
            continue
        data = _data(record)
        n = notice(str(data.get("notice_id")), record)
        at = jsonable(record.get("occurred_at"))
        if name == "NotificationRecorded":
            targets = data.get("targets")
            if targets is None and data.get("channel"):  # the earlier notify: one channel
                targets = [{"channel": data["channel"], "address": data.get("recipient")}]
            n.update(at=at, recipient=data.get("recipient"), recipient_role=data.get("recipient_role"),
                     recipient_user_id=data.get("recipient_user_id"), subject=data.get("subject"),
                     body=data.get("body"), about_event_type=data.get("about_event_type"),
                     mandatory=data.get("mandatory", False), urgent=data.get("urgent", False),
                     targets=targets or [], language=data.get("language"), rule=data.get("rule"),
                     send_at=data.get("send_at"), acknowledge_by=data.get("acknowledge_by"))
        else:
            n["recipient"] = n["recipient"] or data.get("recipient")
            n["recipient_role"] = n["recipient_role"] or data.get("recipient_role")
        if name == "NotificationDelivered":
            n["delivered"] = True
            n["deliveries"].append({"at": at, "channel": data.get("channel"), "address": data.get("address"),
                                    "attempt": data.get("attempt"), "provider_ref": data.get("provider_ref")})
        elif name == "NotificationDeliveryFailed":
            n["failures"].append({"at": at, "channel": data.get("channel"), "address": data.get("address"),
                                  "attempt": data.get("attempt"), "error": data.get("error"),
                                  "permanent": data.get("permanent"), "retry_at": data.get("retry_at")})
        elif name == "ReceiptAcknowledged":
            n["acknowledged"] = {"at": at, "by": data.get("acknowledged_by"), "via": data.get("via"),
                                 "late": data.get("late", False)}
        elif name == "NotificationAcknowledgementOverdue":
            n["overdue"] = {"at": at, "acknowledge_by": data.get("acknowledge_by"),
                            "escalated_to": data.get("escalated_to") or [],
                            "escalated_to_role": data.get("escalated_to_role")}
    return list(notices.values())


def _closure(events: list[dict[str, Any]]) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    closed: dict[str, Any] | None = None
    archived: dict[str, Any] | None = None
    for record in events:
        name = event_name(record)
        if name not in _CLOSURE:
            continue
        data = _data(record)
        if name == "ComplaintArchived":
            archived = {"at": jsonable(record.get("occurred_at")), **data}
            items.append(_item(record, {k: v for k, v in data.items()
                                        if k not in _INTERNAL and k not in ("decision_trail", "documents")}))
        elif name == "MinorComplaintClosedAtIntake":
            closed = {"at": jsonable(record.get("occurred_at")), "outcome": "closed_at_intake"}
            items.append(_item(record, {"resolved_on_the_spot": data.get("resolved_on_the_spot"),
                                        "customer_satisfied": data.get("customer_satisfied")}))
        else:
            if name == "ComplaintClosed":
                closed = {"at": jsonable(record.get("occurred_at")), "outcome": data.get("outcome")}
            elif name == "ComplaintWithdrawn":
                closed = {"at": jsonable(record.get("occurred_at")), "outcome": "withdrawn"}
            items.append(_item(record))
    return {
        "events": items,
        "outcome": (closed or {}).get("outcome"),
        "closed_at": (closed or {}).get("at"),
        "archived_at": (archived or {}).get("at"),
        "archived_by": (archived or {}).get("archived_by"),
        "archive_ref": (archived or {}).get("archive_ref"),
        "category": (archived or {}).get("category"),
        "decision_trail": (archived or {}).get("decision_trail") or [],
        "documents": (archived or {}).get("documents") or [],
    }


def _history(record: Mapping[str, Any]) -> dict[str, Any]:
    by, role = _actor(record)
    return {"at": jsonable(record.get("occurred_at")), "service": record.get("service"),
            "event": event_name(record), "stored_as": record.get("event_type"),
            "published": record.get("published_as") is not None, "by": by, "role": role,
            "notification_id": record.get("notification_id"), "event_id": jsonable(record.get("event_id")),
            "aggregate": record.get("aggregate"), "aggregate_id": jsonable(record.get("aggregate_id")),
            "version": record.get("version")}


def build_dossier(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The archive dossier of one complaint from its merged history (in causal order): JSON-ready
    data, the sections in the order of §5.8 (`SECTIONS`). The events are not changed."""
    events = [copy.deepcopy(dict(e)) for e in events]
    lists: dict[str, list[dict[str, Any]]] = {s: [] for s in (
        "registration", "routing", "memos", "approvals", "determination", "quality", "corrective_actions",
        "customer_reply", "remedy", "follow_up", "disputes")}
    plain: list[tuple[frozenset[str], str]] = [
        (_ROUTING, "routing"), (_MEMOS, "memos"), (_DETERMINATION, "determination"), (_QUALITY, "quality"),
        (_CORRECTIVE, "corrective_actions"), (_CUSTOMER_REPLY, "customer_reply"), (_REMEDY, "remedy"),
        (_FOLLOW_UP, "follow_up"), (_DISPUTES, "disputes"),
    ]
    form_so_far: dict[str, Any] = {}
    for record in events:
        name = event_name(record)
        if name in _REGISTRATION:
            lists["registration"].append(_registration_item(record, form_so_far))
        for names, section in plain:
            if name in names:
                lists[section].append(_item(record))
        if name in _APPROVALS:
            lists["approvals"].append(_approval(record))
    dossier: dict[str, Any] = {
        "complaint": _complaint(events),
        "registration": lists["registration"],
        "routing": lists["routing"],
        "memos": lists["memos"],
        "approvals": lists["approvals"],
        "determination": lists["determination"],
        "evidence": _evidence(events),
        "quality": lists["quality"],
        "corrective_actions": lists["corrective_actions"],
        "ledger": _ledger(events),
        "customer_reply": lists["customer_reply"],
        "remedy": lists["remedy"],
        "notifications": _notifications(events),
        "follow_up": lists["follow_up"],
        "disputes": lists["disputes"],
        "closure": _closure(events),
        "history": [_history(e) for e in events],
    }
    assert tuple(dossier) == SECTIONS
    return dossier


# --- writing ---------------------------------------------------------------------------------------


def dumps(dossier: Mapping[str, Any]) -> str:
    """The dossier as JSON text (UTF-8, Chinese as is, sections in their order)."""
    return json.dumps(jsonable(dossier), ensure_ascii=False, indent=2) + "\n"


def write_json(dossier: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the dossier as JSON to `path` (a temporary name first, renamed into place)."""
    text = dumps(dossier)

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    return write_atomically(path, write)


# --- rendering -------------------------------------------------------------------------------------

_ISO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


def _when(value: Any) -> str:
    """An ISO time as `YYYY-MM-DD HH:MM` with its offset (UTC when zero)."""
    if not isinstance(value, str):
        return "—" if value is None else str(value)
    match = _ISO_TIME.match(value)
    if not match:
        return value
    day, minute, offset = match.groups()
    zone = "" if offset is None else " UTC" if offset in ("Z", "+00:00", "-00:00") else f" {offset}"
    return f"{day} {minute}{zone}"


_IDENTIFIER = re.compile(r"^[a-z]+(?:_[a-z]+)+$")
_CAMEL = re.compile(r"([a-z0-9])(?=[A-Z])")


def _words(name: str, capital: bool = True) -> str:
    """`read_back_confirmed` as `Read back confirmed` (a name no label dict has)."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if capital else text


class _Labels:
    """The labels of one language: section titles, columns, fields, values, events."""

    def __init__(self, language: str) -> None:
        if language not in LABELS:
            raise ValueError(f"language must be one of {', '.join(sorted(LABELS))}, not {language!r}")
        self.language = language
        self.table = LABELS[language]

    def __getitem__(self, key: str) -> str:
        return self.table["text"][key]

    def section(self, name: str) -> str:
        return self.table["sections"][name]

    def field(self, name: str) -> str:
        return self.table["fields"].get(name) or LABELS["en"]["fields"].get(name) or _words(name)

    def value(self, value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, bool):
            return self["yes"] if value else self["no"]
        if isinstance(value, str):
            if _ISO_TIME.match(value):
                return _when(value)
            if value in self.table["values"]:
                return self.table["values"][value]
            return _words(value, capital=False) if _IDENTIFIER.match(value) else value
        return str(value)

    def event(self, name: str | None) -> str:
        if not name:
            return "—"
        return self.table["events"].get(name) or _words(_CAMEL.sub(r"\1_", name).lower())

    def fmt(self, value: Any) -> str:
        """A value as one line of text: lists joined, objects as `label: value` pairs."""
        if isinstance(value, Mapping):
            return "; ".join(f"{self.field(k)}: {self.fmt(v)}" for k, v in value.items()
                             if v not in (None, [], {}, ""))
        if isinstance(value, list):
            return ", ".join(self.fmt(v) for v in value) if value else "—"
        return self.value(value)

    def pairs(self, details: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The fields of an item worth showing, as (label, text)."""
        return [(self.field(k), self.fmt(v)) for k, v in details.items() if v not in (None, [], {}, "")]


def _css_string(value: Any) -> Markup:
    """`value` as a quoted CSS string (for `content:` in the page margins): quotes, backslashes and
    `<` escaped as CSS escapes, line breaks dropped, so it can neither end the string nor the style."""
    text = "" if value is None else str(value)
    out = []
    for ch in text:
        if ch in "\\\"'<>&" or ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\{ord(ch):x} " if ord(ch) >= 0x20 and ch != "\x7f" else " ")
        else:
            out.append(ch)
    return Markup('"' + "".join(out) + '"')


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["css_string"] = _css_string
    env.filters["when"] = _when
    return env


def render_html(dossier: Mapping[str, Any], language: str = "zh") -> str:
    """The HTML the PDF is rendered from (Jinja2, every value escaped)."""
    labels = _Labels(language)
    template = _environment().get_template(TEMPLATE)
    return template.render(d=jsonable(dossier), t=labels, sections=SECTIONS, lang=language,
                           html_lang="zh-CN" if language == "zh" else "en")


def write_pdf(dossier: Mapping[str, Any], path: str | os.PathLike[str], language: str = "zh") -> Path:
    """Render the dossier to an A4 PDF with WeasyPrint (a temporary name first, renamed into place)."""
    from weasyprint import HTML  # imported here: loading it (Pango, fonts) takes a moment

    html = render_html(dossier, language)

    def write(tmp: str) -> None:
        HTML(string=html, base_url=str(TEMPLATES)).write_pdf(tmp)

    return write_atomically(path, write)


# --- labels, one dict per language -----------------------------------------------------------------

LABELS: dict[str, dict[str, dict[str, str]]] = {
    "zh": {
        "text": {
            "title": "投诉档案", "subtitle": "Complaint dossier", "form_number": "投诉单号",
            "complaint_id": "投诉编号", "page": "第", "page_of": "页，共", "page_end": "页",
            "yes": "是", "no": "否", "none": "无", "empty": "（无记录）", "time": "时间", "event": "事项",
            "by": "经办人", "role": "角色", "details": "内容", "service": "服务", "events": "事件数",
            "field": "项目", "value": "内容", "of": "审批对象", "action": "动作", "approver": "审批人",
            "approver_role": "审批人角色", "level": "层级", "text": "意见 / 答复", "sha256": "SHA-256",
            "kind": "类型", "named_in": "出处", "entries": "账目明细", "totals": "按付款方合计",
            "payer": "付款方", "amount": "金额（元）", "item": "费用项目", "key": "明细", "basis": "计算依据",
            "reverses": "冲销", "ledger_total": "账目合计", "customer_owes": "客户应付",
            "customer_charges": "客户应付明细", "bookings": "入账记录", "costs": "费用与补偿",
            "recipient": "接收人", "subject": "主题", "targets": "发送渠道", "mandatory": "必须确认",
            "delivered": "已送达", "acknowledged": "已确认收到", "decision_trail": "决策轨迹",
            "documents": "归档文件", "step": "步骤", "summary": "摘要", "closure_events": "结案与归档",
            "user": "用户", "customer": "客户", "received_at": "受理时间", "branch": "营业所",
            "closed_at": "结案时间", "archived_at": "归档时间", "outcome": "结果", "archive_ref": "档案号",
            "generated_from": "依据事件",
        },
        "sections": {
            "complaint": "一、投诉登记表", "registration": "二、登记与更正", "routing": "三、分类与分派",
            "memos": "四、内联单", "approvals": "五、审批", "determination": "六、现场判定",
            "evidence": "七、证据", "quality": "八、品质处理", "corrective_actions": "九、纠正措施",
            "ledger": "十、费用台账", "customer_reply": "十一、答复客户", "remedy": "十二、补救落实",
            "notifications": "十三、通知", "follow_up": "十四、满意度回访", "disputes": "十五、异议",
            "closure": "十六、结案与归档", "history": "十七、完整记录",
        },
        "fields": {
            "form_number": "投诉单号", "complaint_id": "投诉编号", "branch": "营业所", "received_at": "受理时间",
            "revision": "版次", "customer": "客户", "name": "名称", "contact_person": "联系人", "phone": "电话",
            "address": "地址", "email": "电子邮件", "language": "语言", "subject": "投诉类别",
            "severity": "严重程度", "channel": "渠道", "kind": "类型", "complained_about": "投诉对象",
            "description": "描述", "demand": "客户要求", "product": "产品", "model": "型号",
            "batch_number": "批号", "order_date": "订货日期", "shipping_date": "发货日期",
            "arrival_date": "到货日期", "quantity": "数量", "order_number": "订单号", "external_body": "外部机构",
            "serious_reasons": "重大原因", "claim_amount": "索赔金额", "resolved_on_the_spot": "当场解决方式",
            "read_back_confirmed": "已复述确认", "read_back_not_possible": "无法复述原因",
            "changed_fields": "更正项目", "reason": "原因", "changes": "更正内容", "record_revision": "记录版次",
            "read_back_by": "复述人", "confirmed_by": "确认人", "attempts": "次数", "explanation": "说明",
            "recorded_by": "记录人", "track": "处理路径", "crosses_departments": "跨部门", "rationale": "理由",
            "region": "区域", "destination": "去向", "respond_by": "答复期限", "handler": "处理人",
            "handler_role": "处理人角色", "assigned_by": "指定人", "triaged_by": "初判人",
            "answered_directly": "直接答复", "regional_manager": "区域经理", "note": "备注", "cause": "原因",
            "cause_category": "原因类别", "valid": "有效投诉", "responsible_person": "责任人",
            "proposed_solution": "建议方案", "compensation": "补偿", "company_cost": "公司费用",
            "memo_id": "内联单号", "filed_by": "填写人", "filed_by_role": "填写人角色", "addressed_to": "呈送",
            "requested_reply_by": "要求回复时间", "urgency": "紧急程度", "attachments": "附件",
            "returned_by": "退回人", "returned_to": "退回给", "missing": "缺少", "dispatched_by": "分发人",
            "department": "部门", "memo_received_at": "收到内联单时间", "reply": "答复", "signed_by": "签字",
            "proposed_remedy": "建议补救", "staff_member": "被投诉人", "supervisor": "上级主管",
            "substantiated": "属实", "findings": "调查结果", "opinion": "处理意见",
            "exceeds_supervisor_authority": "超出主管权限", "direct_superior": "直接上级", "chain": "审批链",
            "next_level": "下一层级", "proposed_reply": "拟答复", "remedy": "补救", "final": "最终审批",
            "authority_version": "权限表版本", "authority_level": "权限层级", "to_level": "上报至",
            "returned_to_role": "退回角色", "stage": "审批阶段", "comments": "意见",
            "product_return": "退回产品", "authority_matrix_version": "权限表版本",
            "determination": "判定", "misuse_resolution": "使用不当处理方式", "photo_refs": "照片",
            "memo": "判定说明", "customer_agrees": "客户同意", "within_warranty": "保修期内",
            "inspector": "判定人", "visited_at": "到场时间", "samples_taken": "取样", "customer_opinion": "客户意见",
            "written_feedback": "书面反馈", "parts_used": "配件", "part_no": "配件号", "salesperson": "业务员",
            "evidence": "证据", "previous_determination": "原判定", "corrected_by": "更正人",
            "visitor": "访问人", "visit_at": "访问时间", "agreed_with_customer": "与客户约定",
            "evidence_id": "证据编号", "collected_by": "收集人", "items": "项目", "ref": "引用",
            "defect_form_id": "处理书编号", "defect_description": "不良描述", "return_proposed": "建议退回",
            "estimated_company_cost": "预计公司费用", "forwarded_by": "转交人", "return_id": "退货编号",
            "requested_by": "申请人", "pickup_address": "取货地址", "carrier": "承运人",
            "expected_by": "预计到达", "replacement_promised": "承诺更换", "waybill": "运单号",
            "shipped_at": "发运时间", "shipped_by": "发运人", "received_by": "接收人", "condition": "状况",
            "adjudication_id": "判定编号", "root_cause": "根本原因", "production": "生产追溯",
            "production_date": "生产日期", "line_or_unit": "生产线", "shift": "班次",
            "responsible_party": "责任方", "proposed_handling": "建议处理", "labour_hours": "工时",
            "salesperson_negligent": "业务员失职", "negligence_degree": "失职程度",
            "negligence_finding": "失职认定", "inspection_records": "检验记录", "adjudicated_by": "判定人",
            "on_site_determination": "现场判定", "decision": "处理决定", "approver": "审批人",
            "approver_role": "审批人角色", "matches_service_commitment": "符合服务承诺",
            "matches_procedure": "符合程序", "remedy_kind": "补救方式", "delivered_by": "落实人",
            "delivered_at": "落实时间", "reference": "凭证", "action_id": "措施编号", "source": "来源",
            "owner": "负责人", "raised_by": "提出人", "round": "轮次", "proposed_by": "拟定人",
            "actions": "措施", "preventive": "预防措施", "responsible_department": "责任部门",
            "due_at": "期限", "due_in_working_days": "工作日", "outstanding": "待审批",
            "fully_approved": "全部批准", "implemented_by": "实施人", "summary": "摘要", "on_time": "按期",
            "verified_by": "验证人", "effective": "有效", "closed": "已关闭", "replied_by": "答复人",
            "approved_by": "批准人", "remedy_pending": "补救待落实", "question": "问题", "answer": "答复",
            "answered_by": "答复人", "answered_at": "答复时间", "reply_by": "答复期限", "adopted": "采纳",
            "contacted_by": "回访人", "attempt": "次数", "max_attempts": "最多次数",
            "reached_customer": "联系到客户", "satisfaction": "满意度", "reopen_offered": "提出重新处理",
            "dispute_id": "异议编号", "dispute_kind": "异议类型", "forum": "裁决机构", "authority_name": "机构名称",
            "disputed_decision": "异议决定", "grounds": "理由", "reopened": "重新打开", "ruled_by": "裁决人",
            "outcome": "结果", "ruling": "裁决", "call_recording_ref": "通话录音",
            "company_position": "公司立场", "customer_accepted_position": "客户接受",
            "arbitration_proposed_to": "建议仲裁机构", "resolution_summary": "处理摘要",
            "follow_up_due_at": "回访期限", "archived_by": "归档人", "category": "类别", "archive_ref": "档案号",
            "customer_satisfied": "客户满意", "state_at_withdrawal": "撤回时状态",
            "decision_kind": "入账依据", "decision_event_id": "依据事件", "rule_id": "规则", "rules_version": "规则版本",
            "price_list_version": "价目表版本", "ledger_total": "账目合计", "by_payer": "按付款方",
            "payer": "付款方", "amount": "金额", "amount_owed": "应付金额", "lines": "明细", "rule": "规则",
            "unpriced": "未定价", "cost_id": "费用编号", "item": "项目", "incurred_on": "发生日期",
            "source_document": "单据号", "penalty_id": "扣罚编号", "degree": "程度",
            "transit_transport_cost": "运费", "penalty_percent": "扣罚比例", "compensation_id": "补偿编号",
            "currency": "币种", "notice_id": "通知编号", "recipient": "接收人", "recipient_role": "接收人角色",
            "about_event_type": "关于", "mandatory": "必须确认", "via": "方式", "late": "逾期",
            "acknowledged_by": "确认人", "reasons": "原因", "departments": "部门", "notified_roles": "通知角色",
            "held_at": "召开时间", "chaired_by": "主持人", "attendees": "出席人", "decisions": "决定",
            "negotiator": "谈判人", "negotiator_role": "谈判人角色", "named_by": "指定人", "linked_to": "关联投诉",
            "linked_form_number": "关联单号", "basis": "依据", "window_days": "天数", "rejected_by": "驳回人",
            "rejected_by_role": "驳回人角色", "escalated_by": "上报人", "from_level": "原层级",
            "unit": "单位", "report_id": "报告编号", "issued_by": "发出人", "requested_response": "要求答复",
            "response": "答复", "superseded_by": "替代人", "reopened_by": "重开人", "role": "角色", "at": "时间",
            "step": "步骤", "by": "经办人", "entry_id": "账目编号", "key": "明细",
        },
        "values": {
            "branch_clerk": "营业所文员", "regional_manager": "区域经理", "salesperson": "销售员",
            "hq_clerk": "营业总部文员", "responsible_department": "责任部门", "supervisor": "上级主管",
            "marketing_director": "营销总监", "hq_regional_manager": "总部区域经理",
            "quality_department": "品管部", "general_manager": "总经理", "management_representative": "管理者代表",
            "customer": "客户", "system": "系统",
            "policy_service": "经营政策与服务", "staff": "业务人员", "product_quality": "产品质量",
            "transport_packaging": "运输包装", "other": "其他",
            "minor": "轻微", "general": "一般", "serious": "重大",
            "complaint": "投诉", "suggestion": "建议", "inquiry": "咨询",
            "phone": "电话", "fax": "传真", "letter": "信函", "in_person": "亲临营业所",
            "suggestion_box": "意见箱", "direct_to_hq": "直接向总部", "external_body": "外部机构",
            "obvious_quality_defect": "明显质量问题", "obvious_misuse": "明显使用不当",
            "cannot_be_determined": "无法判定",
            "fixed_on_site": "现场解决", "complex_needs_parts": "复杂需配件", "simple_part_swap": "简单换件",
            "company": "公司", "to_be_decided": "待定",
            "replacement": "更换", "return_transport": "退回运费", "delivery_transport": "发货运费",
            "repair_labour": "维修工时", "parts": "配件", "on_site_service": "现场服务",
            "salesperson_penalty": "业务员扣罚", "compensation": "补偿",
            "reply": "答复", "defective_product_form": "不良品投诉处理书", "quality_decision": "品质处理决定",
            "corrective_action": "纠正措施",
            "requested": "提请", "approved": "批准", "rejected": "驳回", "escalated": "上报",
            "regional": "区域", "headquarters": "总部", "staff_supervisor": "上级主管", "quality": "品质",
            "hq_direct_answer": "总部直接答复", "senior_management": "高层管理",
            "hq_regional": "总部区域", "intake": "登记", "routing": "分派", "billing": "费用", "notify": "通知",
            "resolved": "已解决", "resolved_after_dispute": "异议后解决", "answered_directly": "直接答复",
            "withdrawn": "已撤回", "unfounded": "不成立", "closed_at_intake": "当场结案",
            "very_satisfied": "非常满意", "satisfied": "满意", "neutral": "一般", "dissatisfied": "不满意",
            "very_dissatisfied": "非常不满意", "not_satisfied": "不满意", "not_reached": "未联系上",
            "unreachable": "无法联系",
            "replacement_shipped": "已发货更换", "repair_done": "已维修", "part_swapped": "已换件",
            "quality_defect_exchange": "质量问题换货", "adjudication": "品管判定",
            "on_site_determination": "现场判定", "on_site_correction": "现场判定更正",
            "quality_adjudication": "品管判定", "dispute_ruling": "异议裁决", "cost_incurred": "实际费用",
            "compensation_approved": "补偿批准",
            "email": "电子邮件", "inbox": "站内信", "webhook": "Webhook", "phone_task": "电话通知任务",
            "photo": "照片", "scan": "扫描件", "normal": "普通", "urgent": "紧急", "very_urgent": "非常紧急",
            "low": "低", "medium": "中", "high": "高", "people": "人员", "product": "产品", "policy": "政策",
            "transport": "运输", "misunderstanding": "误解",
        },
        "events": {
            "ComplaintRegistered": "投诉已登记", "Taken": "记录已接收（待复述确认）", "Registered": "投诉已登记",
            "Corrected": "登记已更正", "RegistrationCorrected": "登记已更正", "ReadBackConfirmed": "复述已确认",
            "ReadBackNotPossible": "无法复述确认", "MinorComplaintClosedAtIntake": "轻微投诉当场结案",
            "ComplaintWithdrawn": "投诉已撤回", "SuggestionReplyPromised": "已承诺答复建议",
            "SuggestionAnswered": "建议已答复", "InquiryAnswered": "咨询已答复",
            "ComplaintClassified": "投诉已分类", "ComplaintRouted": "投诉已分派", "HandlerAssigned": "已指定处理人",
            "QualityCaseTriaged": "质量投诉已初判", "CauseAndSolutionProposed": "已提出原因与方案",
            "SeriousComplaintEscalated": "重大投诉已上报", "UrgentMeetingHeld": "已召开紧急会议",
            "NegotiatorNamed": "已指定谈判人", "RepeatComplaintLinked": "已关联重复投诉",
            "RepeatLinkConfirmed": "重复投诉关联已确认", "RepeatLinkRejected": "重复投诉关联已否定",
            "InternalMemoFiled": "内联单已填写", "InternalMemoReturned": "内联单已退回",
            "InternalMemoDispatched": "内联单已分发", "DepartmentReplyReceived": "责任部门已回复",
            "StaffComplaintInvestigated": "员工投诉已调查", "ApprovalRequested": "已提请审批",
            "ReplyApproved": "答复已批准", "ReplyRejected": "答复被驳回", "ApprovalEscalated": "审批已上报",
            "CustomerReplied": "已答复客户", "RemedyDelivered": "补救已落实",
            "SatisfactionFollowUpRecorded": "满意度回访", "DisputeRaised": "客户提出异议",
            "DisputeRuled": "异议已裁决", "UnreasonableDemandRecorded": "不合理要求已备案",
            "ComplaintClosed": "投诉已结案", "ComplaintArchived": "投诉已归档", "ActionsAwaited": "待办事项",
            "ProgressMilestoneReached": "进度节点", "DeadlineSet": "期限已设定", "DeadlineMet": "期限已满足",
            "DeadlineMissed": "期限已逾期", "DeadlineCancelled": "期限已取消", "DeadlinePaused": "期限已暂停",
            "DeadlineResumed": "期限已恢复", "DeadlineReplanned": "期限已重排",
            "OverdueHandlingEscalated": "逾期处理已上报",
            "QualityInvestigationOpened": "品质调查已立案", "OnSiteVisitArranged": "现场访问已安排",
            "OnSiteDeterminationRecorded": "现场判定已记录", "OnSiteDeterminationCorrected": "现场判定已更正",
            "DeterminationRuled": "判定经裁决变更", "EvidenceAdded": "证据已补充",
            "DefectiveProductFormFiled": "不良品投诉处理书已填写",
            "DefectiveProductFormApproved": "不良品投诉处理书已批准",
            "DefectiveProductFormRejected": "不良品投诉处理书已退回",
            "DefectiveProductFormForwarded": "不良品投诉处理书已转品管部",
            "ProductReturnRequested": "已要求退回产品", "ProductReturnShipped": "退回产品已发运",
            "ProductReceived": "退回产品已收到", "QualityAdjudicationRecorded": "品管部判定已记录",
            "QualityDecisionApproved": "处理决定已复核批准", "QualityDecisionRejected": "处理决定被驳回",
            "QualityRemedyDelivered": "品质补救已落实", "CorrectiveActionRaised": "纠正措施已提出",
            "CorrectiveActionProposed": "纠正措施已拟定", "CorrectiveActionApproved": "纠正措施已批准",
            "CorrectiveActionImplemented": "纠正措施已实施", "CorrectiveActionVerified": "纠正措施已验证",
            "CorrectiveActionReopened": "纠正措施已重开", "CorrectiveActionSuperseded": "纠正措施已被替代",
            "ExceptionReportIssued": "异常处理单已发出", "ExceptionReportAnswered": "异常处理单已答复",
            "CostAllocated": "费用已分摊", "CostAllocationRevised": "费用分摊已修订", "CostRecorded": "费用已记录",
            "SalespersonPenaltyCharged": "业务员已扣罚", "CompensationProposed": "已提出补偿",
            "CompensationApproved": "补偿已批准", "CostEntriesBooked": "费用已入账",
            "CustomerChargesStated": "客户应付已说明", "NotificationRecorded": "通知已登记",
            "NotificationDelivered": "通知已送达", "NotificationDeliveryFailed": "通知发送失败",
            "ReceiptAcknowledged": "已确认收到", "NotificationAcknowledgementOverdue": "确认已逾期",
        },
    },
    "en": {
        "text": {
            "title": "Complaint dossier", "subtitle": "投诉档案", "form_number": "Form number",
            "complaint_id": "Complaint id", "page": "Page", "page_of": "of", "page_end": "",
            "yes": "yes", "no": "no", "none": "none", "empty": "(nothing recorded)", "time": "Time",
            "event": "Event", "by": "By", "role": "Role", "details": "Details", "service": "Service",
            "events": "Events", "field": "Field", "value": "Value", "of": "Approval of", "action": "Action",
            "approver": "Approver", "approver_role": "Approver's role", "level": "Level", "text": "Text",
            "sha256": "SHA-256", "kind": "Kind", "named_in": "Named in", "entries": "Entries",
            "totals": "Totals by payer", "payer": "Payer", "amount": "Amount (CNY)", "item": "Item", "key": "Line",
            "basis": "Basis", "reverses": "Reverses", "ledger_total": "Ledger total",
            "customer_owes": "The customer owes", "customer_charges": "Customer's charges",
            "bookings": "Bookings", "costs": "Costs and payments", "recipient": "Recipient", "subject": "Subject",
            "targets": "Targets", "mandatory": "Mandatory", "delivered": "Delivered",
            "acknowledged": "Acknowledged", "decision_trail": "Decision trail", "documents": "Documents archived",
            "step": "Step", "summary": "Summary", "closure_events": "Closure and archiving", "user": "User",
            "customer": "Customer", "received_at": "Received", "branch": "Branch", "closed_at": "Closed",
            "archived_at": "Archived", "outcome": "Outcome", "archive_ref": "Archive reference",
            "generated_from": "Events",
        },
        "sections": {
            "complaint": "1. Registration form", "registration": "2. Registration and corrections",
            "routing": "3. Classification and routing", "memos": "4. Internal memos", "approvals": "5. Approvals",
            "determination": "6. On-site determination", "evidence": "7. Evidence", "quality": "8. Quality handling",
            "corrective_actions": "9. Corrective actions", "ledger": "10. Cost ledger",
            "customer_reply": "11. Reply to the customer", "remedy": "12. Remedy delivered",
            "notifications": "13. Notifications", "follow_up": "14. Satisfaction follow-up",
            "disputes": "15. Disputes", "closure": "16. Closure and archiving", "history": "17. Full history",
        },
        "fields": {
            "form_number": "Form number", "complaint_id": "Complaint id", "received_at": "Received",
            "read_back_confirmed": "Read back and confirmed", "claim_amount": "Amount claimed", "sha256": "SHA-256",
            "memo_id": "Memo id", "defect_form_id": "Defective-product form id",
        },
        "values": {},
        "events": {},
    },
}
