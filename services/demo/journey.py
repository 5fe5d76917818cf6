"""Following one complaint through the services over their HTTP APIs."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from uuid import uuid4

import httpx

from contracts.envelope import STAGE_SERVICES, ServiceName
from services.demo import samples


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


def dispatch_on_site(client: httpx.Client, routing_url: str, complaint_id: str, headers: dict[str, str], *,
                     command_id: str | None = None, regional_manager: str | None = None,
                     timeout: float = 30.0) -> dict[str, Any]:
    """§5.3.3: routing gives a product-quality complaint to the HQ clerk, who answers it directly or
    sends the regional manager on site; only that dispatch routes it to quality, which then opens its
    investigation. Wait until routing has routed the complaint, then dispatch as the HQ clerk
    (`headers`: the HQ clerk's bearer, e.g. `cluster.auth(**samples.HQ_CLERK)`; `client` reads).
    The same `command_id` again is the same dispatch (200). Returns routing's answer."""
    wait_for_events(client, routing_url, complaint_id, "Routed", timeout=timeout)
    response = client.post(f"{routing_url}/complaints/{complaint_id}/on-site-dispatch",
                           json=samples.on_site_dispatch(command_id, regional_manager), headers=headers)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"on-site dispatch of {complaint_id} refused: {response.status_code} {response.text}")
    return response.json()


def upload_photo(client: httpx.Client, quality_url: str, headers: dict[str, str],
                 data: bytes = samples.SAMPLE_PHOTO, name: str = "photo.png") -> str:
    """Upload a photo to quality's evidence store (`POST /evidence`) as the caller of `headers`; its SHA-256."""
    response = client.post(f"{quality_url}/evidence", files={"file": (name, data, "image/png")}, headers=headers)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"evidence upload refused: {response.status_code} {response.text}")
    return response.json()["sha256"]


def record_determination(client: httpx.Client, quality_url: str, complaint_id: str, headers: dict[str, str],
                         body: dict[str, Any] | None = None) -> httpx.Response:
    """The regional manager (`headers`: the manager of the complaint's region) records the on-site
    determination: a photo is uploaded first and named among the evidence (an obvious quality defect by
    default). Returns quality's answer."""
    body = dict(body or samples.obvious_defect_determination())
    if body["determination"] != "obvious_misuse" and not body.get("evidence"):
        body["evidence"] = [upload_photo(client, quality_url, headers)]
    return client.post(f"{quality_url}/complaints/{complaint_id}/on-site-determination", json=body, headers=headers)


def quality_step(client: httpx.Client, quality_url: str, complaint_id: str, segment: str, headers: dict[str, str],
                 body: dict[str, Any]) -> dict[str, Any]:
    """One step of the quality investigation (`POST /complaints/{id}/<segment>` at quality); its receipt."""
    body = {"command_id": str(uuid4())} | body
    response = client.post(f"{quality_url}/complaints/{complaint_id}/{segment}", json=body, headers=headers)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"quality step {segment} of {complaint_id} refused: {response.status_code} {response.text}")
    return response.json()


