"""Durable deadline timers: the open deadlines by due time, and the task that fires them.

Nothing here is stored apart from the events: the index of open deadlines is rebuilt from
routing's own log when the process starts (so a deadline due while the service was down
fires as soon as it is back) and follows the log from there. Firing is a command on the
deadline's aggregate, saved with optimistic concurrency: when two routing instances both
fire it, one save wins and the other finds it already missed, so it fires exactly once.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from services.common.domain import EventMeta
from services.common.store import ServiceApplication
from services.routing.domain.deadline import DeadlineClock, Planner
from services.routing.domain.deadline_rules import RuleTable

log = logging.getLogger(__name__)

_TOPICS = [get_topic(cls) for cls in (
    DeadlineClock.Tracked, DeadlineClock.Set, DeadlineClock.Paused, DeadlineClock.Resumed, DeadlineClock.Replanned,
    DeadlineClock.Met, DeadlineClock.Missed, DeadlineClock.Escalated, DeadlineClock.Cancelled)]


class DeadlineIndex:
    """Open deadlines and their due times, from routing's log (in memory, rebuilt at start)."""

    def __init__(self, app: ServiceApplication, chunk: int = 5000):
        self.app = app
        self.chunk = chunk
        self.position = 0
        self.due: dict[UUID, datetime] = {}
        self.provisional: set[UUID] = set()
        self.by_complaint: dict[UUID, set[UUID]] = {}
        self._heap: list[tuple[float, str]] = []

    def catch_up(self) -> int:
        """Read what routing saved since the last call; returns how many events were applied."""
        applied = 0
        while True:
            notifications = self.app.recorder.select_notifications(self.position + 1, self.chunk, topics=_TOPICS)
            if not notifications:
                return applied
            for notification in notifications:
                self.apply(self.app.mapper.to_domain_event(notification))
            self.position = notifications[-1].id
            applied += len(notifications)
            if len(notifications) < self.chunk:
                return applied

    def apply(self, event: Any) -> None:
        identity = event.originator_id
        if isinstance(event, DeadlineClock.Tracked):
            self.by_complaint.setdefault(event.meta.complaint_id, set()).add(identity)
        elif isinstance(event, DeadlineClock.Set | DeadlineClock.Resumed | DeadlineClock.Replanned):
            self._open(identity, event.deadline.due_at, event.deadline.provisional)
        elif isinstance(event, DeadlineClock.Escalated):
            self._open(identity, event.new_deadline.due_at, event.new_deadline.provisional)
        elif isinstance(event, DeadlineClock.Paused | DeadlineClock.Met | DeadlineClock.Missed
                        | DeadlineClock.Cancelled):
            self.due.pop(identity, None)
            self.provisional.discard(identity)

    def _open(self, identity: UUID, due: datetime, provisional: bool) -> None:
        self.due[identity] = due
        (self.provisional.add if provisional else self.provisional.discard)(identity)
        heapq.heappush(self._heap, (due.timestamp(), str(identity)))

    def due_now(self, now: datetime, limit: int = 1000) -> list[UUID]:
        """Open deadlines due at `now`, earliest first (each once: the heap keeps only current entries)."""
        out: list[UUID] = []
        stamp = now.timestamp()
        while self._heap and self._heap[0][0] <= stamp and len(out) < limit:
            due_ts, raw = heapq.heappop(self._heap)
            identity = UUID(raw)
            current = self.due.get(identity)
            if current is not None and current.timestamp() == due_ts:
                out.append(identity)
        return out

    def report(self) -> dict[str, Any]:
        return {"open": len(self.due), "provisional": len(self.provisional), "log_position": self.position,
                "next_due": min(self.due.values()).isoformat() if self.due else None}


class DeadlineTimer:
    """Fires every open deadline whose due time has come, by the injected clock."""

    def __init__(self, app: ServiceApplication, table: RuleTable, planner: Planner, clock: Callable[[], datetime],
                 tick_seconds: float = 0.5):
        self.app = app
        self.table = table
        self.planner = planner
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.index = DeadlineIndex(app)
        self.on_saved: Callable[[], None] = lambda: None
        self.fired = 0
        self.already = 0
        self.last_tick_at: float | None = None

    async def run(self) -> None:
        self.index = DeadlineIndex(self.app)  # from zero at every (re)start: the log is the truth
        while True:
            await self.tick()
            await asyncio.sleep(self.tick_seconds)

    async def tick(self) -> int:
        """Follow the log, fire what is due; returns how many deadlines fired."""
        await asyncio.to_thread(self.index.catch_up)
        now = self.clock()
        fired = 0
        for identity in self.index.due_now(now):
            if await asyncio.to_thread(self.fire, identity, now):
                fired += 1
        if fired:
            self.on_saved()
            await asyncio.to_thread(self.index.catch_up)
        self.last_tick_at = time.time()
        return fired

    def fire(self, identity: UUID, now: datetime) -> bool:
        """Miss (and escalate) one deadline; False when it was met, moved or fired meanwhile."""
        for _ in range(5):
            clock: DeadlineClock = self.app.repository.get(identity)
            meta: EventMeta = clock.meta.model_copy(update={"causation_id": identity})
            if not clock.miss(meta, now, self.table.rule(clock.kind), self.planner):
                self.already += 1
                return False
            try:
                self.app.save(clock)
            except IntegrityError:
                continue  # someone (another instance, a meet) saved first: look again
            self.fired += 1
            log.info("deadline %s of complaint %s missed at %s", clock.kind, meta.form_number, now.isoformat())
            return True
        return False

    def replan(self, reason: str) -> int:
        """Plan every open deadline again on the calendar as it is now (the explicit re-plan)."""
        self.index.catch_up()
        moved = 0
        for identity in list(self.index.due):
            for _ in range(5):
                clock: DeadlineClock = self.app.repository.get(identity)
                meta = clock.meta.model_copy(update={"causation_id": identity})
                if not clock.replan(meta, self.table.rule(clock.kind), self.planner, reason):
                    break
                try:
                    self.app.save(clock)
                except IntegrityError:
                    continue
                moved += 1
                break
        self.index.catch_up()
        return moved

    def explain(self, complaint_id: UUID) -> list[dict[str, Any]]:
        self.index.catch_up()
        clocks = [self.app.repository.get(i) for i in self.index.by_complaint.get(complaint_id, ())]
        return sorted((c.explain() for c in clocks if c.status != "new"), key=lambda e: e["kind"])

    def report(self) -> dict[str, Any]:
        return self.index.report() | {"fired": self.fired, "already_handled": self.already,
                                      "rules_version": self.table.version}
