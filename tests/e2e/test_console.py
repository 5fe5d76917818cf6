"""The console in a real browser: Debian's Chromium driven by Playwright, against the console and the
whole system as OS processes (the e2e package's cluster on PostgreSQL, the console on its own port).

The journey of issue 11, each person signing in with their own password in their own browser
context: a branch clerk registers a product-quality complaint and confirms the read-back; the HQ
clerk dispatches the regional manager on site; the regional manager records the determination with
a photo uploaded from the form, and files the defective-product form; the marketing director and
the HQ regional manager approve it; the HQ clerk forwards it and names the handler; the quality
department adjudicates; the decision is approved; the corrective action the defect raised is proposed
by quality and approved by the management representative and the general manager; the clerk sees the reply task in the inbox,
replies, quality records the remedy, the clerk follows up and the HQ clerk closes the case. Every
page of the way is screenshotted into the test's artifacts directory (`CONSOLE_SCREENSHOTS`, by
default `test-artifacts/console/` under the repository).

Also: a branch user cannot open another branch's complaint by URL; a customer named `<script>...`
is shown as text; a service's refusal is shown next to the field it names; a double-clicked submit
registers once; every input has a label and a form can be filled and sent with the keyboard alone.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.envelope import ServiceName
from services.common.cluster import ConsoleProcess, LocalCluster
from tests.support.browser import launched
from services.demo import samples


pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

PASSWORD = "demo-password"
ARTIFACTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", Path(__file__).resolve().parents[2] / "test-artifacts" / "console"))
#: People of the console's users file (services/console/users.yaml).
CLERK = "clerk-li"            # branch clerk, SH01 (region EAST)
OTHER_CLERK = "clerk-bj02"    # branch clerk, BJ02
HQ_CLERK = "hq-clerk-xu"
MANAGER = "rm-wang"           # regional manager, EAST
DIRECTOR = "md-huang"         # marketing director
HQ_REGIONAL = "hqrm-zhou"     # HQ regional manager
QUALITY = "qd-lin"            # quality department
REPRESENTATIVE = "mr-sun"     # management representative
GENERAL_MANAGER = "gm-chen"
WAIT = 45.0


@pytest.fixture(scope="module")
def console(cluster: LocalCluster) -> Iterator[ConsoleProcess]:
    with ConsoleProcess(cluster) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launched()


class Person:
    """One signed-in user in their own browser context (their own cookies)."""

    def __init__(self, browser: Any, console: ConsoleProcess, user: str, *, mobile: bool = False):
        options = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True} if mobile \
            else {"viewport": {"width": 1280, "height": 900}}
        self.context = browser.new_context(base_url=console.url, locale="zh-CN", **options)
        self.page = self.context.new_page()
        self.user = user
        self.shots = 0
        self.page.goto("/inbox")
        assert "/login" in self.page.url
        self.page.get_by_label(re.compile("用户名|User id")).fill(user)
        self.page.get_by_label(re.compile("密码|Password")).fill(PASSWORD)
        self.page.get_by_role("button", name=re.compile("登录|Sign in")).click()
        self.page.wait_for_url(re.compile(r"/inbox$"))

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        self.page.screenshot(path=str(ARTIFACTS / f"{self.user}-{self.shots:02d}-{name}.png"), full_page=True)

    def open(self, form_number: str) -> None:
        self.page.goto(f"/complaints/{form_number}")

    def step(self, form_number: str, key: str, fill: dict[str, Any] | None = None, *,
             files: dict[str, list[Path]] | None = None) -> None:
        """Open the complaint until the step's button shows (the read side follows the events), open its
        form, fill it, send it, and see the complaint's page say it is done."""
        try:
            self.step_button(form_number, key)
        except AssertionError:
            self.shot(f"missing-{key.replace('/', '-')}")
            offered = self.page.locator("a[data-step]").evaluate_all("e => e.map(a => a.dataset.step)")
            raise AssertionError(f"{self.user} has no step {key} on {form_number} after {WAIT}s; offered: {offered}")
        button = self.page.locator(f"a[data-step='{key}']")
        self.shot("complaint")
        button.first.click()
        self.page.wait_for_selector(f"form[data-step='{key}']")
        for name, value in (fill or {}).items():
            self.set(name, value)
        for name, paths in (files or {}).items():
            self.page.set_input_files(f"input[type=file][name='{name}']", [str(p) for p in paths])
        self.shot(key.replace("/", "-"))
        self.page.locator(f"form[data-step='{key}'] button[type=submit]").click()
        self.page.wait_for_load_state()
        if "done=" not in self.page.url:
            self.shot(f"refused-{key.replace('/', '-')}")
            errors = self.page.locator(".error, .alert").all_inner_texts()
            raise AssertionError(f"{key} by {self.user} was refused: {errors}")

    def step_button(self, form_number: str, key: str) -> None:
        """Open the complaint until the step's button shows (the read side follows the events)."""
        deadline = time.monotonic() + WAIT
        while True:
            self.open(form_number)
            if self.page.locator(f"a[data-step='{key}']").count():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user} has no step {key} on {form_number} after {WAIT}s")
            time.sleep(0.5)

    def set(self, name: str, value: Any) -> None:
        field = self.page.locator(f"[name='{name}']").first
        tag = field.evaluate("e => e.tagName.toLowerCase() + (e.type ? ':' + e.type : '')")
        if tag.startswith("select"):
            field.select_option(str(value))
        elif tag == "input:checkbox":
            field.set_checked(bool(value))
        else:
            field.fill(str(value))

    def close(self) -> None:
        self.context.close()


