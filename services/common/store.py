"""Event-store wiring: each service's `eventsourcing` application on PostgreSQL or SQLite.

PostgreSQL when the service has a database URL (its own database, created if missing),
a SQLite file of its own otherwise. The application uses a process recorder, so new
events and the upstream position they came from are saved in one transaction, and with
them the rows of the store's hash chain (services.common.chain: tamper evidence).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

import psycopg
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import JSONTranscoder, Recording, Tracking, Transcoding
from eventsourcing.postgres import PostgresRecorder
from eventsourcing.utils import get_topic
from pydantic import BaseModel

from contracts.envelope import ServiceName
from services.common.chain import ChainedPostgresProcessRecorder, ChainedSQLiteProcessRecorder
from services.common.publishing import check_publishable
from services.common.settings import ServiceSettings

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 1_000_000


class DatabaseUnavailable(RuntimeError):
    """The configured PostgreSQL cannot be reached: says which and how to provide it."""


class PydanticAsDict(Transcoding):
    """Stores a pydantic value object inside an event as its JSON-mode dict."""

    def __init__(self, cls: type[BaseModel]):
        self.type = cls
        self.name = f"{cls.__module__}.{cls.__qualname__}"

    def encode(self, obj: BaseModel) -> dict[str, Any]:
        return obj.model_dump(mode="json")

    def decode(self, data: dict[str, Any]) -> BaseModel:
        return self.type.model_validate(data)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ServiceApplication(Application[UUID]):
    """Base of every service's application: process recorder plus value-object transcodings."""

    SERVICE: ClassVar[ServiceName]
    #: Pydantic models that appear as attributes of this service's stored events. (Enums are
    #: str subclasses: they are stored as their value and compare equal to it when read back.)
    VALUE_TYPES: ClassVar[tuple[type[BaseModel], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "SERVICE" in cls.__dict__:
            # PostgreSQL table names derive from the application name: fix it to the
            # service's name, so every tool that opens this store finds the same tables.
            cls.name = cls.SERVICE.value

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        #: Largest message a stored event may make (architecture rule 12), checked when saved.
        self.max_message_bytes = int(self.env.get("MAX_MESSAGE_BYTES") or DEFAULT_MAX_MESSAGE_BYTES)

    def construct_recorder(self):  # type: ignore[override]
        return self.factory.process_recorder()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        for cls in self.VALUE_TYPES:
            transcoder.register(PydanticAsDict(cls))

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        # Every event that will be published must make a valid integration event now, so a
        # bad one refuses the command (nothing stored) instead of stopping the relay later.
        for domain_event in processing_event.events:
            check_publishable(self.SERVICE, domain_event, self.max_message_bytes)
        return super()._record(processing_event)

    def save_processed(self, aggregates: list[Any], tracking: Tracking) -> list[Recording[UUID]]:
        """Save new events and the upstream position they came from in one transaction.

        Raises `IntegrityError` and writes nothing when the position was recorded already
        (a redelivered message) or an aggregate was changed concurrently.
        """
        processing_event: ProcessingEvent[UUID] = ProcessingEvent(tracking=tracking)
        processing_event.collect_events(*aggregates)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    @property
    def is_postgres(self) -> bool:
        return isinstance(self.recorder, PostgresRecorder)


def postgres_params(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"database URL must start with postgresql://, got {parts.scheme}://")
    if not parts.path.strip("/"):
        raise ValueError("database URL must name a database: postgresql://user@host:5432/dbname")
    params = {
        "dbname": unquote(parts.path.lstrip("/")),
        "host": parts.hostname or "127.0.0.1",
        "port": str(parts.port or 5432),
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
    }
    schema = parse_qs(parts.query).get("schema")
    if schema:
        params["schema"] = schema[0]
    return params


def ensure_postgres_database(url: str) -> None:
    """Create the service's database if it does not exist yet (needs CREATEDB)."""
    p = postgres_params(url)
    conninfo = dict(host=p["host"], port=p["port"], user=p["user"], password=p["password"] or None)
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **conninfo) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (p["dbname"],)).fetchone()
            if not exists:
                conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(p["dbname"])))
                log.info("created database %s", p["dbname"])
    except psycopg.errors.DuplicateDatabase:
        pass  # created concurrently by another process
    except psycopg.OperationalError as e:
        raise DatabaseUnavailable(
            f"PostgreSQL at {p['host']}:{p['port']} (database {p['dbname']}) is not reachable as user "
            f"{p['user']!r}: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}. Start "
            "PostgreSQL there, or set the service's <SERVICE>_DATABASE_URL to one that is reachable (unset, the "
            "service uses a SQLite file in COMPLAINTS_DATA_DIR)"
        ) from e


