"""The cost ledger on the real PostgreSQL store: rebuilt from it after a restart exactly as it was
(every entry, amount and version), still idempotent, and an allocation stored before the ledger read
into it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

from contracts.billing import ChargeSalespersonPenalty, CostItem, CostLine, Payer, RecordCost
from contracts.envelope import Actor, Role
from services.billing.application import BillingApplication, ledger_view
from services.billing.policies import billing_policy
from services.billing.settings import BillingSettings
from services.common.store import store_env
from tests.billing.events import adjudicated, on_site, parts, routed
from tests.billing.test_policies import store_legacy_allocation
from tests.common.builders import published, react

D = Decimal
HQ = Actor(user_id="hq-clerk-zhou", role=Role.HQ_CLERK)
DIRECTOR = Actor(user_id="md-chen", role=Role.MARKETING_DIRECTOR)


def open_app(url: str, tmp_path: Path) -> BillingApplication:
    settings = BillingSettings(data_dir=tmp_path, database_url=url, kafka_bootstrap_servers="127.0.0.1:1")
    app = BillingApplication(env=store_env(settings))
    assert app.is_postgres
    return app


def test_the_ledger_survives_a_restart_on_postgresql(new_database, tmp_path: Path) -> None:
    url = new_database()
    app = open_app(url, tmp_path)
    complaint_id = uuid4()
    react(app, billing_policy, routed(complaint_id))
    react(app, billing_policy, on_site(complaint_id, "cannot_be_determined", parts_used=parts(("KX-200-MOTOR", 1))))
    cost = RecordCost(complaint_id=complaint_id, actor=HQ, cost_id=uuid4(), item="return_transport",
                      amount=D("333.33"), incurred_on=date(2026, 11, 26), source_document="SF-R1",
                      recorded_by=HQ.user_id)
    app.record_cost(cost)
    redelivered = adjudicated(complaint_id, "obvious_misuse", negligent=True, degree="low",
                              parts_used=parts(("KX-200-MOTOR", 1)), model="KX-200")
    react(app, billing_policy, redelivered)
    app.charge_penalty(ChargeSalespersonPenalty(complaint_id=complaint_id, actor=DIRECTOR, penalty_percent=D("33.33"),
                                                approved_by=DIRECTOR.user_id))
    before = ledger_view(app.ledger(complaint_id))
    messages = [m.event_type for m in published(app)]
    app.close()

    again = open_app(url, tmp_path)
    try:
        after = ledger_view(again.ledger(complaint_id))
        assert after == before
        assert after["by_payer"] == {"company": D("333.33"), "customer": D("486.00"), "salesperson": D("111.10"),
                                     "to_be_decided": D("0.00")}   # 333.33 x 33.33 % = 111.099, half-up
        assert after["total"] == sum((e.amount for e in after["entries"]), D(0))
        assert [m.event_type for m in published(again)] == messages
        # still idempotent after the restart: the same command and the same upstream event write nothing
        version = after["version"]
        assert again.record_cost(cost).created is False
        assert react(again, billing_policy, redelivered) == 0
        assert again.ledger(complaint_id).version == version
    finally:
        again.close()


def test_an_allocation_stored_before_the_ledger_is_read_from_postgresql(new_database, tmp_path: Path) -> None:
    url = new_database()
    app = open_app(url, tmp_path)
    complaint_id = uuid4()
    store_legacy_allocation(app, complaint_id, "obvious_quality_defect", [
        CostLine(item=CostItem.REPLACEMENT, payer=Payer.COMPANY)])
    app.close()
    again = open_app(url, tmp_path)
    try:
        assert again.ledger(complaint_id).on_site["determination"] == "obvious_quality_defect"
        app_cost = RecordCost(complaint_id=complaint_id, actor=HQ, cost_id=uuid4(), item="delivery_transport",
                              amount=D("45.00"), incurred_on=date(2026, 11, 26), source_document="SF-D1",
                              recorded_by=HQ.user_id)
        again.record_cost(app_cost)
        assert {(e.item.value, e.payer.value, e.amount) for e in again.ledger(complaint_id).entries} == {
            ("delivery_transport", "company", D("45.00"))}
    finally:
        again.close()
