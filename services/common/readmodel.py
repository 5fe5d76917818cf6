"""Read models: rows projected from the topics, saved with their upstream positions in one transaction.

A read model (HQ's complaint list, analytics' register) is a few tables of its own in its own
database: PostgreSQL when it has a URL, a SQLite file on the embedded default. Nothing writes its
rows but its projector, fed by a `ChainConsumer` in a consumer group of its own:

- each batch of one partition is applied to a `RowWork` (rows loaded by key once, changed in
  memory), then every changed row and the partition's new position are written in one
  transaction, the position compare-and-set (rules 3, 8 and 9 of the architecture: what was
  processed is exactly what the rows show);
- events the projector ignores still move the position;
- a rebuild (`complaints replay`) projects the topics from the beginning into a second set of
  tables (`next_` in front of every name), compares, and swaps them in under a lock in one
  transaction; the live consumer then goes on from the positions the rebuilt tables carry.

Values are kept in forms that both databases order and sum exactly: money as whole fen
(`Decimal` in Python), times as UTC (`timestamptz`; ISO text with a fixed width in SQLite),
JSON as `jsonb` or text. Full-text search indexes a column of search tokens (see
`services.common.search`): a `tsvector` with a GIN index in PostgreSQL, an FTS5 table in SQLite.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from services.common.store import ensure_postgres_database, postgres_params

log = logging.getLogger(__name__)

#: Column kinds and their types in each database.
KINDS: dict[str, tuple[str, str]] = {
    "text": ("text", "TEXT"),
    "int": ("bigint", "INTEGER"),
    "float": ("double precision", "REAL"),
    "bool": ("boolean", "INTEGER"),
    "money": ("bigint", "INTEGER"),  # whole fen
    "time": ("timestamptz", "TEXT"),
    "date": ("date", "TEXT"),
    "json": ("text", "TEXT"),  # read back in Python only: no jsonb parse on every write
}
REBUILD_PREFIX = "next_"
_RETIRED_PREFIX = "old_"
_FEN = Decimal(100)
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Table:
    """One table of a read model: its columns (name, kind), key and indexes."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    #: A column of search tokens to index for full-text search (`services.common.search`).
    fulltext: str | None = None

    def __post_init__(self) -> None:
        names = [c for c, _ in self.columns]
        unknown = [k for _, k in self.columns if k not in KINDS]
        if unknown:
            raise ValueError(f"{self.name}: unknown column kinds {unknown}")
        missing = [k for k in (*self.key, *(c for ix in self.indexes for c in ix)) if k not in names]
        if missing or (self.fulltext and self.fulltext not in names):
            raise ValueError(f"{self.name}: key, index or fulltext names a column it does not have: {missing}")

    @property
    def names(self) -> list[str]:
        return [c for c, _ in self.columns]

    @property
    def kinds(self) -> dict[str, str]:
        return dict(self.columns)


@dataclass(frozen=True)
class Schema:
    """A read model's tables, and the version of their shape (a new shape needs a rebuild)."""

    name: str
    version: int
    tables: tuple[Table, ...]

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"{self.name} has no table {name}")


# --- values -------------------------------------------------------------------------------------

