"""Mint a token signed with the local key (the embedded default's identity provider).

    python -m services.common.tokens --user clerk-li --role branch_clerk --branch SH01
    python -m services.common.tokens --user rm-wang --role regional_manager --region EAST --ttl 1h
    python -m services.common.tokens --user ops-1 --role operator --data-dir var/demo

Prints the token. The services accept it when they run on the same data directory
(`COMPLAINTS_DATA_DIR`, default `var`) and no `AUTH_JWKS_URL` / `AUTH_PUBLIC_KEY_FILE` is set.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

from services.common.access import rules
from services.common.auth import AuthSettings, local_claims, sign_local_token

DEFAULT_TTL = timedelta(hours=8)
MAX_TTL = timedelta(days=30)
_TTL_RE = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> timedelta:
    match = _TTL_RE.match(text.strip())
    if not match:
        raise ValueError(f"ttl {text!r}: use a number with s, m, h or d, e.g. 8h")
    ttl = timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    if not timedelta(0) < ttl <= MAX_TTL:
        raise ValueError(f"ttl {text!r}: must be more than 0 and at most {MAX_TTL.days} days")
    return ttl


def check_identity(role: str, branch: str | None, region: str | None) -> None:
    """Raise ValueError when the role, branch and region do not make a usable identity."""
    access = rules()
    if role not in access.roles:
        raise ValueError(f"unknown role {role!r}; one of: {', '.join(sorted(access.roles))}")
    if branch is not None and branch not in access.branch_region:
        raise ValueError(f"unknown branch {branch!r}; see services/common/organisation.yaml")
    if region is not None and region not in access.regions:
        raise ValueError(f"unknown region {region!r}; one of: {', '.join(access.regions)}")
    scope = access.roles[role].scope
    if scope == "branch" and branch is None:
        raise ValueError(f"role {role} works at a branch: give --branch")
    if scope == "region" and branch is None and region is None:
        raise ValueError(f"role {role} works in a region: give --region (or --branch)")
    if branch is not None and region is not None and access.region_of(branch) != region:
        raise ValueError(f"branch {branch} is in region {access.region_of(branch)}, not {region}")


def mint_token(data_dir: Path | str, user: str, role: str, branch: str | None = None, region: str | None = None,
               ttl: timedelta = DEFAULT_TTL, *, now: datetime | None = None,
               settings: AuthSettings | None = None) -> str:
    """A token for `user` signed with the local key in `data_dir` (created if missing).

    Raises ValueError for an unknown role, branch or region, or a branch role without a branch.
    `now` backdates the token (for tests of expiry); `settings` defaults to the environment's.
    """
    if not user or len(user) > 200:
        raise ValueError("user: 1 to 200 characters")
    check_identity(role, branch, region)
    settings = settings or AuthSettings()
    return sign_local_token(Path(data_dir), local_claims(user, role, branch, region, ttl, settings, now))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.common.tokens", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--user", required=True, help="user id (the token's sub)")
    parser.add_argument("--role", required=True, help=f"one of: {', '.join(sorted(rules().roles))}")
    parser.add_argument("--branch", help="branch code, e.g. SH01 (required for branch roles)")
    parser.add_argument("--region", help="region, e.g. EAST (regional roles: or give their --branch)")
    parser.add_argument("--ttl", default="8h", help="lifetime, e.g. 30m, 8h, 2d (default 8h)")
    parser.add_argument("--data-dir", default=os.environ.get("COMPLAINTS_DATA_DIR", "var"),
                        help="the services' COMPLAINTS_DATA_DIR, where the local key lives (default: var)")
    args = parser.parse_args(argv)
    try:
        ttl = parse_ttl(args.ttl)
        token = mint_token(args.data_dir, args.user, args.role, args.branch, args.region, ttl)
    except ValueError as e:
        parser.error(str(e))  # exits 2
    settings = AuthSettings()
    if settings.jwks_url or settings.public_key_file:
        print("warning: AUTH_JWKS_URL or AUTH_PUBLIC_KEY_FILE is set: the services will not accept "
              "locally signed tokens", file=sys.stderr)
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