def registered(cluster: LocalCluster, branch: str) -> httpx.Response:
    """A product complaint registered over intake's API by the branch's clerk (its receipt)."""
    response = httpx.post(cluster.url(ServiceName.INTAKE) + "/complaints", json=samples.quality_complaint(branch),
                          headers=cluster.auth(**samples.clerk_of(branch)))
    response.raise_for_status()
    return response


def _photo(tmp_path: Path) -> Path:
    path = tmp_path / "seam-crack.png"
    path.write_bytes(samples.SAMPLE_PHOTO)
    return path


def _local(delta: timedelta = timedelta(0)) -> str:
    from zoneinfo import ZoneInfo
    return (datetime.now(ZoneInfo("Asia/Shanghai")) + delta).strftime("%Y-%m-%dT%H:%M")


def register(clerk: Person, customer: str, description: str = "齿轮箱外壳到货时开裂，接缝处漏油。") -> str:
    """The clerk fills the registration form (product fields appear for a product complaint), saves it,
    reads the record back and confirms; returns the form number shown at once."""
    page = clerk.page
    page.goto("/register")
    assert page.locator("[name='product.model']").count() == 0  # no product fields before the subject says so
    page.select_option("[name='subject']", "product_quality")
    page.wait_for_selector("[name='product.model']")
    clerk.set("channel", "phone")
    clerk.set("severity", "general")
    clerk.set("customer.name", customer)
    clerk.set("customer.contact_person", "赵先生")
    clerk.set("customer.phone", samples.a_phone())
    clerk.set("customer.address", "上海市浦东大道88号")
    clerk.set("description", description)
    clerk.set("product.model", "GX-200")
    clerk.set("product.batch_number", samples.a_batch())
    clerk.set("product.quantity", "2")
    today = datetime.now().date()
    for name, days in (("order_date", 20), ("shipping_date", 12), ("arrival_date", 9)):
        clerk.set(f"product.{name}", str(today - timedelta(days=days)))
    clerk.shot("register")
    page.get_by_role("button", name=re.compile("保存并复述|Save and read back")).click()
    page.wait_for_url(re.compile(r"/read-back$"))
    form_number = page.get_by_test_id("form-number").inner_text().strip()
    assert re.fullmatch(r"SH01-\d{8}-\d{4}", form_number)
    assert customer in page.get_by_test_id("read-back-text").inner_text()
    clerk.shot("read-back")
    page.get_by_role("button", name=re.compile("确认登记|Register")).click()
    page.wait_for_url(re.compile(r"/registered$"))
    assert page.get_by_test_id("form-number").inner_text().strip() == form_number
    clerk.shot("registered")
    return form_number


