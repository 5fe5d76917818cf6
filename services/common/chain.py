"""Tamper evidence for a service's event store: a SHA-256 hash chain beside the events table.

The events are the audit record (architecture: operations replays them for audits), so an
edit, deletion, reordering or insertion made behind the application's back must show. Each
stored event gets one chain row, written in the same database transaction as the event:

    notification_id   the event's notification id (primary key)
    previous_id       the notification id of the event stored just before it (0 for the first)
    hash              hex SHA-256 of (the previous row's hash + canonical(event, previous_id))

`canonical` and `link_hash` below define the hash, once, for writing and for `verify`. The
hash commits to what is stored, read back from the table inside the insert's transaction,
and to the state by its SHA-256 (PostgreSQL computes it, so verifying reads 32 bytes per
event, not the event).

The recorders are the library's process recorders with the chain added: PostgreSQL appends
the chain rows while the events table is locked EXCLUSIVE (the library serialises inserts
that way), so the chain head read there is the true head; SQLite appends them after the
events' INSERTs have taken the database's write lock. A store that had events before it had
a chain (an upgrade) gets them chained, in notification order, when its tables are created.

`verify` walks events and chain rows in notification order, a page at a time, and names the
first broken link. A chain proves order and content only relative to its head: whoever can
write the database can also rewrite every later hash, and dropping the newest events with
their chain rows leaves a shorter valid chain. Compare the reported head with one recorded
elsewhere to catch those.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteProcessRecorder
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

log = logging.getLogger(__name__)

#: The previous hash of the first row.
GENESIS_HASH = bytes(32)
#: Rows per query when verifying and when chaining an existing store.
PAGE_SIZE = 5000
#: Larger than any notification id (both stores use signed 64-bit ids).
MAX_ID = 2**63 - 1

_FORMAT = b"complaints-event-chain/v1\x00"
_NULL_TEXT = struct.pack(">I", 0xFFFFFFFF)


@dataclass(frozen=True)
class StoredRow:
    """What the chain commits to of one stored event (its state by digest)."""

    notification_id: int
    originator_id: str
    originator_version: int
    topic: str | None
    state_sha256: bytes


@dataclass(frozen=True)
class Link:
    """One chain row."""

    notification_id: int
    previous_id: int
    hash: str


#: Stands before the first row: previous id 0, previous hash 32 zero bytes.
GENESIS = Link(notification_id=0, previous_id=0, hash=GENESIS_HASH.hex())


def state_digest(state: bytes | None) -> bytes:
    """SHA-256 of the stored `state` bytes (a NULL state counts as empty)."""
    return hashlib.sha256(state or b"").digest()


def _text(value: str | None) -> bytes:
    if value is None:
        return _NULL_TEXT
    data = value.encode("utf-8")
    return struct.pack(">I", len(data)) + data


def canonical(row: StoredRow, previous_id: int) -> bytes:
    """The bytes a chain row commits to, unambiguously:

    b"complaints-event-chain/v1\\x00"
    + int64be(notification_id) + int64be(previous_id)
    + text(originator_id) + int64be(originator_version) + text(topic)
    + state_sha256 (32 bytes)

    where text(s) is uint32be(len(utf8(s))) + utf8(s), and 0xFFFFFFFF alone for NULL;
    originator_id is the stored value as text (PostgreSQL's uuid text form, SQLite's stored
    text).
    """
    return (_FORMAT + struct.pack(">qq", row.notification_id, previous_id) + _text(row.originator_id)
            + struct.pack(">q", row.originator_version) + _text(row.topic) + row.state_sha256)


def link_hash(previous_hash: bytes, row: StoredRow, previous_id: int) -> bytes:
    """sha256(previous_hash + canonical(row, previous_id)): the one computation behind both
    writing a chain row and verifying it."""
    return hashlib.sha256(previous_hash + canonical(row, previous_id)).digest()


def extend(head: Link, rows: Iterable[StoredRow]) -> list[Link]:
    """The chain rows for `rows` (in notification order) after `head`."""
    links = []
    for row in rows:
        digest = link_hash(bytes.fromhex(head.hash), row, head.notification_id)
        head = Link(row.notification_id, head.notification_id, digest.hex())
        links.append(head)
    return links


class ChainedRecorder(ABC):
    """What both chained recorders share: appending to the chain, chaining an older store's
    events, and reading events and chain rows back for `verify`.

    A dialect provides its statements (each on a cursor inside a transaction) and the
    transaction in which to chain an older store's events.
    """

    datastore: PostgresDatastore | SQLiteDatastore
    chain_table_name: str

    def stored_rows(self, after: int, stop: int, limit: int) -> list[StoredRow]:
        """Events with notification ids in (after, stop], in order, at most `limit`."""
        with self.datastore.transaction(commit=False) as c:
            return self._select_rows(c, after, stop, limit)

    def links(self, after: int, stop: int, limit: int) -> list[Link]:
        """Chain rows with notification ids in (after, stop], in order, at most `limit`."""
        with self.datastore.transaction(commit=False) as c:
            return self._select_links(c, after, stop, limit)

    def chain_end(self) -> int:
        """The largest notification id in the events table or the chain table (0 when empty)."""
        with self.datastore.transaction(commit=False) as c:
            return self._select_end(c)

    def create_table(self) -> None:
        super().create_table()  # type: ignore[misc]
        self.backfill()

    def backfill(self) -> int:
        """Chain the events stored after the chain's head without chain rows (those of a store
        older than its chain), in notification order; how many. Runs when the tables are created."""
        if not self._has_unchained_tail():
            return 0
        with self._chaining_transaction() as c:
            head = first = self._select_head(c)  # again, now that no one else can move it
            count = 0
            while rows := self._select_rows(c, head.notification_id, MAX_ID, PAGE_SIZE):
                links = extend(head, rows)
                self._insert_links(c, links)
                head, count = links[-1], count + len(links)
        self._log_backfill(first, count)
        return count

    def _append_links(self, c: Any, rows: Sequence[StoredRow]) -> None:
        links = extend(self._select_head(c), sorted(rows, key=lambda r: r.notification_id))
        self._insert_links(c, links)

    def _has_unchained_tail(self) -> bool:
        with self.datastore.transaction(commit=False) as c:
            head = self._select_head(c)
            return bool(self._select_rows(c, head.notification_id, MAX_ID, 1))

    def _log_backfill(self, old_head: Link, count: int) -> None:
        if not count:
            return
        if old_head == GENESIS:
            log.info("chained %d events stored before %s had a hash chain", count, self.chain_table_name)
        else:
            log.warning("chained %d events stored after notification id %d without chain rows in %s "
                        "(written by a process without the chain?)", count, old_head.notification_id,
                        self.chain_table_name)

    @abstractmethod
    def _chaining_transaction(self) -> AbstractContextManager[Any]:
        """A writing transaction in which no event is stored by anyone else."""

    @abstractmethod
    def _select_rows(self, c: Any, after: int, stop: int, limit: int) -> list[StoredRow]: ...

    @abstractmethod
    def _select_links(self, c: Any, after: int, stop: int, limit: int) -> list[Link]: ...

    @abstractmethod
    def _select_head(self, c: Any) -> Link: ...

    @abstractmethod
    def _insert_links(self, c: Any, links: Sequence[Link]) -> None: ...

    @abstractmethod
    def _select_end(self, c: Any) -> int: ...


def _link(row: Any) -> Link:
    return Link(int(row["notification_id"]), int(row["previous_id"]), row["hash"])


class ChainedPostgresProcessRecorder(ChainedRecorder, PostgresProcessRecorder):
    """The PostgreSQL process recorder, writing a chain row per event into `<events table>_chain`."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events",
                 tracking_table_name: str = "notification_tracking"):
        if datastore.enable_db_functions:
            raise ValueError("POSTGRES_ENABLE_DB_FUNCTIONS inserts events through a database function, which "
                             "bypasses the hash chain (services.common.chain): unset it")
        super().__init__(datastore, events_table_name=events_table_name, tracking_table_name=tracking_table_name)
        self.chain_table_name = f"{events_table_name}_chain"
        self.check_identifier_length(self.chain_table_name)
        events = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(events_table_name))
        chain = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(self.chain_table_name))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {} (notification_id bigint PRIMARY KEY, "
            "previous_id bigint NOT NULL UNIQUE, hash text NOT NULL)").format(chain))
        row_columns = SQL("notification_id, originator_id, originator_version, topic, "
                          "sha256(coalesce(state, ''::bytea)) AS state_sha256")
        # The inserted rows come back as the chain sees them: no pairing with what was sent.
        self.insert_events_statement = self.insert_events_statement + SQL(", ") + row_columns
        self._rows_statement = SQL(
            "SELECT {} FROM {} WHERE notification_id > %s AND notification_id <= %s "
            "ORDER BY notification_id LIMIT %s").format(row_columns, events)
        self._links_statement = SQL(
            "SELECT notification_id, previous_id, hash FROM {} WHERE notification_id > %s "
            "AND notification_id <= %s ORDER BY notification_id LIMIT %s").format(chain)
        self._head_statement = SQL(
            "SELECT notification_id, previous_id, hash FROM {} ORDER BY notification_id DESC LIMIT 1").format(chain)
        self._insert_links_statement = SQL(
            "INSERT INTO {} (notification_id, previous_id, hash) "
            "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[])").format(chain)
        self._end_statement = SQL(
            "SELECT GREATEST((SELECT max(notification_id) FROM {}), (SELECT max(notification_id) FROM {})) "
            "AS end_id").format(events, chain)

    @contextlib.contextmanager
    def _chaining_transaction(self) -> Iterator[psycopg.Cursor[DictRow]]:
        with self.datastore.transaction(commit=True) as curs:
            self._lock_table(curs)  # the lock every insert takes
            yield curs

    def _fetch_ids_after_insert_events(self, curs: psycopg.Cursor[DictRow], stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> Sequence[int]:
        # Runs inside the insert's transaction, in pipeline mode, with the events table locked.
        try:
            rows = [_stored_row(r) for r in curs.fetchall()]
            self._append_links(curs, rows)
        except BaseException:
            _fail_transaction(curs)
            raise
        return [row.notification_id for row in rows]

    def _select_rows(self, c: psycopg.Cursor[DictRow], after: int, stop: int, limit: int) -> list[StoredRow]:
        c.execute(self._rows_statement, (after, stop, limit))
        return [_stored_row(r) for r in c.fetchall()]

    def _select_links(self, c: psycopg.Cursor[DictRow], after: int, stop: int, limit: int) -> list[Link]:
        c.execute(self._links_statement, (after, stop, limit))
        return [_link(r) for r in c.fetchall()]

    def _select_head(self, c: psycopg.Cursor[DictRow]) -> Link:
        c.execute(self._head_statement)
        row = c.fetchone()
        return _link(row) if row else GENESIS

    def _insert_links(self, c: psycopg.Cursor[DictRow], links: Sequence[Link]) -> None:
        params = ([k.notification_id for k in links], [k.previous_id for k in links], [k.hash for k in links])
        # Nested in the insert's pipeline this syncs on exit, so a refused row raises here, where
        # the library turns it into a rolled-back insert like any other IntegrityError.
        with c.connection.pipeline():
            c.execute(self._insert_links_statement, params)

    def _select_end(self, c: psycopg.Cursor[DictRow]) -> int:
        c.execute(self._end_statement)
        row = c.fetchone()
        return int(row["end_id"] or 0) if row else 0


def _stored_row(row: Any) -> StoredRow:
    return StoredRow(int(row["notification_id"]), str(row["originator_id"]), int(row["originator_version"]),
                     row["topic"], bytes(row["state_sha256"]))


def _fail_transaction(curs: psycopg.Cursor[DictRow]) -> None:
    """Make the server fail the insert's transaction.

    The library catches what its hook raises, leaves the transaction block normally (a COMMIT)
    and raises it afterwards; the COMMIT of a failed transaction rolls back, so no event is
    stored without its chain row even when the failure happened on this side.
    """
    with contextlib.suppress(psycopg.Error), curs.connection.pipeline():
        curs.execute(SQL("DO $$ BEGIN RAISE EXCEPTION 'hash chain not written: rolling back the events'; END $$"))


class ChainedSQLiteProcessRecorder(ChainedRecorder, SQLiteProcessRecorder):
    """The SQLite process recorder, writing a chain row per event into `<events table>_chain`."""

    def __init__(self, datastore: SQLiteDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        events = events_table_name
        self.chain_table_name = chain = f"{events_table_name}_chain"
        self.create_table_statements.append(
            f"CREATE TABLE IF NOT EXISTS {chain} (notification_id INTEGER PRIMARY KEY, "
            "previous_id INTEGER NOT NULL UNIQUE, hash TEXT NOT NULL)")
        self._rows_statement = (
            f"SELECT rowid AS notification_id, originator_id, originator_version, topic, state FROM {events} "
            "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?")
        self._links_statement = (
            f"SELECT notification_id, previous_id, hash FROM {chain} WHERE notification_id > ? "
            "AND notification_id <= ? ORDER BY notification_id LIMIT ?")
        self._head_statement = (
            f"SELECT notification_id, previous_id, hash FROM {chain} ORDER BY notification_id DESC LIMIT 1")
        self._insert_links_statement = f"INSERT INTO {chain} (notification_id, previous_id, hash) VALUES (?, ?, ?)"
        self._end_statement = (f"SELECT max(coalesce((SELECT max(rowid) FROM {events}), 0), "
                               f"coalesce((SELECT max(notification_id) FROM {chain}), 0)) AS end_id")

    @contextlib.contextmanager
    def _chaining_transaction(self) -> Iterator[Any]:
        """Holds the write lock from its start (BEGIN IMMEDIATE): after a plain BEGIN, the head
        read would be a snapshot that another writer could outdate before this one writes."""
        with self.datastore.get_connection(commit=True) as conn, conn.cursor() as c:
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        # The INSERTs above took the write lock: the chain's head cannot move until this commits.
        ids = super()._insert_events(c, stored_events, **kwargs)
        if ids:
            rows = self._select_rows(c, min(ids) - 1, max(ids), len(ids) + 1)
            if [r.notification_id for r in rows] != sorted(ids):  # rowids of one write are consecutive
                raise RuntimeError(f"inserted events {sorted(ids)} did not read back as one run of rowids")
            self._append_links(c, rows)
        return ids

    def _select_rows(self, c: Any, after: int, stop: int, limit: int) -> list[StoredRow]:
        c.execute(self._rows_statement, (after, stop, limit))
        return [StoredRow(int(r["notification_id"]), str(r["originator_id"]), int(r["originator_version"]),
                          r["topic"], state_digest(r["state"])) for r in c.fetchall()]

    def _select_links(self, c: Any, after: int, stop: int, limit: int) -> list[Link]:
        c.execute(self._links_statement, (after, stop, limit))
        return [_link(r) for r in c.fetchall()]

    def _select_head(self, c: Any) -> Link:
        c.execute(self._head_statement)
        row = c.fetchone()
        return _link(row) if row else GENESIS

    def _insert_links(self, c: Any, links: Sequence[Link]) -> None:
        c.executemany(self._insert_links_statement, [(k.notification_id, k.previous_id, k.hash) for k in links])

    def _select_end(self, c: Any) -> int:
        c.execute(self._end_statement)
        return int(c.fetchone()["end_id"])


class BreakKind(StrEnum):
    EDITED = "edited"            # an event no longer matches its chain hash
    MISSING = "missing"          # a chain row names a predecessor that has neither event nor chain row
    REORDERED = "reordered"      # a chain row's predecessor is not the row before it
    UNCHAINED = "unchained"      # an event without a chain row
    ORPHANED = "orphaned"        # a chain row without an event


@dataclass(frozen=True)
class ChainBreak:
    kind: BreakKind
    notification_id: int   # the row at fault (for MISSING: the id that is gone)
    message: str


@dataclass(frozen=True)
class ChainReport:
    checked: int                       # events whose chain row verified, up to the first break
    head_id: int                       # notification id of the last verified row (0: none)
    head_hash: str                     # its hash, hex (64 zeros: none)
    first_break: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.first_break is None


T = TypeVar("T")


def _pages(fetch: Callable[[int, int, int], list[T]], stop: int, page_size: int,
           key: Callable[[T], int]) -> Iterator[T]:
    after = 0
    while True:
        page = fetch(after, stop, page_size)
        yield from page
        if len(page) < page_size:
            return
        after = key(page[-1])


def _merged(rows: Iterator[StoredRow], links: Iterator[Link]) -> Iterator[tuple[int, StoredRow | None, Link | None]]:
    """(notification id, its event, its chain row) over both tables, in notification order."""
    row, link = next(rows, None), next(links, None)
    while row is not None or link is not None:
        nid = min(x.notification_id for x in (row, link) if x is not None)
        this_row = row if row is not None and row.notification_id == nid else None
        this_link = link if link is not None and link.notification_id == nid else None
        if this_row is not None:
            row = next(rows, None)
        if this_link is not None:
            link = next(links, None)
        yield nid, this_row, this_link


def _check(nid: int, row: StoredRow | None, link: Link | None, last_id: int,
           last_hash: bytes) -> tuple[ChainBreak | None, bytes]:
    """The break at `nid`, if any, and the row's recomputed hash."""
    if link is None:
        return ChainBreak(BreakKind.UNCHAINED, nid, f"event {nid} has no chain row: it was inserted "
                          "outside the application"), last_hash
    if row is None:
        return ChainBreak(BreakKind.ORPHANED, nid, f"chain row {nid} has no event: event {nid} was deleted, "
                          "or moved"), last_hash
    if link.previous_id != last_id:
        if last_id < link.previous_id < nid:
            return ChainBreak(BreakKind.MISSING, link.previous_id, f"event {link.previous_id} is missing: chain row "
                              f"{nid} follows it, but neither it nor its chain row exists (deleted, or moved)"), last_hash
        return ChainBreak(BreakKind.REORDERED, nid, f"chain row {nid} names {link.previous_id} as the event before "
                          f"it, but the event before it is {last_id or 'none'}: reordered"), last_hash
    digest = link_hash(last_hash, row, last_id)
    if digest.hex() != link.hash:
        return ChainBreak(BreakKind.EDITED, nid, f"event {nid} does not match its chain hash: it was edited, or "
                          "another event was put in its place"), last_hash
    return None, digest


def verify(recorder_or_app: ChainedRecorder | Application[Any], *, page_size: int = PAGE_SIZE) -> ChainReport:
    """Walk the store's events and chain rows in notification order and report the first broken link.

    Reads a page of each at a time (memory stays bounded whatever the store's size) up to the
    largest notification id present when it starts; events stored meanwhile are left for the next run.
    """
    recorder = recorder_or_app.recorder if isinstance(recorder_or_app, Application) else recorder_or_app
    if not isinstance(recorder, ChainedRecorder):
        raise TypeError(f"{type(recorder).__qualname__} keeps no hash chain (see services.common.chain)")
    stop = recorder.chain_end()
    rows = _pages(recorder.stored_rows, stop, page_size, lambda r: r.notification_id)
    links = _pages(recorder.links, stop, page_size, lambda k: k.notification_id)
    last_id, last_hash, checked = 0, GENESIS_HASH, 0
    for nid, row, link in _merged(rows, links):
        broken, digest = _check(nid, row, link, last_id, last_hash)
        if broken:
            return ChainReport(checked, last_id, last_hash.hex(), broken)
        last_id, last_hash, checked = nid, digest, checked + 1
    return ChainReport(checked, last_id, last_hash.hex())
