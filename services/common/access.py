"""Who may do what, and which complaints they see: the rules are data (`access.yaml`,
`organisation.yaml`), read once; handlers only call `authorize(principal, action, branch)`.

- A role that may not perform the action: `Forbidden` (403) naming the role and the action.
- A complaint outside the principal's scope: `NotFound` (404) with the message the caller
  gives for a complaint that does not exist, so existence does not leak.
- A branch named in a new command (registration) outside the scope: `Forbidden` naming `branch`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from services.common.domain import DomainError, NotFound

if TYPE_CHECKING:
    from services.common.auth import Principal

HERE = Path(__file__).parent
ACCESS_FILE = HERE / "access.yaml"
ORGANISATION_FILE = HERE / "organisation.yaml"
SCOPES = ("branch", "region", "all", "none")


class Forbidden(DomainError):
    status = 403


@dataclass(frozen=True)
class RoleRules:
    scope: str
    actions: frozenset[str]


@dataclass(frozen=True)
class AccessRules:
    actions: Mapping[str, str]              # action -> what it is
    roles: Mapping[str, RoleRules]
    regions: Mapping[str, tuple[str, ...]]  # region -> its branches
    branch_region: Mapping[str, str]

    @classmethod
    def load(cls, access_file: Path = ACCESS_FILE, organisation_file: Path = ORGANISATION_FILE) -> AccessRules:
        access = yaml.safe_load(access_file.read_text(encoding="utf-8"))
        organisation = yaml.safe_load(organisation_file.read_text(encoding="utf-8"))
        actions = {str(k): str(v) for k, v in access["actions"].items()}
        roles: dict[str, RoleRules] = {}
        for name, spec in access["roles"].items():
            scope, granted = spec["scope"], frozenset(spec.get("actions") or ())
            if scope not in SCOPES:
                raise ValueError(f"{access_file}: role {name}: scope {scope!r} is not one of {SCOPES}")
            unknown = granted - actions.keys()
            if unknown:
                raise ValueError(f"{access_file}: role {name}: undeclared actions {sorted(unknown)}")
            roles[str(name)] = RoleRules(scope, granted)
        regions = {str(r): tuple(str(b) for b in branches) for r, branches in organisation["regions"].items()}
        branch_region: dict[str, str] = {}
        for region, branches in regions.items():
            for branch in branches:
                if branch in branch_region:
                    raise ValueError(f"{organisation_file}: branch {branch} is in {branch_region[branch]} "
                                     f"and {region}")
                branch_region[branch] = region
        return cls(actions, roles, regions, branch_region)

    # --- questions -------------------------------------------------------------------------

    def check_action(self, action: str) -> None:
        if action not in self.actions:
            raise KeyError(f"action {action!r} is not declared in {ACCESS_FILE.name}")

    def may(self, principal: Principal, action: str) -> bool:
        self.check_action(action)
        role = self.roles.get(principal.role)
        return role is not None and action in role.actions

    def region_of(self, branch: str | None) -> str | None:
        return self.branch_region.get(branch) if branch else None

    def region_of_principal(self, principal: Principal) -> str | None:
        return principal.region or self.region_of(principal.branch)

    def sees(self, principal: Principal, branch: str | None) -> bool:
        """Whether a complaint of `branch` is within the principal's scope."""
        role = self.roles.get(principal.role)
        scope = role.scope if role else "none"
        if scope == "all":
            return True
        if branch is None or scope == "none":
            return False
        if scope == "branch":
            return principal.branch == branch
        region = self.region_of_principal(principal)
        return region is not None and self.region_of(branch) == region

    def scope_of(self, principal: Principal) -> str:
        role = self.roles.get(principal.role)
        return role.scope if role else "none"

    def describe_scope(self, principal: Principal) -> str:
        scope = self.scope_of(principal)
        if scope == "branch":
            return f"branch {principal.branch}"
        if scope == "region":
            return f"region {self.region_of_principal(principal)}"
        return "every branch" if scope == "all" else "no branch"

    def as_dict(self) -> dict[str, Any]:
        return {"roles": {r: {"scope": s.scope, "actions": sorted(s.actions)} for r, s in self.roles.items()},
                "regions": {r: list(b) for r, b in self.regions.items()}}


@lru_cache(maxsize=1)
def rules() -> AccessRules:
    """The rules, read once per process."""
    return AccessRules.load()


def may(principal: Principal, action: str) -> bool:
    return rules().may(principal, action)


def authorize(principal: Principal, action: str, branch: str | None = None, *,
              not_found: str | None = None) -> None:
    """Refuse unless the principal's role may perform `action` on a complaint of `branch`.

    `not_found`: the message of a 404 for a complaint that does not exist; given when the
    branch is an existing complaint's (out of scope looks exactly like missing). Without it
    (a new command naming a branch) a branch out of scope is a 403 naming `branch`.
    """
    access = rules()
    if not access.may(principal, action):
        raise Forbidden(f"role {principal.role} may not perform {action}")
    if branch is None and not_found is None:
        return
    if access.sees(principal, branch):
        return
    if not_found is not None:
        raise NotFound(not_found)
    raise Forbidden(f"{principal.role} {principal.user_id} acts for {access.describe_scope(principal)}, "
                    f"not for branch {branch}", field="branch")


def known_branch(branch: str) -> bool:
    return branch in rules().branch_region


def branches() -> list[str]:
    """Every branch of the organisation, region by region."""
    return [b for region in rules().regions.values() for b in region]
