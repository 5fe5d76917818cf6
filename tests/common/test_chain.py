"""The event store's hash chain on SQLite: written with every save, and every kind of tampering
done behind the application's back (SQL on the store's file) named at the first row it touches."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event

from contracts.envelope import ServiceName
from services.common import chain
from services.common.chain import (
    GENESIS_HASH, BreakKind, ChainedSQLiteProcessRecorder, ChainReport, StoredRow, link_hash, verify,
)
from services.common.settings import ServiceSettings
from services.common.store import ServiceApplication, store_env
from tests.common.builders import POPO


class Counter(Aggregate):
    @event("Started")
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    @event("Counted")
    def increment(self) -> None:
        self.count += 1


class CounterApplication(ServiceApplication):
    SERVICE = ServiceName.BILLING


def save_counters(app: CounterApplication, n: int, increments: int = 0) -> list[Counter]:
    """`n` counters, each saved on its own with its `increments` (1 + increments events each)."""
    counters = []
    for i in range(n):
        counter = Counter(f"c{i}")
        for _ in range(increments):
            counter.increment()
        app.save(counter)
        counters.append(counter)
    return counters


class Tamper:
    """SQL on the store behind the application's back, the same on PostgreSQL and SQLite."""

    def __init__(self, connect: Callable[[], AbstractContextManager[Any]], events: str, chain_table: str,
                 id_column: str, placeholder: str):
        self.connect, self.events, self.chain = connect, events, chain_table
        self.id, self.ph = id_column, placeholder

    def execute(self, statement: str, *params: Any) -> list[Any]:
        with self.connect() as conn:
            cursor = conn.execute(statement.replace("?", self.ph), params)
            return cursor.fetchall() if cursor.description else []

    def edit_state(self, nid: int, state: bytes = b'{"name": "forged"}') -> None:
        self.execute(f"UPDATE {self.events} SET state = ? WHERE {self.id} = ?", state, nid)

    def delete_event(self, nid: int) -> None:
        self.execute(f"DELETE FROM {self.events} WHERE {self.id} = ?", nid)

    def delete_link(self, nid: int) -> None:
        self.execute(f"DELETE FROM {self.chain} WHERE notification_id = ?", nid)

    def move_event(self, nid: int, to: int) -> None:
        self.execute(f"UPDATE {self.events} SET {self.id} = ? WHERE {self.id} = ?", to, nid)

    def move_link(self, nid: int, to: int) -> None:
        self.execute(f"UPDATE {self.chain} SET notification_id = ? WHERE notification_id = ?", to, nid)

    def swap_events(self, a: int, b: int) -> None:
        self.move_event(a, -a)
        self.move_event(b, a)
        self.move_event(-a, b)

    def swap_links(self, a: int, b: int) -> None:
        self.move_link(a, -a)
        self.move_link(b, a)
        self.move_link(-a, b)

    def insert_event(self, topic: str = "tests.common.test_chain:Counter.Started") -> int:
        self.execute(f"INSERT INTO {self.events} (originator_id, originator_version, topic, state) "
                     "VALUES (?, ?, ?, ?)", uuid.uuid4().hex, 1, topic, b'{"name": "smuggled"}')
        return self.max_event_id()

    def max_event_id(self) -> int:
        [(max_id,)] = self.execute(f"SELECT max({self.id}) FROM {self.events}")
        return int(max_id)

    def links(self) -> list[tuple[int, int, str]]:
        return [tuple(r) for r in self.execute(
            f"SELECT notification_id, previous_id, hash FROM {self.chain} ORDER BY notification_id")]

    def event_ids(self) -> list[int]:
        return [int(r[0]) for r in self.execute(f"SELECT {self.id} FROM {self.events} ORDER BY {self.id}")]


def assert_break(report: ChainReport, kind: BreakKind, nid: int, checked: int) -> None:
    assert not report.ok
    assert report.first_break is not None
    assert (report.first_break.kind, report.first_break.notification_id) == (kind, nid), report.first_break
    assert report.checked == checked
    assert str(nid) in report.first_break.message and "\n" not in report.first_break.message