def quality_chain(client: httpx.Client, quality_url: str, complaint_id: str, auth: Callable[..., dict[str, str]],
                  manager: dict[str, str], *, determination: str = "cannot_be_determined",
                  adjudication: dict[str, Any] | None = None, product_return: bool = True,
                  remedy_kind: str = "replacement_shipped") -> dict[str, Any]:
    """The §5.7 chain after a determination of `determination` was recorded (a defect or an undetermined
    case): the form filed by `manager` (the regional manager of the region), approved by the marketing
    director and the HQ regional manager (who decides `product_return`), forwarded by the HQ clerk; the
    return requested, shipped and received; the quality department's `adjudication`
    (`samples.adjudication(...)`); the second approval; the remedy delivered. `auth(**identity)` makes
    a bearer header (e.g. `LocalCluster.auth`). Returns the investigation as it then stands."""
    photo = upload_photo(client, quality_url, auth(**manager))
    form = samples.defective_product_form(determination, [photo], product_return)
    step = functools.partial(quality_step, client, quality_url, complaint_id)
    step("defective-product-form", auth(**manager), form)
    form_id = form["defect_form_id"]
    step("defective-product-form-approval", auth(**samples.MARKETING_DIRECTOR),
         {"defect_form_id": form_id, "stage": "marketing_director"})
    step("defective-product-form-approval", auth(**samples.HQ_REGIONAL_MANAGER),
         {"defect_form_id": form_id, "stage": "hq_regional_manager", "product_return": product_return})
    step("defective-product-form-forwarding", auth(**samples.HQ_CLERK), {"defect_form_id": form_id})
    if product_return:
        return_id = str(uuid4())
        reason = "quality_defect_exchange" if determination == "obvious_quality_defect" else "adjudication"
        step("product-return", auth(**manager), {"return_id": return_id, "reason": reason, "quantity": 1})
        step("product-return-shipment", auth(**manager), {
            "return_id": return_id, "carrier": "SF Express", "waybill": f"SF{uuid4().int % 10**10:010d}",
            "shipped_at": datetime.now(timezone.utc).isoformat()})
        step("product-receipt", auth(**samples.QUALITY_DEPARTMENT),
             {"return_id": return_id, "quantity": 1, "condition": "As described on the form"})
    adjudication = adjudication or samples.adjudication()
    step("adjudication", auth(**samples.QUALITY_DEPARTMENT), adjudication)
    step("quality-decision-approval", auth(**samples.HQ_REGIONAL_MANAGER), {
        "adjudication_id": adjudication["adjudication_id"], "decision": adjudication["proposed_handling"],
        "company_cost": "1800.00"})
    step("quality-remedy", auth(**samples.QUALITY_DEPARTMENT), {
        "remedy_kind": remedy_kind, "description": adjudication["proposed_handling"],
        "delivered_at": datetime.now(timezone.utc).isoformat(), "reference": f"WO-{uuid4().hex[:8]}"})
    response = client.get(f"{quality_url}/complaints/{complaint_id}/investigation", headers=auth(**samples.OPERATOR))
    response.raise_for_status()
    return response.json()


def journey(client: httpx.Client, urls: dict[ServiceName, str], complaint_id: str) -> list[tuple[str, dict]]:
    steps = [(service.value, event) for service in STAGE_SERVICES
             for event in history(client, urls[service], complaint_id)]
    return sorted(steps, key=lambda step: step[1]["occurred_at"])


def describe(event: dict[str, Any]) -> str:
    data = event["data"]
    if event["event_type"] == "Registered":
        return f"{data['subject']} / {data['severity']} by {data['channel']} at {data['branch']}"
    if event["event_type"] == "Routed":
        return f"to {data['destination']}"
    if event["event_type"] == "DeterminationRecorded":
        return (f"{data['determination']} by {data['inspector']}, "
                f"{len(data.get('evidence') or data['photo_refs'])} photos")
    if event["event_type"] == "Allocated":
        return "; ".join(f"{line['item']}: {line['payer']}" for line in data["lines"])
    if event["event_type"] == "Recorded":
        channels = ", ".join(sorted({t["channel"] for t in data.get("targets") or []}))
        return f"to {data['recipient']} ({channels}): {data['subject']}"
    if event["event_type"] == "Delivered":
        return f"{data['channel']} {data['address']}"
    if event["event_type"] == "RegistrationNoted":
        return f"{data['customer_name']}"
    if event["event_type"] == "ContactNoted":
        return f"{data['customer_name']}"
    if event["event_type"] == "ComplaintClassified":
        return f"track {data['track']}"
    if event["event_type"] == "QualityCaseTriaged":
        return "answered directly" if data["answered_directly"] else f"dispatched on site: {data['note']}"
    if event["event_type"] == "ActionsAwaited":
        return f"{data['state']}: " + ", ".join(f"{a['step']} ({a['role']})" for a in data["actions"])
    if event["event_type"] == "ProgressMilestoneReached":
        return f"customer told: {data['milestone']}"
    return ""