def test_the_journey_of_a_quality_complaint_through_the_console(browser: Any, console: ConsoleProcess,
                                                                tmp_path: Path) -> None:
    people: dict[str, Person] = {}

    def who(user: str, **kw: Any) -> Person:
        if user not in people:
            people[user] = Person(browser, console, user, **kw)
        return people[user]

    try:
        clerk = who(CLERK)
        form_number = register(clerk, "恒达机械有限公司")

        who(HQ_CLERK).step(form_number, "routing/on-site-dispatch", {"note": "非使用问题，请区域经理到现场取样。"})

        manager = who(MANAGER, mobile=True)  # on a phone, on site
        manager.step(form_number, "quality/on-site-determination", {
            "determination": "obvious_quality_defect", "photo_refs": "seam-crack.png", "memo": "外壳接缝铸造缺陷。",
            "customer_agrees": True, "visited_at": _local(-timedelta(minutes=30)), "cause": "铸造气孔",
        }, files={"evidence": [_photo(tmp_path)]})
        manager.open(form_number)
        thumbnails = manager.page.locator("img[src^='/evidence/']")
        assert thumbnails.count() >= 1
        assert thumbnails.first.evaluate("img => img.complete && img.naturalWidth > 0")  # the photo itself, via quality
        manager.step(form_number, "quality/defective-product-form", {
            "defect_description": "外壳接缝开裂漏油", "memo": "照片见附件", "return_proposed": "no",
            "estimated_company_cost": "1800.00"})

        who(DIRECTOR).step(form_number, "quality/defective-product-form-approval", {"comments": "同意"})
        who(HQ_REGIONAL).step(form_number, "quality/defective-product-form-approval", {"product_return": "no"})
        hq = who(HQ_CLERK)
        hq.step(form_number, "quality/defective-product-form-forwarding")
        hq.step(form_number, "routing/handler", {"handler": HQ_CLERK, "handler_role": "hq_clerk"})

        quality = who(QUALITY)
        quality.step(form_number, "quality/adjudication", {
            "root_cause": "铸造气孔", "responsible_party": "company", "proposed_handling": "更换齿轮箱",
            "salesperson_negligent": False})
        who(HQ_REGIONAL).step(form_number, "quality/quality-decision-approval", {"company_cost": "1800.00"})
        # the defect raised a corrective action: quality proposes it, both of its approvers approve it
        quality.step(form_number, "capa/proposal", {
            "root_cause": "铸造气孔", "actions": "改进浇注温度控制\n加强出厂气密检验", "responsible_department": "生产部",
            "due_at": _local(timedelta(days=30))})
        who(REPRESENTATIVE).step(form_number, "capa/approval")
        who(GENERAL_MANAGER).step(form_number, "capa/approval")

        # the clerk sees the reply task in the inbox, oldest deadline first, and answers the customer
        deadline = time.monotonic() + WAIT
        while True:
            clerk.page.goto("/inbox")
            row = clerk.page.locator("tr[data-step='customer-reply']", has=clerk.page.locator(
                f"a:text-is('{form_number}')"))
            if row.count() or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        clerk.shot("inbox-reply-task")
        assert row.count() == 1, "the clerk's inbox shows the reply task"
        due = row.locator("time").first
        assert due.get_attribute("title"), "the due time explains itself on hover"
        clerk.step(form_number, "routing/customer-reply", {"channel": "phone", "reply": "经检验为产品质量问题，免费为您更换。"})

        quality.step(form_number, "quality/quality-remedy", {
            "remedy_kind": "replacement_shipped", "delivered_at": _local(), "reference": "WO-2026-0001"})
        clerk.step(form_number, "routing/follow-up", {"channel": "phone", "reached_customer": True,
                                                      "satisfaction": "satisfied"})
        hq.step(form_number, "routing/closure", {"resolution_summary": "更换齿轮箱，客户满意。"})

        deadline = time.monotonic() + WAIT
        while True:
            clerk.open(form_number)
            stage = clerk.page.get_by_test_id("stage").inner_text()
            if "结案" in stage or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        clerk.shot("closed")
        assert "结案" in stage
        events = clerk.page.locator("ol.timeline").first.locator("li").evaluate_all(
            "items => items.map(i => i.dataset.event)")
        steps = ["ReadBackConfirmed", "ComplaintRegistered", "QualityCaseTriaged", "OnSiteDeterminationRecorded",
                 "QualityDecisionApproved", "CustomerReplied", "SatisfactionFollowUpRecorded", "ComplaintClosed"]
        assert all(step in events for step in steps), set(steps) - set(events)
        assert [events.index(step) for step in steps] == sorted(events.index(step) for step in steps)  # in order
    finally:
        for person in people.values():
            person.close()