def sqlite_settings(tmp_path: Path) -> ServiceSettings:
    return ServiceSettings.for_service(ServiceName.BILLING)(data_dir=tmp_path, database_url=None)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[CounterApplication]:
    application = CounterApplication(env=store_env(sqlite_settings(tmp_path)))
    yield application
    application.close()


@pytest.fixture
def tamper(tmp_path: Path) -> Tamper:
    path = sqlite_settings(tmp_path).sqlite_path

    @contextmanager
    def connect() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(path)
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    return Tamper(connect, "stored_events", "stored_events_chain", "rowid", "?")


def test_the_store_is_wired_to_the_chained_recorder(app: CounterApplication) -> None:
    assert isinstance(app.recorder, ChainedSQLiteProcessRecorder)
    assert not app.is_postgres


def test_every_save_writes_one_chain_row_per_event_and_the_chain_verifies(app: CounterApplication,
                                                                        tamper: Tamper) -> None:
    save_counters(app, 3, increments=2)  # three saves of three events each
    links = tamper.links()
    assert [(nid, previous) for nid, previous, _ in links] == [(n, n - 1) for n in range(1, 10)]
    report = verify(app)
    assert report.ok and report.first_break is None
    assert (report.checked, report.head_id, report.head_hash) == (9, 9, links[-1][2])


def test_an_empty_store_verifies_with_the_genesis_head(app: CounterApplication) -> None:
    assert verify(app) == ChainReport(checked=0, head_id=0, head_hash=GENESIS_HASH.hex())


def test_the_chain_goes_on_across_a_restart(app: CounterApplication, tmp_path: Path) -> None:
    save_counters(app, 2)
    app.close()
    again = CounterApplication(env=store_env(sqlite_settings(tmp_path)))
    try:
        save_counters(again, 2)
        report = verify(again.recorder)
        assert report.ok and report.checked == 4
    finally:
        again.close()


def test_the_hash_definition_is_pinned() -> None:
    """Changing the definition would make every existing store fail to verify."""
    row = StoredRow(notification_id=2, originator_id="4d6f6e6b-6579-4b65-8e79-000000000001",
                    originator_version=1, topic="a.b:C.Started", state_sha256=chain.state_digest(b'{"x": 1}'))
    assert link_hash(GENESIS_HASH, row, 1).hex() == (
        "abeb8cd744affb75c528088ec64c7a39783bc4213a11074dd77f6f0764b20d4d")


@pytest.mark.parametrize("page_size", [2, 5000])
def test_an_edited_event_is_named(app: CounterApplication, tamper: Tamper, page_size: int) -> None:
    save_counters(app, 6)
    tamper.edit_state(4)
    assert_break(verify(app, page_size=page_size), BreakKind.EDITED, 4, checked=3)


def test_an_edited_topic_is_named(app: CounterApplication, tamper: Tamper) -> None:
    save_counters(app, 3)
    tamper.execute("UPDATE stored_events SET topic = ? WHERE rowid = ?", "tests.common.test_chain:Counter.Counted", 1)
    assert_break(verify(app), BreakKind.EDITED, 1, checked=0)


@pytest.mark.parametrize("page_size", [2, 5000])
def test_a_deleted_event_is_named(app: CounterApplication, tamper: Tamper, page_size: int) -> None:
    save_counters(app, 6)
    tamper.delete_event(3)
    assert_break(verify(app, page_size=page_size), BreakKind.ORPHANED, 3, checked=2)


def test_an_event_deleted_with_its_chain_row_is_named_missing(app: CounterApplication, tamper: Tamper) -> None:
    save_counters(app, 6)
    tamper.delete_event(3)
    tamper.delete_link(3)
    assert_break(verify(app), BreakKind.MISSING, 3, checked=2)


def test_events_swapped_are_named_at_the_first_position(app: CounterApplication, tamper: Tamper) -> None:
    save_counters(app, 6)
    tamper.swap_events(2, 5)
    assert_break(verify(app), BreakKind.EDITED, 2, checked=1)


def test_events_swapped_with_their_chain_rows_are_named_reordered(app: CounterApplication, tamper: Tamper) -> None:
    save_counters(app, 6)
    tamper.swap_events(3, 4)
    tamper.swap_links(3, 4)
    assert_break(verify(app), BreakKind.REORDERED, 3, checked=2)


