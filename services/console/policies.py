"""Which steps a user may take on a complaint now: the buttons of its page.

From the same rules the services enforce: the steps the complaint awaits (routing's
`ActionsAwaited`, quality's and corrective actions' next steps and notices to acknowledge, as HQ
holds them) that name this user's role and, when they name a person, this user; then the optional
steps whose state the complaint is in. A step shows only when the role has one of its actions in
services/common/access.yaml. The service checks everything again when the form is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.common.access import rules
from services.common.auth import Principal
from services.console.catalog import OPEN, Catalogue, FormSpec, resolve


@dataclass(frozen=True)
class Offer:
    """A step this user may take now: the form, what it is about (a corrective action or notice id,
    for steps whose endpoint names one), and whether the complaint waits for it (or it is optional)."""

    form: FormSpec
    target: str | None
    awaited: bool
    due_at: str | None = None
    deadline_kind: str | None = None
    detail: str | None = None

    @property
    def ref(self) -> str:
        """The step's address in the console: `<service>/<segment>` plus the target."""
        return self.form.key + (f"/{self.target}" if self.target else "")


def may_take(principal: Principal, form: FormSpec) -> bool:
    access = rules()
    return any(access.may(principal, action) for action in form.actions if action in access.actions)


def _mine(item: Mapping[str, Any], principal: Principal) -> bool:
    if item.get("role") not in (None, principal.role):
        return False
    assignee = item.get("assignee")
    if item.get("role") is None and assignee is None:
        return False
    return assignee is None or assignee.casefold() == principal.user_id.casefold()


def _target(source: str) -> str | None:
    return source.split(":", 1)[1] if ":" in source else None


def offers(principal: Principal, complaint: Mapping[str, Any], catalogue: Catalogue,
           context: Mapping[str, Any] | None = None) -> list[Offer]:
    """The steps `principal` may take on `complaint` (HQ's complaint row) now: awaited ones first, then
    those about pending items of `context` (the complaint's `ledger`, `investigation`), then optional ones."""
    out: list[Offer] = []
    seen: set[str] = set()
    subject = complaint.get("subject")
    for item in complaint.get("awaited_actions") or ():
        if not _mine(item, principal):
            continue
        source = str(item.get("source") or "routing")
        for form in catalogue.forms_for(str(item["step"]), source, subject):
            offer = Offer(form, _target(source) if form.needs_target else None, True, item.get("due_at"),
                          item.get("deadline_kind"), item.get("detail"))
            if offer.ref not in seen and may_take(principal, form):
                seen.add(offer.ref)
                out.append(offer)
    for pending in catalogue.pending:
        form = catalogue.forms[pending.form]
        if not may_take(principal, form) or not in_state(complaint, (OPEN,)):
            continue
        for item in resolve(pending.items, context or {}) or ():
            if not isinstance(item, Mapping) or item.get(pending.until) or not item.get(pending.id):
                continue
            detail = " · ".join(str(item[k]) for k in pending.detail if item.get(k) is not None) or None
            offer = Offer(form, str(item[pending.id]), False, detail=detail)
            if offer.ref not in seen:
                seen.add(offer.ref)
                out.append(offer)
    for optional in catalogue.optional:
        form = catalogue.forms[optional.form]
        if form.key in seen or not may_take(principal, form) or not in_state(complaint, optional.states):
            continue
        if optional.needs and not resolve(optional.needs, context or {}):
            continue  # the service has not opened what the step acts on yet (billing's ledger)
        seen.add(form.key)
        out.append(Offer(form, None, False))
    return out


def in_state(complaint: Mapping[str, Any], states: Iterable[str]) -> bool:
    """Whether the complaint is in one of `states`: a routing case state, `open` (any but closed,
    once routed), or `quality:<stage>`."""
    case_state = complaint.get("case_state") or complaint.get("stage")
    for state in states:
        if state.startswith("quality:"):
            if complaint.get("quality_stage") == state.split(":", 1)[1]:
                return True
        elif state == OPEN:
            if case_state and case_state != "closed" and not complaint.get("closed_at"):
                return True
        elif case_state == state:
            return True
    return False


def find_offer(principal: Principal, complaint: Mapping[str, Any], catalogue: Catalogue, key: str,
               target: str | None, context: Mapping[str, Any] | None = None) -> Offer | None:
    """The offer the user asked for by its address, if they may take it now."""
    for offer in offers(principal, complaint, catalogue, context):
        if offer.form.key == key and (offer.target or None) == (target or None):
            return offer
    return None
