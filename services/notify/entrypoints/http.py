"""Notify's HTTP edge: each user's inbox (notices and the clerk's phone tasks: unread count, mark
read, acknowledge), who was told what about a complaint and whether it arrived, and the receipt
links of the e-mails (a page without a token: the signed link is the proof; GET only shows it,
POST acknowledges, so a mail scanner following links acknowledges nothing)."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from contracts.envelope import branch_of
from services.common.access import authorize
from services.common.auth import CurrentPrincipal
from services.common.domain import NotFound
from services.common.http import error_responses, runtime_of
from services.notify.domain.notices import ComplaintNotices
from services.notify.domain.notification import Notification

router = APIRouter()
public = APIRouter()
#: Any text: whatever is not a valid signed link is answered with the same HTML page (404).
TOKEN = Path(description="The signed receipt link's token")


class InboxItem(BaseModel):
    notice_id: UUID
    complaint_id: UUID
    form_number: str
    kind: str = Field(description="notice, or phone_task: tell the customer this by telephone")
    subject: str
    body: str
    sent_at: datetime
    read: bool
    mandatory: bool
    acknowledge_by: datetime | None
    acknowledged: bool
    overdue: bool


class Inbox(BaseModel):
    user_id: str
    unread: int
    items: list[InboxItem]


class Marked(BaseModel):
    notice_id: UUID
    changed: bool = Field(description="False: it was already so (a repeat changes nothing)")


class Acknowledged(Marked):
    late: bool = Field(description="Acknowledged after its time (it was escalated)")


class TargetView(BaseModel):
    channel: str
    address: str
    status: str = Field(description="queued, sending, delivered, failed (to be retried) or given_up")
    attempts: int
    reason: str | None


class NotificationView(BaseModel):
    notice_id: UUID
    rule: str
    recipient: str
    recipient_user_id: str | None
    recipient_role: str | None
    subject: str
    body: str
    about_event_type: str
    mandatory: bool
    urgent: bool
    send_at: datetime
    acknowledge_by: datetime | None
    acknowledged: dict[str, Any] | None
    overdue: bool
    targets: list[TargetView]


class ComplaintNotifications(BaseModel):
    complaint_id: UUID
    notifications: list[NotificationView]


def _item(n: Notification, user_id: str) -> InboxItem:
    phone = any(t.channel == "phone_task" and t.address == user_id for t in n.targets.values())
    return InboxItem(notice_id=n.notice_id, complaint_id=n.meta.complaint_id, form_number=n.meta.form_number,
                     kind="phone_task" if phone else "notice", subject=n.subject, body=n.body, sent_at=n.send_at,
                     read=user_id in n.read_by, mandatory=n.mandatory, acknowledge_by=n.acknowledge_by,
                     acknowledged=n.acknowledged is not None, overdue=n.overdue)


async def _change(request: Request, notice_id: UUID, change: Callable[[Notification], Any]) -> Any:
    """Run a change on a notification as stored now, save it, and let delivery see it."""
    app = runtime_of(request).app

    def work() -> Any:
        for _ in range(5):
            try:
                n = app.repository.get(notice_id)
            except AggregateNotFoundError:
                n = None
            if not isinstance(n, Notification):
                raise NotFound(f"no notification {notice_id}", field="notice_id")
            result = change(n)
            try:
                app.save(n)
                return result
            except IntegrityError:
                continue  # delivery saved it meanwhile: take the new version and do it again
        raise IntegrityError(f"notification {notice_id} is changing too often; try again")
    result = await asyncio.to_thread(work)
    await app.dispatcher.follow()
    return result


@router.get("/inbox", response_model=Inbox, responses=error_responses(422))
async def inbox(request: Request, principal: CurrentPrincipal) -> Inbox:
    """The caller's notices and phone tasks, newest first, with the unread count."""
    authorize(principal, "notify.inbox.read")
    dispatcher = runtime_of(request).app.dispatcher
    items = [_item(n, principal.user_id) for n in dispatcher.inbox(principal.user_id)]
    return Inbox(user_id=principal.user_id, unread=sum(not i.read for i in items), items=items)


@router.post("/inbox/{notice_id}/read", response_model=Marked, responses=error_responses(404, 422))
async def mark_read(notice_id: UUID, request: Request, principal: CurrentPrincipal) -> Marked:
    """Mark one of the caller's notices read (a repeat changes nothing); 404 for one not in the caller's inbox."""
    authorize(principal, "notify.inbox.read")
    now = runtime_of(request).app.dispatcher.clock()
    changed = await _change(request, notice_id, lambda n: n.mark_read(principal.user_id, now))
    return Marked(notice_id=notice_id, changed=changed)


