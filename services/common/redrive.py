"""Operator command: redrive dead letters into processing, once their cause is fixed.

    python -m services.common.redrive --service billing [--event-type CostAllocated]
                                      [--complaint <id>] [--dry-run]

Reads the service's own dead-letter topic (`complaints.<service>.dlq`),
optionally only one event type or one complaint, and processes each again with the
service's own policy against its own store, as its consumer would. Each redriven event
is recorded by its event id in the same transaction as the events it produced, so
redriving twice changes nothing. A message that is still unreadable or still refused is
reported with its reason and left for another try. Reads the service's own environment
(`<SERVICE>_DATABASE_URL`, `KAFKA_BOOTSTRAP_SERVERS`, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from aiokafka import ConsumerRecord, TopicPartition
from eventsourcing.persistence import IntegrityError, Tracking

from contracts.envelope import ServiceName
from contracts.registry import parse_event
from contracts.topics import PARTITIONS, dead_letter_topic
from services.common.bus import Bus
from services.common.consumer import Policy, UnitOfWork
from services.common.republish import service_application
from services.common.settings import ServiceSettings
from services.common.store import ServiceApplication
from services.common.supervisor import describe_error


@dataclass
class RedriveReport:
    redriven: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    matched: int = 0

    def lines(self) -> list[str]:
        out = [f"matched {self.matched} dead letter(s): {len(self.redriven)} redriven, "
               f"{len(self.already)} redriven before, {len(self.refused)} still refused"]
        out += [f"  still refused {what}: {why}" for what, why in self.refused]
        return out


def tracking_name(event_id: UUID | str) -> str:
    return f"redrive/{event_id}"


async def read_dead_letters(bus: Bus, consumer_service: ServiceName,
                            timeout: float = 10.0) -> list[ConsumerRecord]:
    """Every dead letter the service put aside, from its own dead-letter topic, oldest first."""
    topics = [dead_letter_topic(consumer_service.value)]
    reader = bus.consumer(group_id=None, enable_auto_commit=False)
    await reader.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]  # provisioned as the contract says
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        ends = await reader.end_offsets(tps)
        wanted = {tp: end for tp, end in ends.items() if end > 0}
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while wanted and time.monotonic() < deadline:
            batch = await reader.getmany(*wanted, timeout_ms=500)
            for tp, part in batch.items():
                records.extend(part)
                if part and part[-1].offset + 1 >= wanted.get(tp, 0):
                    wanted.pop(tp, None)
        mine = [r for r in records if dict(r.headers or ()).get("consumer") == consumer_service.value.encode()]
        return sorted(mine, key=lambda r: float(dict(r.headers).get("dead_lettered_at", b"0") or 0))
    finally:
        await reader.stop()


def redrive_records(app: ServiceApplication, policy: Policy, records: list[ConsumerRecord],
                    event_type: str | None = None, complaint: UUID | None = None,
                    dry_run: bool = False) -> RedriveReport:
    """Process dead letters again; each event at most once, recorded by its event id."""
    report = RedriveReport()
    for record in records:
        where = f"{record.topic}@{record.offset}"
        try:
            event = parse_event(record.value)
        except Exception as e:  # noqa: BLE001 - still unreadable: report it, leave it
            if event_type is None and complaint is None:
                report.matched += 1
                report.refused.append((where, f"unreadable: {describe_error(e, 300)}"))
            continue
        if (event_type and event.event_type != event_type) or (complaint and event.complaint_id != complaint):
            continue
        report.matched += 1
        what = f"{event.event_type} {event.event_id} ({event.form_number})"
        name = tracking_name(event.event_id)
        if app.recorder.max_tracking_id(name):
            report.already.append(what)
            continue
        if dry_run:
            report.redriven.append(what)
            continue
        for _attempt in range(8):
            uow = UnitOfWork(app)
            try:
                policy(event, uow)
                uow.check_new_events({})
            except Exception as e:  # noqa: BLE001 - the cause is not fixed yet
                report.refused.append((what, describe_error(e, 300)))
                break
            try:
                app.save_processed(list(uow.aggregates.values()), Tracking(name, 1))
            except IntegrityError:
                if app.recorder.max_tracking_id(name):
                    report.already.append(what)  # redriven meanwhile by another run
                    break
                time.sleep(0.05)  # the running service changed an aggregate: load it again
                continue
            report.redriven.append(what)
            break
    return report


def service_policy(service: ServiceName) -> Policy:
    module = importlib.import_module(f"services.{service.value}.policies")
    policy: Callable[..., None] | None = getattr(module, f"{service.value}_policy", None)
    if policy is None:
        raise LookupError(f"services.{service.value}.policies has no {service.value}_policy: "
                          f"{service.value} consumes nothing, so it has no dead letters")
    return policy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service", required=True, choices=[s.value for s in ServiceName])
    parser.add_argument("--event-type", help="only dead letters of this event type")
    parser.add_argument("--complaint", type=UUID, help="only dead letters of this complaint id")
    parser.add_argument("--dry-run", action="store_true", help="say what would be redriven, change nothing")
    args = parser.parse_args(argv)
    service = ServiceName(args.service)
    settings = ServiceSettings.for_service(service)()
    try:
        policy = service_policy(service)
    except LookupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    records = asyncio.run(read_dead_letters(settings.bus(), service))
    app = service_application(settings)
    try:
        report = redrive_records(app, policy, records, args.event_type, args.complaint, args.dry_run)
    finally:
        app.close()
    print("\n".join(report.lines()))
    return 0 if not report.refused else 1


if __name__ == "__main__":
    sys.exit(main())
