"""Server-side sessions (services/console/sessions.py) on a SQLite file: a session is created, read back
by the cookie's id, updated and deleted; the store keeps only the id's SHA-256 (the raw id is nowhere in the
database files); an expired session reads as none and is removed; an id that is missing, unknown or too long
reads as none; the CSRF token compares in constant time and refuses what is not it."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from collections.abc import Iterator

import pytest

from services.console.sessions import Session, SessionStore

HOUR = timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SessionStore]:
    s = SessionStore(tmp_path / "data" / "sessions.sqlite3")
    yield s
    s.close()


def new(store: SessionStore, ttl: timedelta = HOUR, **more: object) -> tuple[str, Session]:
    values = {"user_id": "clerk-li", "name": "李娜", "role": "branch_clerk", "branch": "SH01", "region": None,
              "token": "eyJ.bearer.token", "ttl": ttl, **more}
    return store.create(**values)  # type: ignore[arg-type]


def rows(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, data, expires_at FROM sessions").fetchall()


def test_a_session_is_read_back_by_its_id(store: SessionStore) -> None:
    session_id, session = new(store, language="en")
    assert store.get(session_id) == session
    got = store.get(session_id)
    assert got is not None
    assert (got.user_id, got.name, got.role, got.branch, got.region, got.token, got.language) == (
        "clerk-li", "李娜", "branch_clerk", "SH01", None, "eyJ.bearer.token", "en")
    assert got.expires_at.tzinfo is not None
    assert HOUR - timedelta(minutes=1) < got.expires_at - datetime.now(timezone.utc) <= HOUR


def test_ids_and_csrf_tokens_are_random_and_long(store: SessionStore) -> None:
    (a, sa), (b, sb) = new(store), new(store)
    assert a != b and sa.csrf != sb.csrf and sa.csrf != a
    assert len(a) >= 40 and len(sa.csrf) >= 40


def test_the_store_keeps_only_the_ids_digest(tmp_path: Path, store: SessionStore) -> None:
    session_id, session = new(store)
    (stored_id, data, _), = rows(tmp_path / "data" / "sessions.sqlite3")
    assert stored_id == hashlib.sha256(session_id.encode()).hexdigest()
    assert session_id not in data
    files = list((tmp_path / "data").iterdir())
    assert files and not any(session_id.encode() in f.read_bytes() for f in files)   # the file and its WAL
    assert any(session.csrf.encode() in f.read_bytes() for f in files)               # the data itself is there


def test_a_session_survives_a_new_store_on_the_same_file(tmp_path: Path, store: SessionStore) -> None:
    session_id, session = new(store)
    again = SessionStore(tmp_path / "data" / "sessions.sqlite3")
    try:
        assert again.get(session_id) == session
    finally:
        again.close()


def test_update_changes_the_session_under_the_same_id(store: SessionStore) -> None:
    session_id, session = new(store)
    store.update(session_id, replace(session, language="zh", token="eyJ.new.token"))
    got = store.get(session_id)
    assert got is not None and got.language == "zh" and got.token == "eyJ.new.token"
    assert got.csrf == session.csrf


def test_delete_ends_the_session(store: SessionStore) -> None:
    session_id, _ = new(store)
    other_id, other = new(store)
    store.delete(session_id)
    assert store.get(session_id) is None
    assert store.get(other_id) == other
    store.delete(None)
    store.delete("")
    store.delete(session_id)          # twice: nothing happens


def test_an_expired_session_reads_as_none_and_is_removed(tmp_path: Path, store: SessionStore) -> None:
    session_id, session = new(store)
    store.update(session_id, replace(session, expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    assert len(rows(tmp_path / "data" / "sessions.sqlite3")) == 1
    assert store.get(session_id) is None
    assert rows(tmp_path / "data" / "sessions.sqlite3") == []


def test_a_session_created_expired_is_never_read(store: SessionStore) -> None:
    session_id, _ = new(store, ttl=-HOUR)
    assert store.get(session_id) is None


def test_creating_purges_expired_sessions(tmp_path: Path, store: SessionStore) -> None:
    old_id, old = new(store)
    store.update(old_id, replace(old, expires_at=datetime.now(timezone.utc) - HOUR))
    new(store)
    assert len(rows(tmp_path / "data" / "sessions.sqlite3")) == 1


@pytest.mark.parametrize("session_id", [None, "", "unknown-id", "x" * 101])
def test_a_missing_unknown_or_overlong_id_reads_as_none(store: SessionStore, session_id: str | None) -> None:
    new(store)
    assert store.get(session_id) is None


def test_sessions_are_safe_across_threads(store: SessionStore) -> None:
    made: list[str] = []

    def work() -> None:
        for _ in range(20):
            session_id, _ = new(store)
            assert store.get(session_id) is not None
            made.append(session_id)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 80 and all(store.get(s) is not None for s in made)


# --- the CSRF token -------------------------------------------------------------------------------


def test_csrf_ok_accepts_only_the_sessions_token(store: SessionStore) -> None:
    _, session = new(store)
    assert session.csrf_ok(session.csrf)
    assert not session.csrf_ok(session.csrf[:-1])
    assert not session.csrf_ok(session.csrf + "x")
    assert not session.csrf_ok("")
    assert not session.csrf_ok(None)


def test_csrf_ok_refuses_a_non_ascii_token(store: SessionStore) -> None:
    _, session = new(store)
    assert not session.csrf_ok("令牌")