def test_a_branch_user_cannot_open_another_branchs_complaint_by_url(browser: Any, console: ConsoleProcess,
                                                                   cluster: LocalCluster) -> None:
    response = registered(cluster, "SH01")
    form_number, complaint_id = response.json()["form_number"], response.json()["complaint_id"]
    own = Person(browser, console, CLERK)
    other = Person(browser, console, OTHER_CLERK)
    try:
        deadline = time.monotonic() + WAIT
        while own.page.goto(f"/complaints/{form_number}").status != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert own.page.locator("h1").inner_text().startswith(form_number)
        for ref in (form_number, complaint_id):
            answer = other.page.goto(f"/complaints/{ref}")
            assert answer.status == 404
            assert form_number not in other.page.content() or ref == form_number and \
                other.page.locator("main").inner_text().count(form_number) <= 1
            assert "恒达" not in other.page.content() and samples.quality_complaint()["customer"]["name"] not in \
                other.page.locator("main").inner_text()
        other.shot("other-branch-404")
        # nor its steps, nor its registration record
        assert other.page.goto(f"/complaints/{form_number}/steps/routing/customer-reply").status == 404
        assert other.page.goto(f"/register/{complaint_id}/read-back").status == 404
    finally:
        own.close()
        other.close()


def test_a_customer_named_like_a_script_is_shown_as_text(browser: Any, console: ConsoleProcess) -> None:
    clerk = Person(browser, console, CLERK)
    alerts: list[str] = []
    clerk.page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    try:
        name = "<script>alert('x')</script><img src=x onerror=alert(1)>"
        form_number = register(clerk, name, description="<b>bold?</b> & 'quotes'")
        clerk.page.goto(f"/register/{_id_of(clerk, form_number)}/read-back")
        text = clerk.page.get_by_test_id("read-back-text").inner_text()
        assert name in text
        assert clerk.page.locator("main script, main img[src=x]").count() == 0
        assert alerts == []
    finally:
        clerk.close()


def _id_of(person: Person, form_number: str) -> str:
    match = re.search(r"/register/([0-9a-f-]{36})/", person.page.url)
    if match:
        return match.group(1)
    person.page.go_back()
    return re.search(r"/register/([0-9a-f-]{36})/", person.page.url).group(1)  # type: ignore[union-attr]


def test_a_services_refusal_is_shown_next_to_the_field_it_names(browser: Any, console: ConsoleProcess) -> None:
    clerk = Person(browser, console, CLERK)
    try:
        page = clerk.page
        page.goto("/register?subject=policy_service")
        clerk.set("subject", "policy_service")
        clerk.set("customer.name", "李女士")
        clerk.set("customer.phone", samples.a_phone())
        clerk.set("description", "营业所服务态度差。")
        clerk.set("received_at", _local(timedelta(days=2)))  # in the future: intake refuses it
        page.get_by_role("button", name=re.compile("保存并复述")).click()
        page.wait_for_load_state()
        error = page.locator("#f-received_at-error")
        assert error.is_visible()
        assert page.locator("#f-received_at").get_attribute("aria-invalid") == "true"
        assert page.locator("#f-received_at").get_attribute("aria-describedby") == "f-received_at-error"
        # what was typed is kept
        assert page.locator("[name='customer.name']").input_value() == "李女士"
        clerk.shot("refused-received-at")
    finally:
        clerk.close()


