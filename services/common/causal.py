"""The merged history of a complaint across services, in causal order.

Events come from five stores with five clocks. Two orders are certain: within one service, its
store's order (notification ids); across services, an event comes after the event that caused it
(`causation_id`, carried by every message). Everything else is ordered by time, then service, then
position. A topological sort with those ties: stable, and the same whatever order the events were
gathered in.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")

#: Services in the order of the procedure: the tie-break when two events carry the same time.
SERVICE_ORDER = ("intake", "routing", "quality", "billing", "notify", "analytics")


def _rank(service: str) -> int:
    return SERVICE_ORDER.index(service) if service in SERVICE_ORDER else len(SERVICE_ORDER)


def causal_order(items: Iterable[T], *, key: Callable[[T], Hashable], cause: Callable[[T], Hashable | None],
                 at: Callable[[T], datetime], service: Callable[[T], str],
                 position: Callable[[T], int]) -> list[T]:
    """`items` ordered so that each comes after its cause (when the cause is among them) and after
    the one before it in its own service; ties by (time, service, position)."""
    entries = list(items)
    index = {key(e): i for i, e in enumerate(entries)}
    waits = [0] * len(entries)
    after: list[list[int]] = [[] for _ in entries]
    by_service: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        by_service.setdefault(service(e), []).append(i)
        c = cause(e)
        if c is not None and c in index and index[c] != i:
            after[index[c]].append(i)
            waits[i] += 1
    for members in by_service.values():
        members.sort(key=lambda i: position(entries[i]))
        for a, b in zip(members, members[1:]):
            after[a].append(b)
            waits[b] += 1

    def tie(i: int) -> tuple[Any, ...]:
        e = entries[i]
        return at(e), _rank(service(e)), position(e), i

    ready = [tie(i) for i in range(len(entries)) if waits[i] == 0]
    heapq.heapify(ready)
    out: list[int] = []
    while ready:
        i = heapq.heappop(ready)[-1]
        out.append(i)
        for j in after[i]:
            waits[j] -= 1
            if waits[j] == 0:
                heapq.heappush(ready, tie(j))
    if len(out) < len(entries):  # a cycle (never in practice): the rest by time
        seen = set(out)
        out += sorted((i for i in range(len(entries)) if i not in seen), key=tie)
    return [entries[i] for i in out]


def merge_records(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Timeline records (`event_id`, `causation_id`, `occurred_at`, `service`, `notification_id`)
    in causal order."""
    return causal_order(records, key=lambda r: r["event_id"], cause=lambda r: r.get("causation_id"),
                        at=lambda r: r["occurred_at"], service=lambda r: r["service"],
                        position=lambda r: int(r.get("notification_id") or 0))
