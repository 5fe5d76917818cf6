"""Sample commands for the demo, the end-to-end tests and the benchmark."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

CLERK = {"user_id": "clerk-li", "role": "branch_clerk", "branch": "SH01"}
MANAGER = {"user_id": "rm-wang", "role": "regional_manager", "branch": "SH01"}


def quality_complaint(branch: str = "SH01", customer: str = "Shanghai Hengda Machinery Co.") -> dict[str, Any]:
    today = date.today()
    return {
        "command_id": str(uuid4()),
        "actor": {**CLERK, "branch": branch},
        "branch": branch,
        "channel": "phone",
        "subject": "product_quality",
        "severity": "general",
        "customer": {"name": customer, "contact_person": "Mr. Zhao", "phone": "+86 21 5555 0101",
                     "address": "88 Pudong Ave, Shanghai"},
        "description": "Gearbox housing cracked on arrival; oil leaking at the seam.",
        "product": {"model": "GX-200", "batch_number": "B2026-1107", "quantity": 2,
                    "order_date": str(today - timedelta(days=20)),
                    "shipping_date": str(today - timedelta(days=12)),
                    "arrival_date": str(today - timedelta(days=9))},
        "received_at": datetime.now(timezone.utc).isoformat(),
        "read_back_confirmed": True,
    }


def staff_complaint(branch: str = "BJ02") -> dict[str, Any]:
    return {
        "command_id": str(uuid4()),
        "actor": {**CLERK, "branch": branch},
        "branch": branch,
        "channel": "in_person",
        "subject": "staff",
        "severity": "general",
        "customer": {"name": "Beijing Lianhua Trading", "phone": "010-5555-0202"},
        "description": "Salesperson missed two agreed visits and was rude on the phone.",
        "received_at": datetime.now(timezone.utc).isoformat(),
        "read_back_confirmed": True,
    }


def minor_complaint(branch: str = "GZ03") -> dict[str, Any]:
    return {
        "command_id": str(uuid4()),
        "actor": {**CLERK, "branch": branch},
        "branch": branch,
        "channel": "phone",
        "subject": "policy_service",
        "severity": "minor",
        "customer": {"name": "Guangzhou Xinyi Store", "phone": "020-5555-0303"},
        "description": "Invoice sent to the old address.",
        "received_at": datetime.now(timezone.utc).isoformat(),
        "read_back_confirmed": True,
        "resolved_on_the_spot": "Invoice re-sent by e-mail while on the phone; customer satisfied.",
    }


def obvious_defect_determination() -> dict[str, Any]:
    return {
        "command_id": str(uuid4()),
        "actor": MANAGER,
        "inspector": "rm-wang",
        "determination": "obvious_quality_defect",
        "photo_refs": ["photos/gx200-housing-crack-1.jpg", "photos/gx200-housing-crack-2.jpg"],
        "memo": "Casting flaw along the housing seam; not caused by handling or use.",
        "customer_agrees": True,
    }
