"""The monthly report (§5.3.1⑴, §5.8) as files: a self-contained HTML page with charts, a CSV of every
figure and an XLSX workbook with one sheet per section, all from the dict `Figures.monthly` returns.

- `write_report(figures, out_dir, language)` writes `complaints-report-<month>.html`, `.csv` and `.xlsx`
  into `out_dir`, each to a temporary name first and renamed into place when complete.
- `flatten(figures)` gives the CSV's rows `(section, dimension, key, value)`: codes and plain decimal
  strings, whatever the language, so the CSV is for machines and Excel's pivot tables alike.
- `render_html`, `render_csv`, `render_xlsx` and `render_charts` give the files' bytes without writing.

Every output is a function of the figures alone, never of the clock: the same figures give the same
bytes (the PNG charts carry no software or time stamp; the workbook's properties and the zip entries'
times are the month's first day). Chinese is the default language; the charts draw with a CJK font found
among the installed fonts, and with English labels when none is installed (never boxes).
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import logging
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from jinja2 import Environment, StrictUndefined
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import PercentFormatter
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from services.common.files import write_atomically
from services.analytics.figures import MONTH, TRANSPORT_ITEMS

log = logging.getLogger(__name__)

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

# ---------------------------------------------------------------------------------------------------
# The label texts, one dict per language. "codes" names the values of the figures' dimensions (subjects,
# steps, roles, payers, items ...); a code without a label shows as itself (humanised in English).
# ---------------------------------------------------------------------------------------------------

ZH: dict[str, Any] = {
    "title": "客户投诉月度报告",
    "sections": {
        "summary": "投诉登记与月度汇总",
        "deadlines": "期限达成率",
        "handling": "处理时长（工作小时）",
        "costs": "费用（按承担方/项目）",
        "transport": "运输费用",
        "satisfaction": "满意度",
        "corrective_actions": "纠正措施",
        "repeats": "重复投诉",
        "alerts": "批次缺陷预警",
        "register": "投诉登记表",
    },
    "sheets": {
        "summary": "汇总", "deadlines": "期限", "handling": "时长", "costs": "费用", "satisfaction": "满意度",
        "corrective_actions": "纠正措施", "repeats": "重复投诉", "alerts": "预警", "register": "登记表",
    },
    "tables": {
        "by_branch": "按分公司", "by_subject": "按投诉主题", "by_severity": "按严重程度", "by_channel": "按投诉渠道",
        "by_kind": "按类别", "by_validity": "按有效性", "by_step": "按处理步骤", "by_role": "按责任角色",
        "handling_by_subject": "按投诉主题", "by_payer": "按承担方", "by_item": "按费用项目",
        "by_payer_and_item": "按承担方与项目", "transport": "运输费用明细", "distribution": "满意度分布",
        "by_source": "按来源", "overdue": "月末逾期的纠正措施", "per_customer": "按客户",
        "per_customer_and_product": "按客户与产品型号", "alerts": "本月预警", "register": "本月收到的全部投诉",
    },
    "facts": {
        "month": "月份", "period": "统计期间", "time_zone": "时区", "scope": "范围", "total": "投诉总数",
        "closed": "其中已结案", "handled": "本月结案数", "median_hours": "中位数（工作小时）",
        "p90_hours": "90 分位（工作小时）", "currency": "币种", "costs_total": "费用合计",
        "transport_share": "运输费用占费用合计", "followed_up": "回访数", "rated": "给出评价数",
        "unreachable": "无法联系", "satisfied_rate": "满意率（满意及非常满意）", "raised": "本月提出",
        "capa_closed": "本月关闭", "open_at_month_end": "月末未关闭", "overdue_at_month_end": "月末逾期",
        "window_months": "统计窗口（月）", "repeating_customers": "重复投诉客户数",
        "repeating_pairs": "重复投诉客户与型号组合数", "confirmed_links_in_month": "本月确认的重复关联",
        "alert_count": "本月预警数",
    },
    "columns": {
        "item": "项目", "value": "数值", "branch": "分公司", "subject": "投诉主题", "severity": "严重程度",
        "channel": "渠道", "kind": "类别", "validity": "有效性", "count": "数量", "share": "占比",
        "step": "处理步骤", "role": "责任角色", "due": "到期", "on_time": "按时", "late": "逾期", "open": "未完成",
        "cancelled": "已取消", "compliance": "达成率", "closed": "结案数", "median_hours": "中位数（工作小时）",
        "p90_hours": "90 分位（工作小时）", "payer": "承担方", "cost_item": "费用项目", "amount": "金额（元）",
        "level": "满意程度", "source": "来源", "action_id": "措施编号", "due_at": "期限", "state": "状态",
        "model": "产品型号", "batch_number": "批号", "customer": "客户", "product_model": "产品型号",
        "in_month": "本月投诉", "in_window": "{n} 个月内投诉", "form_numbers": "投诉单号",
        "window_start": "窗口开始", "window_end": "窗口结束", "threshold": "阈值", "alert_count": "投诉数",
        "raised_at": "预警时间", "form_number": "投诉单号", "received_at": "接收时间", "customer_name": "客户名称",
        "valid": "有效性", "cause_category": "原因类别", "closure_outcome": "结案结果", "handling_hours": "处理时长（工作小时）",
        "satisfaction": "满意度", "complaints": "所计投诉",
    },
    "charts": {
        "by_subject": "按投诉主题的投诉数量", "by_branch": "按分公司的投诉数量", "compliance": "各处理步骤的期限达成率",
        "costs_by_payer": "按承担方的费用（元）", "satisfaction": "满意度分布", "complaints": "投诉数",
        "percent": "达成率（%）", "amount": "金额（元）", "answers": "回访评价数",
    },
    "text": {
        "all_branches": "全部分公司", "none": "—", "no_rows": "无", "list_separator": "、", "to": "至",
        "chart_prefix": "图表", "contents": "目录", "generated_from": "数据来源：分析服务读模型，按公司时区统计。",
    },
    "codes": {
        "policy_service": "政策与服务", "staff": "服务人员", "product_quality": "产品质量",
        "transport_packaging": "运输与包装", "other": "其他",
        "minor": "轻微", "general": "一般", "serious": "重大",
        "phone": "电话", "fax": "传真", "letter": "信函", "in_person": "来访", "suggestion_box": "意见箱",
        "direct_to_hq": "直接向总部", "external_body": "外部机构转办",
        "complaint": "投诉", "suggestion": "建议", "inquiry": "咨询",
        "valid": "有效", "invalid": "无效", "undetermined": "待定",
        "company": "公司", "customer": "客户", "salesperson": "销售员", "to_be_decided": "待定",
        "replacement": "更换", "return_transport": "退货运费", "delivery_transport": "送货运费",
        "repair_labour": "维修工时费", "parts": "零件费", "on_site_service": "上门服务费",
        "salesperson_penalty": "销售员罚款", "compensation": "补偿", "replacement_transport": "换货运费",
        "total": "合计",
        "on_site_visit": "现场查看", "on_site_sampling": "现场取样", "marketing_director_review": "营销总监审核",
        "headquarters_reply": "总部答复", "memo_dispatch": "备忘录下发", "department_reply": "部门答复",
        "customer_reply": "答复客户", "corrective_action": "纠正措施", "satisfaction_follow_up": "满意度回访",
        "inquiry_answer": "咨询答复", "cause_and_solution": "原因与解决方案",
        "branch_clerk": "分公司文员", "regional_manager": "区域经理", "hq_clerk": "总部文员",
        "responsible_department": "责任部门", "supervisor": "主管", "marketing_director": "营销总监",
        "hq_regional_manager": "总部区域经理", "quality_department": "质量部", "general_manager": "总经理",
        "management_representative": "管理者代表", "system": "系统",
        "very_satisfied": "非常满意", "satisfied": "满意", "neutral": "一般", "dissatisfied": "不满意",
        "very_dissatisfied": "非常不满意",
        "people": "人员", "product": "产品", "policy": "政策", "transport": "运输", "misunderstanding": "误解",
        "resolved": "已解决", "resolved_after_dispute": "争议后解决", "answered_directly": "直接答复",
        "withdrawn": "已撤回", "unfounded": "不成立",
        "adjudication": "质量判定", "batch_alert": "批次预警",
        "raised": "已提出", "proposed": "已提交方案", "approved": "已批准", "implemented": "已实施",
        "closed": "已关闭", "superseded": "已由异常处理单替代",
    },
}

EN: dict[str, Any] = {
    "title": "Monthly complaints report",
    "sections": {
        "summary": "Complaint register and monthly summary",
        "deadlines": "Deadline compliance",
        "handling": "Handling time (working hours)",
        "costs": "Costs (by payer / item)",
        "transport": "Transport costs",
        "satisfaction": "Satisfaction",
        "corrective_actions": "Corrective actions",
        "repeats": "Repeat complaints",
        "alerts": "Batch-defect alerts",
        "register": "Complaint register",
    },
    "sheets": {
        "summary": "Summary", "deadlines": "Deadlines", "handling": "Handling", "costs": "Costs",
        "satisfaction": "Satisfaction", "corrective_actions": "CAPA", "repeats": "Repeats", "alerts": "Alerts",
        "register": "Register",
    },
    "tables": {
        "by_branch": "By branch", "by_subject": "By subject", "by_severity": "By severity", "by_channel": "By channel",
        "by_kind": "By kind", "by_validity": "By validity", "by_step": "By step", "by_role": "By role",
        "handling_by_subject": "By subject", "by_payer": "By payer", "by_item": "By item",
        "by_payer_and_item": "By payer and item", "transport": "Transport costs", "distribution": "Distribution",
        "by_source": "By source", "overdue": "Overdue at the month's end", "per_customer": "Per customer",
        "per_customer_and_product": "Per customer and product model", "alerts": "Alerts of the month",
        "register": "Every complaint received in the month",
    },
    "facts": {
        "month": "Month", "period": "Period", "time_zone": "Time zone", "scope": "Scope", "total": "Complaints",
        "closed": "of which closed", "handled": "Closed in the month", "median_hours": "Median (working hours)",
        "p90_hours": "90th percentile (working hours)", "currency": "Currency", "costs_total": "Total costs",
        "transport_share": "Transport share of total costs", "followed_up": "Followed up", "rated": "Rated",
        "unreachable": "Unreachable", "satisfied_rate": "Satisfied rate (satisfied or very satisfied)",
        "raised": "Raised in the month", "capa_closed": "Closed in the month",
        "open_at_month_end": "Open at the month's end", "overdue_at_month_end": "Overdue at the month's end",
        "window_months": "Window (months)", "repeating_customers": "Customers complaining repeatedly",
        "repeating_pairs": "Customer and model pairs repeating",
        "confirmed_links_in_month": "Repeat links confirmed in the month", "alert_count": "Alerts in the month",
    },
    "columns": {
        "item": "Item", "value": "Value", "branch": "Branch", "subject": "Subject", "severity": "Severity",
        "channel": "Channel", "kind": "Kind", "validity": "Validity", "count": "Count", "share": "Share",
        "step": "Step", "role": "Role", "due": "Due", "on_time": "On time", "late": "Late", "open": "Open",
        "cancelled": "Cancelled", "compliance": "Compliance", "closed": "Closed", "median_hours": "Median (h)",
        "p90_hours": "P90 (h)", "payer": "Payer", "cost_item": "Cost item", "amount": "Amount (CNY)",
        "level": "Level", "source": "Source", "action_id": "Action", "due_at": "Due", "state": "State",
        "model": "Model", "batch_number": "Batch", "customer": "Customer", "product_model": "Product model",
        "in_month": "In the month", "in_window": "In {n} months", "form_numbers": "Form numbers",
        "window_start": "Window start", "window_end": "Window end", "threshold": "Threshold",
        "alert_count": "Complaints", "raised_at": "Raised at", "form_number": "Form number",
        "received_at": "Received at", "customer_name": "Customer", "valid": "Validity", "cause_category": "Cause",
        "closure_outcome": "Closure", "handling_hours": "Handling (working h)", "satisfaction": "Satisfaction",
        "complaints": "Complaints counted",
    },
    "charts": {
        "by_subject": "Complaints by subject", "by_branch": "Complaints by branch",
        "compliance": "Deadline compliance per step", "costs_by_payer": "Costs by payer (CNY)",
        "satisfaction": "Satisfaction distribution", "complaints": "Complaints", "percent": "Compliance (%)",
        "amount": "Amount (CNY)", "answers": "Answers",
    },
    "text": {
        "all_branches": "All branches", "none": "—", "no_rows": "None", "list_separator": ", ", "to": "to",
        "chart_prefix": "Chart", "contents": "Contents",
        "generated_from": "From the analytics read model, counted in the company's time zone.",
    },
    "codes": {
        "hq_clerk": "HQ clerk", "hq_regional_manager": "HQ regional manager", "direct_to_hq": "Direct to HQ",
        "in_person": "In person", "to_be_decided": "To be decided", "superseded": "Superseded (exception report)",
        "policy_service": "Policy and service", "transport_packaging": "Transport and packaging",
        "batch_alert": "Batch alert", "total": "Total", "on_site_visit": "On-site visit",
        "on_site_sampling": "On-site sampling", "on_site_service": "On-site service",
    },
}

LABELS: dict[str, dict[str, Any]] = {"zh": ZH, "en": EN}

#: Sections in the order of the page; several sections may share one sheet of the workbook.
SECTIONS = ("summary", "deadlines", "handling", "costs", "transport", "satisfaction", "corrective_actions",
            "repeats", "alerts", "register")
SHEET_OF = {"transport": "costs"}
SHEETS = ("summary", "deadlines", "handling", "costs", "satisfaction", "corrective_actions", "repeats", "alerts",
          "register")
#: Scales shown in their own order, not alphabetically.
SEVERITIES = ("minor", "general", "serious")
SATISFACTION_SCALE = ("very_satisfied", "satisfied", "neutral", "dissatisfied", "very_dissatisfied")
VALIDITY = ("valid", "invalid", "undetermined")

CSV_HEADER = ("section", "dimension", "key", "value")
CHART_DPI = 100
CJK_PREFERRED = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "Source Han Sans CN",
                 "WenQuanYi Zen Hei", "WenQuanYi Micro Hei")
#: Formats of the workbook's numbers.
XLSX_FORMATS = {"count": "0", "money": "#,##0.00", "pct": "0.0%", "hours": "0.00"}


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    csv: Path
    xlsx: Path


@dataclass(frozen=True)
class Chart:
    """One chart as PNG bytes; `alt` describes it (with its figures) for the page's `<img>`; `drawn_in` is
    the language of the chart's own text (English when no CJK font is installed)."""

    key: str
    section: str
    title: str
    alt: str
    png: bytes
    width: int
    height: int
    drawn_in: str

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


