"""The monthly report's files, pure: a figures dict built by hand (as `Figures.monthly` returns it) gives an
HTML page with its sections, charts and escaped text, a CSV and a workbook with the same figures, and the
same bytes when written twice."""

from __future__ import annotations

import base64
import csv
import io
import re
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from matplotlib import font_manager

from services.analytics import report
from services.analytics.report import EN, ZH, ReportFiles, chart_font, flatten, render_charts, write_report

MONTH = "2026-11"
SCRIPT = "<script>alert(1)</script>"
FORMULA = "=HYPERLINK(\"http://x.invalid\",\"点我\")"


def register_line(number: int, customer: str, **changes: Any) -> dict[str, Any]:
    line = {
        "form_number": f"SH01-202611{number + 1:02d}-{number:04d}", "branch": "SH01",
        "received_at": f"2026-11-{number + 1:02d}T01:{number:02d}:00+00:00", "kind": "complaint",
        "subject": "product_quality", "severity": "general", "channel": "phone", "customer_name": customer,
        "product_model": "GX-200", "batch_number": "B2026-1107", "valid": True, "cause_category": "product",
        "closure_outcome": "resolved", "handling_hours": 12.5, "satisfaction": "satisfied",
    }
    return line | changes


def sample_figures() -> dict[str, Any]:
    register = [
        register_line(1, "张三"),
        register_line(2, "李四五金店", branch="BJ02", form_number="BJ02-20261103-0002", subject="staff",
                      severity="minor", channel="in_person", product_model=None, batch_number=None,
                      cause_category="people", handling_hours=4.0, satisfaction="very_satisfied"),
        register_line(3, SCRIPT, subject="transport_packaging", severity="serious", channel="letter", valid=None,
                      cause_category=None, closure_outcome=None, handling_hours=None, satisfaction=None),
        register_line(4, "张三", kind="inquiry", subject="policy_service", channel="fax", valid=False,
                      cause_category="misunderstanding", closure_outcome="answered_directly", handling_hours=1.25,
                      satisfaction="dissatisfied"),
        register_line(5, FORMULA, subject="product_quality", severity="serious", channel="direct_to_hq",
                      handling_hours=30.0, satisfaction="neutral"),
    ]
    return {
        "month": MONTH, "time_zone": "Asia/Shanghai", "from": "2026-11-01T00:00:00+08:00",
        "to": "2026-12-01T00:00:00+08:00", "scope": "all branches",
        "summary": {
            "total": 5, "by_branch": {"BJ02": 1, "SH01": 4},
            "by_subject": {"policy_service": 1, "product_quality": 2, "staff": 1, "transport_packaging": 1},
            "by_severity": {"general": 2, "minor": 1, "serious": 2},
            "by_channel": {"direct_to_hq": 1, "fax": 1, "in_person": 1, "letter": 1, "phone": 1},
            "by_kind": {"complaint": 4, "inquiry": 1},
            "by_validity": {"valid": 3, "invalid": 1, "undetermined": 1}, "closed": 4,
        },
        "deadlines": {
            "by_step": {
                "customer_reply": {"due": 4, "on_time": 3, "late": 1, "open": 0, "cancelled": 0, "compliance": 0.75},
                "memo_dispatch": {"due": 5, "on_time": 5, "late": 0, "open": 0, "cancelled": 0, "compliance": 1.0},
                "on_site_visit": {"due": 3, "on_time": 1, "late": 1, "open": 1, "cancelled": 0, "compliance": 0.5},
                "satisfaction_follow_up": {"due": 1, "on_time": 0, "late": 0, "open": 1, "cancelled": 0,
                                           "compliance": None},
            },
            "by_role": {
                "branch_clerk": {"due": 4, "on_time": 3, "late": 1, "open": 1, "cancelled": 0, "compliance": 0.75},
                "hq_clerk": {"due": 5, "on_time": 5, "late": 0, "open": 0, "cancelled": 1, "compliance": 1.0},
                "salesperson": {"due": 3, "on_time": 1, "late": 1, "open": 1, "cancelled": 0, "compliance": 0.5},
            },
        },
        "handling": {"closed": 4, "median_hours": 8.25, "p90_hours": 30.0, "by_subject": {
            "policy_service": {"closed": 1, "median_hours": 1.25, "p90_hours": 1.25},
            "product_quality": {"closed": 2, "median_hours": 21.25, "p90_hours": 30.0},
            "staff": {"closed": 1, "median_hours": 4.0, "p90_hours": 4.0},
        }},
        "costs": {
            "currency": "CNY", "total": Decimal("2467.30"),
            "by_payer": {"company": Decimal("2137.30"), "customer": Decimal("80.00"),
                         "salesperson": Decimal("250.00")},
            "by_item": {"delivery_transport": Decimal("45.50"), "parts": Decimal("1200.00"),
                        "repair_labour": Decimal("360.00"), "return_transport": Decimal("611.80"),
                        "salesperson_penalty": Decimal("250.00")},
            "by_payer_and_item": [
                {"payer": "company", "item": "delivery_transport", "amount": Decimal("45.50")},
                {"payer": "company", "item": "parts", "amount": Decimal("1200.00")},
                {"payer": "company", "item": "repair_labour", "amount": Decimal("360.00")},
                {"payer": "company", "item": "return_transport", "amount": Decimal("531.80")},
                {"payer": "customer", "item": "return_transport", "amount": Decimal("80.00")},
                {"payer": "salesperson", "item": "salesperson_penalty", "amount": Decimal("250.00")},
            ],
            "transport": {"return_transport": Decimal("611.80"), "delivery_transport": Decimal("45.50"),
                          "total": Decimal("657.30")},
        },
        "satisfaction": {"followed_up": 5, "rated": 4, "unreachable": 1,
                         "distribution": {"dissatisfied": 1, "neutral": 1, "satisfied": 1, "very_satisfied": 1},
                         "satisfied_rate": 0.5},
        "corrective_actions": {
            "raised": 2, "closed": 1, "open_at_month_end": 3, "overdue_at_month_end": 1,
            "by_source": {"adjudication": 1, "batch_alert": 1},
            "overdue": [{"action_id": "0b7c5d2e-8f1a-4c3b-9d6e-1a2b3c4d5e6f", "due_at": "2026-11-20T10:00:00+00:00",
                         "state": "approved", "model": "GX-200", "batch_number": "B2026-1107"}],
        },
        "repeats": {
            "window_months": 12,
            "per_customer": [{"customer": "张三", "product_model": None, "complaints_in_month": 1,
                              "complaints_in_12_months": 3, "form_numbers": [
                                  "SH01-20260905-0007", "SH01-20261015-0003", "SH01-20261102-0001"]}],
            "per_customer_and_product": [{"customer": "张三", "product_model": "GX-200", "complaints_in_month": 1,
                                          "complaints_in_12_months": 2, "form_numbers": [
                                              "SH01-20261015-0003", "SH01-20261102-0001"]}],
            "confirmed_links_in_month": 1,
        },
        "alerts": [{
            "alert_id": "5f0e3c1a-2b4d-4e6f-8a9b-0c1d2e3f4a5b", "model": "GX-200", "batch_number": "B2026-1107",
            "window_start": "2026-11-02", "window_end": "2026-12-01", "threshold": 3, "count": 3,
            "raised_at": "2026-11-06T02:05:00+00:00", "form_number": "SH01-20261106-0005", "branch": "SH01",
            "complaints": [{"complaint_id": "c1", "form_number": "SH01-20261102-0001",
                            "received_at": "2026-11-02T01:01:00+00:00"},
                           {"complaint_id": "c3", "form_number": "SH01-20261104-0003",
                            "received_at": "2026-11-04T01:03:00+00:00"},
                           {"complaint_id": "c5", "form_number": "SH01-20261106-0005",
                            "received_at": "2026-11-06T01:05:00+00:00"}],
            "rules_version": "2026-11-01.1",
        }],
        "complaint_register": register,
    }


