"""`make bench` (read side): how fast each read model is rebuilt from the topics, how fast HQ searches
100,000 complaints, and how large the read models are, on PostgreSQL.

Publishes N events (ten per complaint: registration, classification, three inbox updates, a deadline set
and met, a ledger booking, a notice and the closure; real messages with the relays' chain headers) on a
Kafka node, then replays HQ's and analytics' read models from the beginning of the topics into
fresh PostgreSQL databases, timing each. Then fills HQ with 100,000 registrations and times searches
(Chinese two-character terms, a single character, Latin words, combined terms). Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from contracts.envelope import ServiceName
from contracts.registry import EVENT_TYPES
from contracts.topics import events_topic, message_key
from services.analytics.bootstrap import READ_MODEL
from services.analytics.domain.model import SCHEMA as ANALYTICS
from services.analytics.domain.projection import Projector as AnalyticsProjector
from services.common.access import rules
from services.common.broker import EVENT_TYPE_HEADER, NOTIFICATION_ID_HEADER, PREVIOUS_HEADER, PRODUCER_HEADER
from services.common.broker import partition_for
from services.common.bus import Bus
from services.common.calendar import load_calendar
from tests.support.kafka import kafka
from services.common.readmodel import ReadModelStore, RowWork
from services.common.replay import rebuild
from services.hq.application import HqQueries, ListQuery
from services.hq.domain.model import SCHEMA as HQ
from services.hq.policies import projector as hq_projector
from services.common.auth import Principal
from tests.contracts.conftest import DEADLINE, FORM, T0, event_data
from tests.support import postgres

#: One complaint's life as the ten events the benchmark publishes.
LIFE = ["ComplaintRegistered", "ComplaintClassified", "ActionsAwaited", "DeadlineSet", "ActionsAwaited",
        "DeadlineMet", "CostEntriesBooked", "NotificationRecorded", "ActionsAwaited", "ComplaintClosed"]
WORDS = ["齿轮箱外壳开裂", "接缝处漏油", "业务员态度恶劣", "送货延误", "发票金额有误", "包装破损", "电机异响",
         "Gearbox housing cracked", "oil leaking at the seam", "late delivery"]
SEARCHES = ["漏油", "开裂", "态度", "发票", "包装破损", "油", "gearbox", "oil leak", "齿轮 漏油", "延误"]
BRANCHES = [b for region in rules().regions.values() for b in region]


def templates() -> dict[str, dict[str, Any]]:
    return {name: event_data(EVENT_TYPES[name]) for name in set(LIFE)}


def messages(complaints: int) -> list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]:
    """(topic, key, value, headers) of every event, each producer's notification ids in order and
    each message naming the previous one of its partition."""
    base = templates()
    nid: dict[str, int] = {}
    previous: dict[tuple[str, int], int] = {}
    out = []
    rng = random.Random(7)
    for c in range(complaints):
        cid = str(uuid4())
        branch = BRANCHES[c % len(BRANCHES)]
        form = f"{branch}-20261125-{c:06d}"
        received = (T0 + timedelta(minutes=c)).isoformat()
        deadline = {**DEADLINE, "deadline_id": str(uuid4())}
        for step, name in enumerate(LIFE):
            data = copy.deepcopy(base[name])
            producer = EVENT_TYPES[name].PRODUCER.value
            nid[producer] = nid.get(producer, 0) + 1
            data.update(event_id=str(uuid4()), complaint_id=cid, form_number=form, notification_id=nid[producer],
                        occurred_at=(T0 + timedelta(minutes=c, seconds=step)).isoformat())
            if name == "ComplaintRegistered":
                data.update(branch=branch, received_at=received,
                            description=f"{rng.choice(WORDS)}，{rng.choice(WORDS)}。",
                            customer={**FORM["customer"], "name": f"客户{c % 5000}"})
            elif name == "ComplaintClosed":
                data["received_at"] = received
            elif name in ("DeadlineSet", "DeadlineMet"):
                data["deadline"] = deadline
            key = message_key(cid)
            partition = partition_for(key)
            prev = previous.get((producer, partition), 0)
            previous[(producer, partition)] = nid[producer]
            headers = [(EVENT_TYPE_HEADER, name.encode()), (PRODUCER_HEADER, producer.encode()),
                       (NOTIFICATION_ID_HEADER, str(nid[producer]).encode()), (PREVIOUS_HEADER, str(prev).encode())]
            out.append((events_topic(ServiceName(producer)), key, json.dumps(data).encode(), headers))
    return out


async def publish(bus: Bus, batch: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]) -> float:
    producer = bus.producer()
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for topic, key, value, headers in batch:
            pending.append(await producer.send(topic, value=value, key=key,
                                               partition=partition_for(key), headers=headers))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


def replay_into(name: str, schema: Any, projector: Any, bus: Bus, consumer_name: str) -> tuple[Any, Any, str]:
    """A rebuild from the beginning of the topics, as `complaints replay --from-beginning` does it."""
    database = postgres.create_database(f"bench_{name}")
    live = ReadModelStore(schema, postgres.url_for(database))
    live.create()
    rebuilt, report = asyncio.run(rebuild(live, projector, list(ServiceName), bus, consumer_name))
    return rebuilt, report, database


def fill_hq(count: int) -> tuple[ReadModelStore, str, float]:
    """HQ with `count` registered complaints (the projector's own rows), for the search timings."""
    database = postgres.create_database("bench_hq_search")
    store = ReadModelStore(HQ, postgres.url_for(database))
    store.create()
    template = EVENT_TYPES["ComplaintRegistered"]
    base = event_data(template)
    rng = random.Random(11)
    project_hq = hq_projector()
    started = time.perf_counter()
    for start in range(0, count, 2000):
        work = RowWork(store)
        work._loaded["complaints"] = {}  # noqa: SLF001 - new complaints: nothing to load
        for c in range(start, min(count, start + 2000)):
            branch = BRANCHES[c % len(BRANCHES)]
            cid = str(UUID(int=c + 1))
            work._loaded["complaints"][(cid,)] = None  # noqa: SLF001
            data = {**base, "event_id": str(uuid4()), "complaint_id": cid, "notification_id": c + 1,
                    "form_number": f"{branch}-20261125-{c:06d}", "branch": branch,
                    "description": f"{rng.choice(WORDS)}，{rng.choice(WORDS)}，{rng.choice(WORDS)}。",
                    "customer": {**FORM["customer"], "name": f"客户{c % 20000}"}}
            project_hq(template.model_validate(data), work)
        work.changed.pop("timeline", None)  # the search needs the complaints only
        store.write(work)
    return store, database, time.perf_counter() - started


def search_timings(store: ReadModelStore, rounds: int) -> list[float]:
    queries = HqQueries(store)
    operator, clerk = Principal("ops", "operator"), Principal("clerk-li", "branch_clerk", branch="SH01")
    timings = []
    for i in range(rounds):
        term = SEARCHES[i % len(SEARCHES)]
        who = operator if i % 2 else clerk
        started = time.perf_counter()
        queries.list(ListQuery(filters={}, q=term, limit=50), who)
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events to replay (ten per complaint)")
    parser.add_argument("--search-complaints", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=400)
    args = parser.parse_args()
    complaints = max(1, args.events // len(LIFE))
    created: list[str] = []
    with tempfile.TemporaryDirectory() as workdir, kafka(Path(workdir)) as broker:
        batch = messages(complaints)
        seconds = asyncio.run(publish(broker.bus, batch))
        print(f"read side: {len(batch)} events of {complaints} complaints published in {seconds:.1f}s")
        calendars = load_calendar()
        for name, schema, projector, consumer in (
                ("hq", HQ, hq_projector(), "hq"),
                ("analytics", ANALYTICS, AnalyticsProjector(calendars, rules().region_of), READ_MODEL)):
            store, report, database = replay_into(name, schema, projector, broker.bus, consumer)
            created.append(database)
            rows = {t.name: store.count(t.name) for t in schema.tables}
            print(f"  replay {name:<9} {report.events} events in {report.seconds:.1f}s = {report.rate:,.0f} events/s "
                  f"(gaps: {len(report.gaps)}); rows {rows}; size {store.size_bytes() / 2**20:.1f} MiB")
            store.close()
    store, database, fill = fill_hq(args.search_complaints)
    created.append(database)
    timings = sorted(search_timings(store, args.searches))
    p50, p99 = statistics.median(timings), timings[int(0.99 * (len(timings) - 1))]
    print(f"  search over {args.search_complaints} complaints (filled in {fill:.0f}s, "
          f"{store.size_bytes() / 2**20:.1f} MiB): {args.searches} searches, p50 {p50 * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms")
    store.close()
    for database in created:
        postgres.drop_database(database)


if __name__ == "__main__":
    main()
