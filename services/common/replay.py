"""Rebuilding a read model from the topics: into fresh tables, compared with the live ones, swapped in.

The topics keep their history (rule 7), so a read model can always be built again from zero. A rebuild
reads every partition of every upstream topic from its first offset to the end it had when the rebuild
started, through the same chain logic as the live consumer (duplicates skipped, messages taken in
chain order, a gap reported), into a second set of tables (`next_...`) with positions of their own.

`compare` sets the rebuilt model beside the live one once both hold the same positions (the rebuild
catches up with the live model first) and lists every row that differs, table by table. `swap` puts
the rebuilt tables in place of the live ones in one transaction; the live consumer then goes on from
the positions they carry (what it had read beyond them it reads again; what they hold beyond its own
is skipped as duplicate).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.envelope import ServiceName
from contracts.topics import events_topic
from services.common.bus import Bus
from services.common.consumer import ChainConsumer
from services.common.readmodel import REBUILD_PREFIX, ReadModelStore, ReadModelTarget

Progress = Callable[[int, int], None]
#: Records handed to the read model per partition and transaction during a rebuild.
REBUILD_BATCH = 2000


class _DeadLetters:
    """A rebuild does not dead-letter again what the live consumer put aside: it counts it."""

    def __init__(self) -> None:
        self.count = 0

    async def send_and_wait(self, *_: Any, **__: Any) -> None:
        self.count += 1


@dataclass
class RebuildReport:
    model: str
    events: int = 0
    processed: int = 0
    duplicates: int = 0
    refused: int = 0
    seconds: float = 0.0
    gaps: list[str] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)
    #: Where each partition's reading ended (the next offset): a later pass may start there.
    offsets: dict[TopicPartition, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def end_offsets(bus: Bus, upstreams: Sequence[ServiceName]) -> dict[TopicPartition, tuple[int, int]]:
    """(first, end) offset of every partition of the upstream topics, now."""
    consumer = bus.consumer(enable_auto_commit=False)
    await consumer.start()
    try:
        tps = []
        for service in upstreams:
            topic = events_topic(service)
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - topics created a moment ago
                partitions = consumer.partitions_for_topic(topic) or set()
            tps += [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return {}
        firsts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        return {tp: (firsts[tp], ends[tp]) for tp in tps}
    finally:
        await consumer.stop()


async def project(store: ReadModelStore, projector: Any, upstreams: Sequence[ServiceName], bus: Bus,
                  name: str, progress: Progress | None = None, start: dict[TopicPartition, int] | None = None,
                  batch: int = REBUILD_BATCH) -> RebuildReport:
    """Feed `store` every message of the upstream topics from their first offsets (or `start`) to the
    ends they have now, each partition's records in order, in batches saved with their positions (what
    the store holds already is skipped as duplicate). `report.offsets` says where each partition ended."""
    started = time.perf_counter()
    bounds = await end_offsets(bus, upstreams)
    begin = {tp: max(first, (start or {}).get(tp, first)) for tp, (first, _) in bounds.items()}
    todo = dict(bounds)
    report = RebuildReport(store.schema.name)
    total = sum(max(0, end - begin[tp]) for tp, (_, end) in bounds.items())
    letters = _DeadLetters()
    chain = ChainConsumer(ReadModelTarget(store, projector, name), upstreams, letters,  # type: ignore[arg-type]
                          bus=bus)
    if todo:
        consumer = bus.consumer(enable_auto_commit=False, max_poll_records=batch,
                                fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024)
        await consumer.start()
        try:
            await _read(consumer, chain, todo, begin, batch, report, progress, total)
        finally:
            await consumer.stop()
    report.refused = letters.count
    report.seconds = time.perf_counter() - started
    report.positions = await asyncio.to_thread(store.positions)
    return report


#: Empty fetches in a row after which a partition that reports no high watermark counts as read to its end.
_IDLE_ROUNDS = 6


async def _read(consumer: AIOKafkaConsumer, chain: ChainConsumer, todo: dict[TopicPartition, Any],
                begin: dict[TopicPartition, int], batch: int, report: RebuildReport, progress: Progress | None,
                total: int) -> None:
    """Read every partition in `todo` from `begin` to its high watermark (as the fetches report it: a
    development broker's listed end offsets can lag), feeding each partition's records to the chain."""
    consumer.assign(list(todo))
    for tp in todo:
        consumer.seek(tp, begin[tp])
    idle = 0
    while todo:
        fetched = await consumer.getmany(timeout_ms=500, max_records=batch)
        idle = 0 if fetched else idle + 1
        for tp, records in fetched.items():
            if tp not in todo or not records:
                continue
            plan = await chain.process(tp.topic, tp.partition, records)
            report.events += len(records)
            report.processed += plan.processed
            report.duplicates += plan.duplicates
            report.offsets[tp] = records[-1].offset + 1
            if plan.gap:
                report.gaps.append(f"{tp.topic}[{tp.partition}]: {plan.gap}")
            if plan.stop_at is not None:
                report.gaps.append(f"{tp.topic}[{tp.partition}] stopped: {plan.stop_at[1]}")
                consumer.pause(tp)
                todo.pop(tp)
            if progress:
                progress(report.events, max(total, report.events))
        for tp in list(todo):
            if tp in fetched:
                continue
            highwater = consumer.highwater(tp)
            if (highwater is not None and await consumer.position(tp) >= highwater) or idle >= _IDLE_ROUNDS:
                report.offsets.setdefault(tp, begin[tp])
                consumer.pause(tp)
                todo.pop(tp)


async def rebuild(live: ReadModelStore, projector: Any, upstreams: Sequence[ServiceName], bus: Bus, name: str,
                  progress: Progress | None = None) -> tuple[ReadModelStore, RebuildReport]:
    """A fresh copy of the model (`next_` tables) built from the beginning of the topics."""
    rebuilt = live.sibling(REBUILD_PREFIX)
    await asyncio.to_thread(rebuilt.drop)
    await asyncio.to_thread(rebuilt.create, True)
    report = await project(rebuilt, projector, upstreams, bus, name, progress)
    started = time.perf_counter()
    await asyncio.to_thread(rebuilt.build_indexes)
    report.seconds += time.perf_counter() - started
    return rebuilt, report


async def catch_up(rebuilt: ReadModelStore, live: ReadModelStore, projector: Any, upstreams: Sequence[ServiceName],
                   bus: Bus, name: str, after: RebuildReport | None = None, rounds: int = 20) -> bool:
    """Read on into the rebuilt model (from where `after` ended) until it holds the live model's
    positions; False when they still differ after `rounds` passes (the live model kept moving, or lags)."""
    offsets = dict(after.offsets) if after else {}
    for _ in range(rounds):
        live_positions = await asyncio.to_thread(live.positions)
        report = await project(rebuilt, projector, upstreams, bus, name, start=offsets)
        offsets.update(report.offsets)
        if report.positions == live_positions == await asyncio.to_thread(live.positions):
            return True
        await asyncio.sleep(0.5)
    return False


@dataclass
class Difference:
    table: str
    key: tuple[Any, ...]
    live: dict[str, Any] | None
    rebuilt: dict[str, Any] | None

    def describe(self) -> str:
        if self.live is None:
            return f"{self.table} {self.key}: only in the rebuilt model"
        if self.rebuilt is None:
            return f"{self.table} {self.key}: only in the live model"
        cols = [c for c in self.live if self.live[c] != self.rebuilt.get(c)]
        shown = ", ".join(f"{c}: live {self.live[c]!r} / rebuilt {self.rebuilt.get(c)!r}" for c in cols[:5])
        return f"{self.table} {self.key}: {shown}"


def compare(live: ReadModelStore, rebuilt: ReadModelStore, limit: int = 100) -> list[Difference]:
    """Every row that differs between the two models, table by table, in key order (at most `limit`)."""
    out: list[Difference] = []
    for table in live.schema.tables:
        a = {tuple(r[c] for c in table.key): r for r in live.rows(table.name)}
        b = {tuple(r[c] for c in table.key): r for r in rebuilt.rows(table.name)}
        for key in sorted(set(a) | set(b), key=lambda k: tuple(str(p) for p in k)):
            if a.get(key) != b.get(key):
                out.append(Difference(table.name, key, a.get(key), b.get(key)))
                if len(out) >= limit:
                    return out
    if live.positions() != rebuilt.positions():
        out.append(Difference("positions", (), live.positions(), rebuilt.positions()))
    return out