@pytest.fixture
def written(tmp_path: Path) -> ReportFiles:
    return write_report(sample_figures(), tmp_path)


def pngs(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def sheet_rows(workbook: openpyxl.Workbook, name: str) -> list[tuple[Any, ...]]:
    return [tuple(c for c in row) for row in workbook[name].iter_rows(values_only=True)]


def lookup(rows: list[tuple[Any, ...]], label: str) -> tuple[Any, ...]:
    [row] = [r for r in rows if r and r[0] == label]
    return row


def block(sheet: Any, caption: str) -> dict[Any, Any]:
    """The table under `caption` in a sheet: its first column -> its second column's cell."""
    rows = list(sheet.iter_rows(min_col=1, max_col=2))
    [start] = [i for i, row in enumerate(rows) if row[0].value == caption]
    out = {}
    for row in rows[start + 2:]:  # the caption, then the header
        if row[0].value is None:
            break
        out[row[0].value] = row[1]
    return out


# --- the files --------------------------------------------------------------------------------------


def test_the_three_files_are_written_under_their_names_and_no_temporary_file_is_left(
        written: ReportFiles, tmp_path: Path) -> None:
    assert written == ReportFiles(html=tmp_path / "complaints-report-2026-11.html",
                                  csv=tmp_path / "complaints-report-2026-11.csv",
                                  xlsx=tmp_path / "complaints-report-2026-11.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "complaints-report-2026-11.csv", "complaints-report-2026-11.html", "complaints-report-2026-11.xlsx"]
    assert all(p.stat().st_size > 0 for p in tmp_path.iterdir())


def test_a_month_that_is_not_yyyy_mm_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="month"):
        write_report(sample_figures() | {"month": "../2026-11"}, tmp_path)
    with pytest.raises(ValueError, match="language"):
        write_report(sample_figures(), tmp_path, language="fr")
    assert list(tmp_path.iterdir()) == []


# --- HTML ---------------------------------------------------------------------------------------------


def test_the_page_holds_the_month_every_section_the_register_and_the_charts(written: ReportFiles) -> None:
    html = written.html.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in html
    assert MONTH in html
    for heading in ("投诉登记与月度汇总", "期限达成率", "处理时长（工作小时）", "费用（按承担方/项目）", "运输费用",
                    "满意度", "纠正措施", "重复投诉", "批次缺陷预警", "投诉登记表"):
        assert f"<h2>{heading}</h2>" in html, heading
    assert set(ZH["sections"].values()) <= set(re.findall(r"<h2>(.*?)</h2>", html))
    for line in sample_figures()["complaint_register"]:
        assert line["form_number"] in html
    assert "张三" in html and "李四五金店" in html
    assert "2,467.30" in html and "611.80" in html and "75.0%" in html  # money, transport, compliance
    assert "2026-11-02 09:01" in html  # register times in the company's zone
    images = pngs(html)
    assert len(images) >= 4
    assert all(image.startswith(b"\x89PNG\r\n\x1a\n") for image in images)
    assert len(re.findall(r'<img src="data:image/png;base64,[^"]+" alt="[^"]+"', html)) == len(images)


def test_every_text_value_is_escaped_and_the_page_loads_nothing_from_elsewhere(written: ReportFiles) -> None:
    html = written.html.read_text(encoding="utf-8")
    assert SCRIPT not in html and "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html and "@import" not in html


def test_with_english_the_headings_and_labels_are_english(tmp_path: Path) -> None:
    files = write_report(sample_figures(), tmp_path, language="en")
    html = files.html.read_text(encoding="utf-8")
    assert '<html lang="en">' in html
    for heading in EN["sections"].values():
        assert f"<h2>{heading}</h2>" in html, heading
    assert "Deadline compliance" in html and "Product quality" in html and "Customer reply" in html
    assert not any(heading in html for heading in ZH["sections"].values())
    assert len(pngs(html)) >= 4
    workbook = openpyxl.load_workbook(files.xlsx)
    assert workbook.sheetnames == ["Summary", "Deadlines", "Handling", "Costs", "Satisfaction", "CAPA", "Repeats",
                                   "Alerts", "Register"]


# --- CSV ----------------------------------------------------------------------------------------------


def test_the_csv_has_a_bom_parses_back_to_flatten_and_its_money_equals_the_figures(written: ReportFiles) -> None:
    data = written.csv.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["section", "dimension", "key", "value"]
    figures = sample_figures()
    assert [tuple(r) for r in rows[1:]] == flatten(figures)
    values = {(s, d, k): v for s, d, k, v in rows[1:]}
    costs = figures["costs"]
    assert Decimal(values[("costs", "all", "total")]) == costs["total"]
    assert values[("costs", "all", "total")] == "2467.30"
    for payer, amount in costs["by_payer"].items():
        assert Decimal(values[("costs", "by_payer", payer)]) == amount
    for item, amount in costs["by_item"].items():
        assert Decimal(values[("costs", "by_item", item)]) == amount
    for line in costs["by_payer_and_item"]:
        assert Decimal(values[("costs.by_payer_and_item", line["payer"], line["item"])]) == line["amount"]
    for item, amount in costs["transport"].items():
        assert Decimal(values[("costs", "transport", item)]) == amount


def test_flatten_covers_every_figure(written: ReportFiles) -> None:
    values = {(s, d, k): v for s, d, k, v in flatten(sample_figures())}
    assert values[("report", "all", "month")] == MONTH
    assert values[("summary", "all", "total")] == "5" and values[("summary", "all", "closed")] == "4"
    assert values[("summary", "by_branch", "SH01")] == "4"
    assert values[("summary", "by_subject", "product_quality")] == "2"
    assert values[("summary", "by_severity", "serious")] == "2"
    assert values[("summary", "by_channel", "direct_to_hq")] == "1"
    assert values[("summary", "by_validity", "undetermined")] == "1"
    assert values[("deadlines.by_step", "customer_reply", "late")] == "1"
    assert values[("deadlines.by_step", "customer_reply", "compliance")] == "0.75"
    assert values[("deadlines.by_step", "satisfaction_follow_up", "compliance")] == ""
    assert values[("deadlines.by_role", "hq_clerk", "cancelled")] == "1"
    assert values[("handling", "all", "median_hours")] == "8.25"
    assert values[("handling.by_subject", "product_quality", "p90_hours")] == "30.0"
    assert values[("satisfaction", "all", "satisfied_rate")] == "0.5"
    assert values[("satisfaction", "distribution", "neutral")] == "1"
    assert values[("corrective_actions", "all", "overdue_at_month_end")] == "1"
    assert values[("corrective_actions", "by_source", "batch_alert")] == "1"
    assert values[("repeats", "all", "repeating_customers")] == "1"
    assert values[("repeats", "all", "repeating_customer_products")] == "1"
    assert values[("repeats", "all", "confirmed_links_in_month")] == "1"
    assert values[("alerts", "all", "count")] == "1"
    assert all(isinstance(cell, str) for row in flatten(sample_figures()) for cell in row)


def test_a_csv_cell_excel_would_run_as_a_formula_is_written_as_text(tmp_path: Path) -> None:
    figures = sample_figures()
    figures["corrective_actions"]["overdue"][0]["model"] = "=1+2"
    figures["costs"]["by_payer"]["customer"] = Decimal("-80.00")
    rows = list(csv.reader(io.StringIO(report.render_csv(figures).decode("utf-8-sig"), newline="")))
    values = {(s, d, k): v for s, d, k, v in rows[1:]}
    assert values[("corrective_actions.overdue", "0b7c5d2e-8f1a-4c3b-9d6e-1a2b3c4d5e6f", "model")] == "'=1+2"
    assert values[("costs", "by_payer", "customer")] == "-80.00"  # a negative amount stays a number


# --- XLSX ---------------------------------------------------------------------------------------------


def test_the_workbook_has_a_sheet_per_section_with_the_same_counts_and_amounts(written: ReportFiles) -> None:
    workbook = openpyxl.load_workbook(written.xlsx)
    assert workbook.sheetnames == ["汇总", "期限", "时长", "费用", "满意度", "纠正措施", "重复投诉", "预警", "登记表"]
    figures = sample_figures()
    summary = sheet_rows(workbook, "汇总")
    assert lookup(summary, "投诉总数")[1] == 5 and lookup(summary, "其中已结案")[1] == 4
    assert lookup(summary, "SH01")[1] == 4 and lookup(summary, "产品质量")[1] == 2
    assert lookup(summary, "重大")[1] == 2 and lookup(summary, "待定")[1] == 1

    deadlines = sheet_rows(workbook, "期限")
    assert lookup(deadlines, "答复客户")[1:] == (4, 3, 1, 0, 0, 0.75)
    assert lookup(deadlines, "满意度回访")[1:] == (1, 0, 0, 1, 0, None)
    assert lookup(deadlines, "总部文员")[1:] == (5, 5, 0, 0, 1, 1)

    handling = sheet_rows(workbook, "时长")
    assert lookup(handling, "中位数（工作小时）")[1] == 8.25 and lookup(handling, "90 分位（工作小时）")[1] == 30

    sheet = workbook["费用"]
    [total] = [row[1] for row in sheet.iter_rows(max_col=2) if row[0].value == "费用合计"]
    assert Decimal(str(total.value)) == figures["costs"]["total"] and total.number_format == "#,##0.00"
    costs = figures["costs"]
    payers = {"公司": "company", "客户": "customer", "销售员": "salesperson"}
    items = {"送货运费": "delivery_transport", "零件费": "parts", "维修工时费": "repair_labour",
             "退货运费": "return_transport", "销售员罚款": "salesperson_penalty"}
    by_payer, by_item, transport = block(sheet, "按承担方"), block(sheet, "按费用项目"), block(sheet, "运输费用明细")
    assert {payers[k]: Decimal(str(c.value)) for k, c in by_payer.items()} == costs["by_payer"]
    assert {items[k]: Decimal(str(c.value)) for k, c in by_item.items()} == costs["by_item"]
    assert {(items | {"合计": "total"})[k]: Decimal(str(c.value)) for k, c in transport.items()} == costs["transport"]
    assert all(c.number_format == "#,##0.00" for c in [*by_payer.values(), *by_item.values(), *transport.values()])
    pairs = [(r[0], r[1], Decimal(str(r[2]))) for r in sheet.iter_rows(values_only=True)
             if r[0] in payers and r[1] in items]
    assert pairs == [(k, i, line["amount"]) for line in costs["by_payer_and_item"]
                     for k in payers if payers[k] == line["payer"] for i in items if items[i] == line["item"]]
    amounts = [c.value for row in sheet.iter_rows() for c in row if c.number_format == "#,##0.00"]
    assert all(isinstance(a, (int, float)) for a in amounts) and len(amounts) == 1 + 3 + 5 + 6 + 3

    satisfaction = sheet_rows(workbook, "满意度")
    assert lookup(satisfaction, "回访数")[1] == 5 and lookup(satisfaction, "无法联系")[1] == 1
    assert lookup(satisfaction, "满意率（满意及非常满意）")[1] == 0.5 and lookup(satisfaction, "非常不满意")[1] == 0

    capa = sheet_rows(workbook, "纠正措施")
    assert lookup(capa, "月末未关闭")[1] == 3 and lookup(capa, "月末逾期")[1] == 1
    assert lookup(capa, "0b7c5d2e-8f1a-4c3b-9d6e-1a2b3c4d5e6f")[1:3] == ("2026-11-20 18:00", "已批准")

    repeats = sheet_rows(workbook, "重复投诉")
    assert [r[1:] for r in repeats if r[0] == "张三"] == [
        (1, 3, "SH01-20260905-0007、SH01-20261015-0003、SH01-20261102-0001", None),
        ("GX-200", 1, 2, "SH01-20261015-0003、SH01-20261102-0001")]
    assert lookup(repeats, "本月确认的重复关联")[1] == 1
    alerts = sheet_rows(workbook, "预警")
    assert lookup(alerts, "本月预警数")[1] == 1 and lookup(alerts, "GX-200")[5] == 3

    register = sheet_rows(workbook, "登记表")
    assert register[0][0] == "投诉单号" and len(register) == 1 + len(figures["complaint_register"])
    assert [r[0] for r in register[1:]] == [line["form_number"] for line in figures["complaint_register"]]
    assert SCRIPT in [r[7] for r in register]


def test_a_name_that_looks_like_a_formula_is_text_in_the_workbook(written: ReportFiles) -> None:
    workbook = openpyxl.load_workbook(written.xlsx)
    [cell] = [c for row in workbook["登记表"].iter_rows() for c in row if c.value == FORMULA]
    assert cell.data_type == "s"


def test_the_workbook_properties_are_fixed(written: ReportFiles) -> None:
    workbook = openpyxl.load_workbook(written.xlsx)
    assert workbook.properties.creator == "complaints"
    assert workbook.properties.created.isoformat() == "2026-11-01T00:00:00"
    assert workbook.properties.modified.isoformat() == "2026-11-01T00:00:00"
    with zipfile.ZipFile(written.xlsx) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2026, 11, 1, 0, 0, 0)}


