"""The console's users file (services/console/domain/users.py): `parse_users` refuses a malformed file
naming the entry and field (a missing role, a hash that is not argon2, a user id twice in any case, an
identity the organisation does not have); `authenticate` gives the user for their password and None for a
wrong password, an unknown user or a broken hash. The shipped services/console/users.yaml parses against the
organisation, and two of its people sign in with the demo password (argon2 at its real cost: not all 36).

Hashes made here use argon2's cheapest parameters, so the tests stay fast; verification reads the parameters
from the hash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from argon2 import PasswordHasher, Type

from services.common.tokens import check_identity
from services.console.domain.users import (
    HASHER, User, UsersFileError, authenticate, hash_password, parse_users,
)

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
SECRET = "correct horse battery"
HASH = CHEAP.hash(SECRET)
USERS_FILE = Path(__file__).parents[2] / "services" / "console" / "users.yaml"


def entry(user: str = "clerk-li", **more: Any) -> dict[str, Any]:
    return {"user": user, "name": "李娜", "role": "branch_clerk", "branch": "SH01", "password_hash": HASH, **more}


def users_file(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "users": list(entries)}


def refused(data: Any, check: Callable[..., None] | None = None) -> str:
    with pytest.raises(UsersFileError) as e:
        parse_users(data, check)
    return str(e.value)


# --- parse_users ----------------------------------------------------------------------------------


def test_a_valid_file_gives_users_by_id() -> None:
    users = parse_users(users_file(entry(), entry("rm-wang", role="regional_manager", branch=None, region="EAST",
                                                  name=None)), check_identity)
    assert list(users) == ["clerk-li", "rm-wang"]
    assert users["clerk-li"] == User("clerk-li", "李娜", "branch_clerk", "SH01", None, HASH)
    assert users["rm-wang"].name == "rm-wang"          # no name: the user id
    assert users["rm-wang"].region == "EAST" and users["rm-wang"].branch is None


@pytest.mark.parametrize("data", [None, [], {"users": []}, {"version": 2, "users": []}, {"version": 1},
                                  {"version": 1, "users": {"clerk-li": {}}}])
def test_the_file_must_be_version_1_with_a_users_list(data: Any) -> None:
    assert "version: 1" in refused(data)


def test_an_entry_must_be_a_mapping() -> None:
    assert refused(users_file(entry(), "clerk-wu")) == "users[1]: expected a mapping"


@pytest.mark.parametrize("key", ["user", "role", "password_hash"])
def test_a_missing_or_empty_field_is_named(key: str) -> None:
    without = entry()
    del without[key]
    assert refused(users_file(entry("a"), without)) == f"users[1].{key}: required text"
    assert refused(users_file(entry(**{key: ""}))) == f"users[0].{key}: required text"
    assert refused(users_file(entry(**{key: 42}))) == f"users[0].{key}: required text"


@pytest.mark.parametrize("hashed", ["$2b$12$abcdefghijklmnopqrstuuJ8c7Qk0ZP1v5f5p2Yw9bdU0sZyG5r3i",
                                    "demo-password", "pbkdf2_sha256$600000$salt$hash"])
def test_a_hash_that_is_not_argon2_is_refused(hashed: str) -> None:
    assert refused(users_file(entry(password_hash=hashed))) == "users[0].password_hash: not an argon2 hash"


def test_a_user_id_twice_in_any_case_is_refused() -> None:
    message = refused(users_file(entry("clerk-li"), entry("rm-wang"), entry("Clerk-LI")))
    assert message == "users[2].user: Clerk-LI appears twice"


def test_an_identity_the_organisation_does_not_have_is_refused_naming_the_user() -> None:
    message = refused(users_file(entry(), entry("clerk-xx", branch="XX99")), check_identity)
    assert message.startswith("users[1] (clerk-xx): unknown branch 'XX99'")
    assert "unknown role 'janitor'" in refused(users_file(entry(role="janitor")), check_identity)
    assert "works at a branch" in refused(users_file(entry(branch=None)), check_identity)
    message = refused(users_file(entry("rm", role="regional_manager", branch="SH01", region="NORTH")),
                      check_identity)
    assert "branch SH01 is in region EAST, not NORTH" in message


def test_the_check_is_called_with_role_branch_and_region() -> None:
    calls = []
    parse_users(users_file(entry(), entry("rm", role="regional_manager", branch=None, region="EAST")),
                lambda *args: calls.append(args))
    assert calls == [("branch_clerk", "SH01", None), ("regional_manager", None, "EAST")]
    assert parse_users(users_file(entry(branch="XX99")))["clerk-li"].branch == "XX99"   # no check: taken as is


# --- authenticate ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def users() -> dict[str, User]:
    return parse_users(users_file(entry(), entry("broken", password_hash="$argon2id$v=19$not-a-hash")))


def test_the_right_password_gives_the_user(users: dict[str, User]) -> None:
    assert authenticate(users, "clerk-li", SECRET) == users["clerk-li"]
    assert authenticate(users, "  clerk-li ", SECRET) == users["clerk-li"]     # the id as typed, trimmed


def test_a_wrong_password_gives_none(users: dict[str, User]) -> None:
    assert authenticate(users, "clerk-li", SECRET + "!") is None
    assert authenticate(users, "clerk-li", "") is None


def test_an_unknown_user_gives_none_even_with_a_password_of_someone(users: dict[str, User]) -> None:
    assert authenticate(users, "nobody", SECRET) is None
    assert authenticate(users, "nobody", "not a password of anyone") is None   # the dummy's own password
    assert authenticate({}, "clerk-li", SECRET) is None


def test_a_broken_hash_gives_none(users: dict[str, User]) -> None:
    assert authenticate(users, "broken", SECRET) is None


def test_hash_password_makes_an_argon2id_hash_that_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    import services.console.domain.users as module
    monkeypatch.setattr(module, "HASHER", CHEAP)
    hashed = hash_password(SECRET)
    assert hashed.startswith("$argon2id$") and CHEAP.verify(hashed, SECRET)
    assert HASHER.type is Type.ID        # the real hasher: argon2id


# --- the shipped file -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> dict[str, User]:
    return parse_users(yaml.safe_load(USERS_FILE.read_text(encoding="utf-8")), check_identity)


def test_the_shipped_users_file_is_valid_for_the_organisation(shipped: dict[str, User]) -> None:
    assert len(shipped) == 36
    roles = {u.role for u in shipped.values()}
    assert {"branch_clerk", "hq_clerk", "regional_manager", "general_manager", "operator"} <= roles
    assert all(u.password_hash.startswith("$argon2id$") for u in shipped.values())
    assert all(u.name for u in shipped.values())


@pytest.mark.parametrize("user_id", ["clerk-li", "hq-clerk-xu"])
def test_shipped_users_sign_in_with_the_demo_password(shipped: dict[str, User], user_id: str) -> None:
    assert authenticate(shipped, user_id, "demo-password") == shipped[user_id]