def test_an_event_moved_to_the_end_is_named_where_it_was(app: CounterApplication, tamper: Tamper) -> None:
    save_counters(app, 6)
    tamper.move_event(2, 7)
    assert_break(verify(app), BreakKind.ORPHANED, 2, checked=1)


def test_an_event_moved_to_the_end_with_its_chain_row_is_named_missing(app: CounterApplication,
                                                                      tamper: Tamper) -> None:
    save_counters(app, 6)
    tamper.move_event(2, 7)
    tamper.move_link(2, 7)
    assert_break(verify(app), BreakKind.MISSING, 2, checked=1)


def test_an_event_inserted_with_sql_is_named_and_later_saves_chain_past_it(app: CounterApplication,
                                                                          tamper: Tamper) -> None:
    save_counters(app, 3)
    smuggled = tamper.insert_event()
    save_counters(app, 2)
    assert smuggled == 4
    assert [(nid, previous) for nid, previous, _ in tamper.links()][-2:] == [(5, 3), (6, 5)]
    assert_break(verify(app), BreakKind.UNCHAINED, 4, checked=3)


def test_a_chain_row_without_an_event_is_named(app: CounterApplication, tamper: Tamper) -> None:
    save_counters(app, 3)
    tamper.execute("INSERT INTO stored_events_chain VALUES (?, ?, ?)", 9, 3, "00" * 32)
    assert_break(verify(app), BreakKind.ORPHANED, 9, checked=3)


def test_a_rewritten_predecessor_is_named_reordered(app: CounterApplication, tamper: Tamper) -> None:
    save_counters(app, 4)
    tamper.execute("UPDATE stored_events_chain SET previous_id = ? WHERE notification_id = ?", 4, 3)
    assert_break(verify(app), BreakKind.REORDERED, 3, checked=2)


def test_a_failure_while_chaining_stores_nothing(app: CounterApplication, tamper: Tamper,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    save_counters(app, 2)

    def broken(*args: Any) -> bytes:
        raise RuntimeError("hash failed")

    monkeypatch.setattr(chain, "link_hash", broken)
    with pytest.raises(RuntimeError, match="hash failed"):
        save_counters(app, 1, increments=1)
    monkeypatch.undo()
    assert tamper.event_ids() == [1, 2]
    assert verify(app).ok


def test_an_existing_store_without_a_chain_is_chained_when_opened(tmp_path: Path, tamper: Tamper,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    env = store_env(sqlite_settings(tmp_path))
    del env["PROCESS_RECORDER_TOPIC"]
    old = CounterApplication(env=env)
    save_counters(old, 4, increments=1)
    old.close()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        tamper.links()

    with caplog.at_level(logging.INFO, logger="services.common.chain"):
        upgraded = CounterApplication(env=store_env(sqlite_settings(tmp_path)))
    try:
        assert "chained 8 events stored before" in caplog.text
        assert [(nid, previous) for nid, previous, _ in tamper.links()] == [(n, n - 1) for n in range(1, 9)]
        save_counters(upgraded, 1)
        report = verify(upgraded)
        assert report.ok and report.checked == 9
    finally:
        upgraded.close()


def test_events_written_without_the_chain_after_its_head_are_chained_with_a_warning(
        tmp_path: Path, tamper: Tamper, caplog: pytest.LogCaptureFixture) -> None:
    chained = CounterApplication(env=store_env(sqlite_settings(tmp_path)))
    save_counters(chained, 2)
    chained.close()
    env = store_env(sqlite_settings(tmp_path))
    del env["PROCESS_RECORDER_TOPIC"]
    plain = CounterApplication(env=env)
    save_counters(plain, 2)
    plain.close()

    with caplog.at_level(logging.INFO, logger="services.common.chain"):
        reopened = CounterApplication(env=store_env(sqlite_settings(tmp_path)))
    try:
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        assert "chained 2 events stored after notification id 2" in caplog.text
        assert verify(reopened).ok and verify(reopened).checked == 4
    finally:
        reopened.close()


def test_a_store_without_a_chain_is_refused_by_verify() -> None:
    app = CounterApplication(env=dict(POPO))
    with pytest.raises(TypeError, match="keeps no hash chain"):
        verify(app)
