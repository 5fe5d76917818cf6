"""The delivery log sink delivers each notice once, even when the relay hands it over again
(a crash between delivering and recording the relay's position republishes the batch)."""

from __future__ import annotations

import json
from pathlib import Path

from contracts.notify import NotificationRecorded
from services.notify.delivery import log_sink
from tests.common.builders import envelope
from contracts.envelope import ServiceName
from uuid import uuid4


def notice(**overrides) -> NotificationRecorded:
    payload = dict(notice_id=uuid4(), recipient_role="general_manager", recipient="general manager",
                   channel="internal", subject="Decision", body="Replaced free of charge.",
                   about_event_type="CostAllocated")
    return NotificationRecorded(**envelope(ServiceName.NOTIFY), **(payload | overrides))


def delivered(path: Path) -> list[str]:
    return [json.loads(line)["notice_id"] for line in path.read_text().splitlines() if line.strip()]


async def test_a_batch_handed_over_again_is_not_delivered_twice(tmp_path: Path) -> None:
    path = tmp_path / "deliveries.jsonl"
    a, b = notice(), notice()
    await log_sink(path)([a, b])
    await log_sink(path)([a, b, notice(notice_id=b.notice_id)])  # a restarted process, the same batch
    assert delivered(path) == [str(a.notice_id), str(b.notice_id)]


async def test_a_line_torn_by_a_crash_is_not_a_delivery_and_the_next_starts_on_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "deliveries.jsonl"
    a = notice()
    path.write_text('{"notice_id": "torn-by-a-cr')  # the process died mid-write
    await log_sink(path)([a])
    lines = path.read_text().splitlines()
    assert json.loads(lines[-1])["notice_id"] == str(a.notice_id)
    assert delivered_ok(lines) == [str(a.notice_id)]


def delivered_ok(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        try:
            out.append(json.loads(line)["notice_id"])
        except ValueError:
            continue
    return out