def time_text(value: datetime) -> str:
    """A time as SQLite keeps it: UTC, fixed width, so text order is time order."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: times are timezone-aware")
    utc = value.astimezone(timezone.utc)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S.%f}Z"  # %Y does not pad year 1 on every platform


def _to_db(kind: str, value: Any, postgres: bool) -> Any:
    if value is None:
        return None
    if kind == "money":
        return int((Decimal(value) * _FEN).to_integral_exact())
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if kind == "time":
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return value if postgres else time_text(value)
    if kind == "date":
        if isinstance(value, str):
            value = date.fromisoformat(value)
        return value if postgres else value.isoformat()
    if kind == "bool":
        return bool(value) if postgres else int(bool(value))
    return value


def _from_db(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "money":
        return (Decimal(int(value)) / _FEN).quantize(_CENT)
    if kind == "json":
        return json.loads(value) if isinstance(value, (str, bytes)) else value
    if kind == "time":
        if isinstance(value, str):
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        return value.astimezone(timezone.utc)
    if kind == "date":
        return date.fromisoformat(value) if isinstance(value, str) else value
    if kind == "bool":
        return bool(value)
    return value


# --- the unit of work ----------------------------------------------------------------------------

_ABSENT = object()


class RowWork:
    """Rows one batch touches: each loaded once by key, changed in memory, written together.

    `get` returns a copy the projector may change and `put` back; `delete` removes a row. What
    is written is each touched row's final state.
    """

    def __init__(self, store: ReadModelStore):
        self.store = store
        self._loaded: dict[str, dict[tuple[Any, ...], Any]] = {}
        self.changed: dict[str, dict[tuple[Any, ...], dict[str, Any] | None]] = {}

    def _key(self, table: Table, key: Any) -> tuple[Any, ...]:
        return tuple(key) if isinstance(key, tuple) else (key,)

    def get(self, table_name: str, key: Any) -> dict[str, Any] | None:
        table = self.store.schema.table(table_name)
        k = self._key(table, key)
        changed = self.changed.get(table_name, {})
        if k in changed:
            row = changed[k]
            return dict(row) if row is not None else None
        loaded = self._loaded.setdefault(table_name, {})
        if k not in loaded:
            loaded[k] = self.store.load(table_name, k)
        row = loaded[k]
        return dict(row) if row is not None else None

    def prefetch(self, table_name: str, keys: Iterable[Any]) -> None:
        """Load many rows in one query (a batch's complaints, say)."""
        table = self.store.schema.table(table_name)
        loaded = self._loaded.setdefault(table_name, {})
        wanted = [k for k in {self._key(table, key) for key in keys} if k not in loaded]
        if wanted:
            loaded.update(self.store.load_many(table_name, wanted))

    def put(self, table_name: str, row: Mapping[str, Any]) -> None:
        table = self.store.schema.table(table_name)
        missing = [c for c in table.key if row.get(c) is None]
        if missing:
            raise ValueError(f"{table_name}: a row needs its key {missing}")
        unknown = set(row) - set(table.names)
        if unknown:
            raise ValueError(f"{table_name} has no column(s) {sorted(unknown)}")
        full = {c: row.get(c) for c in table.names}
        self.changed.setdefault(table_name, {})[tuple(full[c] for c in table.key)] = full

    def delete(self, table_name: str, key: Any) -> None:
        table = self.store.schema.table(table_name)
        self.changed.setdefault(table_name, {})[self._key(table, key)] = None

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.changed.values())


# --- the store ----------------------------------------------------------------------------------