# ---------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------


def write_report(figures: Mapping[str, Any], out_dir: Path, language: str = DEFAULT_LANGUAGE) -> ReportFiles:
    """Write the month's HTML, CSV and XLSX into `out_dir` (made if missing); each file appears complete
    or not at all (written under a temporary name in `out_dir`, then renamed)."""
    month = _month(figures)
    labels = _labels(language)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"complaints-report-{month}"
    files = ReportFiles(html=out_dir / f"{stem}.html", csv=out_dir / f"{stem}.csv", xlsx=out_dir / f"{stem}.xlsx")
    sections = _sections(figures, labels)
    write_atomically(files.html, _html(figures, sections, labels, language, render_charts(figures, language))
                      .encode("utf-8"))
    write_atomically(files.csv, render_csv(figures))
    write_atomically(files.xlsx, _xlsx(figures, sections, labels))
    return files


def flatten(figures: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """Every figure as `(section, dimension, key, value)`, all text: codes (not labels), decimal strings for
    money, `""` for a figure that has no value (a compliance with nothing decided yet, say)."""
    rows: list[tuple[str, str, str, str]] = []

    def add(section: str, dimension: str, key: Any, value: Any) -> None:
        rows.append((section, dimension, str(key), _plain(value)))

    scope = figures.get("scope")
    add("report", "all", "month", figures["month"])
    add("report", "all", "time_zone", figures.get("time_zone"))
    add("report", "all", "from", figures.get("from"))
    add("report", "all", "to", figures.get("to"))
    add("report", "all", "scope", ",".join(scope) if isinstance(scope, list) else scope)

    summary = figures["summary"]
    add("summary", "all", "total", summary["total"])
    add("summary", "all", "closed", summary["closed"])
    for dimension in ("by_branch", "by_subject", "by_severity", "by_channel", "by_kind", "by_validity"):
        for key, count in summary.get(dimension, {}).items():
            add("summary", dimension, key, count)

    for dimension in ("by_step", "by_role"):
        for name, d in figures["deadlines"].get(dimension, {}).items():
            for measure in ("due", "on_time", "late", "open", "cancelled", "compliance"):
                add(f"deadlines.{dimension}", name, measure, d.get(measure))

    handling = figures["handling"]
    for measure in ("closed", "median_hours", "p90_hours"):
        add("handling", "all", measure, handling.get(measure))
    for subject, h in handling.get("by_subject", {}).items():
        for measure in ("closed", "median_hours", "p90_hours"):
            add("handling.by_subject", subject, measure, h.get(measure))

    costs = figures["costs"]
    add("costs", "all", "currency", costs.get("currency", "CNY"))
    add("costs", "all", "total", _money(costs["total"]))
    for dimension in ("by_payer", "by_item"):
        for key, amount in costs.get(dimension, {}).items():
            add("costs", dimension, key, _money(amount))
    for line in costs.get("by_payer_and_item", []):
        add("costs.by_payer_and_item", line["payer"], line["item"], _money(line["amount"]))
    for item, amount in costs.get("transport", {}).items():
        add("costs", "transport", item, _money(amount))

    satisfaction = figures["satisfaction"]
    for measure in ("followed_up", "rated", "unreachable", "satisfied_rate"):
        add("satisfaction", "all", measure, satisfaction.get(measure))
    for level, count in satisfaction.get("distribution", {}).items():
        add("satisfaction", "distribution", level, count)

    capa = figures["corrective_actions"]
    for measure in ("raised", "closed", "open_at_month_end", "overdue_at_month_end"):
        add("corrective_actions", "all", measure, capa.get(measure))
    for source, count in capa.get("by_source", {}).items():
        add("corrective_actions", "by_source", source, count)
    for action in capa.get("overdue", []):
        for measure in ("due_at", "state", "model", "batch_number"):
            add("corrective_actions.overdue", action["action_id"], measure, action.get(measure))

    repeats = figures["repeats"]
    per_customer = repeats.get("per_customer", [])
    add("repeats", "all", "window_months", repeats.get("window_months"))
    add("repeats", "all", "repeating_customers", len(per_customer))
    add("repeats", "all", "repeat_complaints_in_month", sum(r["complaints_in_month"] for r in per_customer))
    add("repeats", "all", "repeating_customer_products", len(repeats.get("per_customer_and_product", [])))
    add("repeats", "all", "confirmed_links_in_month", repeats.get("confirmed_links_in_month"))

    add("alerts", "all", "count", len(figures.get("alerts", [])))
    return rows


def render_csv(figures: Mapping[str, Any]) -> bytes:
    """The CSV: a header and `flatten`'s rows, UTF-8 with a BOM (so Excel reads the Chinese right)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(tuple(_csv_safe(c) for c in row) for row in flatten(figures))
    return buffer.getvalue().encode("utf-8-sig")


def render_html(figures: Mapping[str, Any], language: str = DEFAULT_LANGUAGE) -> str:
    labels = _labels(language)
    _month(figures)
    return _html(figures, _sections(figures, labels), labels, language, render_charts(figures, language))


def render_xlsx(figures: Mapping[str, Any], language: str = DEFAULT_LANGUAGE) -> bytes:
    labels = _labels(language)
    _month(figures)
    return _xlsx(figures, _sections(figures, labels), labels)


@functools.lru_cache(maxsize=1)
def chart_font() -> str | None:
    """The family of an installed CJK font for the charts' text (Noto Sans CJK SC first), or None, with
    one warning, when there is none: the charts then label in English."""
    names = {entry.name for entry in font_manager.fontManager.ttflist}
    for name in CJK_PREFERRED:
        if name in names:
            return name
    others = sorted((n for n in names if "CJK" in n or "WenQuanYi" in n),
                    key=lambda n: ("Sans" not in n, "Mono" in n, " SC" not in n, n))
    if others:
        return others[0]
    log.warning("no CJK font installed (install fonts-noto-cjk): the report's charts are labelled in English")
    return None


def render_charts(figures: Mapping[str, Any], language: str = DEFAULT_LANGUAGE) -> list[Chart]:
    """The report's charts, in page order; a chart with nothing to show is left out. The charts' own text
    is in `language` when a CJK font is installed or the language is English, else in English; the alt
    text (with the charted figures) is always in `language`."""
    labels = _labels(language)
    font = chart_font()
    drawn_in = language if (language == "en" or font is not None) else "en"
    drawn = _labels(drawn_in)
    props = FontProperties(family=[font, "DejaVu Sans"]) if font else FontProperties(family="DejaVu Sans")
    charts = []
    for spec in _chart_series(figures):
        if not spec.codes or (not spec.percent and not any(v != 0 for v in spec.values)):
            continue
        value_text = [spec.fmt(v) for v in spec.values]

        def names(in_labels: Mapping[str, Any], spec: _Series = spec) -> list[str]:
            return [_code(in_labels, c) if spec.translate else str(c) for c in spec.codes]

        fig = _bar_chart(names(drawn), [float(v) * (100 if spec.percent else 1) for v in spec.values], value_text,
                         drawn["charts"][spec.key], drawn["charts"][spec.axis], props,
                         horizontal=spec.horizontal, percent=spec.percent, colours=spec.colours or _COLOURS)
        title = labels["charts"][spec.key]
        if language == "zh":
            alt = f"{labels['text']['chart_prefix']}：{title}：" + "；".join(
                f"{n} {v}" for n, v in zip(names(labels), value_text, strict=True))
        else:
            alt = f"Chart: {title}: " + "; ".join(f"{n} {v}" for n, v in zip(names(labels), value_text, strict=True))
        width, height = (round(v * CHART_DPI) for v in fig.get_size_inches())
        charts.append(Chart(key=spec.key, section=spec.section, title=title, alt=alt, png=_png(fig), width=width,
                            height=height, drawn_in=drawn_in))
    return charts


# ---------------------------------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------------------------------


class _Series(NamedTuple):
    key: str
    section: str
    codes: list[str]
    values: list[Any]
    fmt: Callable[[Any], str]
    axis: str
    horizontal: bool = True
    percent: bool = False
    translate: bool = True
    colours: tuple[str, ...] = ()


def _chart_series(figures: Mapping[str, Any]) -> list[_Series]:
    summary = figures["summary"]
    steps = [(k, v["compliance"]) for k, v in figures["deadlines"].get("by_step", {}).items()
             if v.get("compliance") is not None]
    payers = [(k, _money(v)) for k, v in figures["costs"].get("by_payer", {}).items()]
    distribution = figures["satisfaction"].get("distribution", {})
    levels = [(k, distribution.get(k, 0)) for k in SATISFACTION_SCALE] + [
        (k, v) for k, v in distribution.items() if k not in SATISFACTION_SCALE]
    subjects = list(summary.get("by_subject", {}).items())
    branches = list(summary.get("by_branch", {}).items())
    return [
        _Series("by_subject", "summary", [k for k, _ in subjects], [v for _, v in subjects], str, "complaints"),
        _Series("by_branch", "summary", [k for k, _ in branches], [v for _, v in branches], str, "complaints",
                translate=False),
        _Series("compliance", "deadlines", [k for k, _ in steps], [v for _, v in steps],
                lambda v: f"{float(v) * 100:.1f}%", "percent", percent=True),
        _Series("costs_by_payer", "costs", [k for k, _ in payers], [v for _, v in payers],
                lambda v: f"{v:,.2f}", "amount"),
        _Series("satisfaction", "satisfaction", [k for k, _ in levels], [v for _, v in levels], str, "answers",
                horizontal=False, colours=_SCALE_COLOURS),
    ]


_COLOURS = ("#3B6EA8", "#D9822B", "#3E9B5F", "#C0392B", "#8E6BB8", "#7F8C8D", "#B7950B", "#1A8A8A")
#: The satisfaction scale, very satisfied (green) to very dissatisfied (red).
_SCALE_COLOURS = ("#2E7D4F", "#7CB86A", "#B0B0B0", "#E08A45", "#C0392B")


def _bar_chart(names: Sequence[str], values: Sequence[float], value_text: Sequence[str], title: str,
               axis_label: str, props: FontProperties, *, horizontal: bool, percent: bool,
               colours: Sequence[str] = _COLOURS) -> Figure:
    """A bar chart on its own Figure and Agg canvas: no pyplot, no global backend or rcParams changed."""
    height = max(2.6, 0.9 + 0.42 * len(names)) if horizontal else 3.6
    fig = Figure(figsize=(7.2, height), dpi=CHART_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    positions = list(range(len(names)))
    colours = [colours[i % len(colours)] for i in positions]
    title_props = props.copy()
    title_props.set_size(12)
    small = props.copy()
    small.set_size(9)
    if horizontal:
        bars = ax.barh(positions, values, color=colours, height=0.62)
        ax.set_yticks(positions, list(names), fontproperties=props)
        ax.invert_yaxis()
        ax.set_xlabel(axis_label, fontproperties=props)
        ax.grid(axis="x", color="#DDDDDD", linewidth=0.8)
        low = min(0.0, *values)
        high = max(0.0, *values)
        if percent:
            ax.set_xlim(0, 100)
            ax.xaxis.set_major_formatter(PercentFormatter(100))
        else:
            ax.set_xlim(low * 1.18 if low < 0 else 0, (high * 1.18) or 1)
    else:
        bars = ax.bar(positions, values, color=colours, width=0.62)
        ax.set_xticks(positions, list(names), fontproperties=props)
        ax.set_ylabel(axis_label, fontproperties=props)
        ax.grid(axis="y", color="#DDDDDD", linewidth=0.8)
        ax.set_ylim(0, (max(0.0, *values) * 1.18) or 1)
    if not percent:
        (ax.xaxis if horizontal else ax.yaxis).get_major_locator().set_params(integer=all(
            float(v).is_integer() for v in values))
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    labels = ax.bar_label(bars, labels=list(value_text), padding=3, fontproperties=small)
    if percent:
        for label, value in zip(labels, values, strict=True):
            if value > 85:  # inside the bar's end, so it stays within 0-100 %
                label.set_horizontalalignment("right")
                label.set_x(-6)
                label.set_color("white")
    ax.set_title(title, fontproperties=title_props, loc="left")
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=CHART_DPI, metadata={"Software": None})
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------
# The sections, language resolved: the page and the workbook both render these.
# ---------------------------------------------------------------------------------------------------


class Cell(NamedTuple):
    value: Any
    kind: str = "text"  # text, count, money, pct, hours


@dataclass(frozen=True)
class Table:
    caption: str | None
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]]
    facts: bool = False  # rows of (label, value): the first cell heads its row


@dataclass(frozen=True)
class Section:
    key: str
    heading: str
    tables: list[Table] = field(default_factory=list)

    @property
    def sheet(self) -> str:
        """The key of the workbook's sheet the section goes on."""
        return SHEET_OF.get(self.key, self.key)


def _sections(figures: Mapping[str, Any], labels: Mapping[str, Any]) -> list[Section]:
    L = labels
    col, fact, cap = L["columns"], L["facts"], L["tables"]
    zone = _zone(figures)
    sep = L["text"]["list_separator"]

    def code(value: Any) -> Cell:
        return Cell(_code(L, value) if value is not None else None)

    def facts(*pairs: tuple[str, Cell]) -> Table:
        return Table(None, (col["item"], col["value"]), [(Cell(fact[k]), v) for k, v in pairs], facts=True)

    def counts(caption: str, heading: str, data: Mapping[str, int], order: Sequence[str] = (),
               translate: bool = True) -> Table:
        # A scale (`order`) shows every step, zeros too; other dimensions the keys counted.
        data = {k: data.get(k, 0) for k in order} | {k: v for k, v in data.items() if k not in order}
        total = sum(data.values())
        return Table(cap[caption], (col[heading], col["count"], col["share"]),
                     [(code(k) if translate else Cell(k), Cell(v, "count"),
                       Cell(v / total if total else None, "pct")) for k, v in data.items()])

    def deadline_table(caption: str, heading: str, data: Mapping[str, Mapping[str, Any]]) -> Table:
        measures = ("due", "on_time", "late", "open", "cancelled")
        return Table(cap[caption], (col[heading], *(col[m] for m in measures), col["compliance"]),
                     [(code(k), *(Cell(v.get(m), "count") for m in measures), Cell(v.get("compliance"), "pct"))
                      for k, v in data.items()])

    summary = figures["summary"]
    scope = figures.get("scope")
    sections = [Section("summary", L["sections"]["summary"], [
        facts(("month", Cell(figures["month"])),
              ("period", Cell(_period(figures, L))),
              ("time_zone", Cell(figures.get("time_zone"))),
              ("scope", Cell(sep.join(scope) if isinstance(scope, list) else L["text"]["all_branches"])),
              ("total", Cell(summary["total"], "count")), ("closed", Cell(summary["closed"], "count"))),
        counts("by_branch", "branch", summary.get("by_branch", {}), translate=False),
        counts("by_subject", "subject", summary.get("by_subject", {})),
        counts("by_severity", "severity", summary.get("by_severity", {}), SEVERITIES),
        counts("by_channel", "channel", summary.get("by_channel", {})),
        counts("by_kind", "kind", summary.get("by_kind", {})),
        counts("by_validity", "validity", summary.get("by_validity", {}), VALIDITY),
    ])]

    deadlines = figures["deadlines"]
    sections.append(Section("deadlines", L["sections"]["deadlines"], [
        deadline_table("by_step", "step", deadlines.get("by_step", {})),
        deadline_table("by_role", "role", deadlines.get("by_role", {})),
    ]))

    handling = figures["handling"]
    sections.append(Section("handling", L["sections"]["handling"], [
        facts(("handled", Cell(handling.get("closed"), "count")),
              ("median_hours", Cell(handling.get("median_hours"), "hours")),
              ("p90_hours", Cell(handling.get("p90_hours"), "hours"))),
        Table(cap["handling_by_subject"], (col["subject"], col["closed"], col["median_hours"], col["p90_hours"]),
              [(code(k), Cell(v.get("closed"), "count"), Cell(v.get("median_hours"), "hours"),
                Cell(v.get("p90_hours"), "hours")) for k, v in handling.get("by_subject", {}).items()]),
    ]))

    costs = figures["costs"]
    total = _money(costs["total"])

    def money_table(caption: str, heading: str, data: Mapping[str, Any]) -> Table:
        return Table(cap[caption], (col[heading], col["amount"], col["share"]),
                     [(code(k), Cell(_money(v), "money"), Cell(_money(v) / total if total else None, "pct"))
                      for k, v in data.items()])

    sections.append(Section("costs", L["sections"]["costs"], [
        facts(("currency", Cell(costs.get("currency", "CNY"))), ("costs_total", Cell(total, "money"))),
        money_table("by_payer", "payer", costs.get("by_payer", {})),
        money_table("by_item", "cost_item", costs.get("by_item", {})),
        Table(cap["by_payer_and_item"], (col["payer"], col["cost_item"], col["amount"]),
              [(code(r["payer"]), code(r["item"]), Cell(_money(r["amount"]), "money"))
               for r in costs.get("by_payer_and_item", [])]),
    ]))
    transport = costs.get("transport", {})
    transport_total = _money(transport.get("total", sum((_money(transport.get(i, 0)) for i in TRANSPORT_ITEMS),
                                                        Decimal("0.00"))))
    sections.append(Section("transport", L["sections"]["transport"], [
        facts(("transport_share", Cell(transport_total / total if total else None, "pct"))),
        Table(cap["transport"], (col["cost_item"], col["amount"]),
              [(code(k), Cell(_money(v), "money")) for k, v in transport.items()]),
    ]))

    satisfaction = figures["satisfaction"]
    sections.append(Section("satisfaction", L["sections"]["satisfaction"], [
        facts(("followed_up", Cell(satisfaction.get("followed_up"), "count")),
              ("rated", Cell(satisfaction.get("rated"), "count")),
              ("unreachable", Cell(satisfaction.get("unreachable"), "count")),
              ("satisfied_rate", Cell(satisfaction.get("satisfied_rate"), "pct"))),
        counts("distribution", "level", satisfaction.get("distribution", {}), SATISFACTION_SCALE),
    ]))

    capa = figures["corrective_actions"]
    sections.append(Section("corrective_actions", L["sections"]["corrective_actions"], [
        facts(("raised", Cell(capa.get("raised"), "count")), ("capa_closed", Cell(capa.get("closed"), "count")),
              ("open_at_month_end", Cell(capa.get("open_at_month_end"), "count")),
              ("overdue_at_month_end", Cell(capa.get("overdue_at_month_end"), "count"))),
        counts("by_source", "source", capa.get("by_source", {})),
        Table(cap["overdue"], (col["action_id"], col["due_at"], col["state"], col["model"], col["batch_number"]),
              [(Cell(a["action_id"]), Cell(_local(a.get("due_at"), zone)), code(a.get("state")), Cell(a.get("model")),
                Cell(a.get("batch_number"))) for a in capa.get("overdue", [])]),
    ]))

    repeats = figures["repeats"]
    window = repeats.get("window_months")
    in_window = col["in_window"].format(n=window)
    sections.append(Section("repeats", L["sections"]["repeats"], [
        facts(("window_months", Cell(window, "count")),
              ("repeating_customers", Cell(len(repeats.get("per_customer", [])), "count")),
              ("repeating_pairs", Cell(len(repeats.get("per_customer_and_product", [])), "count")),
              ("confirmed_links_in_month", Cell(repeats.get("confirmed_links_in_month"), "count"))),
        Table(cap["per_customer"], (col["customer"], col["in_month"], in_window, col["form_numbers"]),
              [(Cell(r.get("customer")), Cell(r["complaints_in_month"], "count"),
                Cell(r["complaints_in_12_months"], "count"), Cell(sep.join(r.get("form_numbers", []))))
               for r in repeats.get("per_customer", [])]),
        Table(cap["per_customer_and_product"],
              (col["customer"], col["product_model"], col["in_month"], in_window, col["form_numbers"]),
              [(Cell(r.get("customer")), Cell(r.get("product_model")), Cell(r["complaints_in_month"], "count"),
                Cell(r["complaints_in_12_months"], "count"), Cell(sep.join(r.get("form_numbers", []))))
               for r in repeats.get("per_customer_and_product", [])]),
    ]))

    alerts = figures.get("alerts", [])
    sections.append(Section("alerts", L["sections"]["alerts"], [
        facts(("alert_count", Cell(len(alerts), "count"))),
        Table(cap["alerts"], (col["model"], col["batch_number"], col["window_start"], col["window_end"],
                              col["threshold"], col["alert_count"], col["raised_at"], col["branch"],
                              col["complaints"]),
              [(Cell(a.get("model")), Cell(a.get("batch_number")), Cell(a.get("window_start")),
                Cell(a.get("window_end")), Cell(a.get("threshold"), "count"), Cell(a.get("count"), "count"),
                Cell(_local(a.get("raised_at"), zone)), Cell(a.get("branch")),
                Cell(sep.join(c.get("form_number", "") for c in a.get("complaints") or [])
                     or a.get("form_number"))) for a in alerts]),
    ]))

    register_columns = ("form_number", "branch", "received_at", "kind", "subject", "severity", "channel",
                        "customer_name", "product_model", "batch_number", "valid", "cause_category",
                        "closure_outcome", "handling_hours", "satisfaction")
    coded = {"kind", "subject", "severity", "channel", "cause_category", "closure_outcome", "satisfaction"}

    def register_cell(name: str, row: Mapping[str, Any]) -> Cell:
        value = row.get(name)
        if name == "received_at":
            return Cell(_local(value, zone))
        if name == "valid":
            return code("valid" if value is True else "invalid" if value is False else "undetermined")
        if name == "handling_hours":
            return Cell(value, "hours")
        return code(value) if name in coded else Cell(value)

    sections.append(Section("register", L["sections"]["register"], [
        Table(cap["register"], tuple(col[c] for c in register_columns),
              [tuple(register_cell(c, r) for c in register_columns) for r in figures.get("complaint_register", [])]),
    ]))
    assert [s.key for s in sections] == list(SECTIONS)
    return sections


# ---------------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------------

_PAGE = """<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} {{ month }}</title>
<style>
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", "Helvetica Neue", Arial, sans-serif;
       margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 3px solid #3B6EA8; padding-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-left: 5px solid #3B6EA8; padding-left: .5rem; }
nav ol { columns: 2; font-size: .92rem; }
.meta { color: #555; font-size: .9rem; }
.tables { display: flex; flex-wrap: wrap; gap: 1rem 2rem; align-items: flex-start; }
.wide { overflow-x: auto; width: 100%; }
.wide th, .wide td { white-space: nowrap; }
table { border-collapse: collapse; font-size: .88rem; margin: .4rem 0 1rem; }
caption { text-align: left; font-weight: bold; padding: .2rem 0; }
th, td { border: 1px solid #ccc; padding: .25rem .55rem; text-align: left; vertical-align: top; }
thead th { background: #EEF3F9; }
table.facts th { background: #F7F7F7; font-weight: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.empty { color: #888; font-style: italic; }
figure { margin: .5rem 0 1rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #555; }
@media print { nav { display: none; } h2 { break-after: avoid; } figure, table { break-inside: avoid; } }
</style>
</head>
<body>
<h1>{{ title }} {{ month }}</h1>
<p class="meta">{{ period }} · {{ time_zone }} · {{ scope }}</p>
<nav><strong>{{ contents }}</strong><ol>
{% for s in sections %}
<li><a href="#{{ s.key }}">{{ s.heading }}</a></li>
{% endfor %}
</ol></nav>
{% for s in sections %}
<section id="{{ s.key }}">
<h2>{{ s.heading }}</h2>
{% for chart in charts.get(s.key, []) %}
<figure><img src="{{ chart.data_uri }}" alt="{{ chart.alt }}" width="{{ chart.width }}" height="{{ chart.height }}">
<figcaption>{{ chart.title }}</figcaption></figure>
{% endfor %}
<div class="{{ 'wide' if s.key == 'register' else 'tables' }}">
{% for t in s.tables %}
<table{% if t.facts %} class="facts"{% endif %}>
{% if t.caption %}<caption>{{ t.caption }}</caption>{% endif %}
{% if not t.facts %}<thead><tr>{% for c in t.columns %}<th scope="col">{{ c }}</th>{% endfor %}</tr></thead>{% endif %}
<tbody>
{% for row in t.rows %}
<tr>{% for cell in row %}{% if t.facts and loop.first %}<th scope="row">{{ show(cell) }}</th>{% else %}<td{% if cell.kind != 'text' %} class="num"{% endif %}>{{ show(cell) }}</td>{% endif %}{% endfor %}</tr>
{% else %}
<tr><td class="empty" colspan="{{ t.columns | length }}">{{ no_rows }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endfor %}
</div>
</section>
{% endfor %}
<p class="meta">{{ generated_from }}</p>
</body>
</html>
"""

_ENV = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                   keep_trailing_newline=True)
_TEMPLATE = _ENV.from_string(_PAGE)


