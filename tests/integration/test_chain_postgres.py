"""The event store's hash chain on PostgreSQL: tampering named at the first row it touches,
concurrent writers (threads, instances) making one valid chain, and a rolled-back save leaving
no chain row behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from contracts.envelope import ServiceName
from services.common import chain
from services.common.chain import BreakKind, ChainedPostgresProcessRecorder, verify
from services.common.settings import ServiceSettings
from services.common.store import store_env
from tests.common.test_chain import Counter, CounterApplication, Tamper, assert_break, save_counters

pytestmark = pytest.mark.integration

Opener = Callable[..., CounterApplication]


def pg_settings(url: str, tmp_path: Path) -> ServiceSettings:
    return ServiceSettings.for_service(ServiceName.BILLING)(data_dir=tmp_path, database_url=url)


def pg_tamper(url: str, schema: str = "public") -> Tamper:
    return Tamper(lambda: psycopg.connect(url), f"{schema}.billing_events", f"{schema}.billing_events_chain",
                  "notification_id", "%s")


@pytest.fixture
def url(new_database: Callable[[], str]) -> str:
    return new_database()


@pytest.fixture
def open_app(url: str, tmp_path: Path) -> Iterator[Opener]:
    """Opens applications on the test's database (chained unless `chained=False`); closes them after."""
    opened: list[CounterApplication] = []

    def make(chained: bool = True, database_url: str | None = None) -> CounterApplication:
        env = store_env(pg_settings(database_url or url, tmp_path))
        if not chained:
            del env["PROCESS_RECORDER_TOPIC"]
        application = CounterApplication(env=env)
        opened.append(application)
        return application

    yield make
    for application in opened:
        application.close()


@pytest.fixture
def app(open_app: Opener) -> CounterApplication:
    return open_app()


@pytest.fixture
def tamper(url: str) -> Tamper:
    return pg_tamper(url)


def test_the_store_is_wired_to_the_chained_recorder_and_the_chain_verifies(app: CounterApplication,
                                                                         tamper: Tamper) -> None:
    assert isinstance(app.recorder, ChainedPostgresProcessRecorder) and app.is_postgres
    save_counters(app, 3, increments=2)
    links = tamper.links()
    assert [(nid, previous) for nid, previous, _ in links] == [(n, n - 1) for n in range(1, 10)]
    report = verify(app)
    assert report.ok and (report.checked, report.head_id, report.head_hash) == (9, 9, links[-1][2])


@pytest.mark.parametrize("page_size", [2, 5000])
def test_an_edited_event_is_named(app: CounterApplication, tamper: Tamper, page_size: int) -> None:
    save_counters(app, 6)
    tamper.edit_state(4)
    assert_break(verify(app, page_size=page_size), BreakKind.EDITED, 4, checked=3)


def test_a_deleted_event_is_named(app: CounterApplication, tamper: Tamper) -> None:
    save_counters(app, 6)
    tamper.delete_event(3)
    assert_break(verify(app), BreakKind.ORPHANED, 3, checked=2)


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
    tamper.move_event(2, 100)
    assert_break(verify(app), BreakKind.ORPHANED, 2, checked=1)
    tamper.move_link(2, 100)
    assert_break(verify(app), BreakKind.MISSING, 2, checked=1)


def test_an_event_inserted_with_sql_is_named(app: CounterApplication, tamper: Tamper) -> None:
    save_counters(app, 3)
    smuggled = tamper.insert_event()
    save_counters(app, 1)
    assert_break(verify(app), BreakKind.UNCHAINED, smuggled, checked=3)


