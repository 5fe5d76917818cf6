"""Delivery: every recorded notification to each of its targets, retried, given up with an alert.

The dispatcher follows notify's own log (the same events the relay publishes) into memory: each
`Notification` as its events say, the ones with work left, and each user's inbox. At start it
reads the log from the beginning, so nothing is lost across a restart; the store stays the only
truth. Each round it

- records the outcomes of the sends that finished (delivered, or failed with the next try or given up),
- starts the targets that are due (their `send_at`, their retry time, or a lease that ran out
  because the process died mid-send), all in one transaction, then sends them, each channel with
  its own limit of sends in flight, so a dead SMTP relay holds up no webhook or inbox,
- escalates each mandatory notification not acknowledged by its time.

A send is started (recorded, with a lease) before it is tried and its outcome recorded after, so
a crash in between retries it once the lease runs out: for e-mail with the same Message-ID, for a
webhook with the same Idempotency-Key, so the receiver can tell a resend. Several notify processes
may run: a start saved by one makes the other's conflict, and the loser reloads and skips it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt
from pydantic import SecretStr

from contracts.notify import NotificationChannel
from services.common.domain import NotFound
from services.common.logs import log_context
from services.common.publishing import UnpublishableEvent
from services.notify.channels import DeliveryError, PermanentDeliveryError
from services.notify.channels.email import EmailNotice, SmtpSettings, build_message, send_email
from services.notify.channels.webhook import RetryPolicy, WebhookSettings, deliver_webhook
from services.notify.domain.decide import Decider
from services.notify.domain.notification import LOCAL_CHANNELS, Notification, RetrySchedule, Target

log = logging.getLogger("notify.delivery")
TOPIC_PREFIX = f"{Notification.__module__}:{Notification.__qualname__}."
READ_CHUNK = 1000
ROUND_MAX = 500  # targets started per round (one transaction)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


# --- receipt links ------------------------------------------------------------------------------

class ReceiptLinks:
    """Signed links in an e-mail by which its recipient acknowledges a mandatory notice."""

    def __init__(self, key: bytes, public_url: str, valid: timedelta) -> None:
        self.key = key
        self.public_url = public_url.rstrip("/")
        self.valid = valid

    @classmethod
    def key_from(cls, configured: str | None, data_dir: Path) -> bytes:
        if configured:
            return configured.encode()
        path = Path(data_dir) / "keys" / "notify-receipts.key"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # made before, or by another process starting at the same time
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text().strip().encode()

    def token(self, notice_id: UUID, user_id: str, now: datetime) -> str:
        return jwt.encode({"nid": str(notice_id), "sub": user_id, "exp": int((now + self.valid).timestamp())},
                          self.key, algorithm="HS256")

    def link(self, notice_id: UUID, user_id: str, now: datetime) -> str:
        return f"{self.public_url}/receipts/{self.token(notice_id, user_id, now)}"

    def read(self, token: str) -> tuple[UUID, str]:
        """(notice id, user id) of a valid link; NotFound for anything else (expired, forged, garbled)."""
        try:
            claims = jwt.decode(token, self.key, algorithms=["HS256"], options={"require": ["exp", "nid", "sub"]})
            return UUID(str(claims["nid"])), str(claims["sub"])
        except (jwt.PyJWTError, ValueError, TypeError):
            raise NotFound("this receipt link is not valid (expired, or not one notify made)",
                           field="token") from None


# --- channels -----------------------------------------------------------------------------------

@dataclass
class Channels:
    """How each channel sends one notification to one address; returns the provider's reference."""

    smtp: SmtpSettings | None
    mail_dir: Path
    webhook_secret: Callable[[str, str], str | None]  # (user id, url) -> the HMAC key
    webhook_timeout: float
    links: ReceiptLinks

    def email_notice(self, n: Notification, target: Target, now: datetime) -> EmailNotice:
        link = None
        if n.mandatory and n.recipient_user_id and n.acknowledged is None:
            link = self.links.link(n.notice_id, n.recipient_user_id, now)
        return EmailNotice(notification_id=str(n.notice_id), to=target.address, language=n.language,
                           context={"subject": n.subject, "body": n.body, "form_number": n.meta.form_number,
                                    "link": link})

    async def send(self, n: Notification, target: Target, now: datetime) -> str | None:
        if target.channel == NotificationChannel.EMAIL.value:
            notice = self.email_notice(n, target, now)
            if self.smtp is None:
                return await asyncio.to_thread(self._pickup, notice)
            return (await send_email(notice, self.smtp)).message_id
        if target.channel == NotificationChannel.WEBHOOK.value:
            secret = self.webhook_secret(n.recipient_user_id or "", target.address)
            if not secret:
                raise PermanentDeliveryError(f"no signing key for the webhook {target.address} "
                                             "(NOTIFY_WEBHOOK_SECRET_* named in the directory)")
            receipt = await deliver_webhook(str(n.notice_id), webhook_payload(n), WebhookSettings(
                target.address, SecretStr(secret), self.webhook_timeout), RetryPolicy(max_attempts=1))
            return f"HTTP {receipt.status}"
        raise DeliveryError(f"notify cannot send through {target.channel}")

    def _pickup(self, notice: EmailNotice) -> str:
        """No SMTP relay configured (the embedded default): the message as a .eml file, once per notice."""
        settings = SmtpSettings(host="", port=0, sender="Complaints <notify@complaints.invalid>")
        message = build_message(notice, settings)
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        address = hashlib.sha256(notice.to.encode()).hexdigest()[:8]  # the same in every process
        path = self.mail_dir / f"{notice.notification_id}-{address}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(message))
        os.replace(tmp, path)
        return str(message["Message-ID"])