def _html(figures: Mapping[str, Any], sections: list[Section], labels: Mapping[str, Any], language: str,
          charts: list[Chart]) -> str:
    text = labels["text"]
    scope = figures.get("scope")
    by_section: dict[str, list[Chart]] = {}
    for chart in charts:
        by_section.setdefault(chart.section, []).append(chart)
    none = text["none"]

    def show(cell: Cell) -> str:
        return _display(cell, none)

    return _TEMPLATE.render(
        lang="zh-CN" if language == "zh" else "en", title=labels["title"], month=figures["month"],
        period=_period(figures, labels),
        time_zone=figures.get("time_zone") or "",
        scope=text["list_separator"].join(scope) if isinstance(scope, list) else text["all_branches"],
        contents=text["contents"], sections=sections, charts=by_section, show=show, no_rows=text["no_rows"],
        generated_from=text["generated_from"])


def _display(cell: Cell, none: str) -> str:
    value, kind = cell
    if value is None or value == "":
        return none
    if kind == "money":
        return f"{_money(value):,.2f}"
    if kind == "pct":
        return f"{float(value) * 100:.1f}%"
    if kind == "hours":
        return f"{float(value):.2f}"
    return str(value)


# ---------------------------------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------------------------------

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=13)
_HEAD_FILL = PatternFill("solid", fgColor="EEF3F9")