class ReadModelStore:
    """One read model's tables (live, or `next_` while a rebuild fills them) in PostgreSQL or SQLite."""

    def __init__(self, schema: Schema, database_url: str | None = None, sqlite_path: Path | None = None,
                 prefix: str = "", pool_size: int = 4):
        if not database_url and sqlite_path is None:
            raise ValueError("a read model needs a PostgreSQL URL or a SQLite path")
        self.schema = schema
        self.prefix = prefix
        self.database_url = database_url
        self.sqlite_path = sqlite_path
        self.postgres = bool(database_url)
        self._local = threading.local()
        self._pool: ConnectionPool | None = None
        if self.postgres:
            assert database_url is not None
            ensure_postgres_database(database_url)
            p = postgres_params(database_url)
            conninfo = psycopg.conninfo.make_conninfo(
                dbname=p["dbname"], host=p["host"], port=p["port"], user=p["user"], password=p["password"] or None,
                connect_timeout=10)
            self._pool = ConnectionPool(conninfo, min_size=1, max_size=pool_size, open=True, timeout=30,
                                        kwargs={"prepare_threshold": None, "row_factory": dict_row},
                                        name=f"readmodel-{schema.name}")
        else:
            assert sqlite_path is not None
            sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        self.ph = "%s" if self.postgres else "?"

    # --- names and connections -------------------------------------------------------------

    def name(self, table: str) -> str:
        """The physical name of one of the model's tables (or of `positions`, `meta`)."""
        return f"{self.prefix}{self.schema.name}_{table}"

    def sibling(self, prefix: str) -> ReadModelStore:
        """The same model under another prefix (the rebuild's tables), sharing the connections."""
        other = object.__new__(ReadModelStore)
        other.__dict__.update(self.__dict__)
        other.prefix = prefix
        return other

    def _sqlite(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(str(self.sqlite_path), timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[Cursor]:
        """A cursor in one transaction, committed when the block ends without an error."""
        if self._pool is not None:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                yield Cursor(cur, True)
            return
        conn = self._sqlite()
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield Cursor(conn.cursor(), False)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- shape -----------------------------------------------------------------------------

    def ddl(self, table: Table, token: str) -> list[str]:
        """What creates one table with its indexes (named with `token`: index and trigger names do
        not follow a renamed table, so each creation names its own)."""
        name = self.name(table.name)
        cols = [f"{c} {KINDS[k][0 if self.postgres else 1]}" for c, k in table.columns]
        if self.postgres and table.fulltext:
            cols.append(f"{table.fulltext}_tsv tsvector GENERATED ALWAYS AS "
                        f"(to_tsvector('simple', coalesce({table.fulltext}, ''))) STORED")
        statements = [f"CREATE TABLE {name} ({', '.join(cols)}, PRIMARY KEY ({', '.join(table.key)}))"]
        for i, index in enumerate(table.indexes):
            statements.append(f"CREATE INDEX ix_{token}_{table.name}_{i} ON {name} ({', '.join(index)})")
        if table.fulltext and self.postgres:
            statements.append(f"CREATE INDEX ix_{token}_{table.name}_fts ON {name} USING gin ({table.fulltext}_tsv)")
        elif table.fulltext:
            fts, column = self.fts_name(table.name), table.fulltext
            statements += [
                f"CREATE VIRTUAL TABLE {fts} USING fts5(tokens, tokenize='unicode61')",
                f"CREATE TRIGGER tr_{token}_{table.name}_ai AFTER INSERT ON {name} BEGIN "
                f"INSERT INTO {fts}(rowid, tokens) VALUES (new.rowid, coalesce(new.{column}, '')); END",
                f"CREATE TRIGGER tr_{token}_{table.name}_au AFTER UPDATE OF {column} ON {name} BEGIN "
                f"DELETE FROM {fts} WHERE rowid = old.rowid; "
                f"INSERT INTO {fts}(rowid, tokens) VALUES (new.rowid, coalesce(new.{column}, '')); END",
                f"CREATE TRIGGER tr_{token}_{table.name}_ad AFTER DELETE ON {name} BEGIN "
                f"DELETE FROM {fts} WHERE rowid = old.rowid; END",
            ]
        return statements

    def fts_name(self, table: str) -> str:
        return f"{self.name(table)}_fts"

    def create(self, defer_indexes: bool = False) -> None:
        """Create what is missing (idempotent), and check the shape's version. `defer_indexes`
        (a rebuild's fresh tables, PostgreSQL): the secondary indexes are built by `build_indexes`
        once the rows are in, which is much faster than keeping them up to date row by row."""
        int_type = KINDS["int"][0 if self.postgres else 1]
        with self.transaction() as cur:
            if self.postgres:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"readmodel:{self.name('meta')}",))
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.name('positions')} (tracking TEXT PRIMARY KEY, "
                        f"position {int_type} NOT NULL)")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.name('meta')} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            deferred = []
            for table in self.schema.tables:
                if not self._table_exists(cur, self.name(table.name)):
                    token = uuid.uuid4().hex[:10]
                    statements = self.ddl(table, token)
                    if defer_indexes and self.postgres:
                        deferred += statements[1:]
                        statements = statements[:1]
                    for statement in statements:
                        cur.execute(statement)
            if deferred:
                cur.execute(f"INSERT INTO {self.name('meta')} (key, value) VALUES ({self.ph}, {self.ph}) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            ("deferred_indexes", json.dumps(deferred)))
            cur.execute(f"SELECT value FROM {self.name('meta')} WHERE key = 'schema_version'")
            row = cur.fetchone()
            if row is None:
                cur.execute(f"INSERT INTO {self.name('meta')} (key, value) VALUES ({self.ph}, {self.ph})",
                            ("schema_version", str(self.schema.version)))
            elif int(row["value"]) != self.schema.version:
                raise SchemaChanged(
                    f"read model {self.schema.name} holds shape v{row['value']}, this code writes "
                    f"v{self.schema.version}: rebuild it (complaints replay {self.schema.name} --from-beginning)")

    def build_indexes(self) -> None:
        """Build the indexes `create(defer_indexes=True)` left for later."""
        with self.transaction() as cur:
            cur.execute(f"SELECT value FROM {self.name('meta')} WHERE key = 'deferred_indexes'")
            row = cur.fetchone()
            for statement in json.loads(row["value"]) if row else []:
                cur.execute(statement)
            cur.execute(f"DELETE FROM {self.name('meta')} WHERE key = 'deferred_indexes'")

    def exists(self) -> bool:
        with self.transaction(write=False) as cur:
            if self.postgres:
                cur.execute("SELECT to_regclass(%s) AS t", (self.name("meta"),))
                return cur.fetchone()["t"] is not None
            cur.execute("SELECT name FROM sqlite_master WHERE type='table' AND name=?", (self.name("meta"),))
            return cur.fetchone() is not None

    def drop(self) -> None:
        """Drop every table of the model under this prefix."""
        with self.transaction() as cur:
            for name in self._physical_names():
                cur.execute(f"DROP TABLE IF EXISTS {name}")

    def _physical_names(self) -> list[str]:
        names = [self.name(t.name) for t in self.schema.tables] + [self.name("positions"), self.name("meta")]
        if not self.postgres:  # the FTS tables go first (their triggers name the base tables)
            names = [self.fts_name(t.name) for t in self.schema.tables if t.fulltext] + names
        return names

    # --- reading ---------------------------------------------------------------------------

    def _decode(self, table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
        kinds = table.kinds
        return {c: _from_db(kinds[c], row[c]) for c in table.names}

    def load(self, table_name: str, key: tuple[Any, ...]) -> dict[str, Any] | None:
        table = self.schema.table(table_name)
        where = " AND ".join(f"{c} = {self.ph}" for c in table.key)
        params = [_to_db(table.kinds[c], v, self.postgres) for c, v in zip(table.key, key, strict=True)]
        with self.transaction(write=False) as cur:
            cur.execute(f"SELECT {', '.join(table.names)} FROM {self.name(table_name)} WHERE {where}", params)
            row = cur.fetchone()
        return self._decode(table, row) if row is not None else None

    def load_many(self, table_name: str, keys: Sequence[tuple[Any, ...]]) -> dict[tuple[Any, ...], Any]:
        table = self.schema.table(table_name)
        found: dict[tuple[Any, ...], Any] = {k: None for k in keys}
        if len(table.key) != 1:
            for k in keys:
                found[k] = self.load(table_name, k)
            return found
        column, kind = table.key[0], table.kinds[table.key[0]]
        with self.transaction(write=False) as cur:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ", ".join([self.ph] * len(chunk))
                cur.execute(f"SELECT {', '.join(table.names)} FROM {self.name(table_name)} WHERE {column} IN ({marks})",
                            [_to_db(kind, k[0], self.postgres) for k in chunk])
                for row in cur.fetchall():
                    decoded = self._decode(table, row)
                    found[(decoded[column],)] = decoded
        return found

    def rows(self, table_name: str, order_by: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Every row of a table, decoded, in key order (comparisons, exports)."""
        table = self.schema.table(table_name)
        order = ", ".join(order_by or table.key)
        with self.transaction(write=False) as cur:
            cur.execute(f"SELECT {', '.join(table.names)} FROM {self.name(table_name)} ORDER BY {order}")
            return [self._decode(table, r) for r in cur.fetchall()]

    def query(self, sql: str, params: Sequence[Any] = (), kinds: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Rows of a read query. `{table}` names in `sql` become the physical names, `%s` the
        placeholders; `kinds` decodes the named result columns (money, times, JSON)."""
        text = self.sql(sql)
        with self.transaction(write=False) as cur:
            cur.execute(text, list(params))
            rows = cur.fetchall()
        kinds = kinds or {}
        return [{k: _from_db(kinds[k], v) if k in kinds else v for k, v in dict(r).items()} for r in rows]

    def sql(self, text: str) -> str:
        names = {t.name: self.name(t.name) for t in self.schema.tables}
        names |= {f"{t.name}_fts": self.fts_name(t.name) for t in self.schema.tables if t.fulltext}
        names |= {"positions": self.name("positions"), "meta": self.name("meta")}
        for short, physical in sorted(names.items(), key=lambda kv: -len(kv[0])):
            text = text.replace("{" + short + "}", physical)
        return text if self.postgres else text.replace("%s", "?")

    def param(self, kind: str, value: Any) -> Any:
        """A value as a query parameter for a column of this kind."""
        return _to_db(kind, value, self.postgres)

    def position(self, tracking: str) -> int:
        with self.transaction(write=False) as cur:
            cur.execute(f"SELECT position FROM {self.name('positions')} WHERE tracking = {self.ph}", (tracking,))
            row = cur.fetchone()
        return int(row["position"]) if row else 0

    def positions(self) -> dict[str, int]:
        with self.transaction(write=False) as cur:
            cur.execute(f"SELECT tracking, position FROM {self.name('positions')} ORDER BY tracking")
            return {r["tracking"]: int(r["position"]) for r in cur.fetchall()}

    def count(self, table_name: str) -> int:
        with self.transaction(write=False) as cur:
            cur.execute(f"SELECT count(*) AS n FROM {self.name(table_name)}")
            return int(cur.fetchone()["n"])

    # --- writing ---------------------------------------------------------------------------

    def save(self, work: RowWork, tracking: str, position: int, new_position: int) -> None:
        """The batch's rows and the new position, in one transaction; `IntegrityError` (nothing
        written) when the position is no longer `position`."""
        positions = self.name("positions")
        with self.transaction() as cur:
            cur.execute(f"INSERT INTO {positions} (tracking, position) VALUES ({self.ph}, 0) "
                        "ON CONFLICT (tracking) DO NOTHING", (tracking,))
            cur.execute(f"UPDATE {positions} SET position = {self.ph} WHERE tracking = {self.ph} AND position = {self.ph}",
                        (new_position, tracking, position))
            if cur.rowcount != 1:
                raise _Moved(f"{self.schema.name} position {tracking} is no longer {position}")
            self._write(cur, work)

    def write(self, work: RowWork) -> None:
        """Rows without a position (a rebuild's own bookkeeping)."""
        with self.transaction() as cur:
            self._write(cur, work)

    def set_positions(self, cur: Cursor, positions: Mapping[str, int]) -> None:
        name = self.name("positions")
        cur.executemany(f"INSERT INTO {name} (tracking, position) VALUES ({self.ph}, {self.ph}) "
                        "ON CONFLICT (tracking) DO UPDATE SET position = excluded.position",
                        list(positions.items()))

    def _write(self, cur: Cursor, work: RowWork) -> None:
        for table_name, rows in work.changed.items():
            table = self.schema.table(table_name)
            name, kinds = self.name(table_name), table.kinds
            gone = [k for k, row in rows.items() if row is None]
            if gone:
                where = " AND ".join(f"{c} = {self.ph}" for c in table.key)
                cur.executemany(f"DELETE FROM {name} WHERE {where}",
                                [[_to_db(kinds[c], v, self.postgres) for c, v in zip(table.key, k, strict=True)]
                                 for k in gone])
            kept = [row for row in rows.values() if row is not None]
            if kept:
                columns = table.names
                others = [c for c in columns if c not in table.key]
                update = (f"DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in others)}" if others
                          else "DO NOTHING")
                values = [[_to_db(kinds[c], row[c], self.postgres) for c in columns] for row in kept]
                one = f"({', '.join([self.ph] * len(columns))})"
                head = f"INSERT INTO {name} ({', '.join(columns)}) VALUES "
                tail = f" ON CONFLICT ({', '.join(table.key)}) {update}"
                if not self.postgres:  # in-process: executemany is as fast as it gets
                    cur.executemany(head + one + tail, values)
                    continue
                # PostgreSQL: many rows per statement (one round trip), within its 65535 parameters.
                per = max(1, min(1000, 60000 // len(columns)))
                for start in range(0, len(values), per):
                    chunk = values[start:start + per]
                    cur.execute(head + ", ".join([one] * len(chunk)) + tail, [v for row in chunk for v in row])

    def swap_into(self, live: ReadModelStore) -> None:
        """Put this (rebuilt) model's tables in the place of `live`'s, in one transaction that waits
        for the live consumer's current write; the live tables are dropped."""
        if live.prefix == self.prefix:
            raise ValueError("a model cannot be swapped into itself")
        retired = live.sibling(_RETIRED_PREFIX)
        retired.drop()
        with self.transaction() as cur:
            live_names = live._physical_names()
            if self.postgres:
                cur.execute("SET LOCAL lock_timeout = '30s'")
                existing = []
                for name in live_names:
                    cur.execute("SELECT to_regclass(%s) AS t", (name,))
                    if cur.fetchone()["t"] is not None:
                        existing.append(name)
                if existing:
                    cur.execute(f"LOCK TABLE {', '.join(existing)} IN ACCESS EXCLUSIVE MODE")
            for old, new in zip(live._physical_names(), retired._physical_names(), strict=True):
                if self._table_exists(cur, old):
                    cur.execute(f"ALTER TABLE {old} RENAME TO {new}")
            for old, new in zip(self._physical_names(), live._physical_names(), strict=True):
                cur.execute(f"ALTER TABLE {old} RENAME TO {new}")
        retired.drop()

    def _table_exists(self, cur: Cursor, name: str) -> bool:
        if self.postgres:
            cur.execute("SELECT to_regclass(%s) AS t", (name,))
            return cur.fetchone()["t"] is not None
        cur.execute("SELECT name FROM sqlite_master WHERE name = ?", (name,))
        return cur.fetchone() is not None

    def size_bytes(self) -> int:
        """What the model's tables and indexes take on disk (PostgreSQL), or the file (SQLite)."""
        if not self.postgres:
            assert self.sqlite_path is not None
            return sum(p.stat().st_size for p in self.sqlite_path.parent.glob(self.sqlite_path.name + "*"))
        total = 0
        with self.transaction(write=False) as cur:
            for name in self._physical_names():
                cur.execute("SELECT coalesce(pg_total_relation_size(to_regclass(%s)), 0) AS n", (name,))
                total += int(cur.fetchone()["n"])
        return total


class SchemaChanged(RuntimeError):
    """The tables hold another shape than this code writes: a rebuild is needed."""


class _Moved(IntegrityError):
    """Someone else moved the position: redo the batch."""


@dataclass
class Cursor:
    """The little both databases' cursors are used for here, rows as dicts."""

    raw: Any
    postgres: bool
    rowcount: int = field(default=0)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self.raw.execute(sql, params or ())
        self.rowcount = self.raw.rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.raw.executemany(sql, rows)

    def fetchone(self) -> dict[str, Any] | None:
        row = self.raw.fetchone()
        return None if row is None else dict(row)

    def fetchall(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.raw.fetchall()]


class ReadModelTarget:
    """A read model as a consumer's target: the projector changes rows of a `RowWork`. The rows of the
    batch's complaints (messages are keyed by complaint id) are loaded in one query first, from each
    table keyed by `complaint_id` alone."""

    def __init__(self, store: ReadModelStore, projector: Any, name: str | None = None):
        self.store = store
        self.projector = projector
        self.name = name or store.schema.name
        self.by_complaint = [t.name for t in store.schema.tables if t.key == ("complaint_id",)]

    def position(self, tracking: str) -> int:
        return self.store.position(tracking)

    def begin(self, keys: Sequence[bytes | None] = ()) -> RowWork:
        work = RowWork(self.store)
        ids = {k.decode("utf-8", "replace") for k in keys if k}
        if ids:
            for table in self.by_complaint:
                work.prefetch(table, ids)
        return work

    def apply(self, event: Any, work: RowWork) -> None:
        self.projector(event, work)

    def save(self, work: RowWork, tracking: str, position: int, new_position: int) -> None:
        self.store.save(work, tracking, position, new_position)
