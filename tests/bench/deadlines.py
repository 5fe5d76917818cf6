"""`make bench` (deadlines): how many open deadlines one routing instance keeps, how fast it
finds the due ones among them, and how many it fires per second, on PostgreSQL.

Stores N open deadlines (two events each) in a fresh routing store, rebuilds the timer's
index from the log as a starting instance does, finds the due ones when 1 % are due, and
fires them (each a DeadlineMissed plus an OverdueHandlingEscalated, saved one by one as the
timer does). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from datetime import timedelta
from uuid import uuid4

from contracts.envelope import Actor, ServiceName, utc_now
from contracts.routing import DeadlineKind
from services.common.domain import EventMeta
from services.common.settings import ServiceSettings
from services.common.store import store_env
from services.routing.application import RoutingApplication
from services.common.calendar import load_calendar
from services.routing.domain.deadline import DeadlineClock, Planner
from services.routing.domain.deadline_rules import load_rules
from services.routing.timers import DeadlineIndex, DeadlineTimer
from tests.support import postgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deadlines", type=int, default=100_000)
    parser.add_argument("--due-share", type=float, default=0.01)
    args = parser.parse_args()

    database = postgres.create_database("bench_deadlines")
    settings = ServiceSettings.for_service(ServiceName.ROUTING)(database_url=postgres.url_for(database))
    app = RoutingApplication(env=store_env(settings))
    try:
        table, planner = load_rules(), Planner(load_calendar())
        rule = table.rule(DeadlineKind.MEMO_DISPATCH)
        now = utc_now()
        due_count = int(args.deadlines * args.due_share)
        started = time.perf_counter()
        batch: list[DeadlineClock] = []
        for i in range(args.deadlines):
            complaint = uuid4()
            meta = EventMeta(complaint_id=complaint, form_number=f"SH01-20261125-{i % 9999 + 1:04d}",
                             correlation_id=complaint, actor=Actor.system(ServiceName.ROUTING))
            clock = DeadlineClock(meta=meta, kind=rule.kind.value, key=str(uuid4()), branch="SH01")
            # 1 % started long enough ago to be due now; the rest due within the coming weeks.
            start = now - timedelta(days=7) if i < due_count else now + timedelta(minutes=random.randint(1, 40_000))
            clock.set(meta, rule, table.version, planner, start)
            batch.append(clock)
            if len(batch) == 1000:
                app.save(*batch)
                batch.clear()
        if batch:
            app.save(*batch)
        stored = time.perf_counter() - started

        tracemalloc.start()
        started = time.perf_counter()
        index = DeadlineIndex(app)
        index.catch_up()
        rebuilt = time.perf_counter() - started
        memory = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

        gc.collect()  # the rebuild just made 100,000 objects: do not time the collector's pass
        started = time.perf_counter()
        due = index.due_now(utc_now(), limit=10 * due_count + 10)
        found = time.perf_counter() - started

        timer = DeadlineTimer(app, table, planner, clock=utc_now)
        timer.index = index
        started = time.perf_counter()
        fired = sum(timer.fire(identity, utc_now()) for identity in due)
        firing = time.perf_counter() - started
    finally:
        app.close()
        postgres.drop_database(database)

    print(f"deadlines: {args.deadlines} open deadlines in one routing store (PostgreSQL)")
    print(f"stored                        {args.deadlines / stored:8.0f} deadlines/s (set, 1000 per transaction)")
    print(f"timer index rebuilt from log  {rebuilt:8.2f} s for {args.deadlines} open "
          f"({args.deadlines / rebuilt:.0f} deadlines/s read), {memory / 2**20:.0f} MiB peak")
    print(f"find the due ones             {found * 1000:8.2f} ms for {len(due)} due among {args.deadlines}")
    print(f"fire (missed + escalated)     {fired / firing:8.0f} deadlines/s ({fired} fired, one save each)")


if __name__ == "__main__":
    main()