class _FixedTimeZip(zipfile.ZipFile):
    """A zip whose entries all carry one fixed time (openpyxl's writer stamps them with the clock or with
    its temporary files' times)."""

    def __init__(self, file: Any, date_time: tuple[int, int, int, int, int, int]):
        super().__init__(file, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self._fixed_time = date_time

    def writestr(self, zinfo_or_arcname: Any, data: Any, compress_type: Any = None,
                 compresslevel: Any = None) -> None:
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            info = zipfile.ZipInfo(zinfo_or_arcname, date_time=self._fixed_time)
            info.compress_type = self.compression
            info.external_attr = 0o600 << 16
            zinfo_or_arcname = info
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename: Any, arcname: Any = None, compress_type: Any = None, compresslevel: Any = None) -> None:
        # openpyxl writes each worksheet from a temporary file, which `ZipFile.write` stamps with its mtime.
        with open(filename, "rb") as handle:
            data = handle.read()
        self.writestr(arcname if arcname is not None else os.path.basename(filename), data, compress_type,
                      compresslevel)


def _xlsx(figures: Mapping[str, Any], sections: list[Section], labels: Mapping[str, Any]) -> bytes:
    year, number = (int(p) for p in _month(figures).split("-"))
    first_day = datetime(year, number, 1)
    workbook = Workbook()
    workbook.remove(workbook.active)
    sheets = {key: workbook.create_sheet(labels["sheets"][key]) for key in SHEETS}
    rows = {key: 1 for key in SHEETS}
    widths: dict[str, dict[int, float]] = {key: {} for key in SHEETS}
    none = labels["text"]["none"]

    def put(key: str, row: int, column: int, cell: Cell, font: Font | None = None) -> None:
        value, kind = cell
        target = sheets[key].cell(row=row, column=column)
        if kind in XLSX_FORMATS and value is not None and value != "":
            target.value = _money(value) if kind == "money" else float(value) if kind == "pct" else value
            target.number_format = XLSX_FORMATS[kind]
            shown = _display(cell, none)
        else:
            target.value = None if value is None else ILLEGAL_CHARACTERS_RE.sub("", str(value))
            if isinstance(target.value, str) and target.value.startswith("="):
                target.data_type = "s"  # text, never a formula
            shown = target.value or ""
        if font is not None:
            target.font = font
        width = sum(2 if ord(ch) > 0x2E7F else 1 for ch in str(shown)) + 2
        widths[key][column] = min(60, max(widths[key].get(column, 8), width))

    for section in sections:
        key = section.sheet
        sheet = sheets[key]
        if key == "register":
            [table] = section.tables
            for c, name in enumerate(table.columns, start=1):
                put(key, 1, c, Cell(name), _BOLD)
                sheet.cell(row=1, column=c).fill = _HEAD_FILL
            for r, line in enumerate(table.rows, start=2):
                for c, cell in enumerate(line, start=1):
                    put(key, r, c, cell)
            sheet.freeze_panes = "B2"
            sheet.auto_filter.ref = f"A1:{get_column_letter(len(table.columns))}{max(1, len(table.rows) + 1)}"
            continue
        row = rows[key]
        put(key, row, 1, Cell(section.heading), _TITLE)
        row += 2
        for table in section.tables:
            if table.caption:
                put(key, row, 1, Cell(table.caption), _BOLD)
                row += 1
            if not table.facts:
                for c, name in enumerate(table.columns, start=1):
                    put(key, row, c, Cell(name), _BOLD)
                    sheet.cell(row=row, column=c).fill = _HEAD_FILL
                row += 1
            for line in table.rows:
                for c, cell in enumerate(line, start=1):
                    put(key, row, c, cell, _BOLD if table.facts and c == 1 else None)
                row += 1
            if not table.rows:
                put(key, row, 1, Cell(labels["text"]["no_rows"]))
                row += 1
            row += 1
        rows[key] = row

    for key, sheet in sheets.items():
        for column, width in sorted(widths[key].items()):
            sheet.column_dimensions[get_column_letter(column)].width = width
    properties = workbook.properties
    properties.creator = "complaints"
    properties.lastModifiedBy = "complaints"
    properties.title = f"{labels['title']} {figures['month']}"
    properties.created = first_day
    properties.modified = first_day
    buffer = io.BytesIO()
    # openpyxl's save_workbook stamps `modified` with the clock and the zip entries with the time of day;
    # its writer, given a zip that stamps the month's first day, writes the same bytes for the same figures.
    ExcelWriter(workbook, _FixedTimeZip(buffer, (year, number, 1, 0, 0, 0))).save()
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def _labels(language: str) -> dict[str, Any]:
    if language not in LABELS:
        raise ValueError(f"language: one of {', '.join(LANGUAGES)}, not {language!r}")
    return LABELS[language]