# --- the same figures, the same bytes -----------------------------------------------------------------


def test_writing_the_same_figures_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    first = write_report(sample_figures(), tmp_path / "first")
    second = write_report(sample_figures(), tmp_path / "second")
    assert first.csv.read_bytes() == second.csv.read_bytes()
    assert first.xlsx.read_bytes() == second.xlsx.read_bytes()
    assert first.html.read_bytes() == second.html.read_bytes()
    assert pngs(first.html.read_text(encoding="utf-8")) == pngs(second.html.read_text(encoding="utf-8"))
    again = write_report(sample_figures(), tmp_path / "first")  # replaces the files in place
    assert again.xlsx.read_bytes() == second.xlsx.read_bytes()
    assert sorted(p.name for p in (tmp_path / "first").iterdir()) == sorted(
        p.name for p in (tmp_path / "second").iterdir())


def test_the_charts_are_the_four_required_and_more_and_carry_no_software_stamp() -> None:
    charts = render_charts(sample_figures())
    assert {"by_subject", "compliance", "costs_by_payer", "satisfaction"} <= {c.key for c in charts}
    assert [c.png for c in charts] == [c.png for c in render_charts(sample_figures())]
    for chart in charts:
        assert b"Software" not in chart.png and b"matplotlib" not in chart.png.lower()
        assert chart.alt.startswith("图表") and chart.drawn_in == ("zh" if chart_font() else "en")
    [compliance] = [c for c in charts if c.key == "compliance"]
    assert "答复客户 75.0%" in compliance.alt and "满意度回访" not in compliance.alt  # nothing decided: no bar