@router.post("/inbox/{notice_id}/acknowledgement", response_model=Acknowledged, responses=error_responses(404, 422))
async def acknowledge(notice_id: UUID, request: Request, principal: CurrentPrincipal) -> Acknowledged:
    """Acknowledge one of the caller's notices (for a phone task: the customer was told)."""
    authorize(principal, "notify.inbox.read")
    now = runtime_of(request).app.dispatcher.clock()

    def ack(n: Notification) -> tuple[bool, bool]:
        if not n.visible_to(principal.user_id):
            raise NotFound(f"no notification {notice_id} in the inbox of {principal.user_id}", field="notice_id")
        return n.acknowledge(principal.user_id, "inbox", now), bool(n.acknowledged and n.acknowledged["late"])
    changed, late = await _change(request, notice_id, ack)
    return Acknowledged(notice_id=notice_id, changed=changed, late=late)


@router.get("/complaints/{complaint_id}/notifications", response_model=ComplaintNotifications,
            responses=error_responses(404, 422))
async def notifications(complaint_id: UUID, request: Request, principal: CurrentPrincipal) -> ComplaintNotifications:
    """Who was told what about the complaint, through which channel, and whether it arrived (scoped to
    the caller: a complaint outside it, or a staff complaint read by the person it is about, is a 404)."""
    authorize(principal, "notify.notification.read")
    app = runtime_of(request).app
    missing = f"notify has no notifications of complaint {complaint_id}"
    found = app.dispatcher.of_complaint(complaint_id)
    if not found:
        raise NotFound(missing)
    authorize(principal, "notify.notification.read", branch_of(found[0].meta.form_number), not_found=missing)

    def about() -> str | None:
        try:
            notices = app.repository.get(complaint_id)
        except AggregateNotFoundError:
            return None
        registration = getattr(notices, "registration", None) if isinstance(notices, ComplaintNotices) else None
        return registration.complained_about if registration else None
    if await asyncio.to_thread(about) == principal.user_id:
        raise NotFound(missing)
    return ComplaintNotifications(complaint_id=complaint_id,
                                  notifications=[NotificationView(**_view(n)) for n in found])


def _view(n: Notification) -> dict[str, Any]:
    summary = n.summary()
    return {k: v for k, v in summary.items() if k in NotificationView.model_fields}


# --- receipt links (no token: the link is signed) ----------------------------------------------

def _page(title: str, text: str, form: str = "", status: int = 200) -> HTMLResponse:
    return HTMLResponse(status_code=status, content=(
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title></head><body>'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{form}</body></html>"))


RECEIPT_RESPONSES = {200: {"content": {"text/html": {}}, "description": "The notice and the button to acknowledge it"},
                     404: {"content": {"text/html": {}}, "description": "Not a valid link, or no such notice"}}


def _read_link(request: Request, token: str) -> tuple[Any, UUID, str, Notification]:
    app = runtime_of(request).app
    if len(token) > 2000:
        raise NotFound("this receipt link is not valid", field="token")
    notice_id, user_id = app.dispatcher.channels.links.read(token)
    n = app.dispatcher.notices.get(notice_id)
    if n is None or n.recipient_user_id != user_id:
        raise NotFound("no such notice", field="token")
    return app, notice_id, user_id, n


@public.get("/receipts/{token}", response_class=HTMLResponse, responses=RECEIPT_RESPONSES)
async def receipt_page(request: Request, token: str = TOKEN) -> HTMLResponse:
    """The notice an e-mail's receipt link names, with a button to acknowledge it (GET changes nothing)."""
    try:
        _, _, _, n = _read_link(request, token)
    except NotFound as error:
        return _page("链接无效 / Link not valid", str(error), status=404)
    if n.acknowledged is not None:
        return _page(n.subject, "已确认收到。/ Acknowledged.")
    form = (f'<p>{html.escape(n.body)}</p><form method="post"><button type="submit">'
            "确认收到 / Acknowledge</button></form>")
    return _page(n.subject, f"投诉单号 / Complaint {n.meta.form_number}", form)


@public.post("/receipts/{token}", response_class=HTMLResponse, responses=RECEIPT_RESPONSES)
async def receipt_acknowledge(request: Request, token: str = TOKEN) -> HTMLResponse:
    """Acknowledge the notice the link names (a repeat changes nothing)."""
    try:
        app, notice_id, user_id, _ = _read_link(request, token)
        now = app.dispatcher.clock()
        await _change(request, notice_id, lambda n: n.acknowledge(user_id, "link", now))
    except NotFound as error:
        return _page("链接无效 / Link not valid", str(error), status=404)
    return _page("已确认收到 / Acknowledged", "谢谢。/ Thank you.")
