"""The batch-defect early warning, pure: once per batch and window, never for other batches, whatever
the order the registrations arrive in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.envelope import Actor, ServiceName
from services.analytics.domain.alerts import AlertRules, BatchWatch, alert_id, batch_key, load_alert_rules, watch_id
from services.common.domain import EventMeta

RULES = load_alert_rules()
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)  # 09:00 in Shanghai


def meta(complaint_id: UUID | None = None) -> EventMeta:
    return EventMeta(complaint_id=complaint_id or uuid4(), form_number="SH01-20261102-0001", correlation_id=uuid4(),
                     causation_id=uuid4(), actor=Actor.system(ServiceName.ANALYTICS))


def alerts(watch: BatchWatch) -> list[BatchWatch.AlertRaised]:
    return [e for e in watch.collect_events() if isinstance(e, BatchWatch.AlertRaised)]


def count(watch: BatchWatch, *days: float, rules: AlertRules = RULES) -> list[bool]:
    return [watch.note(meta(), "SH01-20261102-0001", T0 + timedelta(days=d), rules) for d in days]


def test_the_rules_file_says_three_within_thirty_days() -> None:
    assert (RULES.threshold, RULES.window_days, RULES.zone.key) == (3, 30, "Asia/Shanghai")
    assert RULES.subjects == {"product_quality"}


def test_the_third_complaint_within_the_window_raises_one_alert_and_later_ones_join_it() -> None:
    watch = BatchWatch(model="GX-200", batch_number="B2026-1107")
    assert count(watch, 0, 10) == [False, False]
    assert count(watch, 29) == [True]
    assert count(watch, 29.5, 20) == [False, False]  # inside the alerted window: no second alert
    [alert] = alerts(watch)
    assert (alert.window_start.isoformat(), alert.window_end.isoformat(), alert.count) == (
        "2026-11-02", "2026-12-01", 3)
    assert alert.alert_id == alert_id("GX-200", "B2026-1107", alert.window_start)


def test_complaints_spread_wider_than_the_window_raise_nothing() -> None:
    watch = BatchWatch(model="GX-200", batch_number="B2026-1107")
    assert count(watch, 0, 20, 40, 61) == [False, False, False, False]
    assert alerts(watch) == []


def test_after_the_window_a_new_window_needs_the_threshold_again() -> None:
    watch = BatchWatch(model="GX-200", batch_number="B2026-1107")
    assert count(watch, 0, 1, 2) == [False, False, True]
    assert count(watch, 31, 32) == [False, False]  # the first window ended on day 29
    assert count(watch, 33) == [True]
    assert [a.window_start.isoformat() for a in alerts(watch)] == ["2026-11-02", "2026-12-03"]


def test_the_same_complaint_twice_counts_once() -> None:
    watch = BatchWatch(model="GX-200", batch_number="B2026-1107")
    same = meta()
    for _ in range(5):
        watch.note(same, "SH01-20261102-0001", T0, RULES)
    assert len(watch.counted) == 1 and alerts(watch) == []


def test_batches_are_told_apart_by_model_and_batch_not_by_case_or_spaces() -> None:
    assert watch_id("GX-200", "B2026-1107") == watch_id(" gx-200", "b2026-1107 ")
    assert watch_id("GX-200", "B2026-1107") != watch_id("GX-200", "B2026-1108")
    assert watch_id("GX-200", "B2026-1107") != watch_id("GX-300", "B2026-1107")
    assert batch_key("GX 200", "B1") == "GX 200|B1"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=120), min_size=1, max_size=12))
def test_the_alerts_of_registrations_in_time_order_never_overlap_and_each_counts_the_threshold(days: list[int]) -> None:
    watch = BatchWatch(model="GX-200", batch_number="B2026-1107")
    count(watch, *sorted(days))
    raised = alerts(watch)
    windows = sorted((a.window_start, a.window_end) for a in raised)
    assert all(b_start > a_end for (_, a_end), (b_start, _) in zip(windows, windows[1:]))
    for a in raised:
        assert a.count >= RULES.threshold and (a.window_end - a.window_start).days == RULES.window_days - 1
    # An alert exactly when some run of `threshold` complaints falls within the window span.
    ordered = sorted(days)
    possible = any(ordered[i + RULES.threshold - 1] - ordered[i] < RULES.window_days
                   for i in range(len(ordered) - RULES.threshold + 1))
    assert bool(raised) == possible


@pytest.mark.parametrize("text, error", [
    ("threshold: 1", "threshold"), ("window_days: 0", "window_days"), ("timezone: Mars/Base", "timezone"),
    ("subjects: []", "subjects"),
])
def test_a_broken_rules_file_is_refused_naming_the_key(tmp_path: Path, text: str, error: str) -> None:
    base = {"version": "v", "threshold": "3", "window_days": "30", "timezone": "Asia/Shanghai",
            "subjects": "[product_quality]"}
    key = text.split(":")[0]
    lines = [f"{k}: {v}" for k, v in base.items() if k != key] + [text]
    path = tmp_path / "rules.yaml"
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=error):
        load_alert_rules(path)