def test_empty_figures_give_a_report_without_charts_but_with_every_section(tmp_path: Path) -> None:
    figures = sample_figures()
    figures["summary"] = {"total": 0, "by_branch": {}, "by_subject": {}, "by_severity": {}, "by_channel": {},
                          "by_kind": {}, "by_validity": {"valid": 0, "invalid": 0, "undetermined": 0}, "closed": 0}
    figures["deadlines"] = {"by_step": {}, "by_role": {}}
    figures["handling"] = {"closed": 0, "median_hours": None, "p90_hours": None, "by_subject": {}}
    zero = Decimal("0.00")
    figures["costs"] = {"currency": "CNY", "total": zero, "by_payer": {}, "by_item": {}, "by_payer_and_item": [],
                        "transport": {"return_transport": zero, "delivery_transport": zero, "total": zero}}
    figures["satisfaction"] = {"followed_up": 0, "rated": 0, "unreachable": 0, "distribution": {},
                               "satisfied_rate": None}
    figures["alerts"], figures["complaint_register"] = [], []
    files = write_report(figures, tmp_path)
    html = files.html.read_text(encoding="utf-8")
    assert pngs(html) == []
    assert all(f"<h2>{heading}</h2>" in html for heading in ZH["sections"].values())
    assert openpyxl.load_workbook(files.xlsx)["登记表"].max_row == 1


