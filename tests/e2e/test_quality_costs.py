"""Quality's chain and the costs in money, end to end (domain.md §5.3.3-§5.5, §5.7), the services as
processes: one product complaint for each determination, from its HTTP registration through the
on-site inspection (a photo uploaded as evidence), the defective-product form and its approvals, the
return shipment, the quality department's adjudication and the second approval, the reply, the remedy,
the follow-up and closure; the transport actually incurred booked with its waybill; then the ledger's
amounts by payer at billing and who was told at notify.

- defect: obvious quality defect; free replacement; the company pays everything;
- misuse fixed on site: nothing to pay;
- misuse needing parts: the customer pays the part at cost and the transit transport;
- undetermined, found defect: the company pays everything, the pending lines move to it;
- undetermined, found misuse (within warranty): the return stays the company's, labour is free, the
  customer pays the parts at cost and the delivery;
- negligent salesperson: a plainly determinable case sent back; the approver sets 45 % of the transit
  transport (61 % refused, nothing written).

Every complaint is registered first, then all are walked at once (a thread each).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import httpx
import pytest

from contracts.envelope import STAGE_SERVICES, ServiceName
from services.common.cluster import LocalCluster
from services.demo import samples
from services.demo.journey import dispatch_on_site, history, upload_photo, wait_for, wait_for_events
from tests.e2e.test_procedure import HQ, Walk, walk_all

pytestmark = pytest.mark.e2e
INTAKE, ROUTING, QUALITY, BILLING, NOTIFY = STAGE_SERVICES

DIRECTOR = {"user": "md-sun", "role": "marketing_director"}
HQ_RM = {"user": "hqrm-zhou", "role": "hq_regional_manager"}
QA = {"user": "qa-lin", "role": "quality_department"}
SALESPERSON = "sales-zhang"


def at(**delta: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


def cny(text: Any) -> Decimal:
    return Decimal(str(text))


class QualityWalk(Walk):
    """A product complaint on its way: routing's steps (from `Walk`), quality's and billing's."""

    def __init__(self, cluster: LocalCluster, receipt: dict[str, Any], branch: str, **about: Any):
        super().__init__(cluster, receipt, branch, **about)
        self.quality, self.billing = cluster.url(QUALITY), cluster.url(BILLING)
        self.form_id = str(uuid4())
        self.waybills = 0

    def q(self, segment: str, who: dict[str, str], **fields: Any) -> dict[str, Any]:
        """Take a quality step as `who`."""
        response = self.client.post(f"{self.quality}/complaints/{self.id}/{segment}",
                                    json={"command_id": str(uuid4()), **fields}, headers=self.cluster.auth(**who))
        assert response.status_code == 201, (self.form_number, segment, who["role"], response.text)
        return response.json()

    def investigation(self) -> dict[str, Any]:
        response = self.client.get(f"{self.quality}/complaints/{self.id}/investigation")
        assert response.status_code == 200, response.text
        return response.json()

    def ledger(self) -> dict[str, Any]:
        response = self.client.get(f"{self.billing}/complaints/{self.id}/ledger")
        assert response.status_code == 200, response.text
        return response.json()

    def ledger_when(self, what: str, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            response = self.client.get(f"{self.billing}/complaints/{self.id}/ledger")
            return response.json() if response.status_code == 200 and predicate(response.json()) else None
        return wait_for(ready, 30, f"{self.form_number}: ledger {what}")

    def cost(self, item: str, amount: str, who: dict[str, str] = HQ) -> str:
        """Book transport actually incurred, with its waybill."""
        self.waybills += 1
        waybill = f"WB-{self.form_number}-{self.waybills}"
        response = self.client.post(f"{self.billing}/complaints/{self.id}/costs", headers=self.cluster.auth(**who),
                                    json={"command_id": str(uuid4()), "item": item, "amount": amount,
                                          "incurred_on": str(date.today()), "source_document": waybill,
                                          "description": f"{item.replace('_', ' ')} by SF Express"})
        assert response.status_code == 201, (self.form_number, item, response.text)
        return waybill

    def on_site(self, determination: str, **fields: Any) -> None:
        """Dispatched on site by the HQ clerk; the regional manager inspects and records (with a photo)."""
        self.routed("awaiting_triage", "quality")
        self.handler()
        dispatch_on_site(self.client, self.routing, self.id, self.cluster.auth(**HQ), regional_manager=self.manager["user"])
        wait_for_events(self.client, self.quality, self.id, "Opened")
        photo = upload_photo(self.client, self.quality, self.cluster.auth(**self.manager),
                             data=samples.SAMPLE_PHOTO)
        body = {"determination": determination, "photo_refs": [f"photos/{self.form_number}-1.jpg"],
                "memo": f"On-site inspection of {self.form_number}.", "customer_agrees": True,
                "visited_at": at(minutes=-30), "cause": "As found on site", "samples_taken": ["housing sample"],
                "evidence": [photo], **fields}
        self.q("on-site-determination", self.manager, **body)

    def form_chain(self, determination: str, reason: str) -> None:
        """§5.7.1: the form filed, approved by the marketing director, then by the HQ regional manager
        who decides the return; the HQ clerk forwards it; the product is shipped back and received."""
        photo = upload_photo(self.client, self.quality, self.cluster.auth(**self.manager))
        self.q("defective-product-form", self.manager, defect_form_id=self.form_id, determination=determination,
               defect_description="Housing cracked at the seam; oil weeps under load.",
               memo=f"Defective-product form for {self.form_number}.", evidence=[photo], return_proposed=True,
               estimated_company_cost="1600.00")
        self.q("defective-product-form-approval", DIRECTOR, defect_form_id=self.form_id, stage="marketing_director",
               comments="Agreed: return it.")
        self.q("defective-product-form-approval", HQ_RM, defect_form_id=self.form_id, stage="hq_regional_manager",
               product_return=True)
        self.q("defective-product-form-forwarding", HQ, defect_form_id=self.form_id)
        return_id = str(uuid4())
        self.q("product-return", self.manager, return_id=return_id, reason=reason, quantity=1)
        waybill = self.cost("return_transport", "200.00")
        self.q("product-return-shipment", self.manager, return_id=return_id, carrier="SF Express", waybill=waybill,
               shipped_at=at(hours=-2))
        self.q("product-receipt", QA, return_id=return_id, quantity=1, condition="Crack visible; oil residue")

    def adjudicate(self, determination: str, party: str, **fields: Any) -> str:
        adjudication_id = str(uuid4())
        self.q("adjudication", QA, adjudication_id=adjudication_id, determination=determination,
               root_cause=fields.pop("root_cause", "Casting pore at the seam"), responsible_party=party,
               proposed_handling=fields.pop("proposed_handling", "Replace the gearbox"),
               production={"production_date": "2026-10-20", "line_or_unit": "Line 3", "shift": "night"},
               salesperson_negligent=fields.pop("salesperson_negligent", False), **fields)
        return adjudication_id

    def decide(self, adjudication_id: str, decision: str, company_cost: str) -> None:
        """The HQ regional manager's second approval: the decision goes to routing for the reply."""
        self.q("quality-decision-approval", HQ_RM, adjudication_id=adjudication_id, decision=decision,
               company_cost=company_cost)
        self.wait_state("awaiting_customer_reply")

    def reply_remedy_close(self, remedy_kind: str, delivery: str | None) -> None:
        """The clerk replies; quality records the remedy (its delivery booked); follow-up; closure."""
        self.step("customer-reply", self.clerk, "awaiting_remedy", channel="phone",
                  reply="Our answer, and what you owe, as stated.")
        reference = self.cost("delivery_transport", delivery) if delivery else f"WO-{self.form_number}"
        self.q("quality-remedy", QA, remedy_kind=remedy_kind, description=f"{remedy_kind.replace('_', ' ')}",
               delivered_at=at(minutes=-5), reference=reference)
        self.wait_state("awaiting_follow_up")
        self.follow_up_and_close("resolved")

    def told(self) -> list[dict[str, Any]]:
        """The notices notify recorded for the complaint."""
        return [e["data"] for e in history(self.client, self.cluster.url(NOTIFY), self.id)
                if e["event_type"] == "Recorded"]

    def told_of(self, about: str, roles: set[str]) -> list[dict[str, Any]]:
        return wait_for(lambda: (found := [n for n in self.told() if n["about_event_type"] == about])
                        and {n["recipient_role"] for n in found} >= roles and found, 30,
                        f"{self.form_number}: {sorted(roles)} told of {about}")


def by_payer(ledger: dict[str, Any]) -> dict[str, Decimal]:
    return {payer: cny(amount) for payer, amount in ledger["by_payer"].items() if cny(amount) != 0}


def assert_ledger_sums(ledger: dict[str, Any]) -> None:
    """Nothing is lost: the total is the sum of the entries and of the payers' shares."""
    entries = sum((cny(e["amount"]) for e in ledger["entries"]), Decimal("0"))
    assert cny(ledger["total"]) == entries == sum(map(cny, ledger["by_payer"].values()), Decimal("0")), ledger


DECISION_TOLD = {"general_manager", "management_representative", "branch_clerk"}


# --- the walks, one per determination --------------------------------------------------------------

def defect(w: QualityWalk) -> None:
    w.on_site("obvious_quality_defect")
    w.ledger_when("priced the replacement", lambda l: by_payer(l).get("company") == Decimal("1280.00"))
    w.form_chain("obvious_quality_defect", "quality_defect_exchange")
    adjudication = w.adjudicate("obvious_quality_defect", "company")
    w.decide(adjudication, "Replace the gearbox free of charge; the company pays all transport.", "1600.00")
    w.reply_remedy_close("replacement_shipped", delivery="124.00")
    ledger = w.ledger_when("with the delivery", lambda l: by_payer(l).get("company") == Decimal("1604.00"))
    assert by_payer(ledger) == {"company": Decimal("1604.00")}, ledger["by_payer"]  # 1280 + 200 + 124
    assert cny(ledger["customer_owes"]) == 0 and cny(ledger["pending"]) == 0
    assert_ledger_sums(ledger)
    w.told_of("QualityDecisionApproved", DECISION_TOLD)
    [statement] = [n for n in w.told_of("CustomerChargesStated", {"customer"})][-1:]
    assert "无需承担任何费用" in statement["body"], statement


def misuse_fixed_on_site(w: QualityWalk) -> None:
    w.on_site("obvious_misuse", misuse_resolution="fixed_on_site",
              written_feedback="Plug tightened to 40 Nm; ran 30 minutes dry.", customer_opinion="Satisfied")
    w.wait_state("awaiting_customer_reply")
    w.step("customer-reply", w.clerk, "awaiting_follow_up", channel="phone", reply="Fixed on site; nothing to pay.")
    w.follow_up_and_close("resolved")
    ledger = w.ledger_when("priced", lambda l: l["rule_id"] == "misuse_fixed_on_site")
    assert by_payer(ledger) == {} and cny(ledger["total"]) == 0, ledger  # the on-site service is waived
    assert [e["item"] for e in ledger["entries"]] == ["on_site_service"]
    assert_ledger_sums(ledger)
    assert "无需承担任何费用" in w.told_of("CustomerChargesStated", {"customer"})[-1]["body"]


def misuse_needing_parts(w: QualityWalk) -> None:
    w.on_site("obvious_misuse", misuse_resolution="complex_needs_parts",
              parts_used=[{"part_no": "GX-200-GEARSET", "quantity": 1}])
    w.wait_state("awaiting_customer_reply")
    w.cost("return_transport", "150.00")
    w.reply_remedy_close("repair_done", delivery="150.00")
    ledger = w.ledger_when("with both transports", lambda l: cny(l["customer_owes"]) == Decimal("612.00"))
    assert by_payer(ledger) == {"customer": Decimal("612.00")}, ledger["by_payer"]  # 312 + 150 + 150
    assert cny(ledger["transport"]["total"]) == Decimal("300.00")
    assert_ledger_sums(ledger)
    statements = w.told_of("CustomerChargesStated", {"customer"})
    assert any("612.00 元" in n["body"] for n in statements), statements


def undetermined_found_defect(w: QualityWalk) -> None:
    w.on_site("cannot_be_determined")
    w.form_chain("cannot_be_determined", "adjudication")
    pending = w.ledger_when("return booked", lambda l: by_payer(l).get("company") == Decimal("200.00"))
    assert pending["rule_id"] == "undetermined_pending_within_warranty"
    adjudication = w.adjudicate("obvious_quality_defect", "company")
    w.ledger_when("moved to the company", lambda l: l["rule_id"] == "undetermined_found_quality_defect")
    w.decide(adjudication, "A casting defect: the gearbox is replaced free of charge.", "1700.00")
    w.reply_remedy_close("replacement_shipped", delivery="130.00")
    ledger = w.ledger_when("with the delivery", lambda l: by_payer(l).get("company") == Decimal("1610.00"))
    assert by_payer(ledger) == {"company": Decimal("1610.00")}, ledger["by_payer"]  # 200 + 1280 + 130
    assert cny(ledger["pending"]) == 0
    assert_ledger_sums(ledger)
    w.told_of("QualityDecisionApproved", DECISION_TOLD)


def undetermined_found_misuse(w: QualityWalk) -> None:
    w.on_site("cannot_be_determined")
    w.form_chain("cannot_be_determined", "adjudication")
    adjudication = w.adjudicate("obvious_misuse", "customer", misuse_resolution="complex_needs_parts",
                                root_cause="Run without oil: bearings scored", proposed_handling="Repair at cost",
                                parts_used=[{"part_no": "GX-200-BEARING", "quantity": 2}], labour_hours="1.5")
    w.decide(adjudication, "Misuse: we repair it; labour is free within warranty, parts at cost.", "200.00")
    w.reply_remedy_close("repair_done", delivery="130.00")
    ledger = w.ledger_when("with the delivery", lambda l: cny(l["customer_owes"]) == Decimal("258.40"))
    assert by_payer(ledger) == {"company": Decimal("200.00"), "customer": Decimal("258.40")}, ledger["by_payer"]
    assert ledger["rule_id"] == "undetermined_found_misuse_within_warranty"
    assert_ledger_sums(ledger)
    w.told_of("QualityDecisionApproved", DECISION_TOLD)
    assert any("258.40 元" in n["body"] for n in w.told_of("CustomerChargesStated", {"customer"}))


def negligent_salesperson(w: QualityWalk) -> None:
    w.on_site("cannot_be_determined", salesperson=SALESPERSON)
    w.form_chain("cannot_be_determined", "adjudication")
    adjudication = w.adjudicate(
        "obvious_misuse", "customer", misuse_resolution="complex_needs_parts", root_cause="Wrong oil grade",
        proposed_handling="Flush and refill at the customer's cost", salesperson=SALESPERSON,
        salesperson_negligent=True, negligence_degree="high",
        negligence_finding="Wrong oil visible at the filler cap: determinable on site")
    w.decide(adjudication, "Misuse that was determinable on site: the customer pays the delivery.", "200.00")
    w.cost("delivery_transport", "100.00")
    penalty = f"{w.billing}/complaints/{w.id}/salesperson-penalty"
    before = w.ledger_when("with the delivery", lambda l: cny(l["transport"]["total"]) == Decimal("300.00"))
    refused = w.client.post(penalty, json={"command_id": str(uuid4()), "penalty_percent": "61"},
                            headers=w.cluster.auth(**DIRECTOR))
    assert refused.status_code == 422 and "penalty_percent" in refused.text, refused.text
    assert w.ledger()["version"] == before["version"], "a refused rate writes nothing"
    charged = w.client.post(penalty, json={"command_id": str(uuid4()), "penalty_percent": "45"},
                            headers=w.cluster.auth(**DIRECTOR))
    assert charged.status_code == 201, charged.text
    assert cny(charged.json()["amount"]) == Decimal("135.00")  # 45 % of 200 + 100, half-up
    ledger = w.ledger()
    assert by_payer(ledger)["salesperson"] == Decimal("135.00"), ledger["by_payer"]
    assert_ledger_sums(ledger)
    w.step("customer-reply", w.clerk, "awaiting_remedy", channel="phone", reply="Misuse; you pay the delivery.")
    w.q("quality-remedy", QA, remedy_kind="repair_done", description="Flushed and refilled",
        delivered_at=at(minutes=-5), reference=f"WO-{w.form_number}")
    w.wait_state("awaiting_follow_up")
    w.follow_up_and_close("resolved")


WALKS: dict[str, Callable[[QualityWalk], None]] = {
    "defect": defect,
    "misuse_fixed_on_site": misuse_fixed_on_site,
    "misuse_needing_parts": misuse_needing_parts,
    "undetermined_found_defect": undetermined_found_defect,
    "undetermined_found_misuse": undetermined_found_misuse,
    "negligent_salesperson": negligent_salesperson,
}


@pytest.fixture(scope="module")
def walked(cluster: LocalCluster) -> Iterator[dict[str, BaseException | None]]:
    """Register one product complaint per walk over HTTP (Shanghai, EAST), then walk them all at once."""
    walks: dict[str, QualityWalk] = {}
    with httpx.Client(timeout=15) as c:
        for name in WALKS:
            registration = samples.quality_complaint("SH01", customer=f"Customer {uuid4().hex[:6]}")
            receipt = c.post(f"{cluster.url(INTAKE)}/complaints", json=registration,
                             headers=cluster.auth(**samples.clerk_of("SH01")))
            assert receipt.status_code == 201, receipt.text
            walks[name] = QualityWalk(cluster, receipt.json(), "SH01")

    yield from walk_all(walks, WALKS)


@pytest.mark.parametrize("name", list(WALKS))
def test_each_determination_from_registration_to_its_ledger_and_notices(walked: dict[str, BaseException | None],
                                                                        name: str) -> None:
    if (failure := walked[name]) is not None:
        raise failure
