"""Following one complaint through the services over their HTTP APIs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from contracts.envelope import ServiceName


def history(client: httpx.Client, base_url: str, complaint_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{base_url}/complaints/{complaint_id}/history")
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return response.json()["events"]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def wait_for_events(client: httpx.Client, base_url: str, complaint_id: str, event_type: str,
                    count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]]:
        events = [e for e in history(client, base_url, complaint_id) if e["event_type"] == event_type]
        return events if len(events) >= count else []
    return wait_for(found, timeout, f"{count} x {event_type} for {complaint_id} at {base_url}")


def journey(client: httpx.Client, urls: dict[ServiceName, str], complaint_id: str) -> list[tuple[str, dict]]:
    steps = [(service.value, event) for service in ServiceName
             for event in history(client, urls[service], complaint_id)]
    return sorted(steps, key=lambda step: step[1]["occurred_at"])


def describe(event: dict[str, Any]) -> str:
    data = event["data"]
    if event["event_type"] == "Registered":
        return f"{data['subject']} / {data['severity']} by {data['channel']} at {data['branch']}"
    if event["event_type"] == "Routed":
        return f"to {data['destination']}"
    if event["event_type"] == "DeterminationRecorded":
        return f"{data['determination']} by {data['inspector']}, {len(data['photo_refs'])} photos"
    if event["event_type"] == "Allocated":
        return "; ".join(f"{line['item']}: {line['payer']}" for line in data["lines"])
    if event["event_type"] == "Recorded":
        return f"to {data['recipient_role']} ({data['channel']}): {data['subject']}"
    if event["event_type"] == "ContactNoted":
        return f"{data['customer_name']}"
    return ""