# --- the font -----------------------------------------------------------------------------------------


def cjk_installed() -> bool:
    return any("CJK" in f.name or "WenQuanYi" in f.name for f in font_manager.fontManager.ttflist)


def test_the_chart_font_is_a_cjk_font_when_one_is_installed() -> None:
    if not cjk_installed():
        pytest.skip("no CJK font installed (fonts-noto-cjk): the charts fall back to English labels")
    font = chart_font()
    assert font is not None and ("CJK" in font or "WenQuanYi" in font)
    path = font_manager.findfont(font_manager.FontProperties(family=font), fallback_to_default=False)
    assert "DejaVu" not in path


def test_without_a_cjk_font_the_charts_fall_back_to_english_with_one_warning(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    chart_font.cache_clear()
    entries = [f for f in font_manager.fontManager.ttflist if "CJK" not in f.name and "WenQuanYi" not in f.name]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", entries)
    try:
        with caplog.at_level("WARNING", logger="services.analytics.report"):
            assert chart_font() is None
            assert chart_font() is None
            charts = render_charts(sample_figures())  # Chinese report, English chart text
        assert len([r for r in caplog.records if "CJK" in r.getMessage()]) == 1
        assert len(charts) >= 4 and {c.drawn_in for c in charts} == {"en"}
        assert charts[0].alt.startswith("图表")  # the alt text keeps the report's language
    finally:
        monkeypatch.undo()
        chart_font.cache_clear()