def test_a_double_clicked_or_resent_registration_registers_once(browser: Any, console: ConsoleProcess,
                                                                cluster: LocalCluster) -> None:
    clerk = Person(browser, console, CLERK)
    try:
        page = clerk.page
        page.goto("/register?subject=policy_service")
        fields = {"branch": "SH01", "channel": "phone", "kind": "complaint", "subject": "policy_service",
                  "severity": "general", "customer.name": f"双击测试 {samples.a_phone()}",
                  "customer.phone": samples.a_phone(), "description": "双击提交"}
        for name, value in fields.items():
            clerk.set(name, value)
        sent = {name: page.locator(f"form#register [name='{name}']").input_value()
                for name in ("command_id", "csrf_token", "received_at")}
        page.get_by_role("button", name=re.compile("保存并复述")).dblclick()
        page.wait_for_url(re.compile(r"/read-back$"))
        first = page.url
        # the same form sent again (a retry after a lost answer, or a browser without the page's script):
        # the same command id, so intake answers with the complaint it registered the first time
        again = page.request.post("/register", form={**fields, **sent}, max_redirects=0)
        assert again.status == 303
        assert first.endswith(again.headers["location"])
        complaint_id = re.search(r"/register/([0-9a-f-]{36})/", first).group(1)  # type: ignore[union-attr]
        events = httpx.get(cluster.url(ServiceName.INTAKE) + f"/complaints/{complaint_id}/history",
                           headers=cluster.auth(**samples.OPERATOR)).json()["events"]
        assert [e["event_type"] for e in events] == ["Taken"]
    finally:
        clerk.close()


LABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(e => e.type !== 'hidden')
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
    .map(e => e.name || e.id || e.outerHTML.slice(0, 80))"""


def test_every_input_has_a_label_and_the_keyboard_suffices(browser: Any, console: ConsoleProcess) -> None:
    context = browser.new_context(base_url=console.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto("/login")
        assert page.evaluate(LABELLED) == []
        # sign in with the keyboard alone: the user field has the focus, Tab to the password, Enter sends
        page.keyboard.type(CLERK)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/inbox$"))
        for path in ("/inbox", "/register", "/register?subject=product_quality", "/complaints", "/dashboard"):
            page.goto(path)
            assert page.evaluate(LABELLED) == [], path
            assert page.locator("h1").count() == 1, path
        # the skip link is the first stop of the keyboard, and leads to the content
        page.goto("/inbox")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        # a form is reachable and sent with the keyboard: Tab through the search form to its button
        page.goto("/complaints")
        page.locator("#q").focus()
        page.keyboard.type("GX-200")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"q=GX-200"))
    finally:
        context.close()


def test_signing_out_ends_the_session_and_forms_need_their_csrf_token(console: ConsoleProcess) -> None:
    with httpx.Client(base_url=console.url, follow_redirects=False) as client:
        page = client.get("/login")
        login_token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        assert "HttpOnly" in page.headers["set-cookie"] and "Secure" in page.headers["set-cookie"]
        # httpx keeps Secure cookies for https only; a browser keeps them for http://127.0.0.1 too
        client.cookies.set("console_login", page.cookies["console_login"])
        # no token, or another one: refused, no session
        assert client.post("/login", data={"user": CLERK, "password": PASSWORD}).status_code == 403
        assert client.post("/login", data={"user": CLERK, "password": PASSWORD, "csrf_token": "x" * 32}).status_code == 403
        assert "console_session" not in client.cookies
        bad = client.post("/login", data={"user": CLERK, "password": "wrong", "csrf_token": login_token})
        assert bad.status_code == 400
        signed = client.post("/login", data={"user": CLERK, "password": PASSWORD, "csrf_token": login_token})
        assert signed.status_code == 303
        cookie = signed.cookies["console_session"]
        assert "HttpOnly" in signed.headers["set-cookie"] and "SameSite=lax" in signed.headers["set-cookie"]
        client.cookies.set("console_session", cookie)
        inbox = client.get("/inbox")
        assert inbox.status_code == 200 and inbox.text.lstrip().startswith("<!doctype html>")
        # htmx refreshing the inbox in place gets its content block only, with the same data
        refreshed = client.get("/inbox", headers={"HX-Request": "true", "HX-Target": "content"})
        assert refreshed.status_code == 200 and "<html" not in refreshed.text and "<h1>" in refreshed.text
        assert 'hx-trigger="every 60s"' in refreshed.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', inbox.text).group(1)  # type: ignore[union-attr]
        assert client.post("/logout", data={}).status_code == 403           # no CSRF token: refused
        assert client.get("/inbox").status_code == 200                      # ... and still signed in
        assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    with httpx.Client(base_url=console.url, follow_redirects=False, cookies={"console_session": cookie}) as replay:
        answer = replay.get("/inbox")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_the_dashboard_charts_the_month_and_english_is_a_click_away(browser: Any, console: ConsoleProcess,
                                                                    cluster: LocalCluster) -> None:
    registered(cluster, "HZ05")
    director = Person(browser, console, DIRECTOR)
    try:
        page = director.page
        deadline = time.monotonic() + WAIT
        while True:
            page.goto("/dashboard")
            bars = page.locator("figure.chart svg rect.bar")
            if bars.count() or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert bars.count() >= 3, "complaints by branch, subject and severity are drawn"
        branch_chart = page.locator("figure.chart", has=page.locator("figcaption", has_text="各营业所投诉数"))
        assert "HZ05" in branch_chart.inner_text()
        assert branch_chart.locator("svg").get_attribute("role") == "img"
        director.shot("dashboard")
        page.get_by_role("link", name="English").click()
        page.wait_for_url(re.compile(r"/dashboard"))
        assert page.locator("h1").inner_text().startswith("Figures for")
        assert page.get_by_role("link", name="Inbox").count() == 1
        assert page.locator("html").get_attribute("lang") == "en"
        director.shot("dashboard-en")
        page.goto("/inbox")
        assert page.locator("h1").inner_text() == "My inbox"   # the choice stays
        page.get_by_role("link", name="中文").click()
        page.wait_for_url(re.compile(r"/inbox"))
        assert page.locator("h1").inner_text() == "我的待办"
    finally:
        director.close()


def test_a_record_corrected_at_the_read_back_is_read_back_again(browser: Any, console: ConsoleProcess,
                                                                cluster: LocalCluster) -> None:
    clerk = Person(browser, console, CLERK)
    try:
        page = clerk.page
        page.goto("/register?subject=policy_service")
        clerk.set("customer.name", "王女士")
        clerk.set("customer.contact_person", "王女士")
        clerk.set("customer.phone", samples.a_phone())
        clerk.set("description", "营业所未按约定时间上门。")
        page.get_by_role("button", name=re.compile("保存并复述")).click()
        page.wait_for_url(re.compile(r"/read-back$"))
        read_back_url = page.url
        form_number = page.get_by_test_id("form-number").inner_text().strip()
        # the customer hears it and says the contact is her husband: the clerk corrects the record
        page.get_by_role("link", name=re.compile("更正记录")).click()
        page.wait_for_url(re.compile(r"/correction$"))
        assert page.locator("[name='customer.name']").input_value() == "王女士"   # the record as taken
        clerk.set("customer.contact_person", "李先生")
        clerk.set("reason", "客户更正联系人")
        clerk.shot("correction")
        page.get_by_role("button", name=re.compile("保存更正并复述")).click()
        page.wait_for_url(read_back_url)
        assert page.get_by_test_id("form-number").inner_text().strip() == form_number   # the same form number
        assert "李先生" in page.locator("main").inner_text()
        clerk.shot("read-back-again")
        page.get_by_role("button", name=re.compile("确认登记")).click()
        page.wait_for_url(re.compile(r"/registered$"))
        complaint_id = re.search(r"/register/([0-9a-f-]{36})/", page.url).group(1)  # type: ignore[union-attr]
        events = httpx.get(cluster.url(ServiceName.INTAKE) + f"/complaints/{complaint_id}/history",
                           headers=cluster.auth(**samples.OPERATOR)).json()["events"]
        assert [e["event_type"] for e in events][:3] == ["Taken", "Corrected", "ReadBackConfirmed"]
        assert events[2]["data"]["record_revision"] == 2
    finally:
        clerk.close()


def test_a_session_whose_token_has_expired_signs_in_again(console: ConsoleProcess, cluster: LocalCluster) -> None:
    """The services refuse the token (401: expired, as a provider's short-lived access token does):
    the console ends the session and sends the person to sign in, back to where they were."""
    from datetime import datetime, timezone

    from services.common.auth import AuthSettings
    from services.common.tokens import mint_token
    from services.console.sessions import SessionStore

    expired = mint_token(cluster.workdir, CLERK, "branch_clerk", "SH01", ttl=timedelta(minutes=5),
                         now=datetime.now(timezone.utc) - timedelta(hours=1), settings=AuthSettings.model_construct())
    store = SessionStore(cluster.workdir / "console-sessions.sqlite")
    session_id, _ = store.create(user_id=CLERK, name="李静", role="branch_clerk", branch="SH01", region=None,
                                 token=expired, ttl=timedelta(hours=1))
    try:
        with httpx.Client(base_url=console.url, follow_redirects=False,
                          cookies={"console_session": session_id}) as client:
            answer = client.get("/inbox")
            assert answer.status_code == 303
            assert answer.headers["location"] == "/login?next=%2Finbox"
        assert store.get(session_id) is None
    finally:
        store.close()


def test_a_complaints_page_stands_when_a_service_behind_it_is_down(browser: Any, console: ConsoleProcess,
                                                                  cluster: LocalCluster) -> None:
    """Billing stopped: the complaint's page still shows what HQ and the others know, says which part
    cannot be read now, and offers no billing step. Routing stopped: a step sent to it is a 503 page
    naming it, not an error of the console."""
    form_number = registered(cluster, "SH01").json()["form_number"]
    clerk, hq = Person(browser, console, CLERK), Person(browser, console, HQ_CLERK)
    try:
        hq.step_button(form_number, "routing/on-site-dispatch")
        cluster.stop_service(ServiceName.BILLING)
        try:
            answer = clerk.page.goto(f"/complaints/{form_number}")
            assert answer.status == 200
            assert clerk.page.locator("h1").inner_text().startswith(form_number)
            assert "ledger" in clerk.page.locator("p.alert").inner_text()
            clerk.shot("billing-down")
            hq.open(form_number)
            assert hq.page.locator("a[data-step^='billing/']").count() == 0
        finally:
            cluster.start_service(ServiceName.BILLING)
        hq.page.goto(f"/complaints/{form_number}/steps/routing/on-site-dispatch")
        hq.set("note", "请区域经理到现场。")
        cluster.stop_service(ServiceName.ROUTING)
        try:
            with hq.page.expect_response(lambda r: r.request.method == "POST") as sent:
                hq.page.locator("form[data-step='routing/on-site-dispatch'] button[type=submit]").click()
            assert sent.value.status == 503
            assert "routing" in hq.page.locator("main").inner_text()
            hq.shot("routing-down")
        finally:
            cluster.start_service(ServiceName.ROUTING)
    finally:
        clerk.close()
        hq.close()


def test_a_compensation_proposed_by_the_regional_manager_is_approved_by_the_director(
        browser: Any, console: ConsoleProcess, cluster: LocalCluster) -> None:
    response = registered(cluster, "SH01")
    form_number = response.json()["form_number"]
    manager, director = Person(browser, console, MANAGER), Person(browser, console, DIRECTOR)
    try:
        manager.step(form_number, "billing/compensation", {"amount": "300.00", "reason": "延误补偿"})
        director.step(form_number, "billing/compensation-approval", {"comments": "同意"})
        deadline = time.monotonic() + WAIT
        while True:
            director.open(form_number)
            ledger = director.page.locator("section[aria-labelledby='ledger-h']")
            if (ledger.count() and "300.00" in ledger.inner_text()) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert "300.00" in ledger.inner_text()
        assert director.page.locator("a[data-step='billing/compensation-approval']").count() == 0  # approved: gone
        director.shot("compensation-booked")
    finally:
        manager.close()
        director.close()
