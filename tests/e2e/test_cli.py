"""The `complaints` command against the running system (the services and the read side as processes on
PostgreSQL): a complaint's merged history from every store, its state as of three moments, and each read
model rebuilt from the beginning of the topics equal to the live one, row by row."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from contracts.envelope import STAGE_SERVICES, ServiceName
from services.analytics.domain.model import SCHEMA as ANALYTICS_SCHEMA
from services.analytics.figures import Figures
from services.cli.main import Model, read_model
from services.common import replay
from services.common.cluster import SERVICES, LocalCluster
from services.common.readmodel import ReadModelStore
from services.common.settings import ReadSide
from services.demo import samples
from services.demo.journey import history as service_history
from services.hq.domain.model import SCHEMA as HQ_SCHEMA
from tests.e2e.test_hq import history_as_published
from tests.e2e.test_procedure import Walk, complaint

pytestmark = pytest.mark.e2e


def cli_env(cluster: LocalCluster) -> dict[str, str]:
    """The environment the services run with: the same stores, broker and data dir."""
    env = dict(os.environ)
    for component in SERVICES:
        env |= {k: v for k, v in cluster.service_env(component).items() if k.endswith("_DATABASE_URL")}
    env |= {"KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap_servers, "COMPLAINTS_DATA_DIR": str(cluster.workdir)}
    return env


def complaints(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=cli_env(cluster), capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def closed(cluster: LocalCluster) -> dict[str, Any]:
    """A policy complaint walked to closure, with the moments between its steps noted."""
    with httpx.Client(timeout=15) as c:
        body = complaint("policy_service", "开票金额有误，要求重开发票。")
        receipt = c.post(f"{cluster.url(ServiceName.INTAKE)}/complaints", json=body,
                         headers=cluster.auth(**samples.CLERK))
        assert receipt.status_code == 201, receipt.text
    walk = Walk(cluster, receipt.json(), "SH01")
    try:
        walk.routed("awaiting_memo", "regional")
        registered = datetime.now().astimezone()
        walk.handler()
        assigned = datetime.now().astimezone()
        policy_within_regional_authority_after_handler(walk)
        done = datetime.now().astimezone()
    finally:
        walk.client.close()
    history_as_published(cluster, walk.id)  # everything published has reached HQ
    return {"walk": walk, "moments": (registered, assigned, done + timedelta(seconds=5))}


def policy_within_regional_authority_after_handler(w: Walk) -> None:
    w.step("cause-and-solution", w.manager, "awaiting_approval", cause="The invoice named the wrong amount.",
           cause_category="policy", valid=True, proposed_solution="Issue a corrected invoice.")
    w.step("approval", w.manager, "awaiting_customer_reply", approved_reply="We issue a corrected invoice.",
           remedy="Corrected invoice")
    w.reply_and_close(remedy="Corrected invoice issued", outcome="resolved")


def test_history_lists_every_event_of_every_store_once_in_causal_order(cluster: LocalCluster,
                                                                        closed: dict[str, Any]) -> None:
    walk = closed["walk"]
    result = complaints(cluster, "history", walk.form_number, "--json")
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout)["events"]
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids))
    # Every event each service shows for the complaint is there, exactly once.
    with httpx.Client(timeout=15, headers=cluster.auth(**samples.OPERATOR)) as c:
        for service in STAGE_SERVICES:
            shown = service_history(c, cluster.url(service), walk.id)
            mine = [(e["aggregate_id"], e["version"]) for e in events if e["service"] == service.value]
            assert {(e["aggregate_id"], e["version"]) for e in shown} <= set(mine), service
    # And every event published about it (HQ holds exactly those).
    published, _ = history_as_published(cluster, walk.id)
    assert {e["event_id"] for e in published} <= set(ids)
    position = {e["event_id"]: i for i, e in enumerate(events)}
    for i, e in enumerate(events):
        cause = (e["meta"] or {}).get("causation_id")
        if cause in position:
            assert position[cause] < i, e["event_type"]
    by_service: dict[str, list[int]] = {}
    for e in events:
        by_service.setdefault(e["service"], []).append(e["notification_id"])
    assert all(v == sorted(v) for v in by_service.values())
    assert {"intake", "routing", "notify"} <= set(by_service)


def test_history_as_of_three_moments_shows_the_states_it_had_then(cluster: LocalCluster,
                                                                   closed: dict[str, Any]) -> None:
    walk = closed["walk"]
    registered, assigned, done = closed["moments"]

    def case_at(moment: datetime) -> dict[str, Any]:
        result = complaints(cluster, "history", walk.id, "--as-of", moment.isoformat(), "--json")
        assert result.returncode == 0, result.stderr
        services = json.loads(result.stdout)["services"]
        [case] = [a for a in services["routing"] if a["aggregate"] == "ComplaintCase"]
        [registration] = [a for a in services["intake"] if a["aggregate_id"] == walk.id]
        return case["state"] | {"intake_version": registration["version"]}

    first, second, last = case_at(registered), case_at(assigned), case_at(done)
    assert first["handler"] is None and first["case_state"] == "awaiting_memo"
    assert second["handler"] == walk.manager["user"] and second["case_state"] == "awaiting_memo"
    assert last["case_state"] == "closed" and last["handler"] == walk.manager["user"]
    before = complaints(cluster, "history", walk.id, "--as-of", "2000-01-01T00:00:00+00:00", "--json")
    assert json.loads(before.stdout)["services"]["routing"] == []
    bad = complaints(cluster, "history", walk.id, "--as-of", "yesterday")
    assert bad.returncode == 1 and "--as-of" in bad.stderr


def _store(cluster: LocalCluster, model: Model) -> ReadModelStore:
    schema = HQ_SCHEMA if model is Model.HQ else ANALYTICS_SCHEMA
    component = ReadSide.HQ if model is Model.HQ else ServiceName.ANALYTICS
    return ReadModelStore(schema, cluster.database_urls[component])


@pytest.mark.parametrize("model", list(Model))
def test_a_read_model_rebuilt_from_the_beginning_equals_the_live_one_row_by_row(
        cluster: LocalCluster, closed: dict[str, Any], model: Model) -> None:
    spec = read_model(model)
    live = _store(cluster, model)
    projector = spec.projector(spec.settings.model_construct(calendar_file=None) if model is Model.ANALYTICS
                               else None)
    try:
        rebuilt, report = asyncio.run(replay.rebuild(live, projector, list(ServiceName), cluster.bus,
                                                     spec.name))
        assert report.events > 0 and not report.gaps
        settled = asyncio.run(replay.catch_up(rebuilt, live, projector, list(ServiceName),
                                              cluster.bus, spec.name, report))
        assert rebuilt.positions() == live.positions() and settled
        compared = 0
        for table in live.schema.tables:
            rows_live, rows_rebuilt = live.rows(table.name), rebuilt.rows(table.name)
            assert len(rows_live) == len(rows_rebuilt), table.name
            for a, b in zip(rows_live, rows_rebuilt, strict=True):
                assert a == b, (table.name, a, b)
            compared += len(rows_live)
        assert compared > 0
        if model is Model.ANALYTICS:
            month = closed["moments"][0].strftime("%Y-%m")
            zone = spec.projector(spec.settings.model_construct(calendar_file=None)).zone
            assert Figures(live, zone).monthly(month) == Figures(rebuilt, zone).monthly(month)
        rebuilt.drop()
    finally:
        live.close()


def test_check_and_replay_from_the_beginning_swap_in_an_equal_model(cluster: LocalCluster,
                                                                    closed: dict[str, Any]) -> None:
    checked = complaints(cluster, "check", "hq", "--json")
    assert checked.returncode == 0, checked.stderr + checked.stdout
    result = json.loads(checked.stdout)
    assert result["differences"] == [] and result["events"] > 0
    replayed = complaints(cluster, "replay", "hq", "--from-beginning", "--json")
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["swapped"] is True
    with httpx.Client(timeout=15) as c:  # HQ goes on serving from the swapped-in tables
        row = c.get(f"{cluster.url(ReadSide.HQ)}/complaints/{closed['walk'].form_number}",
                    headers=cluster.auth(**samples.OPERATOR))
    assert row.status_code == 200 and row.json()["stage"] == "closed"


def test_export_writes_the_dossier_as_json_and_as_a_pdf(cluster: LocalCluster, closed: dict[str, Any],
                                                        tmp_path: Path) -> None:
    walk = closed["walk"]
    as_json = complaints(cluster, "export", walk.form_number, "--format", "json", "--out", str(tmp_path / "d.json"))
    assert as_json.returncode == 0, as_json.stderr
    dossier = json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))
    assert dossier["complaint"]["form_number"] == walk.form_number
    assert dossier["complaint"]["description"] == "开票金额有误，要求重开发票。"
    assert [a["event"] for a in dossier["approvals"]][-1] == "ReplyApproved"
    assert dossier["customer_reply"] and dossier["follow_up"] and dossier["notifications"]
    assert dossier["closure"]["decision_trail"]
    as_pdf = complaints(cluster, "export", walk.id, "--format", "pdf", "--out", str(tmp_path / "d.pdf"))
    assert as_pdf.returncode == 0, as_pdf.stderr
    assert (tmp_path / "d.pdf").read_bytes()[:5] == b"%PDF-"
    missing = complaints(cluster, "export", "SH01-19990101-0001")
    assert missing.returncode == 1 and "no complaint" in missing.stderr


def test_report_writes_the_month_as_html_csv_and_xlsx(cluster: LocalCluster, closed: dict[str, Any],
                                                      tmp_path: Path) -> None:
    month = closed["moments"][0].astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    result = complaints(cluster, "report", month, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / f"complaints-report-{month}.html").read_text(encoding="utf-8")
    assert closed["walk"].form_number in html and html.count("data:image/png;base64,") >= 4
    rows = list(csv.reader((tmp_path / f"complaints-report-{month}.csv").read_text(encoding="utf-8-sig").splitlines()))
    total = next(int(r[3]) for r in rows if r[:3] == ["summary", "all", "total"])
    assert total >= 1
    assert (tmp_path / f"complaints-report-{month}.xlsx").stat().st_size > 0
    bad = complaints(cluster, "report", "2026-13")
    assert bad.returncode == 1 and "month" in bad.stderr


def test_verify_finds_every_store_intact_then_names_the_row_edited_behind_its_back(
        cluster: LocalCluster, closed: dict[str, Any]) -> None:
    intact = complaints(cluster, "verify", "--json")
    assert intact.returncode == 0, intact.stderr + intact.stdout
    stores = {r["service"]: r for r in json.loads(intact.stdout)}
    assert set(stores) == {s.value for s in ServiceName} and all(r["ok"] for r in stores.values())
    assert stores["routing"]["checked"] > 0
    # Edit one of the closed complaint's events at routing directly in PostgreSQL (a trailing space: the
    # event still reads, so only the chain can tell), then put it back.
    history = json.loads(complaints(cluster, "history", closed["walk"].id, "--json").stdout)["events"]
    target = next(e["notification_id"] for e in history if e["service"] == "routing"
                  and (e["published_as"] or e["event_type"]) == "HandlerAssigned")
    with psycopg.connect(cluster.database_urls[ServiceName.ROUTING], autocommit=True) as conn:
        conn.execute("UPDATE routing_events SET state = state || ' '::bytea WHERE notification_id = %s", (target,))
        try:
            edited = complaints(cluster, "verify", "--service", "routing", "--json")
        finally:
            conn.execute("UPDATE routing_events SET state = substring(state FROM 1 FOR length(state) - 1) "
                         "WHERE notification_id = %s", (target,))
    assert edited.returncode == 1
    [report] = json.loads(edited.stdout)
    assert report["break"]["kind"] == "edited" and report["break"]["notification_id"] == target
    assert f"event {target}" in edited.stderr
    assert complaints(cluster, "verify", "--service", "routing").returncode == 0
