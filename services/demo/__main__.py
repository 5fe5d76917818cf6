"""Start Apache Kafka (one node), the five services and the read side (HQ, analytics) on the embedded default, run
sample complaints through them, print each complaint's journey and what HQ shows, and stop everything."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import httpx

from contracts.envelope import ServiceName
from services.common.cluster import SERVICES, ConsoleProcess, LocalCluster
from services.common.settings import ReadSide
from services.demo import samples
from services.demo.journey import (
    describe, dispatch_on_site, journey, record_determination, wait_for, wait_for_events,
)


def main() -> int:
    workdir = Path("var/demo")
    shutil.rmtree(workdir, ignore_errors=True)
    print("Starting Apache Kafka (one node), the five services, HQ and analytics (SQLite in var/demo) ...", flush=True)
    with LocalCluster(workdir) as cluster:
        # Reads go out as an operator (an audit of every service); commands as the people who send them.
        client = httpx.Client(timeout=10, headers=cluster.auth(**samples.OPERATOR))
        urls = {s: cluster.url(s) for s in SERVICES}
        for service in SERVICES:
            print(f"  {service.value:<9} {urls[service]}  (log: {cluster.log_path(service)})")
        print(f"Tokens are signed with the local key in {workdir}/keys; mint one with\n"
              f"  python -m services.common.tokens --data-dir {workdir} --user clerk-li --role branch_clerk "
              "--branch SH01")
        submitted = {}
        for label, body in [("product quality", samples.quality_complaint()),
                            ("staff", samples.staff_complaint()),
                            ("minor, closed on the spot", samples.minor_complaint())]:
            clerk = samples.clerk_of(body["branch"])
            receipt = client.post(f"{urls[ServiceName.INTAKE]}/complaints", json=body, headers=cluster.auth(**clerk))
            receipt.raise_for_status()
            submitted[label] = receipt.json()
            print(f"Registered {label} complaint as {clerk['user']}: form {receipt.json()['form_number']}")

        bad = client.post(f"{urls[ServiceName.INTAKE]}/complaints",
                          json={**samples.quality_complaint(), "product": None}, headers=cluster.auth(**samples.CLERK))
        print(f"A product complaint without product details is refused: {bad.status_code} "
              f"{bad.json()['detail'][0]['msg']}")
        anonymous = httpx.post(f"{urls[ServiceName.INTAKE]}/complaints", json=samples.quality_complaint())
        print(f"Without a token: {anonymous.status_code} {anonymous.json()['detail'][0]['msg']}")
        elsewhere = client.get(f"{urls[ServiceName.INTAKE]}/complaints/{submitted['product quality']['complaint_id']}"
                               "/history", headers=cluster.auth(**samples.clerk_of("BJ02")))
        print(f"The Beijing clerk asks for the Shanghai complaint: {elsewhere.status_code} (not in their branch)")

        quality = submitted["product quality"]["complaint_id"]
        print("Routing gave the product-quality complaint to the HQ clerk, who sends the regional manager on site "
              f"as {samples.HQ_CLERK['user']} ...")
        dispatch_on_site(client, urls[ServiceName.ROUTING], quality, cluster.auth(**samples.HQ_CLERK),
                         regional_manager=samples.MANAGER["user"])
        wait_for_events(client, urls[ServiceName.QUALITY], quality, "Opened")
        print("Quality opened an investigation; the regional manager uploads a photo of the defect and records "
              "the on-site determination ...")
        record_determination(client, urls[ServiceName.QUALITY], quality,
                             cluster.auth(**samples.MANAGER)).raise_for_status()
        # The customer told of the visit, then the customer, the general manager and the management
        # representative told of the decision.
        wait_for_events(client, urls[ServiceName.NOTIFY], quality, "Recorded", count=4)
        wait_for_events(client, urls[ServiceName.ROUTING], submitted["staff"]["complaint_id"], "Routed")
        for label in ("product quality", "staff"):
            case = client.get(f"{urls[ServiceName.ROUTING]}/complaints/{submitted[label]['complaint_id']}/case")
            case.raise_for_status()
            waiting = ", ".join(f"{a['step']} ({a['role']})" for a in case.json()["awaited"])
            print(f"The {label} case at headquarters is {case.json()['state']}; waiting for: {waiting}")

        for label, receipt in submitted.items():
            print(f"\nJourney of {receipt['form_number']} ({label}):")
            for service, event in journey(client, urls, receipt["complaint_id"]):
                print(f"  {event['occurred_at'][11:23]}  {service:<8} {event['aggregate']}.{event['event_type']:<24}"
                      f" {describe(event)}")
        print(f"\nWho was told what (e-mails without an SMTP relay are written to {workdir / 'mail'}):")
        for label, receipt in submitted.items():
            told = client.get(f"{urls[ServiceName.NOTIFY]}/complaints/{receipt['complaint_id']}/notifications")
            if told.status_code != 200:
                continue
            for n in told.json()["notifications"]:
                targets = ", ".join(f"{t['channel']} {t['address']} ({t['status']})" for t in n["targets"])
                print(f"  {receipt['form_number']}  {n['recipient'][:14]:<14} {n['subject'][:40]:<40} "
                      f"send at {n['send_at'][:16]} -> {targets}")
        print("  (queued: an internal notice waits for the start of the next working period)")
        show_hq(client, cluster, urls[ReadSide.HQ], submitted)
        show_console(cluster, submitted["product quality"]["form_number"])
        client.close()
        print("\nStopping ...")
    print("Done.")
    return 0


def show_hq(client: httpx.Client, cluster: LocalCluster, hq: str, submitted: dict[str, dict]) -> None:
    """What headquarters sees: the list, one complaint found by its form number, and an inbox."""
    quality = submitted["product quality"]["form_number"]
    wait_for(lambda: client.get(f"{hq}/complaints/{quality}").status_code == 200, 30, "HQ to know the complaint")
    print("\nHQ's complaint list (newest first), as the operator sees it:")
    for row in client.get(f"{hq}/complaints", params={"limit": 10}).json()["items"]:
        due = f"next due {row['next_due_at'][:16]} ({row['next_due_kind']})" if row["next_due_at"] else ""
        print(f"  {row['form_number']}  {row['subject']:<16} {row['severity']:<8} {row['stage']:<22} {due}")
    found = client.get(f"{hq}/complaints", params={"q": "oil leak"}).json()["items"]
    print(f"Search for 'oil leak' finds: {', '.join(r['form_number'] for r in found) or 'nothing'}")
    inbox = client.get(f"{hq}/inbox", headers=cluster.auth(**samples.HQ_CLERK)).json()
    print(f"The HQ clerk's inbox ({inbox['count']} steps, {inbox['overdue']} overdue), oldest deadline first:")
    for item in inbox["items"][:5]:
        print(f"  {item['form_number']}  {item['step']:<16} due {(item['due_at'] or '-')[:16]}")
    events = client.get(f"{hq}/complaints/{quality}/history").json()["events"]
    print(f"{quality}'s merged history at HQ: {len(events)} events from "
          f"{', '.join(sorted({e['service'] for e in events}))}")


def show_console(cluster: LocalCluster, form_number: str) -> None:
    """The web console beside the services: the clerk signs in and opens the product complaint."""
    with ConsoleProcess(cluster) as console, httpx.Client(base_url=console.url, timeout=10) as browser:
        login = browser.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        browser.cookies.set("console_login", login.cookies.get("console_login") or "")
        signed = browser.post("/login", data={"user": "clerk-li", "password": "demo-password",
                                              "csrf_token": token.group(1) if token else ""}, follow_redirects=False)
        browser.cookies.set("console_session", signed.cookies.get("console_session") or "")
        page = browser.get(f"/complaints/{form_number}")
        title = re.search(r"<title>(.*?)</title>", page.text)
        timeline = re.search(r'<ol class="timeline">(.*?)</ol>', page.text, re.S)
        steps = timeline.group(1).count("<li ") if timeline else 0
        print(f"\nThe web console ({console.url}): clerk-li signs in (password demo-password) and opens "
              f"{form_number}: {page.status_code}, page '{title.group(1) if title else '?'}', {steps} steps "
              f"on its timeline. `make up` keeps it running on port 8008.")


if __name__ == "__main__":
    sys.exit(main())