@pytest.mark.parametrize("instances", [1, 2], ids=["one application", "two applications"])
def test_concurrent_saves_make_one_chain(open_app: Opener, tamper: Tamper, instances: int) -> None:
    apps = [open_app() for _ in range(instances)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(application: CounterApplication) -> None:
        try:
            start.wait()
            save_counters(application, 40, increments=2)
        except BaseException as e:  # reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(apps[i % instances],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = tamper.event_ids()
    assert len(ids) == 240
    assert [(nid, previous) for nid, previous, _ in tamper.links()] == list(zip(ids, [0, *ids[:-1]]))
    report = verify(apps[0])
    assert report.ok and report.checked == 240 and report.head_id == ids[-1]


def test_a_save_refused_for_a_concurrent_change_leaves_no_chain_row(app: CounterApplication, tamper: Tamper) -> None:
    [counter] = save_counters(app, 1)
    first, second = app.repository.get(counter.id), app.repository.get(counter.id)
    first.increment()
    app.save(first)
    second.increment()
    second.increment()
    with pytest.raises(IntegrityError):
        app.save(second)
    save_counters(app, 1)
    ids = tamper.event_ids()
    assert len(ids) == 3 and ids[:2] == [1, 2]  # the refused insert left a gap in the ids, nothing else
    assert [(nid, previous) for nid, previous, _ in tamper.links()] == [(1, 0), (2, 1), (ids[2], 2)]
    assert verify(app).ok and verify(app).checked == 3


def test_a_repeated_upstream_position_leaves_no_chain_row(app: CounterApplication, tamper: Tamper) -> None:
    app.save_processed([Counter("a")], Tracking("intake", 7))
    with pytest.raises(IntegrityError):
        app.save_processed([Counter("b")], Tracking("intake", 7))
    assert [nid for nid, _, _ in tamper.links()] == tamper.event_ids() == [1]
    assert verify(app).ok


def test_a_failure_while_chaining_rolls_the_events_back(app: CounterApplication, tamper: Tamper,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The library commits its insert transaction whatever its hook raised; the recorder makes the
    server fail it first, so nothing is stored without its chain row."""
    save_counters(app, 2)

    def broken(*args: Any) -> bytes:
        raise RuntimeError("hash failed")

    monkeypatch.setattr(chain, "link_hash", broken)
    with pytest.raises(RuntimeError, match="hash failed"):
        save_counters(app, 1, increments=1)
    monkeypatch.undo()
    assert tamper.event_ids() == [1, 2]
    save_counters(app, 1)
    assert verify(app).ok and verify(app).checked == 3


def test_a_chain_row_the_database_refuses_rolls_the_events_back(app: CounterApplication, tamper: Tamper) -> None:
    save_counters(app, 2)
    tamper.execute(f"INSERT INTO {tamper.chain} VALUES (%s, %s, %s)", 3, 99, "00" * 32)  # squats the next id
    with pytest.raises(IntegrityError):
        save_counters(app, 1)
    assert tamper.event_ids() == [1, 2]


def test_an_existing_store_is_chained_when_opened(open_app: Opener, tamper: Tamper) -> None:
    save_counters(open_app(chained=False), 4, increments=1)
    upgraded = open_app()
    assert [(nid, previous) for nid, previous, _ in tamper.links()] == [(n, n - 1) for n in range(1, 9)]
    save_counters(upgraded, 1)
    report = verify(upgraded)
    assert report.ok and report.checked == 9


def test_chaining_an_older_store_waits_for_the_insert_lock_and_happens_once(open_app: Opener, url: str,
                                                                          tmp_path: Path, tamper: Tamper) -> None:
    open_app()  # the chain table exists ...
    save_counters(open_app(chained=False), 30, increments=1)  # ... and 60 events came after it unchained
    env = store_env(pg_settings(url, tmp_path)) | {"CREATE_TABLE": "n"}  # opened without chaining them yet
    apps = [CounterApplication(env=env) for _ in range(2)]
    chained: list[int] = []
    threads = [threading.Thread(target=lambda a=a: chained.append(a.recorder.backfill())) for a in apps]
    try:
        with psycopg.connect(url) as inserting:  # holds the lock an insert takes, until it commits
            inserting.execute("LOCK TABLE public.billing_events IN EXCLUSIVE MODE")
            for t in threads:
                t.start()
            time.sleep(0.5)
            assert all(t.is_alive() for t in threads) and tamper.links() == []
        for t in threads:
            t.join(timeout=30)
        assert sorted(chained) == [0, 60]
        ids = tamper.event_ids()
        assert [(nid, previous) for nid, previous, _ in tamper.links()] == list(zip(ids, [0, *ids[:-1]]))
        for application in apps:
            save_counters(application, 1)
        report = verify(apps[0])
        assert report.ok and report.checked == 62
    finally:
        for application in apps:
            application.close()


def test_the_chain_lives_in_the_stores_schema(new_database: Callable[[], str], open_app: Opener) -> None:
    url = new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA audit")
    app = open_app(database_url=f"{url}?schema=audit")
    save_counters(app, 2)
    tamper = pg_tamper(url, "audit")
    assert [nid for nid, _, _ in tamper.links()] == [1, 2]
    tamper.edit_state(2)
    assert_break(verify(app), BreakKind.EDITED, 2, checked=1)


def test_database_functions_are_refused(url: str, tmp_path: Path) -> None:
    env = store_env(pg_settings(url, tmp_path)) | {"POSTGRES_ENABLE_DB_FUNCTIONS": "y"}
    with pytest.raises(ValueError, match="POSTGRES_ENABLE_DB_FUNCTIONS"):
        CounterApplication(env=env)