def store_env(settings: ServiceSettings) -> dict[str, str]:
    """The `eventsourcing` environment for one service's store (with its hash chain: services.common.chain)."""
    env = {"SINGLE_ROW_TRACKING": "y", "MAX_MESSAGE_BYTES": str(settings.max_message_bytes)}
    if settings.database_url:
        ensure_postgres_database(settings.database_url)
        p = postgres_params(settings.database_url)
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "PROCESS_RECORDER_TOPIC": get_topic(ChainedPostgresProcessRecorder),
            "POSTGRES_DBNAME": p["dbname"],
            "POSTGRES_HOST": p["host"],
            "POSTGRES_PORT": p["port"],
            "POSTGRES_USER": p["user"],
            "POSTGRES_PASSWORD": p["password"],
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "10",
            "POSTGRES_CONNECT_TIMEOUT": "10",
        }
        if "schema" in p:
            env["POSTGRES_SCHEMA"] = p["schema"]
    else:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "PROCESS_RECORDER_TOPIC": get_topic(ChainedSQLiteProcessRecorder),
            "SQLITE_DBNAME": str(settings.sqlite_path),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    return env


class PositionTable:
    """How far each sink (the Kafka topic, a delivery sink) has taken a service's notification log.

    Lives in the service's own store, beside its events: per sink the position (the last
    notification id handled), the sink's own state at that position (for the Kafka sink:
    the last notification id published on each partition, and how far each partition
    reached), and the events parked because they could not be published. Updates are
    compare-and-set on the position, so an operator's rewind is never overwritten by a relay
    that read the old value.
    """

    def __init__(self, app: ServiceApplication):
        self.datastore = app.recorder.datastore  # type: ignore[attr-defined]
        if app.is_postgres:
            schema = self.datastore.schema
            prefix = f'"{schema}".' if schema else ""
            ph, ts = "%s", "timestamptz"
        else:
            prefix, ph, ts = "", "?", "text"
        table, parked = f"{prefix}outbox_relays", f"{prefix}outbox_parked"
        self._create = [
            f"CREATE TABLE IF NOT EXISTS {table} (sink text PRIMARY KEY, position bigint NOT NULL, "
            f"state text NOT NULL DEFAULT '{{}}', updated_at {ts} NOT NULL DEFAULT CURRENT_TIMESTAMP)",
            f"CREATE TABLE IF NOT EXISTS {parked} (sink text NOT NULL, notification_id bigint NOT NULL, "
            f"topic text NOT NULL, reason text NOT NULL, parked_at {ts} NOT NULL DEFAULT CURRENT_TIMESTAMP, "
            "PRIMARY KEY (sink, notification_id))",
        ]
        self._insert = f"INSERT INTO {table} (sink, position) VALUES ({ph}, 0) ON CONFLICT (sink) DO NOTHING"
        self._select = f"SELECT position, state FROM {table} WHERE sink = {ph}"
        self._cas = (f"UPDATE {table} SET position = {ph}, state = {ph}, updated_at = CURRENT_TIMESTAMP "
                     f"WHERE sink = {ph} AND position = {ph} RETURNING position")
        self._set = (f"UPDATE {table} SET position = {ph}, state = {ph}, updated_at = CURRENT_TIMESTAMP "
                     f"WHERE sink = {ph} RETURNING position")
        self._park = (f"INSERT INTO {parked} (sink, notification_id, topic, reason) VALUES ({ph}, {ph}, {ph}, {ph}) "
                      "ON CONFLICT (sink, notification_id) DO NOTHING")
        self._parked = (f"SELECT notification_id, topic, reason, parked_at FROM {parked} WHERE sink = {ph} "
                        "ORDER BY notification_id")
        with self.datastore.transaction(commit=True) as cur:
            for statement in self._create:
                cur.execute(statement)

    @staticmethod
    def _value(row: Any, index: int, name: str) -> Any:
        return row[name] if isinstance(row, dict) else row[index]

    def load(self, sink: str) -> tuple[int, dict[str, Any]]:
        """The sink's position and its state there."""
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(self._insert, (sink,))
            cur.execute(self._select, (sink,))
            row = cur.fetchone()
        return int(self._value(row, 0, "position")), json.loads(self._value(row, 1, "state") or "{}")

    def get(self, sink: str) -> int:
        return self.load(sink)[0]

    def advance(self, sink: str, expected: int, new: int, state: dict[str, Any] | None = None,
                parked: Sequence[Any] = ()) -> bool:
        """Move from `expected` to `new` (parking what could not go out, in the same transaction);
        False when someone else moved the position meanwhile."""
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(self._cas, (new, json.dumps(state or {}), sink, expected))
            moved = cur.fetchone() is not None
            if moved:
                for item in parked:
                    cur.execute(self._park, (sink, item.notification_id, item.topic, item.reason))
            return moved

    def rewind(self, sink: str, position: int, state: dict[str, Any] | None = None) -> None:
        """The sink will get everything after `position` again (operator, or a relay after data loss)."""
        self.load(sink)
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(self._set, (position, json.dumps(state or {}), sink))

    def parked(self, sink: str) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(self._parked, (sink,))
            rows = cur.fetchall()
        return [{"notification_id": int(self._value(r, 0, "notification_id")), "topic": self._value(r, 1, "topic"),
                 "reason": self._value(r, 2, "reason"), "parked_at": str(self._value(r, 3, "parked_at"))}
                for r in rows]
