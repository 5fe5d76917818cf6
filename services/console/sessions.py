"""Sessions of signed-in people, kept on the server (a SQLite file in the data dir).

The browser holds only a random session id, in a `Secure; HttpOnly; SameSite=Lax` cookie; the
store keeps its SHA-256, the person, the bearer token the console calls the services with, and the
CSRF token every form of the session must carry. Signing out deletes the row, so the cookie is
worth nothing after it, even if it was copied.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path


@dataclass
class Session:
    user_id: str
    name: str
    role: str
    branch: str | None
    region: str | None
    token: str
    csrf: str
    expires_at: datetime
    language: str | None = None

    def csrf_ok(self, value: str | None) -> bool:
        # bytes: compare_digest refuses str with non-ASCII characters (a forged token may have them)
        return bool(value) and hmac.compare_digest(self.csrf.encode(), (value or "").encode())


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Thread-safe; one connection, short transactions."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, data TEXT NOT NULL, "
                         "expires_at TEXT NOT NULL)")
        self._lock = threading.Lock()

    def create(self, *, user_id: str, name: str, role: str, branch: str | None, region: str | None, token: str,
               ttl: timedelta, language: str | None = None) -> tuple[str, Session]:
        """A new session; returns the id to put in the cookie (never stored) and the session."""
        session_id = secrets.token_urlsafe(32)
        session = Session(user_id, name, role, branch, region, token, secrets.token_urlsafe(32),
                          datetime.now(timezone.utc) + ttl, language)
        self._write(session_id, session)
        self.purge()
        return session_id, session

    def _write(self, session_id: str, session: Session) -> None:
        data = asdict(session) | {"expires_at": session.expires_at.isoformat()}
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)",
                             (_digest(session_id), json.dumps(data), session.expires_at.isoformat()))

    def get(self, session_id: str | None) -> Session | None:
        if not session_id or len(session_id) > 100:
            return None
        with self._lock:
            row = self._db.execute("SELECT data FROM sessions WHERE id = ?", (_digest(session_id),)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        session = Session(**(data | {"expires_at": datetime.fromisoformat(data["expires_at"])}))
        if session.expires_at <= datetime.now(timezone.utc):
            self.delete(session_id)
            return None
        return session

    def update(self, session_id: str, session: Session) -> None:
        self._write(session_id, session)

    def delete(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._db.execute("DELETE FROM sessions WHERE id = ?", (_digest(session_id),))

    def purge(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires_at <= ?", (datetime.now(timezone.utc).isoformat(),))

    def close(self) -> None:
        self._db.close()