def webhook_payload(n: Notification) -> dict[str, Any]:
    return {"notice_id": str(n.notice_id), "complaint_id": str(n.meta.complaint_id),
            "form_number": n.meta.form_number, "about_event_type": n.about_event_type, "rule": n.rule,
            "recipient": n.recipient, "recipient_user_id": n.recipient_user_id, "subject": n.subject,
            "body": n.body, "mandatory": n.mandatory, "urgent": n.urgent}


# --- the dispatcher -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    notice_id: UUID
    key: str
    attempt: int
    provider_ref: str | None = None
    error: str | None = None
    permanent: bool = False


class Dispatcher:
    def __init__(self, app: Any, decider: Decider, channels: Channels, schedule: RetrySchedule, lease: timedelta,
                 poll_seconds: float = 0.2, concurrency: int = 8, clock: Callable[[], datetime] = utc_now) -> None:
        self.app = app
        self.decider = decider
        self.channels = channels
        self.schedule = schedule
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.position = 0
        self.notices: dict[UUID, Notification] = {}
        self.pending: set[UUID] = set()
        self.inboxes: dict[str, set[UUID]] = defaultdict(set)
        self.by_complaint: dict[UUID, list[UUID]] = defaultdict(list)
        self.outcomes: list[Outcome] = []
        self.in_flight: set[tuple[UUID, str]] = set()
        self.limits = defaultdict(lambda: asyncio.Semaphore(concurrency))
        self.counts: Counter[str] = Counter()
        self.wake = asyncio.Event()
        self._following = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- following the log --

    def _read(self, start: int) -> list[Any]:
        found = []
        for n in self.app.recorder.select_notifications(start, READ_CHUNK):
            found.append((n.id, self.app.mapper.to_domain_event(n) if n.topic.startswith(TOPIC_PREFIX) else None))
        return found

    async def follow(self) -> None:
        """Apply every event notify stored since the last call (all of them at the first)."""
        async with self._following:
            while True:
                batch = await asyncio.to_thread(self._read, self.position + 1)
                for position, event in batch:
                    if event is not None:
                        self._apply(event)
                    self.position = position
                if len(batch) < READ_CHUNK:
                    return

    def _apply(self, event: Any) -> None:
        nid = event.originator_id
        n = self.notices.get(nid)
        if n is not None and event.originator_version <= n.version:
            return  # already applied here (our own save, or a reload)
        if n is None and not isinstance(event, Notification.Recorded):
            return
        n = event.mutate(n)
        self._index(n)

    def _index(self, n: Notification) -> None:
        if n.id not in self.notices:
            self.by_complaint[n.meta.complaint_id].append(n.id)
            for t in n.targets.values():
                if t.channel in LOCAL_CHANNELS:
                    self.inboxes[t.address].add(n.id)
        self.notices[n.id] = n
        if n.finished:
            self.pending.discard(n.id)
        else:
            self.pending.add(n.id)

    def _reload(self, ids: list[UUID]) -> None:
        for nid in ids:
            try:
                self._index(self.app.repository.get(nid))
            except Exception:  # noqa: BLE001 - not saved at all: the log will bring it
                self.notices.pop(nid, None)
                self.pending.discard(nid)

    def _save_each(self, aggregates: list[Notification]) -> None:
        for n in aggregates:
            try:
                self.app.save(n)
            except Exception as error:  # noqa: BLE001
                log.error("notification %s not saved: %s", n.id, error)
                self._reload([n.id])

    # -- rounds --

    async def run(self) -> None:
        await self.follow()
        log.info("delivery follows notify's log: %d notifications, %d with work left",
                 len(self.notices), len(self.pending))
        while True:
            await self.round()
            try:
                await asyncio.wait_for(self.wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass
            self.wake.clear()

    async def round(self) -> int:
        """One round; returns how many targets it started or finished."""
        await self.follow()
        now = self.clock()
        changed: dict[UUID, Notification] = {}
        new: list[Notification] = []
        given_up: list[tuple[Notification, str]] = []
        outcomes, self.outcomes = self.outcomes, []
        for o in outcomes:
            n = self.notices.get(o.notice_id)
            self.in_flight.discard((o.notice_id, o.key))
            if n is None:
                continue
            if o.error is None:
                n.delivered(o.key, o.attempt, o.provider_ref)
            elif n.failed(o.key, o.attempt, o.error, o.permanent, now, self.schedule):
                given_up.append((n, o.key))
            changed[n.id] = n
        starts: list[tuple[Notification, Target, int]] = []
        for nid in list(self.pending):
            if len(starts) >= ROUND_MAX:
                break
            n = self.notices[nid]
            for t in n.due(now):
                if (nid, t.key) in self.in_flight:
                    continue
                attempt = n.start_attempt(t.key, now, self.lease)
                if t.channel in LOCAL_CHANNELS:
                    n.delivered(t.key, attempt, None)
                else:
                    starts.append((n, n.targets[t.key], attempt))
                changed[nid] = n
            if n.overdue_at(now):
                role, drafts = self.decider.escalation(n, now)
                n.escalate([d.recipient_user_id for d in drafts if d.recipient_user_id], role.value if role else None)
                meta = n.meta.caused_by(n.notice_id)
                new.extend(Notification(meta=meta, **d.fields()) for d in drafts
                           if d.notice_id not in self.notices)
                changed[nid] = n
        if not changed and not new:
            return 0
        try:
            await asyncio.to_thread(self.app.save, *changed.values(), *new)
        except UnpublishableEvent as error:
            # a bug, not the store: save the others one by one so that one notification cannot hold
            # up every other; its attempt is retried when its lease runs out
            log.error("delivery round not saved as a whole (%s); saving notifications one by one", error)
            await asyncio.to_thread(self._save_each, [*changed.values(), *new])
            starts = [s for s in starts if s[0].id in self.notices and not self.notices[s[0].id].pending_events]
        except Exception as error:  # noqa: BLE001 - a conflict (another writer) or the store away
            log.warning("delivery round not saved (%s: %s); reloading %d notifications",
                        type(error).__name__, error, len(changed))
            self.outcomes = outcomes + self.outcomes  # their results are tried again next round
            await asyncio.to_thread(self._reload, list(changed))
            return 0
        for n in [*changed.values(), *new]:
            if not n.pending_events:  # saved (one left unsaved above was reloaded instead)
                self._index(n)
        for n, key in given_up:
            t = n.targets[key]
            self.counts["given_up"] += 1
            with log_context(complaint_id=n.meta.complaint_id, form_number=n.meta.form_number):
                log.error("ALERT notification %s to %s through %s %s given up after %d attempts: %s",
                          n.notice_id, n.recipient, t.channel, t.address, t.attempts, t.reason)
        for n, target, attempt in starts:
            self.in_flight.add((n.id, target.key))
            task = asyncio.create_task(self._send(n, target, attempt, now))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(starts) + len(outcomes)

    async def _send(self, n: Notification, target: Target, attempt: int, now: datetime) -> None:
        async with self.limits[target.channel]:
            try:
                ref = await asyncio.wait_for(self.channels.send(n, target, now), self.lease.total_seconds() / 2)
                outcome = Outcome(n.id, target.key, attempt, provider_ref=ref)
                self.counts[f"delivered:{target.channel}"] += 1
            except DeliveryError as error:
                outcome = Outcome(n.id, target.key, attempt, error=error.reason, permanent=not error.transient)
                self.counts[f"failed:{target.channel}"] += 1
            except Exception as error:  # noqa: BLE001 - a timeout or a bug in a channel: retried
                outcome = Outcome(n.id, target.key, attempt, error=f"{type(error).__name__}: {error}")
                self.counts[f"failed:{target.channel}"] += 1
        self.outcomes.append(outcome)
        self.wake.set()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- reads --

    def inbox(self, user_id: str) -> list[Notification]:
        found = [self.notices[nid] for nid in self.inboxes.get(user_id, ()) if self.notices[nid].visible_to(user_id)]
        return sorted(found, key=lambda n: n.send_at, reverse=True)

    def of_complaint(self, complaint_id: UUID) -> list[Notification]:
        return sorted((self.notices[nid] for nid in self.by_complaint.get(complaint_id, ())),
                      key=lambda n: (n.send_at, n.rule, n.recipient))

    def report(self) -> dict[str, Any]:
        return {"position": self.position, "notifications": len(self.notices), "with_work_left": len(self.pending),
                "in_flight": len(self.in_flight), **dict(self.counts)}
