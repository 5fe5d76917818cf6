"""Structured logs: one JSON object per line with the context fields, repeated warnings and
errors rate-limited with a count of what was suppressed."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from services.common.logs import (
    RepeatFilter, choose_format, configure_logging, current_context, log_context,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stream(clock: Clock) -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("intake", "INFO", fmt="json", stream=out, repeat_seconds=10, clock=clock)
    try:
        yield out
    finally:
        for handler in root.handlers[:]:
            if handler not in saved[0]:
                root.removeHandler(handler)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_context_fields(stream: io.StringIO) -> None:
    complaint_id, correlation_id = uuid4(), uuid4()
    log = logging.getLogger("intake.test")
    with log_context(complaint_id=complaint_id, form_number="SH01-20261125-0001",
                     correlation_id=correlation_id, event_type="ComplaintRegistered"):
        log.warning("could not publish %s", "SH01-20261125-0001", extra={"attempt": 3})
    [line] = lines(stream)
    assert line["level"] == "warning"
    assert line["service"] == "intake"
    assert line["logger"] == "intake.test"
    assert line["message"] == "could not publish SH01-20261125-0001"
    assert line["complaint_id"] == str(complaint_id)
    assert line["correlation_id"] == str(correlation_id)
    assert line["form_number"] == "SH01-20261125-0001"
    assert line["event_type"] == "ComplaintRegistered"
    assert line["attempt"] == 3
    when = datetime.fromisoformat(line["time"].replace("Z", "+00:00"))
    assert when.utcoffset() == timedelta(0)
    assert line["time"].endswith("Z")


def test_contexts_nest_and_unwind(stream: io.StringIO) -> None:
    log = logging.getLogger("intake.test")
    with log_context(complaint_id="c-1", event_type="A"):
        with log_context(event_type="B", form_number=None):  # None adds nothing
            log.info("inner")
            assert current_context() == {"complaint_id": "c-1", "event_type": "B"}
        log.info("outer")
    log.info("outside")
    inner, outer, outside = lines(stream)
    assert (inner["complaint_id"], inner["event_type"]) == ("c-1", "B")
    assert "form_number" not in inner
    assert (outer["complaint_id"], outer["event_type"]) == ("c-1", "A")
    assert "complaint_id" not in outside and "event_type" not in outside
    assert current_context() == {}


def test_context_follows_work_handed_to_a_thread(stream: io.StringIO) -> None:
    log = logging.getLogger("intake.test")

    async def main() -> None:
        with log_context(complaint_id="c-2"):
            await asyncio.to_thread(log.info, "in a worker thread")

    asyncio.run(main())
    [line] = lines(stream)
    assert line["complaint_id"] == "c-2"


def test_an_exception_is_one_line_with_its_traceback(stream: io.StringIO) -> None:
    try:
        raise ValueError("bad input")
    except ValueError:
        logging.getLogger("intake.test").exception("batch failed")
    [line] = lines(stream)
    assert line["level"] == "error"
    assert "ValueError: bad input" in line["exception"]
    assert len(stream.getvalue().splitlines()) == 1


def test_repeated_errors_are_one_line_then_a_count(stream: io.StringIO, clock: Clock) -> None:
    log = logging.getLogger("intake.consumer")
    for i in range(100):
        log.error("cannot reach the broker at %s (try %d)", "kafka:9092", i)
        clock.now += 0.05  # 100 errors in 5 s: within one 10 s interval
    assert len(lines(stream)) == 1
    assert "repeated" not in lines(stream)[0]
    clock.now += 10
    log.error("cannot reach the broker at %s (try %d)", "kafka:9092", 100)
    first, second = lines(stream)
    assert second["repeated"] == 99
    assert second["message"] == "cannot reach the broker at kafka:9092 (try 100)"
    # A new interval starts: the next repeat within it is suppressed again.
    log.error("cannot reach the broker at %s (try %d)", "kafka:9092", 101)
    assert len(lines(stream)) == 2


def test_only_the_same_logger_level_and_template_are_limited(stream: io.StringIO) -> None:
    for _ in range(3):
        logging.getLogger("a").error("one %s", 1)
        logging.getLogger("b").error("one %s", 1)
        logging.getLogger("a").warning("one %s", 1)
        logging.getLogger("a").error("two %s", 1)
        logging.getLogger("a").info("progress %s", 1)  # info passes untouched
    got = [(line["logger"], line["level"], line["message"]) for line in lines(stream)]
    assert got.count(("a", "info", "progress 1")) == 3
    assert len(got) == 4 + 3


def test_repeat_interval_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("COMPLAINTS_LOG_REPEAT_SECONDS", "2.5")
    assert RepeatFilter().interval == 2.5
    monkeypatch.delenv("COMPLAINTS_LOG_REPEAT_SECONDS")
    assert RepeatFilter().interval == 10.0


def test_repeat_filter_keeps_a_bounded_memory(clock: Clock) -> None:
    limiter = RepeatFilter(interval=10, clock=clock, max_keys=50)
    for i in range(500):
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, f"distinct {i}", None, None)
        assert limiter.filter(record)
    assert len(limiter._seen) <= 50


def test_aiokafka_is_quiet_and_rate_limited(stream: io.StringIO) -> None:
    kafka = logging.getLogger("aiokafka.consumer.group_coordinator")
    assert not kafka.isEnabledFor(logging.INFO)
    for _ in range(20):
        kafka.warning("Heartbeat failed for group %s because it is rebalancing", "complaints-intake")
    assert len(lines(stream)) == 1


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("env", "stream", "expected"), [
    ({}, io.StringIO(), "json"),
    ({}, Tty(), "text"),
    ({"COMPLAINTS_LOG_FORMAT": "json"}, Tty(), "json"),
    ({"COMPLAINTS_LOG_FORMAT": "TEXT"}, io.StringIO(), "text"),
])
def test_format_is_json_unless_a_terminal_or_forced(env, stream, expected) -> None:
    assert choose_format(env, stream) == expected


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="COMPLAINTS_LOG_FORMAT"):
        choose_format({"COMPLAINTS_LOG_FORMAT": "xml"}, io.StringIO())


def test_text_format_is_readable_and_carries_context_and_count(clock: Clock) -> None:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("notify", "INFO", fmt="text", stream=out, repeat_seconds=10, clock=clock)
        log = logging.getLogger("notify.delivery")
        with log_context(complaint_id="c-3"):
            log.error("failed %s", 1)
            log.error("failed %s", 2)
            clock.now += 11
            log.error("failed %s", 3)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    first, second = out.getvalue().splitlines()
    assert "notify" in first and "ERROR" in first and "notify.delivery" in first and "failed 1" in first
    assert "complaint_id=c-3" in first
    assert "repeated=1" in second and "failed 3" in second
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)


def test_configuring_twice_leaves_one_handler(clock: Clock) -> None:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("intake", "INFO", fmt="json", stream=out, clock=clock)
        configure_logging("intake", "INFO", fmt="json", stream=out, clock=clock)
        logging.getLogger("x").info("once")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert len(out.getvalue().splitlines()) == 1