def _month(figures: Mapping[str, Any]) -> str:
    month = figures.get("month")
    if not isinstance(month, str) or not MONTH.fullmatch(month):
        raise ValueError(f"figures['month']: YYYY-MM, not {month!r}")
    return month


def _zone(figures: Mapping[str, Any]) -> ZoneInfo | None:
    try:
        return ZoneInfo(figures["time_zone"]) if figures.get("time_zone") else None
    except (KeyError, ValueError):
        return None


def _code(labels: Mapping[str, Any], value: Any) -> str:
    text = str(value)
    label = labels["codes"].get(text)
    if label is not None:
        return label
    if labels is EN and text.replace("_", "").isalpha() and text.islower():
        return text.replace("_", " ").capitalize()
    return text


def _local(value: Any, zone: ZoneInfo | None) -> str | None:
    """An ISO time as `YYYY-MM-DD HH:MM` in the company's zone (the text itself if it is not a time)."""
    if value is None:
        return None
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None and zone is not None:
        moment = moment.astimezone(zone)
    return moment.strftime("%Y-%m-%d %H:%M")


def _period(figures: Mapping[str, Any], labels: Mapping[str, Any]) -> str:
    """The month's first and last day (`to` is the next month's first instant, not counted)."""
    zone = _zone(figures)
    try:
        start = datetime.fromisoformat(str(figures["from"]))
        end = datetime.fromisoformat(str(figures["to"])) - timedelta(microseconds=1)
    except (KeyError, ValueError):
        return str(figures["month"])
    if zone is not None and start.tzinfo is not None:
        start, end = start.astimezone(zone), end.astimezone(zone)
    return f"{start:%Y-%m-%d} {labels['text']['to']} {end:%Y-%m-%d}"


def _money(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _csv_safe(text: str) -> str:
    """A cell Excel would run as a formula gets a leading apostrophe; numbers (-12.50) stay as they are."""
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            Decimal(text)
        except InvalidOperation:
            return "'" + text
    return text


__all__ = ["LABELS", "ZH", "EN", "Chart", "ReportFiles", "chart_font", "flatten", "render_charts", "render_csv",
           "render_html", "render_xlsx", "write_report"]
