"""People who may sign in on the embedded default, and their passwords (argon2id hashes).

A users file lists each person's user id, name, role, branch or region and password hash; it is
versioned data like the access rules, read once (`load_users`). On a company's identity provider
(OpenID Connect) the file is not used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: argon2id with the library's defaults (RFC 9106's second recommended option).
HASHER = PasswordHasher()
#: Verified against when the user does not exist, so that a wrong user id takes as long as a wrong password.
_DUMMY = HASHER.hash("not a password of anyone")


@dataclass(frozen=True)
class User:
    user_id: str
    name: str
    role: str
    branch: str | None
    region: str | None
    password_hash: str


class UsersFileError(ValueError):
    """The users file is not valid: says which entry and field."""


def parse_users(data: Mapping[str, Any], check: Any = None) -> dict[str, User]:
    """Users by id from the file's contents; `check(role, branch, region)` raises ValueError for an
    identity the organisation does not have (services.common.tokens.check_identity)."""
    if not isinstance(data, Mapping) or data.get("version") != 1 or not isinstance(data.get("users"), list):
        raise UsersFileError("users file: expected `version: 1` and a `users:` list")
    users: dict[str, User] = {}
    for i, entry in enumerate(data["users"]):
        where = f"users[{i}]"
        if not isinstance(entry, Mapping):
            raise UsersFileError(f"{where}: expected a mapping")
        for key in ("user", "role", "password_hash"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise UsersFileError(f"{where}.{key}: required text")
        if not entry["password_hash"].startswith("$argon2"):
            raise UsersFileError(f"{where}.password_hash: not an argon2 hash")
        user_id = entry["user"]
        if user_id.casefold() in {u.casefold() for u in users}:
            raise UsersFileError(f"{where}.user: {user_id} appears twice")
        if check is not None:
            try:
                check(entry["role"], entry.get("branch"), entry.get("region"))
            except ValueError as e:
                raise UsersFileError(f"{where} ({user_id}): {e}") from None
        users[user_id] = User(user_id, str(entry.get("name") or user_id), entry["role"], entry.get("branch"),
                              entry.get("region"), entry["password_hash"])
    return users


def authenticate(users: Mapping[str, User], user_id: str, password: str) -> User | None:
    """The user when the password is theirs; None otherwise (the same work either way)."""
    wanted = user_id.strip().casefold()  # ids are unique regardless of case (parse_users)
    user = next((u for key, u in users.items() if key.casefold() == wanted), None)
    try:
        HASHER.verify(user.password_hash if user else _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return user


def hash_password(password: str) -> str:
    return HASHER.hash(password)
