"""`make bench`: complaints through the whole path, end to end, and the broker's raw produce rate.

Starts tansu and the five services as separate processes (PostgreSQL stores by default),
submits N product-quality complaints over HTTP, answers each QualityInvestigationOpened
on the quality topic with the on-site determination over HTTP (as a regional manager
would, but at once), and times each complaint from submission until notify has recorded
all three notifications (seen on the notify topic). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.envelope import ServiceName
from contracts.topics import events_topic
from services.common.cluster import LocalCluster
from services.demo import samples
from tests.support import postgres

INTAKE, QUALITY, NOTIFY = ServiceName.INTAKE, ServiceName.QUALITY, ServiceName.NOTIFY


async def raw_produce_rate(bootstrap: str, messages: int = 100_000, size: int = 500) -> tuple[float, float]:
    """Messages per second for plain aiokafka sends to tansu: batched (linger 20 ms), and one at a time."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1024 * 1024, acks="all")
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
    single = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    await single.start()
    try:
        started = time.perf_counter()
        for i in range(2000):
            await single.send_and_wait("bench.raw", payload, key=str(i % 64).encode())
        one_by_one = 2000 / (time.perf_counter() - started)
    finally:
        await single.stop()
    return batched, one_by_one


async def run_path(cluster: LocalCluster, n: int, concurrency: int, timeout: float) -> dict[str, float]:
    submitted: dict[str, float] = {}
    completed: dict[str, float] = {}
    notices: dict[str, int] = {}
    all_done = asyncio.Event()
    limit = asyncio.Semaphore(concurrency)
    consumer = AIOKafkaConsumer(events_topic(QUALITY), events_topic(NOTIFY),
                                bootstrap_servers=cluster.bootstrap_servers, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=f"bench-{time.time_ns()}")
    await consumer.start()
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency * 2)) as client:
        determinations: set[asyncio.Task[None]] = set()

        async def determine(complaint_id: str) -> None:
            async with limit:
                r = await client.post(f"{cluster.url(QUALITY)}/complaints/{complaint_id}/on-site-determination",
                                      json=samples.obvious_defect_determination())
                r.raise_for_status()

        async def listen() -> None:
            while not all_done.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                now = time.perf_counter()
                for records in batch.values():
                    for record in records:
                        event = json.loads(record.value)
                        cid = event["complaint_id"]
                        if event["event_type"] == "QualityInvestigationOpened":
                            task = asyncio.create_task(determine(cid))
                            determinations.add(task)
                            task.add_done_callback(determinations.discard)
                        elif event["event_type"] == "NotificationRecorded":
                            notices[cid] = notices.get(cid, 0) + 1
                            if notices[cid] == 3 and cid not in completed:
                                completed[cid] = now
                                if len(completed) == n:
                                    all_done.set()

        async def submit() -> None:
            async with limit:
                body = samples.quality_complaint(branch=f"B{len(submitted) % 50:02d}")
                started = time.perf_counter()
                r = await client.post(f"{cluster.url(INTAKE)}/complaints", json=body)
                r.raise_for_status()
                submitted[r.json()["complaint_id"]] = started

        listener = asyncio.create_task(listen())
        begin = time.perf_counter()
        await asyncio.gather(*(submit() for _ in range(n)))
        submit_seconds = time.perf_counter() - begin
        try:
            await asyncio.wait_for(all_done.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        all_done.set()
        await listener
        await consumer.stop()
    latencies = sorted(completed[c] - submitted[c] for c in completed if c in submitted)
    end = max(completed.values()) if completed else time.perf_counter()
    return {
        "completed": len(latencies),
        "submit_rate": n / submit_seconds,
        "throughput": len(latencies) / (end - begin),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--complaints", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32, help="HTTP requests in flight")
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="complaints-bench-"))
    databases = ({s: postgres.create_database(f"bench_{s.value}") for s in ServiceName}
                 if args.store == "postgres" else {})
    try:
        with LocalCluster(workdir, {s: postgres.url_for(db) for s, db in databases.items()},
                          log_level="WARNING") as cluster:
            print(f"bench: {args.complaints} complaints, {args.concurrency} in flight, {args.store} stores, "
                  "tansu broker, five service processes", flush=True)
            path = asyncio.run(run_path(cluster, args.complaints, args.concurrency, args.timeout))
            batched, one_by_one = asyncio.run(raw_produce_rate(cluster.bootstrap_servers))
    finally:
        for db in databases.values():
            postgres.drop_database(db)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"completed end to end          {path['completed']} / {args.complaints}")
    print(f"registrations accepted        {path['submit_rate']:8.1f} complaints/s (POST /complaints)")
    print(f"end-to-end throughput         {path['throughput']:8.1f} complaints/s (submission to 3rd notification)")
    print(f"latency submission -> notify  p50 {path['p50'] * 1000:7.0f} ms   p99 {path['p99'] * 1000:7.0f} ms   "
          f"max {path['max'] * 1000:7.0f} ms")
    print(f"tansu raw produce (500 B)     {batched:8.0f} msg/s batched (linger 20 ms), "
          f"{one_by_one:6.0f} msg/s one send_and_wait at a time")


if __name__ == "__main__":
    main()
