"""Sample commands for the demo, the end-to-end tests and the benchmark.

The bodies carry no actor: the acting user is the bearer token's (`CLERK`, `MANAGER`
describe who the demo sends them as; `LocalCluster.auth(**CLERK)` makes the header).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

CLERK = {"user": "clerk-li", "role": "branch_clerk", "branch": "SH01"}
MANAGER = {"user": "rm-wang", "role": "regional_manager", "region": "EAST"}
OPERATOR = {"user": "ops-zhou", "role": "operator"}


def clerk_of(branch: str) -> dict[str, str]:
    """The branch clerk identity for a branch (for `LocalCluster.auth(**clerk_of(b))`)."""
    return {**CLERK, "user": f"clerk-{branch.lower()}", "branch": branch}


def _complaint(branch: str, channel: str, subject: str, severity: str, customer: dict[str, Any],
               description: str, **extra: Any) -> dict[str, Any]:
    return {
        "command_id": str(uuid4()),
        "branch": branch,
        "channel": channel,
        "subject": subject,
        "severity": severity,
        "customer": customer,
        "description": description,
        "received_at": datetime.now(timezone.utc).isoformat(),
        "read_back_confirmed": True,
        **extra,
    }


def a_phone() -> str:
    """A phone number of its own: each sample is another customer's, so routing does not link the
    samples as repeats of each other (a test about repeats gives the same phone on purpose)."""
    return f"+86 21 {uuid4().int % 10**8:08d}"


def a_batch() -> str:
    """A batch number of its own: samples of one batch would raise analytics' batch-defect alert (three
    within 30 days); a test about alerts gives the same batch on purpose."""
    return f"B2026-{uuid4().int % 10**6:06d}"


def quality_complaint(branch: str = "SH01", customer: str = "Shanghai Hengda Machinery Co.",
                      phone: str | None = None, batch: str | None = None) -> dict[str, Any]:
    today = date.today()
    return _complaint(
        branch, "phone", "product_quality", "general",
        {"name": customer, "contact_person": "Mr. Zhao", "phone": phone or a_phone(),
         "address": "88 Pudong Ave, Shanghai"},
        "Gearbox housing cracked on arrival; oil leaking at the seam.",
        product={"model": "GX-200", "batch_number": batch or a_batch(), "quantity": 2,
                 "order_date": str(today - timedelta(days=20)),
                 "shipping_date": str(today - timedelta(days=12)),
                 "arrival_date": str(today - timedelta(days=9))},
    )


def staff_complaint(branch: str = "BJ02") -> dict[str, Any]:
    return _complaint(branch, "in_person", "staff", "general",
                      {"name": "Beijing Lianhua Trading", "phone": "010-5555-0202"},
                      "Salesperson missed two agreed visits and was rude on the phone.")


def minor_complaint(branch: str = "GZ03") -> dict[str, Any]:
    return _complaint(branch, "phone", "policy_service", "minor",
                      {"name": "Guangzhou Xinyi Store", "phone": "020-5555-0303"},
                      "Invoice sent to the old address.",
                      resolved_on_the_spot="Invoice re-sent by e-mail while on the phone; customer satisfied.")


def _visited() -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=30)).isoformat()


def obvious_defect_determination(evidence: list[str] | None = None) -> dict[str, Any]:
    """The regional manager's inspection record of an obvious quality defect (§5.3.3⑸, §5.4). It needs
    a photo among `evidence`: upload one first (`journey.upload_photo`) and pass its SHA-256."""
    return {
        "command_id": str(uuid4()),
        "determination": "obvious_quality_defect",
        "photo_refs": ["photos/gx200-housing-crack-1.jpg", "photos/gx200-housing-crack-2.jpg"],
        "memo": "Casting flaw along the housing seam; not caused by handling or use.",
        "customer_agrees": True,
        "visited_at": _visited(),
        "samples_taken": ["housing fragment at the seam"],
        "cause": "Casting pore along the housing seam",
        "evidence": list(evidence or []),
    }


def manager_of(region: str) -> dict[str, str]:
    """The regional manager identity for a region."""
    return {**MANAGER, "user": f"rm-{region.lower()}", "region": region}


HQ_CLERK = {"user": "hq-zhao", "role": "hq_clerk"}


def on_site_dispatch(command_id: str | None = None, regional_manager: str | None = None) -> dict[str, Any]:
    """The HQ clerk sends the regional manager on site (§5.3.3⑷): the body of routing's
    `POST /complaints/{id}/on-site-dispatch`."""
    return {"command_id": command_id or str(uuid4()), "regional_manager": regional_manager,
            "note": "Not a question of use: the regional manager goes on site to inspect and take samples."}


def misuse_fixed_on_site_determination() -> dict[str, Any]:
    """Obvious misuse, fixed simply on site, the customer agreeing (§5.5.2⑴): decided and remedied there."""
    return {
        "command_id": str(uuid4()),
        "determination": "obvious_misuse",
        "misuse_resolution": "fixed_on_site",
        "photo_refs": ["photos/gx200-drain-plug-loose.jpg"],
        "memo": "Drain plug left loose after the customer's own oil change; tightened and refilled on site.",
        "customer_agrees": True,
        "visited_at": _visited(),
        "cause": "Drain plug not tightened after an oil change",
        "written_feedback": "Plug tightened to 40 Nm, oil refilled; ran 30 minutes without a leak.",
        "customer_opinion": "Satisfied; agrees it was the loose plug.",
    }


#: A 1x1 PNG: the smallest photo the evidence store accepts (the demo's stand-in for a real one).
SAMPLE_PHOTO = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63606060f80f0001040100"
    "5d0e1bb40000000049454e44ae426082")


# --- the quality chain (§5.7): who takes each step after the on-site determination ------------------

MARKETING_DIRECTOR = {"user": "md-sun", "role": "marketing_director"}
HQ_REGIONAL_MANAGER = {"user": "hqrm-qian", "role": "hq_regional_manager"}
QUALITY_DEPARTMENT = {"user": "qa-lin", "role": "quality_department"}


def defective_product_form(determination: str, evidence: list[str], return_proposed: bool = True,
                           estimated_company_cost: str = "1800.00") -> dict[str, Any]:
    """The regional manager's defective-product form 《不良品投诉处理书》 (§5.7.1⑴)."""
    return {"command_id": str(uuid4()), "defect_form_id": str(uuid4()), "determination": determination,
            "defect_description": "Gearbox housing cracked along the seam; oil leaking.",
            "memo": "Photos of the seam attached; the cause is to be decided by the quality department.",
            "evidence": evidence, "return_proposed": return_proposed,
            "estimated_company_cost": estimated_company_cost}


