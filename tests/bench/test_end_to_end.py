"""The benchmark's load generator: lost requests are retried, counted, and never waited for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.envelope import ServiceName
from services.common.cluster import LocalCluster
from tests.bench.end_to_end import run_path

pytestmark = pytest.mark.e2e


@pytest.fixture
def sqlite_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path, log_level="WARNING") as cluster:
        yield cluster


@pytest.mark.timeout(240)
def test_registrations_lost_with_intake_are_counted_and_not_waited_for(sqlite_cluster: LocalCluster) -> None:
    """Intake is killed while the load generator submits, and restarted once the retries of the
    requests sent meanwhile have given up (what it stored before dying is published after)."""

    async def run() -> tuple[dict, float]:
        started = time.monotonic()
        some_in = asyncio.Event()
        task = asyncio.create_task(run_path(sqlite_cluster, 40, concurrency=8, timeout=150, rate=20,
                                            on_submitted=lambda count: count >= 8 and some_in.set()))
        await asyncio.wait_for(some_in.wait(), 60)  # some registrations are in, the rest still to come
        await asyncio.to_thread(sqlite_cluster.stop_service, ServiceName.INTAKE, True)
        await asyncio.sleep(8)  # every request sent meanwhile has used up its retries (about 3 s of backoff)
        await asyncio.to_thread(sqlite_cluster.start_service, ServiceName.INTAKE)
        result = await task
        return result, time.monotonic() - started

    result, elapsed = asyncio.run(run())
    print(result, elapsed)

    assert 0 < result["submitted"] < 40
    assert result["submitted"] + result["failed"] == 40, result["failures"]
    assert all(reason.startswith("registration: ") for reason in result["failures"]), result["failures"]
    assert sum(result["retries"].values()) >= result["failed"], "each lost request was retried first"
    assert result["completed"] == result["submitted"], "every complaint it did submit went the whole way"
    assert elapsed < 100, f"waited {elapsed:.0f}s: the lost complaints were waited for"
