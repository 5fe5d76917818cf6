"""Background tasks that never die silently (architecture rule 10).

Each task (a relay, the consumer) runs under a supervisor: when it raises, the error is
recorded and logged, and the task is started again after a backoff that grows to a cap.
Health reads the record of every task: running or waiting to restart, how often it was
restarted, its last error and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


def describe_error(error: BaseException, limit: int = 1000) -> str:
    """`Type: message` once (aiokafka's messages already start with their type's name)."""
    name, text = type(error).__name__, str(error)
    described = text if text.startswith(name) else f"{name}: {text}" if text else name
    return described[:limit]


class Fatal(Exception):
    """A task cannot run in this configuration (restarting would not help): it stays stopped."""


@dataclass
class TaskRecord:
    name: str
    state: str = "starting"
    restarts: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    started_at: float | None = None

    def report(self) -> dict[str, Any]:
        return {"state": self.state, "restarts": self.restarts, "last_error": self.last_error,
                "last_error_at": iso_time(self.last_error_at), "started_at": iso_time(self.started_at)}


def iso_time(moment: float | None) -> str | None:
    """A `time.time()` moment as ISO 8601 UTC, for health reports."""
    if moment is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


@dataclass
class Supervisor:
    initial_backoff: float = 0.5
    max_backoff: float = 15.0
    records: dict[str, TaskRecord] = field(default_factory=dict)
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def start(self, name: str, run: Callable[[], Awaitable[Any]]) -> None:
        record = self.records[name] = TaskRecord(name)
        self._tasks[name] = asyncio.create_task(self._supervise(record, run), name=name)

    async def _supervise(self, record: TaskRecord, run: Callable[[], Awaitable[Any]]) -> None:
        backoff = self.initial_backoff
        while True:
            record.state, record.started_at = "running", time.time()
            began = time.monotonic()
            try:
                await run()
                record.state = "finished"
                return
            except asyncio.CancelledError:
                record.state = "stopped"
                raise
            except Fatal as e:
                record.state, record.last_error, record.last_error_at = "failed", str(e), time.time()
                log.error("%s cannot run: %s", record.name, e)
                return
            except Exception as e:  # noqa: BLE001 - anything else: record, back off, start again
                record.last_error, record.last_error_at = describe_error(e), time.time()
                if time.monotonic() - began > 60:
                    backoff = self.initial_backoff  # it ran well for a while: start over gently
                delay = min(backoff, self.max_backoff) * random.uniform(0.8, 1.2)
                record.state = f"restarting in {delay:.1f}s"
                log.error("%s failed, restarting in %.1fs: %s", record.name, delay, record.last_error)
                record.restarts += 1
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, self.max_backoff)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def report(self) -> dict[str, dict[str, Any]]:
        return {name: record.report() for name, record in self.records.items()}
