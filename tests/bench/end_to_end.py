"""`make bench`: complaints through the whole path, end to end, and the broker's raw produce rate.

Starts Apache Kafka (one node), the five services and the read side (HQ, analytics) as separate processes (PostgreSQL stores by default),
submits N product-quality complaints over HTTP, answers each ComplaintRouted to the HQ clerk
on the routing topic with the on-site dispatch over HTTP (as the HQ clerk would, but at once;
the shared helper of the demo and the tests), each QualityInvestigationOpened on the quality
topic with the on-site determination over HTTP (as a regional manager would), and times each
complaint from submission until notify has delivered all its notifications (seen on the notify
topic): the customer's acknowledgement, progress and result (phone tasks to the clerk), and the
general manager and the management representative told of the quality complaint (e-mail and inbox).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from aiokafka.admin import NewTopic

from contracts.envelope import ServiceName, branch_of
from contracts.topics import PARTITIONS, events_topic
from services.common import access
from services.common.bus import Bus
from services.common.cluster import SERVICES, LocalCluster
from services.common.kafkaserver import kafka_version
from services.demo import samples
from services.demo.journey import dispatch_on_site, upload_photo
from tests.support import postgres

INTAKE, ROUTING, QUALITY, NOTIFY = ServiceName.INTAKE, ServiceName.ROUTING, ServiceName.QUALITY, ServiceName.NOTIFY
#: The notifications of one complaint's journey: the visit announced to the customer at the dispatch,
#: then the decision to the customer, the general manager and the management representative, and the
#: customer's statement of what they owe.
NOTICES = 5
#: ... delivered: the customer's three phone tasks to the clerk, and the general manager's and the
#: management representative's e-mail (written to the pickup directory: no SMTP relay) and inbox.
DELIVERIES = 7
#: A round-the-clock calendar: no notice waits for office hours, whenever the bench runs.
os.environ.setdefault("NOTIFY_CALENDAR_FILE", str(Path(__file__).resolve().parents[1] / "support" / "round_the_clock.yaml"))


async def raw_produce_rate(bus: Bus, messages: int = 100_000, size: int = 500) -> tuple[float, float]:
    """Messages per second for plain aiokafka sends to the broker, with the services' producer settings
    (idempotent, acks=all): batched (linger 20 ms), and one at a time."""
    admin = bus.admin()
    await admin.start()
    try:
        await admin.create_topics([NewTopic("bench.raw", PARTITIONS, 1)])
    finally:
        await admin.close()
    producer = bus.producer(linger_ms=20)
    await producer.start()
    try:
        payload = b"x" * size
        await producer.send_and_wait("bench.raw", payload, key=b"warm-up")
        started = time.perf_counter()
        futures = [await producer.send("bench.raw", payload, key=str(i % 64).encode()) for i in range(messages)]
        await asyncio.gather(*futures)
        batched = messages / (time.perf_counter() - started)
    finally:
        await producer.stop()
    single = bus.producer(linger_ms=0)
    await single.start()
    try:
        started = time.perf_counter()
        for i in range(2000):
            await single.send_and_wait("bench.raw", payload, key=str(i % 64).encode())
        one_by_one = 2000 / (time.perf_counter() - started)
    finally:
        await single.stop()
    return batched, one_by_one


class Tokens:
    """Bearer headers for the load generator: a clerk per branch, a regional manager per region."""

    def __init__(self, cluster: LocalCluster):
        self.cluster = cluster
        self._cache: dict[tuple[str, str], dict[str, str]] = {}

    def clerk(self, branch: str) -> dict[str, str]:
        return self._get("clerk", branch, lambda: self.cluster.auth(**samples.clerk_of(branch)))

    def hq_clerk(self) -> dict[str, str]:
        return self._get("hq_clerk", "", lambda: self.cluster.auth(**samples.HQ_CLERK))

    def operator(self) -> dict[str, str]:
        return self._get("operator", "", lambda: self.cluster.auth(**samples.OPERATOR))

    def manager(self, branch: str) -> dict[str, str]:
        region = access.rules().region_of(branch) or ""
        return self._get("manager", region, lambda: self.cluster.auth(**samples.manager_of(region)))

    def _get(self, kind: str, key: str, make) -> dict[str, str]:
        if (kind, key) not in self._cache:
            self._cache[(kind, key)] = make()
        return self._cache[(kind, key)]


async def with_retries(call: Callable[[], Awaitable[Any]], what: str, stats: dict[str, Counter[str]],
                       attempts: int = 6) -> Any:
    """Run an idempotent command (it carries its command_id), retrying connection-level failures with
    backoff (the same command again is the same command). None when it failed; the reason is counted."""
    delay = 0.1
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except httpx.TransportError as e:
            reason = f"{what}: {type(e).__name__}"
            if attempt == attempts:
                stats["failures"][f"{reason} ({attempts} attempts)"] += 1
                return None
            stats["retries"][reason] += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


async def post_idempotent(client: httpx.AsyncClient, url: str, body: dict, headers: dict[str, str], what: str,
                          stats: dict[str, Counter[str]], attempts: int = 6) -> httpx.Response | None:
    """POST a command that carries its command_id, with retries. None when it failed; the reason is counted."""
    response = await with_retries(lambda: client.post(url, json=body, headers=headers), what, stats, attempts)
    if response is not None and response.status_code >= 400:
        stats["failures"][f"{what}: HTTP {response.status_code} {response.text[:120]}"] += 1
        return None
    return response


async def run_path(cluster: LocalCluster, n: int, concurrency: int, timeout: float,
                   rate: float | None = None, on_submitted: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Submit n complaints (as fast as allowed, or `rate` per second) and time each to its notifications.

    Waits until every complaint it did submit has completed (or was lost: its registration, dispatch
    or determination failed for good), or `timeout`; never for a complaint it lost.
    """
    submitted: dict[str, float] = {}
    completed: dict[str, float] = {}
    lost: set[str] = set()  # submitted, but its dispatch or determination failed for good
    notices: dict[str, int] = {}
    stats: dict[str, Counter[str]] = {"failures": Counter(), "retries": Counter()}
    pending_submissions = n
    all_done = asyncio.Event()
    limit = asyncio.Semaphore(concurrency)
    tokens = Tokens(cluster)
    branches = access.branches()
    consumer = cluster.bus.consumer(events_topic(ROUTING), events_topic(QUALITY), events_topic(NOTIFY),
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    group_id=f"bench-{time.time_ns()}", fetch_max_wait_ms=20)
    await consumer.start()
    loop = asyncio.get_running_loop()
    # The dispatch helper is the demo's and the tests' (synchronous): it runs on threads of its own.
    hq_clerks = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="hq-clerk")
    reader = httpx.Client(timeout=60, headers=tokens.operator(),
                          limits=httpx.Limits(max_connections=concurrency * 2))

    def check_done() -> None:
        if pending_submissions == 0 and all(c in completed or c in lost for c in submitted):
            all_done.set()

    # The photo every determination names as evidence (a defect without one is refused), uploaded once.
    photo = upload_photo(reader, cluster.url(QUALITY), tokens.manager("SH01"))

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency * 2)) as client:
        steps: set[asyncio.Task[None]] = set()

        async def dispatch(complaint_id: str, form_number: str) -> None:
            command_id = str(uuid4())  # one command id for all its retries

            async def call() -> dict[str, Any]:
                async with limit:
                    return await loop.run_in_executor(hq_clerks, functools.partial(
                        dispatch_on_site, reader, cluster.url(ROUTING), complaint_id, tokens.hq_clerk(),
                        command_id=command_id))
            try:
                done = await with_retries(call, "dispatch", stats)
            except (RuntimeError, TimeoutError) as e:  # refused, or never routed
                stats["failures"][f"dispatch: {str(e).split('refused: ', 1)[-1][:120]}"] += 1
                done = None
            if done is None:
                lost.add(complaint_id)
                check_done()

        async def determine(complaint_id: str, form_number: str) -> None:
            body = samples.obvious_defect_determination([photo])  # one command_id for all its retries
            async with limit:
                r = await post_idempotent(
                    client, f"{cluster.url(QUALITY)}/complaints/{complaint_id}/on-site-determination", body,
                    tokens.manager(branch_of(form_number)), "determination", stats)
            if r is None:
                lost.add(complaint_id)
                check_done()

        #: The step each event calls for, by the person who takes it.
        act = {"ComplaintRouted": dispatch, "QualityInvestigationOpened": determine}
        early: dict[str, list[tuple[str, str]]] = {}  # seen before this client saw its own receipt

        def start(step: str, complaint_id: str, form_number: str) -> None:
            task = asyncio.create_task(act[step](complaint_id, form_number))
            steps.add(task)
            task.add_done_callback(steps.discard)

        async def listen() -> None:
            while not all_done.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                now = time.perf_counter()
                for records in batch.values():
                    for record in records:
                        event = json.loads(record.value)
                        cid, kind = event["complaint_id"], event["event_type"]
                        if kind == "ComplaintRouted" and event["destination"] != "hq_clerk":
                            continue  # the dispatch's own routing to quality
                        if kind in act:
                            if cid in submitted:
                                start(kind, cid, event["form_number"])
                            else:  # another run's complaint, or our receipt is still on its way
                                early.setdefault(cid, []).append((kind, event["form_number"]))
                        elif kind == "NotificationDelivered":
                            notices[cid] = notices.get(cid, 0) + 1
                            if notices[cid] == DELIVERIES:
                                completed.setdefault(cid, now)
                check_done()

        async def submit(i: int) -> None:
            nonlocal pending_submissions
            branch = branches[i % len(branches)]
            body = samples.quality_complaint(branch=branch)
            try:
                async with limit:
                    started = time.perf_counter()
                    r = await post_idempotent(client, f"{cluster.url(INTAKE)}/complaints", body,
                                              tokens.clerk(branch), "registration", stats)
                if r is not None:
                    complaint_id = r.json()["complaint_id"]
                    submitted[complaint_id] = started
                    if on_submitted is not None:
                        on_submitted(len(submitted))
                    for step, form_number in early.pop(complaint_id, []):
                        start(step, complaint_id, form_number)
            finally:
                pending_submissions -= 1
                check_done()

        listener = asyncio.create_task(listen())
        begin = time.perf_counter()
        if rate:
            submissions = []
            for i in range(n):
                await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
                submissions.append(asyncio.create_task(submit(i)))
            await asyncio.gather(*submissions)
        else:
            await asyncio.gather(*(submit(i) for i in range(n)))
        submit_seconds = time.perf_counter() - begin
        try:
            await asyncio.wait_for(all_done.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        all_done.set()
        await listener
        for task in list(steps):
            task.cancel()
        await consumer.stop()
    hq_clerks.shutdown(wait=False, cancel_futures=True)
    reader.close()
    mine = {c: completed[c] for c in submitted if c in completed}
    latencies = sorted(mine[c] - submitted[c] for c in mine)
    end = max(mine.values()) if mine else time.perf_counter()
    return {
        "submitted": len(submitted),
        "completed": len(latencies),
        "incomplete": len(submitted) - len(latencies) - len(lost),
        "failed": sum(stats["failures"].values()),
        "failures": dict(stats["failures"]),
        "retries": dict(stats["retries"]),
        "submit_rate": len(submitted) / submit_seconds,
        "throughput": len(latencies) / (end - begin),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
    }


def report_failures(result: dict[str, Any]) -> None:
    retried = sum(result["retries"].values())
    print(f"requests retried              {retried}" + (f"  ({result['retries']})" if retried else ""))
    print(f"requests failed for good      {result['failed']}  ({result['submitted']} submitted, "
          f"{result['incomplete']} submitted but not completed in time)")
    for reason, count in sorted(result["failures"].items(), key=lambda kv: -kv[1]):
        print(f"    {count:5d} x {reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--complaints", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32, help="HTTP requests in flight")
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="complaints-bench-"))
    databases = ({s: postgres.create_database(f"bench_{s.value}") for s in SERVICES}
                 if args.store == "postgres" else {})
    try:
        with LocalCluster(workdir, {s: postgres.url_for(db) for s, db in databases.items()},
                          log_level="WARNING") as cluster:
            print(f"bench: {args.complaints} complaints, {args.concurrency} in flight, {args.store} stores, "
                  f"Apache Kafka {kafka_version()} (one node), seven processes (five services, HQ, analytics)",
                  flush=True)
            path = asyncio.run(run_path(cluster, args.complaints, args.concurrency, args.timeout))
            steady_rate = max(1.0, round(path["throughput"] * 0.5))
            steady_n = max(50, args.complaints // 4)
            steady = asyncio.run(run_path(cluster, steady_n, args.concurrency, args.timeout, rate=steady_rate))
            batched, one_by_one = asyncio.run(raw_produce_rate(cluster.bus))
    finally:
        for db in databases.values():
            postgres.drop_database(db)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"saturated: all {args.complaints} submitted at once, {args.concurrency} in flight")
    print(f"completed end to end          {path['completed']} / {args.complaints}")
    print(f"registrations accepted        {path['submit_rate']:8.1f} complaints/s (POST /complaints)")
    print(f"end-to-end throughput         {path['throughput']:8.1f} complaints/s (submission to its last notification delivered)")
    print(f"latency submission -> notify  p50 {path['p50'] * 1000:7.0f} ms   p99 {path['p99'] * 1000:7.0f} ms   "
          f"max {path['max'] * 1000:7.0f} ms")
    report_failures(path)
    print(f"steady: {steady_n} complaints paced at {steady_rate:.0f}/s (half the saturated throughput)")
    print(f"completed end to end          {steady['completed']} / {steady_n}")
    print(f"latency submission -> notify  p50 {steady['p50'] * 1000:7.0f} ms   p99 {steady['p99'] * 1000:7.0f} ms   "
          f"max {steady['max'] * 1000:7.0f} ms")
    report_failures(steady)
    print(f"Kafka raw produce (500 B)     {batched:8.0f} msg/s batched (linger 20 ms), "
          f"{one_by_one:6.0f} msg/s one send_and_wait at a time")


if __name__ == "__main__":
    main()
