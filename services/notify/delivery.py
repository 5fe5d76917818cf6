"""Delivery of recorded notifications. For now one sink: a JSON-lines log file.

The sink is fed by a relay over notify's own notification log, so each notification is
delivered after it is recorded, in order, and again after a crash rather than never.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from contracts.envelope import Envelope
from contracts.notify import NotificationRecorded
from services.common.logs import log_context
from services.common.outbox import Sink

log = logging.getLogger("notify.delivery")


def log_sink(path: Path) -> Sink:
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(lines: list[str]) -> None:
        with path.open("a", encoding="utf-8") as f:
            f.writelines(lines)
            f.flush()

    async def deliver(events: list[Envelope]) -> None:
        notices = [e for e in events if isinstance(e, NotificationRecorded)]
        for n in notices:
            with log_context(complaint_id=n.complaint_id, form_number=n.form_number,
                             correlation_id=n.correlation_id, event_type=n.event_type):
                log.info("deliver %s to %s (%s): %s", n.form_number, n.recipient, n.channel.value, n.subject)
        if notices:
            await asyncio.to_thread(write, [json.dumps(n.model_dump(mode="json"), ensure_ascii=False) + "\n"
                                            for n in notices])
    return deliver
