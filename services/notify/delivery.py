"""Delivery of recorded notifications. For now one sink: a JSON-lines log file.

The sink is fed by a relay over notify's own notification log, so each notification is
delivered after it is recorded, in order, and again after a crash rather than never. The
relay hands a batch over again when the process died between delivering it and recording
its position; the sink knows what it wrote (by notice id) and writes each notice once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from contracts.envelope import Envelope
from contracts.notify import NotificationRecorded
from services.common.logs import log_context
from services.common.outbox import Deliver

log = logging.getLogger("notify.delivery")


def _written(path: Path) -> set[str]:
    """Notice ids already in the log; a line torn by a crash is not a delivery."""
    seen: set[str] = set()
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                seen.add(str(json.loads(line)["notice_id"]))
            except (ValueError, KeyError, TypeError):
                continue
    return seen


def log_sink(path: Path) -> Deliver:
    path.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] | None = None

    def write(lines: list[str]) -> None:
        with path.open("a+b") as f:
            f.seek(0, 2)
            if f.tell():
                f.seek(-1, 2)
                if f.read(1) != b"\n":
                    f.write(b"\n")  # the last line was torn: start on a line of its own
            f.write("".join(lines).encode("utf-8"))
            f.flush()

    async def deliver(events: list[Envelope]) -> None:
        nonlocal seen
        if seen is None:
            seen = await asyncio.to_thread(_written, path)
        notices, batch = [], set()
        for e in events:
            if isinstance(e, NotificationRecorded) and str(e.notice_id) not in seen and str(e.notice_id) not in batch:
                batch.add(str(e.notice_id))
                notices.append(e)
        for n in notices:
            with log_context(complaint_id=n.complaint_id, form_number=n.form_number,
                             correlation_id=n.correlation_id, event_type=n.event_type):
                log.info("deliver %s to %s (%s): %s", n.form_number, n.recipient, n.channel.value, n.subject)
        if notices:
            await asyncio.to_thread(write, [json.dumps(n.model_dump(mode="json"), ensure_ascii=False) + "\n"
                                            for n in notices])
            seen.update(batch)  # only once written: a failed write is tried again
    return deliver