def adjudication(determination: str = "obvious_quality_defect", negligent: bool = False,
                 misuse_resolution: str | None = None) -> dict[str, Any]:
    """The quality department's adjudication of the returned product (§5.4.5, §5.4.6, §5.7.1⑷)."""
    misuse = determination == "obvious_misuse"
    body: dict[str, Any] = {
        "command_id": str(uuid4()), "adjudication_id": str(uuid4()), "determination": determination,
        "misuse_resolution": (misuse_resolution or "complex_needs_parts") if misuse else None,
        "root_cause": "Overload beyond the rated torque" if misuse else "Casting pore along the seam",
        "production": {"production_date": str(date.today() - timedelta(days=90)), "line_or_unit": "Casting line 2",
                       "shift": "night"},
        "responsible_party": "customer" if misuse else "company",
        "proposed_handling": "Repair; the customer pays the parts" if misuse else "Replace the gearbox",
        "quantity": 1, "parts_used": [{"part_no": "GX-200-GEAR", "quantity": 1}] if misuse else [],
        "labour_hours": "3.5" if misuse else "0", "salesperson_negligent": negligent,
    }
    if negligent:
        body |= {"salesperson": "sales-he", "negligence_degree": "medium",
                 "negligence_finding": "The overload marks were plain to see on site"}
    return body
